// SplitMix64 (Steele, Lea & Flood 2014): one step of the generator, used as a 64-bit mixing
// function for counter-based random numbers keyed by (seed, cell, gene, ...).
#pragma once

#include <cstdint>

namespace scfm::util {

inline uint64_t splitmix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace scfm::util
