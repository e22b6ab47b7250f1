#include "scfm/data/random.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "scfm/util/error.h"

namespace scfm::data {
namespace {
constexpr uint64_t kGamma = 0x9e3779b97f4a7c15ULL;

uint64_t combine(uint64_t h, uint64_t v) { return splitmix64(h ^ splitmix64(v + kGamma)); }
}  // namespace

uint64_t splitmix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

KeyedRandom::KeyedRandom(uint64_t seed, int64_t epoch, int64_t cell, RandomPurpose purpose) {
  uint64_t h = splitmix64(seed ^ 0x5cf3a1d2e4b6c7f8ULL);
  h = combine(h, static_cast<uint64_t>(epoch));
  h = combine(h, static_cast<uint64_t>(cell));
  h = combine(h, static_cast<uint64_t>(purpose));
  key_ = h;
}

uint64_t KeyedRandom::next_u64() {
  ++counter_;
  return splitmix64(key_ + counter_ * kGamma);
}

uint64_t KeyedRandom::below(uint64_t n) {
  // Lemire's nearly divisionless method on 64-bit outputs.
  uint64_t x = next_u64();
  __uint128_t m = static_cast<__uint128_t>(x) * n;
  uint64_t low = static_cast<uint64_t>(m);
  if (low < n) {
    const uint64_t threshold = (0 - n) % n;
    while (low < threshold) {
      x = next_u64();
      m = static_cast<__uint128_t>(x) * n;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

double NumpyRandomState::uniform() {
  const uint32_t a = next_u32() >> 5;
  const uint32_t b = next_u32() >> 6;
  return (a * 67108864.0 + b) / 9007199254740992.0;
}

uint32_t random_interval(RandomStream& rs, uint32_t max) {
  if (max == 0) return 0;
  uint32_t mask = max;
  mask |= mask >> 1;
  mask |= mask >> 2;
  mask |= mask >> 4;
  mask |= mask >> 8;
  mask |= mask >> 16;
  uint32_t value;
  while ((value = (rs.next_u32() & mask)) > max) {
  }
  return value;
}

std::vector<int64_t> numpy_choice_without_replacement(RandomStream& rs, int64_t n, int64_t k) {
  if (k < 0 || k > n) throw Error("choice without replacement: cannot take " + std::to_string(k) + " of " + std::to_string(n));
  if (n > static_cast<int64_t>(UINT32_MAX)) throw Error("numpy replay: population over 2^32 is not supported");
  std::vector<int64_t> x(static_cast<size_t>(n));
  std::iota(x.begin(), x.end(), 0);
  for (int64_t i = n - 1; i >= 1; --i) {
    const int64_t j = random_interval(rs, static_cast<uint32_t>(i));
    std::swap(x[i], x[j]);
  }
  x.resize(static_cast<size_t>(k));
  return x;
}

std::vector<int64_t> weighted_sample_without_replacement(RandomStream& rs, const std::vector<double>& weights,
                                                         int64_t k) {
  const int64_t n = static_cast<int64_t>(weights.size());
  if (k < 0 || k > n) throw Error("weighted sample: cannot take " + std::to_string(k) + " of " + std::to_string(n));
  // key_i = E_i / w_i with E_i ~ Exp(1); the ascending order of keys is the order of successive
  // proportional draws without replacement.
  std::vector<std::pair<double, int64_t>> keys(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double w = weights[i];
    if (!(w > 0.0) || !std::isfinite(w)) throw Error("weighted sample: weight " + std::to_string(i) + " is not finite and > 0");
    const double e = -std::log1p(-rs.uniform());  // uniform() < 1, so finite
    keys[i] = {e / w, i};
  }
  auto mid = keys.begin() + k;
  std::partial_sort(keys.begin(), mid, keys.end());
  std::vector<int64_t> out(static_cast<size_t>(k));
  for (int64_t i = 0; i < k; ++i) out[i] = keys[i].second;
  return out;
}

std::vector<int64_t> keyed_permutation(int64_t n, uint64_t seed, int64_t epoch, int64_t stream) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), 0);
  KeyedRandom rs(seed, epoch, stream, RandomPurpose::shuffle);
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[static_cast<int64_t>(rs.below(static_cast<uint64_t>(i + 1)))]);
  return p;
}

}  // namespace scfm::data
