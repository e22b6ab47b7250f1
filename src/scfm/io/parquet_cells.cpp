#include "scfm/io/parquet_cells.h"

#include <algorithm>
#include <filesystem>

#include "scfm/util/error.h"

namespace scfm::io {
namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& s, const std::string& e) {
  return s.size() >= e.size() && s.compare(s.size() - e.size(), e.size(), e) == 0;
}

void check_list(const ParquetFile& f, const std::string& name, bool integer) {
  const ParquetColumn* c = f.column(name);
  if (c == nullptr) {
    std::string have;
    for (const auto& k : f.columns()) have += (have.empty() ? "" : ", ") + k.name + " (" + k.type_name() + ")";
    throw FormatError(f.path(), name,
                      std::string("no such column; expected ") + (integer ? "list<int64>" : "list<float>") +
                          " (the columns are: " + have + ")");
  }
  // ids may be stored as floats (scBenchmark's combined files cast them to float32): whole
  // numbers are checked when read
  const bool number = c->physical == 1 || c->physical == 2 || c->physical == 4 || c->physical == 5;
  if (!c->is_list || !number)
    throw FormatError(f.path(), name,
                      std::string("expected ") + (integer ? "a list of integer ids (list<int64>, list<int32> or whole-number list<float>)"
                                                          : "a list of numbers (list<float>, list<double>, list<int>)") +
                          ", found " + c->type_name());
}

}  // namespace

bool is_parquet_input(const std::string& path) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return ends_with(path, ".parquet");
  if (!fs::is_directory(path, ec)) return false;
  bool any = false;
  for (const auto& e : fs::directory_iterator(path, ec)) {
    const std::string n = e.path().filename().string();
    if (ends_with(n, ".h5ad") || n == "matrix.mtx" || n == "matrix.mtx.gz") return false;
    any = any || ends_with(n, ".parquet");
  }
  return any;
}

ParquetCells::ParquetCells(const std::string& path, const ParquetCellsOptions& options) : options_(options) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    for (const auto& e : fs::directory_iterator(path))
      if (e.is_regular_file() && ends_with(e.path().filename().string(), ".parquet")) files_.push_back(e.path().string());
    std::sort(files_.begin(), files_.end());
    if (files_.empty()) throw Error(path + ": a folder without .parquet files");
  } else {
    files_.push_back(path);
  }
  for (size_t k = 0; k < files_.size(); ++k) {
    auto f = std::make_unique<ParquetFile>(files_[k]);
    check_list(*f, options.genes, true);
    check_list(*f, options.expressions, false);
    std::vector<std::string> flat;
    for (const auto& c : f->columns())
      if (!c.is_list) flat.push_back(c.name);
    if (k == 0) {
      flat_ = flat;
    } else {  // obs candidates: the columns every file has
      std::vector<std::string> keep;
      for (const auto& c : flat_)
        if (std::find(flat.begin(), flat.end(), c) != flat.end()) keep.push_back(c);
      flat_ = keep;
    }
    for (int g = 0; g < f->num_row_groups(); ++g) {
      const int64_t rows = f->row_group_rows(g);
      if (rows == 0) continue;
      blocks_.push_back({static_cast<int>(k), g, n_rows_, rows});
      n_rows_ += rows;
    }
    open_.push_back(std::move(f));
  }
  has_id_ = std::find(flat_.begin(), flat_.end(), options.id) != flat_.end();
}

CsrMatrix ParquetCells::block(int b, int64_t n_cols) const {
  const Block& bl = blocks_.at(static_cast<size_t>(b));
  const ParquetFile& f = *open_[static_cast<size_t>(bl.file)];
  const ParquetLists<int64_t> genes = f.read_int_lists(bl.row_group, options_.genes);
  ParquetLists<float> values = f.read_float_lists(bl.row_group, options_.expressions);
  CsrMatrix m;
  m.n_rows = bl.rows;
  m.n_cols = n_cols;
  if (static_cast<int64_t>(genes.offsets.size()) != bl.rows + 1 || values.offsets.size() != genes.offsets.size())
    throw FormatError(f.path(), options_.genes, "row group " + std::to_string(bl.row_group) + ": list rows disagree with its row count");
  m.indptr.assign(genes.offsets.begin(), genes.offsets.end());
  m.indices.resize(genes.values.size());
  for (int64_t r = 0; r < bl.rows; ++r) {
    if (genes.offsets[r + 1] - genes.offsets[r] != values.offsets[r + 1] - values.offsets[r])
      throw FormatError(f.path(), options_.expressions,
                        "row " + std::to_string(bl.first + r) + " holds " + std::to_string(genes.offsets[r + 1] - genes.offsets[r]) +
                            " genes but " + std::to_string(values.offsets[r + 1] - values.offsets[r]) + " expressions");
    for (int64_t k = genes.offsets[r]; k < genes.offsets[r + 1]; ++k) {
      const int64_t id = genes.values[static_cast<size_t>(k)];
      if (id < 0 || id >= n_cols)
        throw FormatError(f.path(), options_.genes,
                          "row " + std::to_string(bl.first + r) + " names gene id " + std::to_string(id) +
                              ", outside the vocabulary's 0.." + std::to_string(n_cols - 1) + " (is this the vocab.json the data was written with?)");
      m.indices[static_cast<size_t>(k)] = static_cast<int32_t>(id);
    }
  }
  m.data = std::move(values.values);
  return m;
}

std::vector<std::vector<std::string>> ParquetCells::block_obs(int b, const std::vector<std::string>& columns) const {
  const Block& bl = blocks_.at(static_cast<size_t>(b));
  const ParquetFile& f = *open_[static_cast<size_t>(bl.file)];
  std::vector<std::vector<std::string>> out;
  if (has_id_) {
    out.push_back(f.read_strings(bl.row_group, options_.id));
  } else {
    std::vector<std::string> ids(static_cast<size_t>(bl.rows));
    for (int64_t r = 0; r < bl.rows; ++r) ids[static_cast<size_t>(r)] = std::to_string(bl.first + r);
    out.push_back(std::move(ids));
  }
  for (const auto& c : columns) {
    if (std::find(flat_.begin(), flat_.end(), c) == flat_.end()) {
      std::string have;
      for (const auto& k : flat_) have += (have.empty() ? "" : ", ") + k;
      throw FormatError(f.path(), c, "no such flat column in every file (they share: " + (have.empty() ? std::string("none") : have) + ")");
    }
    out.push_back(f.read_strings(bl.row_group, c));
  }
  for (auto& col : out)
    if (static_cast<int64_t>(col.size()) != bl.rows)
      throw FormatError(f.path(), "row group " + std::to_string(bl.row_group), "a flat column's length differs from the row count");
  return out;
}

}  // namespace scfm::io
