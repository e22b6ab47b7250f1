// The inputs of the evaluation tasks: an embedding (obsm[key]) and a label column from an .h5ad,
// read without loading X or layers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scfm/eval/metrics.h"

namespace scfm::io {
class AnnData;
}

namespace scfm::eval {

struct Embedded {
  std::string path;
  int64_t n = 0, dim = 0;
  std::vector<float> x;                 // n x dim, row-major
  std::vector<std::string> obs_names;
  std::vector<std::string> labels;      // empty when no label column was asked for
};

// Throws a FormatError naming the file and obsm/<key> or obs/<label_col> when missing, not 2-D
// or of the wrong length. label_col "" reads no labels; `labels_optional` returns empty labels
// when the column is absent instead of failing (a query without ground truth).
Embedded read_embedded(const std::string& path, const std::string& key, const std::string& label_col,
                       bool labels_optional = false);
// The same from an AnnData already read with lazy matrices (obsm/<key> is read from ad.path).
Embedded read_embedded(const io::AnnData& ad, const std::string& key, const std::string& label_col,
                       bool labels_optional = false);

// obs[col] of an already-read AnnData as codes (eval::encode_labels), refusing a missing column
// and cells without a value (NaN or empty) with a FormatError naming the file and obs/<col>;
// `role` ("batch", "label") words the message.
Encoded required_codes(const std::string& path, const io::AnnData& ad, const std::string& col, const char* role);
// The same check on a column's values in hand (as io::column_strings gives them).
Encoded required_codes(const std::string& path, const std::string& col, const std::vector<std::string>& values,
                       const char* role);

}  // namespace scfm::eval
