#include "scfm/model/dropout.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/ops/dropout.h>
#include <ATen/ops/empty_like.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#include <mutex>

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

void keyed_dropout_into(const float* in, float* out, int64_t n, uint64_t seed, uint64_t offset, double p) {
  const uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  const uint32_t threshold = drop_threshold(p);
  const float scale = static_cast<float>(1.0 / (1.0 - p));
  at::parallel_for(0, n, 1 << 15, [&](int64_t b, int64_t e) {
    masked_scale(in + b, out + b, e - b, k0, k1, offset + static_cast<uint64_t>(b), threshold, scale);
  });
}

struct KeyedDropout : torch::autograd::Function<KeyedDropout> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, double p) {
    const uint64_t seed = draw_dropout_seed();
    ctx->saved_data["seed"] = static_cast<int64_t>(seed);
    ctx->saved_data["p"] = p;
    at::Tensor in = x.contiguous();
    at::Tensor out = at::empty_like(in);
    keyed_dropout_into(in.data_ptr<float>(), out.data_ptr<float>(), in.numel(), seed, 0, p);
    return out;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto seed = static_cast<uint64_t>(ctx->saved_data["seed"].toInt());
    const double p = ctx->saved_data["p"].toDouble();
    at::Tensor g = grads[0].contiguous();
    at::Tensor out = at::empty_like(g);
    keyed_dropout_into(g.data_ptr<float>(), out.data_ptr<float>(), g.numel(), seed, 0, p);
    return {out, at::Tensor()};
  }
};

}  // namespace

uint64_t draw_dropout_seed() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get<at::CPUGeneratorImpl>()->random64();
}

bool dropout_keeps(uint64_t seed, uint64_t index, double p) {
  return keyed_hash(static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), index) >= drop_threshold(p);
}

void apply_keyed_dropout(float* x, int64_t n, uint64_t seed, uint64_t offset, double p) {
  masked_scale(x, x, n, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), offset, drop_threshold(p),
               static_cast<float>(1.0 / (1.0 - p)));
}

at::Tensor dropout(const at::Tensor& x, double p, bool train) {
  if (!train || p <= 0) return x;
  if (!x.is_cpu() || x.scalar_type() != at::kFloat || p >= 1) return at::dropout(x, p, train);
  return KeyedDropout::apply(x, p);
}

}  // namespace scfm::model
