#include "scfm/model/dropout.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/ops/dropout.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/empty_like.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#include <mutex>

#include "scfm/util/error.h"
#include "scfm/util/splitmix.h"

namespace scfm::model {
namespace {

// murmur3's 32-bit finaliser: a bijection that mixes every input bit into every output bit.
inline uint32_t fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85EBCA6Bu;
  h ^= h >> 13;
  h *= 0xC2B2AE35u;
  h ^= h >> 16;
  return h;
}

// Two keyed rounds over the index: the low word enters the first, the high word the second.
inline uint32_t keyed_hash(uint32_t k0, uint32_t k1, uint64_t index) {
  return fmix32(fmix32(static_cast<uint32_t>(index) ^ k0) ^ (static_cast<uint32_t>(index >> 32) * 0x9E3779B9u) ^ k1);
}

uint32_t drop_threshold(double p) {
  const double t = std::ldexp(p, 32);
  return t >= 4294967295.0 ? 0xFFFFFFFFu : static_cast<uint32_t>(t);
}

// out[j] = in[j] * (hash >= threshold ? scale : 0) over a run whose index high word is fixed;
// written so that GCC vectorises it (32-bit lanes), with an AVX2 clone picked at load time.
__attribute__((target_clones("avx2", "default"))) void masked_scale_run(const float* in, float* out, uint32_t m,
                                                                        uint32_t lo0, uint32_t k0, uint32_t hi_mix,
                                                                        uint32_t threshold, float scale) {
  for (uint32_t j = 0; j < m; ++j) {
    const uint32_t h = fmix32(fmix32((lo0 + j) ^ k0) ^ hi_mix);
    out[j] = in[j] * (h >= threshold ? scale : 0.0f);
  }
}

// out[i] = in[i] * (keyed_hash(offset + i) >= threshold ? scale : 0), split where the index's
// high word changes (at most once per 2^32 elements) so that each run is 32-bit arithmetic.
void masked_scale(const float* in, float* out, int64_t n, uint32_t k0, uint32_t k1, uint64_t offset,
                  uint32_t threshold, float scale) {
  int64_t i = 0;
  while (i < n) {
    const uint64_t first = offset + static_cast<uint64_t>(i);
    const uint32_t hi_mix = (static_cast<uint32_t>(first >> 32) * 0x9E3779B9u) ^ k1;
    const int64_t run = std::min<int64_t>({n - i, static_cast<int64_t>((uint64_t{1} << 32) - (first & 0xFFFFFFFFu)),
                                           int64_t{1} << 30});
    masked_scale_run(in + i, out + i, static_cast<uint32_t>(run), static_cast<uint32_t>(first), k0, hi_mix, threshold,
                     scale);
    i += run;
  }
}

// Rows of a B x ... tensor: row b's elements i kept as hash(row_seed(seed, keys[b]), i) says.
void keyed_dropout_rows(const float* in, float* out, int64_t rows, int64_t row_size, uint64_t seed,
                        const int64_t* keys, double p) {
  const uint32_t threshold = drop_threshold(p);
  const float scale = static_cast<float>(1.0 / (1.0 - p));
  const int64_t grain = std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(1, row_size));
  at::parallel_for(0, rows, grain, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const uint64_t rs = dropout_row_seed(seed, keys[b]);
      masked_scale(in + b * row_size, out + b * row_size, row_size, static_cast<uint32_t>(rs),
                   static_cast<uint32_t>(rs >> 32), 0, threshold, scale);
    }
  });
}

struct KeyedDropout : torch::autograd::Function<KeyedDropout> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, double p) {
    const int64_t rows = x.dim() == 0 ? 1 : x.size(0);
    const uint64_t seed = draw_dropout_seed();
    const at::Tensor keys = dropout_cell_keys(rows);
    ctx->saved_data["seed"] = static_cast<int64_t>(seed);
    ctx->saved_data["p"] = p;
    ctx->saved_data["keys"] = keys;
    at::Tensor in = x.contiguous();
    at::Tensor out = at::empty_like(in);
    const int64_t row_size = rows == 0 ? 0 : in.numel() / rows;
    keyed_dropout_rows(in.data_ptr<float>(), out.data_ptr<float>(), rows, row_size, seed, keys.data_ptr<int64_t>(), p);
    return out;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto seed = static_cast<uint64_t>(ctx->saved_data["seed"].toInt());
    const double p = ctx->saved_data["p"].toDouble();
    const at::Tensor keys = ctx->saved_data["keys"].toTensor();
    at::Tensor g = grads[0].contiguous();
    at::Tensor out = at::empty_like(g);
    const int64_t rows = keys.numel(), row_size = rows == 0 ? 0 : g.numel() / rows;
    keyed_dropout_rows(g.data_ptr<float>(), out.data_ptr<float>(), rows, row_size, seed, keys.data_ptr<int64_t>(), p);
    return {out, at::Tensor()};
  }
};

// The trainer's per-forward keys (DropoutKeys), per thread.
struct KeyState {
  bool active = false;
  uint64_t seed = 0;
  int64_t calls = 0;
  at::Tensor cells;
};
thread_local KeyState key_state;

}  // namespace

DropoutKeys::DropoutKeys(uint64_t seed, const at::Tensor& cells) {
  if (key_state.active) throw Error("DropoutKeys: already set on this thread");
  key_state.active = true;
  key_state.seed = seed;
  key_state.calls = 0;
  key_state.cells = cells.to(at::kCPU, at::kLong).contiguous();
}

DropoutKeys::~DropoutKeys() { key_state = KeyState(); }

uint64_t draw_dropout_seed() {
  if (key_state.active) return util::splitmix64(key_state.seed + 0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(++key_state.calls));
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get<at::CPUGeneratorImpl>()->random64();
}

at::Tensor dropout_cell_keys(int64_t rows) {
  if (key_state.active && key_state.cells.numel() == rows) return key_state.cells;
  return at::arange(rows, at::kLong);
}

uint64_t dropout_row_seed(uint64_t call_seed, int64_t cell_key) {
  return util::splitmix64(call_seed ^ util::splitmix64(static_cast<uint64_t>(cell_key) + 0x632BE59BD9B4E019ULL));
}

bool dropout_keeps(uint64_t row_seed, uint64_t index, double p) {
  return keyed_hash(static_cast<uint32_t>(row_seed), static_cast<uint32_t>(row_seed >> 32), index) >= drop_threshold(p);
}

void apply_keyed_dropout(float* x, int64_t n, uint64_t row_seed, uint64_t offset, double p) {
  masked_scale(x, x, n, static_cast<uint32_t>(row_seed), static_cast<uint32_t>(row_seed >> 32), offset,
               drop_threshold(p), static_cast<float>(1.0 / (1.0 - p)));
}

at::Tensor dropout(const at::Tensor& x, double p, bool train) {
  if (!train || p <= 0) return x;
  if (!x.is_cpu() || x.scalar_type() != at::kFloat || p >= 1) return at::dropout(x, p, train);
  return KeyedDropout::apply(x, p);
}

}  // namespace scfm::model
