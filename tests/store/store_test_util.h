// Helpers for the store tests: the rows a store must hold, computed independently of store/ from
// the fully loaded input (io::read_any + matrix_csr) and the vocabulary's name -> id lookup.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "scfm/io/tenx.h"
#include "scfm/io/h5ad.h"
#include "scfm/io/vocab.h"
#include "scfm/util/error.h"
#include "test_util.h"

namespace scfm::store::testing {

struct Row {
  std::vector<int32_t> ids;
  std::vector<float> values;
};

// One entry per input cell (empty rows included): the non-zero values of the genes the vocabulary
// holds, keyed by vocab id, sorted by id.
inline std::vector<Row> expected_rows(const std::string& path, const io::Vocab& vocab, const std::string& layer = "") {
  const io::AnnData a = io::read_any(path);
  const std::vector<std::string> genes = a.var_names();
  const io::CsrMatrix m = a.matrix_csr(layer);
  std::vector<Row> rows(static_cast<size_t>(m.n_rows));
  for (int64_t r = 0; r < m.n_rows; ++r) {
    std::vector<std::pair<int32_t, float>> e;
    for (int64_t k = m.indptr[r]; k < m.indptr[r + 1]; ++k) {
      const int32_t id = vocab.id(genes[static_cast<size_t>(m.indices[k])]);
      if (id >= 0 && m.data[k] != 0.0f) e.emplace_back(id, m.data[k]);
    }
    std::sort(e.begin(), e.end());
    for (auto& [id, v] : e) {
      rows[r].ids.push_back(id);
      rows[r].values.push_back(v);
    }
  }
  return rows;
}

inline std::string pbmc3k() { return test::real_data("pbmc3k_decoupler.h5ad"); }
inline std::string pbmc_small() { return test::real_data("pbmc_small.h5ad"); }

// The vocabulary of the inputs' gene names (io::Vocab::build).
inline io::Vocab vocab_of(const std::vector<std::string>& paths) {
  std::vector<std::vector<std::string>> lists;
  for (const auto& p : paths) lists.push_back(io::read_h5ad(p, {0}).var_names());
  return io::Vocab::build(lists);
}

// f must throw scfm::Error whose message contains every part.
inline void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected an error containing " << parts.front();
  } catch (const Error& e) {
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << "\nmissing: " << p;
  }
}

}  // namespace scfm::store::testing
