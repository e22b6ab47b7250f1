// Masking a tokenized cell for masked-value pretraining (scGPT's random_mask_value,
// scBenchmark's ExpressionDataset.mask).
//
// The candidates for masking are the cell's real tokens: positions [0, len) of the unpadded cell,
// without <cls> unless mask_cls. Pads are never masked (they are not passed in). Masked positions
// take mask_value; the others keep their value.
//  - exact_count (scGPT): exactly int(n * mask_ratio) of the n candidates, chosen uniformly
//    without replacement (np.random.choice(n, k, replace=False) when numpy_choice, which also
//    consumes the stream as numpy does, even for k == 0).
//  - bernoulli (scBenchmark): each candidate independently with probability mask_ratio
//    (uniform() < mask_ratio); the count is Binomial(n, mask_ratio).
// numpy replay of scGPT (numpy_choice): scGPT picks candidates by value (value != pad_value over
// the padded row, which includes <cls>, value 0); with numpy_choice the candidates are likewise the
// tokens whose value differs from pad_value, and mask_cls should be on to match scGPT exactly.
#pragma once

#include <cstdint>
#include <vector>

#include "scfm/data/random.h"

namespace scfm::data {

enum class MaskMode { exact_count, bernoulli };

struct MaskOptions {
  double mask_ratio = 0.4;   // scGPT/scBenchmark --mask_ratio 0.4 (random_mask_value's own default is 0.15)
  float mask_value = -1.0f;  // scGPT/scBenchmark mask_value -1
  MaskMode mode = MaskMode::exact_count;
  bool mask_cls = false;     // scGPT's random_mask_value may mask <cls>; off keeps <cls> intact
  bool numpy_choice = false; // replay numpy's legacy choice (see above)
};

// Throws scfm::Error when mask_ratio is outside [0, 1].
void validate(const MaskOptions& options);

// Masks values[0..len) of one tokenized cell. `has_cls`: position 0 is <cls>. Writes
// masked[0..len) and positions[0..len) (1 = masked). Returns the number masked.
int64_t mask_cell(const float* values, int64_t len, bool has_cls, float pad_value, const MaskOptions& options,
                  RandomStream& rs, float* masked, uint8_t* positions);

}  // namespace scfm::data
