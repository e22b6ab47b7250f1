#include "scfm/data/masking.h"

#include <string>

#include "scfm/util/error.h"

namespace scfm::data {

void validate(const MaskOptions& o) {
  if (!(o.mask_ratio >= 0.0 && o.mask_ratio <= 1.0))
    throw Error("masking: mask_ratio must be in [0, 1], got " + std::to_string(o.mask_ratio));
}

int64_t mask_cell(const float* values, int64_t len, bool has_cls, float pad_value, const MaskOptions& o,
                  RandomStream& rs, float* masked, uint8_t* positions) {
  for (int64_t p = 0; p < len; ++p) {
    masked[p] = values[p];
    positions[p] = 0;
  }
  const int64_t first = (has_cls && !o.mask_cls) ? 1 : 0;
  std::vector<int64_t> cand;
  cand.reserve(static_cast<size_t>(len));
  for (int64_t p = first; p < len; ++p) {
    if (o.numpy_choice && values[p] == pad_value) continue;
    cand.push_back(p);
  }
  const int64_t n = static_cast<int64_t>(cand.size());
  int64_t count = 0;
  if (o.mode == MaskMode::exact_count) {
    const int64_t k = static_cast<int64_t>(static_cast<double>(n) * o.mask_ratio);
    std::vector<int64_t> pick;
    if (o.numpy_choice) {
      pick = numpy_choice_without_replacement(rs, n, k);
    } else {
      // partial Fisher-Yates over the candidates
      pick.resize(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) pick[i] = i;
      for (int64_t i = 0; i < k; ++i) {
        const int64_t j = i + random_interval(rs, static_cast<uint32_t>(n - 1 - i));
        std::swap(pick[i], pick[j]);
      }
      pick.resize(static_cast<size_t>(k));
    }
    for (int64_t c : pick) {
      masked[cand[c]] = o.mask_value;
      positions[cand[c]] = 1;
    }
    count = k;
  } else {
    for (int64_t c : cand) {
      if (rs.uniform() < o.mask_ratio) {
        masked[c] = o.mask_value;
        positions[c] = 1;
        ++count;
      }
    }
  }
  return count;
}

}  // namespace scfm::data
