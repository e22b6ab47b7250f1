// Random streams for data/: a keyed, counter-based generator (the product default) and numpy's
// legacy RandomState (MT19937) for exact replay of the original Python code.
//
// Keyed randomness. A KeyedRandom is a pure function of (seed, epoch, cell, purpose): the n-th
// output is a SplitMix64 finaliser of (hash of the key + n * golden gamma). Nothing depends on
// which thread, batch or process draws it, so every cell gets the same tokens and masks whatever
// the thread count, batch size or world size. Two keys that differ in any field give unrelated
// streams (up to 64-bit hash collisions). Purposes separate the draws of one cell (subsampling,
// masking, class/shuffle draws) so adding a draw to one never shifts another.
//
// numpy replay. NumpyRandomState(seed) is `np.random.seed(seed)` (MT19937 init_genrand, i.e.
// std::mt19937(seed)); uniform() is `np.random.rand()` (two 32-bit outputs a, b ->
// ((a>>5)*67108864 + (b>>6)) / 2^53); choice_without_replacement() is
// `np.random.choice(n, k, replace=False)` with legacy semantics (a full legacy permutation of n,
// first k kept, in permuted order; it draws even when k == 0). Matching numpy holds for n < 2^32.
//
// Neither class is thread-safe; each is cheap to construct, so make one per cell (keyed) or one
// per replayed batch (numpy).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace scfm::data {

// The 32/64-bit source the sampling routines below draw from.
class RandomStream {
 public:
  virtual ~RandomStream() = default;
  virtual uint32_t next_u32() = 0;
  // A double in [0, 1) with 53 random bits.
  virtual double uniform() = 0;
};

// What a keyed stream is for; part of its key.
enum class RandomPurpose : uint64_t {
  subsample = 1,  // which genes a cell keeps when it has more than max_len
  mask = 2,       // which positions are masked
  value = 3,      // value transforms (e.g. binning ties)
  shuffle = 4,    // sampler: the epoch permutation (cell = -1)
  balance = 5,    // sampler: class-balanced draws (cell = draw position)
  bucket = 6,     // sampler: batch order inside a length bucket
};

uint64_t splitmix64(uint64_t x);

class KeyedRandom : public RandomStream {
 public:
  KeyedRandom(uint64_t seed, int64_t epoch, int64_t cell, RandomPurpose purpose);
  uint64_t next_u64();
  uint32_t next_u32() override { return static_cast<uint32_t>(next_u64() >> 32); }
  double uniform() override { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  // Uniform integer in [0, n), n >= 1, without modulo bias (Lemire's method).
  uint64_t below(uint64_t n);

 private:
  uint64_t key_;
  uint64_t counter_ = 0;
};

class NumpyRandomState : public RandomStream {
 public:
  explicit NumpyRandomState(uint32_t seed) : mt_(seed) {}
  uint32_t next_u32() override { return static_cast<uint32_t>(mt_()); }
  double uniform() override;

 private:
  std::mt19937 mt_;
};

// Keyed Fisher-Yates permutation of 0..n-1 for (seed, epoch, stream) (RandomPurpose::shuffle):
// the same for any thread count or batch size.
std::vector<int64_t> keyed_permutation(int64_t n, uint64_t seed, int64_t epoch, int64_t stream);

// numpy's random_interval(max): uniform in [0, max] by masked rejection of 32-bit outputs.
uint32_t random_interval(RandomStream& rs, uint32_t max);

// np.random.choice(n, k, replace=False) of the legacy RandomState: a legacy permutation of
// [0, n) (for i = n-1..1: swap x[i], x[random_interval(i)]), first k entries. k <= n.
std::vector<int64_t> numpy_choice_without_replacement(RandomStream& rs, int64_t n, int64_t k);

// k distinct indices drawn one after another with probability proportional to the weights of
// those not yet drawn (torch.multinomial(weights, k, replacement=False)), returned in draw
// order. Weights must be finite and > 0; k <= weights.size(). Implemented with exponential keys
// (Efraimidis-Spirakis), which has exactly that distribution.
std::vector<int64_t> weighted_sample_without_replacement(RandomStream& rs, const std::vector<double>& weights,
                                                         int64_t k);

}  // namespace scfm::data
