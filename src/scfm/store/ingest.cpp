#include "scfm/store/ingest.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <numeric>
#include <thread>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "scfm/io/h5ad.h"
#include "scfm/io/h5ad_obs.h"
#include "scfm/io/h5ad_stream.h"
#include "scfm/io/parquet_cells.h"
#include "scfm/io/scbank.h"
#include "scfm/pp/binning.h"
#include "scfm/pp/normalize.h"
#include "scfm/store/writer.h"
#include "scfm/util/error.h"
#include "scfm/util/progress.h"

namespace scfm::store {
namespace fs = std::filesystem;

namespace {

std::string dataset_name_of(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  std::string name = fs::path(p).filename().string();
  for (const char* ext : {".h5ad", ".h5", ".parquet", ".scb"}) {
    const std::string e = ext;
    if (name.size() > e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0) {
      name.resize(name.size() - e.size());
      break;
    }
  }
  return name;
}

// Turns input rows into store rows: maps columns to vocab ids, drops unmatched genes and zeros,
// sorts by id and sums duplicates. Reuses its buffers across rows. Rows whose mapped ids already
// ascend (the common case: a sorted input row and a vocabulary in the input's gene order) are not
// sorted.
class RowMapper {
 public:
  explicit RowMapper(const std::vector<int32_t>& var_to_id) : var_to_id_(var_to_id) {}

  // Returns the number of entries of the mapped row, in ids()/values().
  int64_t map(const int32_t* cols, const float* vals, int64_t n) {
    ids_.resize(static_cast<size_t>(n));
    values_.resize(static_cast<size_t>(n));
    const int32_t* to_id = var_to_id_.data();
    int32_t* ids = ids_.data();
    float* values = values_.data();
    int64_t w = 0;
    int32_t last = -1;
    bool ascending = true;
    for (int64_t k = 0; k < n; ++k) {  // branch-free: write always, advance when kept
      const int32_t id = to_id[cols[k]];
      const float v = vals[k];
      const bool keep = (id >= 0) & (v != 0.0f);
      ids[w] = id;
      values[w] = v;
      ascending &= !keep | (id > last);
      last = keep ? id : last;
      w += keep;
    }
    if (ascending) return w;  // strictly ascending: no duplicates either
    pairs_.clear();
    for (int64_t k = 0; k < w; ++k) pairs_.emplace_back(ids[k], values[k]);
    std::stable_sort(pairs_.begin(), pairs_.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    int64_t m = 0;
    for (const auto& [id, v] : pairs_) {
      if (m > 0 && ids[m - 1] == id) {
        values[m - 1] += v;
      } else {
        ids[m] = id;
        values[m] = v;
        ++m;
      }
    }
    // A sum of duplicates can cancel to zero.
    int64_t kept = 0;
    for (int64_t r = 0; r < m; ++r)
      if (values[r] != 0.0f) {
        ids[kept] = ids[r];
        values[kept] = values[r];
        ++kept;
      }
    return kept;
  }
  const int32_t* ids() const { return ids_.data(); }
  const float* values() const { return values_.data(); }

 private:
  const std::vector<int32_t>& var_to_id_;
  std::vector<std::pair<int32_t, float>> pairs_;
  std::vector<int32_t> ids_;
  std::vector<float> values_;
};

// A block of an input's cells: rows [first, first + x.n_rows) of its matrix and, when asked for,
// their obs strings: obs[c][r] for the store's columns after "dataset" (see InputObs).
struct Block {
  io::CsrMatrix x;
  int64_t first = 0;
  std::vector<std::vector<std::string>> obs;
};
using BlockFn = std::function<void(const Block& block)>;
using ReadFn = std::function<Block(int64_t start, int64_t count)>;

// Calls consume(block) for consecutive blocks of sizes[0], sizes[1], ... rows, read by `read`. A
// second thread reads the next block while `consume` runs on this one: only that thread reads the
// input (HDF5 included) meanwhile.
void for_each_block_sized(const std::vector<int64_t>& sizes, const ReadFn& read, const BlockFn& consume) {
  if (sizes.empty()) return;
  Block cur = read(0, sizes[0]);
  int64_t start = 0;
  for (size_t k = 0; k < sizes.size(); start += sizes[k], ++k) {
    const int64_t next_start = start + sizes[k];
    Block next;
    std::exception_ptr read_error;
    std::thread prefetch;
    if (k + 1 < sizes.size())
      prefetch = std::thread([&] {
        try {
          next = read(next_start, sizes[k + 1]);
        } catch (...) {
          read_error = std::current_exception();
        }
      });
    try {
      consume(cur);
    } catch (...) {
      if (prefetch.joinable()) prefetch.join();
      throw;
    }
    if (prefetch.joinable()) prefetch.join();
    if (read_error) std::rethrow_exception(read_error);
    cur = std::move(next);
  }
}

// Blocks of at most `block_rows` of an input's `n` rows.
void for_each_block(int64_t n, int64_t block_rows, const ReadFn& read, const BlockFn& consume) {
  std::vector<int64_t> sizes;
  for (int64_t start = 0; start < n; start += block_rows) sizes.push_back(std::min(block_rows, n - start));
  for_each_block_sized(sizes, read, consume);
}

// Rows [start, start + count) of a matrix in memory.
io::CsrMatrix slice_rows(const io::CsrMatrix& m, int64_t start, int64_t count) {
  io::CsrMatrix block;
  const int64_t a = m.indptr[start], b = m.indptr[start + count];
  block.n_rows = count;
  block.n_cols = m.n_cols;
  block.indptr.resize(static_cast<size_t>(count + 1));
  for (int64_t r = 0; r <= count; ++r) block.indptr[r] = m.indptr[start + r] - a;
  block.indices.assign(m.indices.begin() + a, m.indices.begin() + b);
  block.data.assign(m.data.begin() + a, m.data.begin() + b);
  return block;
}

// One input, opened: its var, its obs without values for .h5ad (they are read per block, like X:
// InputObs) or whole for 10x inputs (whose matrix is whole too), and its genes matched to the
// vocabulary.
struct OpenedInput {
  bool tenx = false;
  io::AnnData meta;
  io::GeneMatch match;
  std::shared_ptr<io::CellTable> table;  // a Parquet or scBank cell table: genes are ids already
};

OpenedInput open_input(const std::string& path, const io::Vocab& vocab, const IngestOptions& options) {
  OpenedInput in;
  std::error_code ec;
  const bool scbank = io::is_scbank(path);
  const bool parquet = !scbank && io::is_parquet_input(path);
  if (options.from == "parquet" && !parquet)
    throw Error(path + ": --from parquet: not a .parquet file or a folder of them");
  if (options.from == "scbank" && !scbank)
    throw Error(path + ": --from scbank: not an scBank folder (manifest.json and gene_vocab.json)");
  if ((parquet || scbank) && options.from != "anndata") {
    if (!options.layer.empty()) throw Error(path + ": a cell table has no layers (asked for layer \"" + options.layer + "\")");
    if (!options.gene_col.empty()) throw Error(path + ": a cell table names genes by vocabulary id; a gene column does not apply");
    if (parquet) {
      in.table = std::make_shared<io::ParquetCells>(path, options.parquet);
      // its column j is vocabulary id j
      in.match.var_to_id.resize(static_cast<size_t>(vocab.size()));
      for (int32_t j = 0; j < static_cast<int32_t>(vocab.size()); ++j) in.match.var_to_id[static_cast<size_t>(j)] = j;
      in.match.n_matched = vocab.size();
      return in;
    }
    // scBank: ids of the folder's gene_vocab.json, matched to the store's vocabulary by name
    io::ScbankFolder f = io::open_scbank(path, options.parquet);
    in.table = std::shared_ptr<io::CellTable>(std::move(f.table));
    const io::Vocab& genes = f.gene_vocab;
    in.match.var_to_id.assign(static_cast<size_t>(genes.size()), -1);
    for (int64_t j = 0; j < genes.size(); ++j) {
      if (genes.is_special(static_cast<int32_t>(j))) continue;
      const int32_t id = vocab.id(genes.token(j));
      in.match.var_to_id[static_cast<size_t>(j)] = id;
      if (id >= 0) {
        ++in.match.n_matched;
      } else {
        ++in.match.n_unmatched;
        if (in.match.unmatched_examples.size() < 10) in.match.unmatched_examples.push_back(genes.token(j));
      }
    }
    return in;
  }
  in.tenx = fs::is_directory(path, ec) || io::is_10x_h5(path);
  if (in.tenx && !options.layer.empty())
    throw Error(path + ": a 10x input has no layers (asked for layer \"" + options.layer + "\")");
  io::TenxOptions ro = options.tenx;
  ro.h5ad.lazy_matrix_elements = 0;  // .h5ad: X stays on disk...
  ro.h5ad.lazy_obs = true;           // ...and so do obs's values: n_obs and the column names only
  in.meta = io::read_any(path, ro);
  in.match = io::match_genes(vocab, in.meta, options.gene_col);
  return in;
}

// The obs strings of an input's cells for the store's columns after "dataset": the obs index
// ("barcode"), then options.obs_columns ("" for a column the input lacks, with allow_missing_obs;
// without it, a missing column is an error naming the file and listing its columns). .h5ad: read
// per block from the file (io::H5adObsReader), so memory follows the block, not the input; 10x:
// sliced from the obs read with the matrix.
class InputObs {
 public:
  InputObs(const std::string& path, const OpenedInput& in, const IngestOptions& options) {
    const std::vector<std::string> have = in.table ? in.table->flat_columns() : io::dataframe_columns(in.meta.obs());
    std::vector<std::string> present;
    for (const std::string& c : options.obs_columns) {
      if (std::find(have.begin(), have.end(), c) != have.end()) {
        source_.push_back(static_cast<int>(present.size()));
        present.push_back(c);
        continue;
      }
      if (!options.allow_missing_obs) {
        std::string list;
        for (const auto& h : have) list += (list.empty() ? "" : ", ") + h;
        throw FormatError(path, "/obs/" + c,
                          "no such obs column; the obs columns are: " + (list.empty() ? "(none)" : list) +
                              " (or allow missing obs columns to store \"\")");
      }
      source_.push_back(-1);
    }
    if (in.table) {
      table_ = in.table;
      present_ = present;
      return;
    }
    if (!in.tenx) {
      reader_ = std::make_unique<io::H5adObsReader>(path, present);
      return;
    }
    whole_.push_back(in.meta.obs_names());
    for (const std::string& c : present) whole_.push_back(io::column_strings(in.meta.obs(), c));
  }

  // Rows [start, start + count): one vector per column, `count` strings each. For a Parquet
  // input, `block` is the row group that holds exactly these rows.
  std::vector<std::vector<std::string>> rows(int64_t start, int64_t count, int block = -1) {
    std::vector<std::vector<std::string>> got;  // the index, then the columns the input has
    if (table_) {
      got = table_->block_obs(block, present_);
    } else if (reader_) {
      io::H5adObsBlock b = reader_->read(start, count);
      got.push_back(std::move(b.index));
      for (auto& c : b.columns) got.push_back(std::move(c));
    } else {
      for (const auto& w : whole_) got.emplace_back(w.begin() + start, w.begin() + start + count);
    }
    std::vector<std::vector<std::string>> out;
    out.push_back(std::move(got[0]));
    for (int k : source_)
      out.push_back(k < 0 ? std::vector<std::string>(static_cast<size_t>(count)) : std::move(got[1 + k]));
    return out;
  }

 private:
  std::vector<int> source_;  // per obs_columns entry: its index among the input's columns, -1 = missing
  std::unique_ptr<io::H5adObsReader> reader_;       // .h5ad
  std::shared_ptr<io::CellTable> table_;            // Parquet, scBank
  std::vector<std::string> present_;
  std::vector<std::vector<std::string>> whole_;     // 10x: the index, then the columns
};

// Streams the input's matrix through `consume` in blocks, checking its shape against obs x var;
// with `obs`, each block carries its cells' obs strings.
void stream_input(const std::string& path, const OpenedInput& in, const IngestOptions& options, InputObs* obs,
                  const BlockFn& consume) {
  if (in.table) {  // one row group (or run of JSON lines) a block, read while the previous one is consumed
    const io::CellTable& pc = *in.table;
    const int64_t n_cols = static_cast<int64_t>(in.match.var_to_id.size());
    util::Progress bar("ingest " + std::filesystem::path(path).filename().string(), pc.n_rows(), "cells");
    int next_block = 0;
    auto read = [&](int64_t start, int64_t count) {
      const int k = next_block++;
      Block b;
      b.first = start;
      b.x = pc.block(k, n_cols);
      if (b.x.n_rows != count) throw Error(path + ": internal: row group size changed while reading");
      if (obs != nullptr) b.obs = obs->rows(start, count, k);
      return b;
    };
    std::vector<int64_t> sizes;
    for (int k = 0; k < pc.n_blocks(); ++k)
      sizes.push_back((k + 1 < pc.n_blocks() ? pc.block_first(k + 1) : pc.n_rows()) - pc.block_first(k));
    for_each_block_sized(sizes, read, [&](const Block& b) {
      consume(b);
      bar.advance(b.x.n_rows);
    });
    return;
  }
  const int64_t n_obs = in.meta.n_obs();
  const int64_t n_genes = static_cast<int64_t>(in.match.var_to_id.size());
  auto check_shape = [&](const std::string& field, int64_t rows, int64_t cols) {
    if (rows != n_obs || cols != n_genes)
      throw FormatError(path, field, "shape " + std::to_string(rows) + " x " + std::to_string(cols) +
                                         " disagrees with obs x var " + std::to_string(n_obs) + " x " +
                                         std::to_string(n_genes));
  };
  std::function<io::CsrMatrix(int64_t, int64_t)> read_x;
  io::CsrMatrix whole;  // 10x
  std::unique_ptr<io::H5adMatrixReader> reader;  // .h5ad
  if (in.tenx) {
    whole = in.meta.matrix_csr(options.layer);
    check_shape("matrix", whole.n_rows, whole.n_cols);
    read_x = [&](int64_t start, int64_t count) { return slice_rows(whole, start, count); };
  } else {
    io::H5adStreamOptions so;
    so.layer = options.layer;
    reader = std::make_unique<io::H5adMatrixReader>(path, so);
    check_shape(options.layer.empty() ? "/X" : "/layers/" + options.layer, reader->n_rows(), reader->n_cols());
    read_x = [&](int64_t start, int64_t count) { return reader->read_rows(start, count); };
  }
  auto read = [&](int64_t start, int64_t count) {
    Block b;
    b.first = start;
    b.x = read_x(start, count);
    if (obs != nullptr) b.obs = obs->rows(start, count);
    return b;
  };
  util::Progress bar("ingest " + std::filesystem::path(path).filename().string(), n_obs, "cells");
  for_each_block(n_obs, options.block_rows, read, [&](const Block& b) {
    consume(b);
    bar.advance(b.x.n_rows);
  });
}

// scanpy's default normalize_total target: the median of the positive totals, here of every kept
// cell of every input (a first pass over the inputs).
double median_total(const std::vector<std::string>& inputs, const io::Vocab& vocab, const IngestOptions& options) {
  std::vector<double> totals;
  for (const std::string& path : inputs) {
    const OpenedInput in = open_input(path, vocab, options);
    RowMapper mapper(in.match.var_to_id);
    stream_input(path, in, options, nullptr, [&](const Block& b) {
      const io::CsrMatrix& m = b.x;
      for (int64_t r = 0; r < m.n_rows; ++r) {
        const int64_t a = m.indptr[r];
        const int64_t n = mapper.map(m.indices.data() + a, m.data.data() + a, m.indptr[r + 1] - a);
        double t = 0;
        for (int64_t k = 0; k < n; ++k) t += mapper.values()[k];
        if (t > 0) totals.push_back(t);
      }
    });
  }
  if (totals.empty()) throw Error("ingest: normalize_total without a target: no cell has a positive total to take the median of");
  std::sort(totals.begin(), totals.end());  // numpy's median: mean of the two middle values for an even count
  const size_t k = totals.size();
  return k % 2 ? totals[k / 2] : 0.5 * (totals[k / 2 - 1] + totals[k / 2]);
}

// Removes entries a transform turned into 0 (the store holds no zeros), and rows left empty.
void drop_zeros(io::CsrMatrix& m, std::vector<int64_t>& source, int64_t& n_all_zero) {
  if (std::find(m.data.begin(), m.data.end(), 0.0f) == m.data.end()) return;
  int64_t w = 0, rows = 0, a = 0;  // a: the row's start before compaction (indptr is rewritten)
  for (int64_t r = 0; r < m.n_rows; ++r) {
    const int64_t b = m.indptr[r + 1], row_start = w;
    for (int64_t k = a; k < b; ++k)
      if (m.data[k] != 0.0f) {
        m.indices[w] = m.indices[k];
        m.data[w] = m.data[k];
        ++w;
      }
    a = b;
    if (w == row_start) {
      ++n_all_zero;
      continue;
    }
    source[static_cast<size_t>(rows)] = source[static_cast<size_t>(r)];
    m.indptr[++rows] = w;
  }
  m.n_rows = rows;
  m.indptr.resize(static_cast<size_t>(rows + 1));
  m.indices.resize(static_cast<size_t>(w));
  m.data.resize(static_cast<size_t>(w));
  source.resize(static_cast<size_t>(rows));
}

StoredValues stored_values(const IngestValues& v, const std::optional<double>& target) {
  StoredValues s;
  if (v.normalize_total) s.normalize_total = target;
  s.log1p = v.log1p;
  if (v.n_bins > 0) {
    s.n_bins = v.n_bins;
    s.bin_mode = v.bin_mode == pp::BinningMode::Keyed ? "keyed" : v.bin_mode == pp::BinningMode::Seeded ? "seeded" : "deterministic";
    s.bin_seed = v.bin_mode == pp::BinningMode::Deterministic ? 0 : v.bin_seed;
  }
  return s;
}

nlohmann::ordered_json input_json(const IngestInputReport& r) {
  nlohmann::ordered_json j;
  j["path"] = r.path;
  j["dataset"] = r.dataset;
  j["n_cells_read"] = r.n_cells_read;
  j["n_cells_kept"] = r.n_cells_kept;
  j["cells_dropped_all_zero"] = r.n_cells_all_zero;
  j["n_genes"] = r.n_genes;
  j["n_genes_matched"] = r.n_genes_matched;
  j["genes_dropped"] = {{"count", r.n_genes_dropped}, {"examples", r.genes_dropped_examples}};
  j["genes_merged"] = r.n_genes_merged;
  return j;
}

}  // namespace

void reuse_freed_memory() {
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

IngestReport ingest(const std::vector<std::string>& inputs, const io::Vocab& vocab, const std::string& out,
                    const IngestOptions& options) {
  if (inputs.empty()) throw Error("ingest: no inputs");
  if (options.from != "auto" && options.from != "anndata" && options.from != "parquet" && options.from != "scbank")
    throw Error("ingest: --from must be auto, anndata, parquet or scbank, got '" + options.from + "'");
  if (options.block_rows < 1) throw Error("ingest: block_rows must be at least 1");
  if (!options.dataset_names.empty() && options.dataset_names.size() != inputs.size())
    throw Error("ingest: " + std::to_string(options.dataset_names.size()) + " dataset names for " +
                std::to_string(inputs.size()) + " inputs");
  for (const std::string& c : options.obs_columns)
    if (c == "dataset" || c == "barcode")
      throw Error("ingest: obs column \"" + c + "\" is always written by ingest (the input's name / obs index); "
                  "do not list it");
  const IngestValues& tv = options.values;
  if (tv.target_sum && !tv.normalize_total) throw Error("ingest: a normalize_total target without normalize_total");
  if (tv.target_sum && !(*tv.target_sum > 0 && std::isfinite(*tv.target_sum)))
    throw Error("ingest: the normalize_total target must be a positive number, got " + std::to_string(*tv.target_sum));
  if (tv.n_bins != 0 && tv.n_bins < 3) throw Error("ingest: binning needs at least 3 bins, got " + std::to_string(tv.n_bins));
  if (tv.n_bins > 0 && tv.bin_mode == pp::BinningMode::Seeded && tv.bin_seed > 0xFFFFFFFFull)
    throw Error("ingest: a seeded binning seed must fit in 32 bits (numpy's np.random.seed), got " + std::to_string(tv.bin_seed));
  std::vector<std::string> names = options.dataset_names;
  if (names.empty())
    for (const std::string& p : inputs) names.push_back(dataset_name_of(p));
  names = io::make_names_unique(names);

  std::vector<std::string> columns{"dataset", "barcode"};
  columns.insert(columns.end(), options.obs_columns.begin(), options.obs_columns.end());
  StoreWriterOptions wo;
  wo.shard_cells = options.shard_cells;
  wo.layer = options.layer;
  wo.overwrite = options.overwrite;
  StoreWriter writer(out, vocab, columns, wo);  // refuses an existing `out` before any reading

  IngestReport report;
  report.out = out;
  std::optional<double> target = tv.target_sum;
  if (tv.normalize_total && !target) target = median_total(inputs, vocab, options);
  report.target_sum = target;
  writer.set_values(stored_values(tv, target));
  const bool transform = tv.normalize_total || tv.log1p || tv.n_bins > 0;
  std::optional<pp::NumpyLegacyRandom> numpy_rng;  // seeded binning: one stream over the store's rows
  if (tv.n_bins > 0 && tv.bin_mode == pp::BinningMode::Seeded) numpy_rng.emplace(static_cast<uint32_t>(tv.bin_seed));

  std::vector<std::string> dropped_examples;
  for (size_t in_k = 0; in_k < inputs.size(); ++in_k) {
    const std::string& path = inputs[in_k];
    IngestInputReport ir;
    ir.path = path;
    ir.dataset = names[in_k];
    const OpenedInput in = open_input(path, vocab, options);
    const io::GeneMatch& match = in.match;
    ir.n_genes = static_cast<int64_t>(match.var_to_id.size());
    ir.n_genes_matched = match.n_matched;
    ir.n_genes_dropped = match.n_unmatched;
    ir.genes_dropped_examples = match.unmatched_examples;
    {
      std::vector<int32_t> seen(match.var_to_id);
      std::sort(seen.begin(), seen.end());
      for (size_t k = 1; k < seen.size(); ++k)
        if (seen[k] >= 0 && seen[k] == seen[k - 1]) ++ir.n_genes_merged;
    }

    InputObs obs(path, in, options);

    RowMapper mapper(match.var_to_id);
    std::vector<std::string> obs_row(columns.size());
    obs_row[0] = ir.dataset;
    io::CsrMatrix kept;          // the block's kept cells as store rows (transformed in place)
    std::vector<int64_t> source;  // their rows in the block
    // r: the cell's row in the block
    auto add_cell = [&](const int32_t* ids, const float* values, int64_t n, const Block& b, int64_t r) {
      for (size_t c = 1; c < columns.size(); ++c) obs_row[c] = b.obs[c - 1][static_cast<size_t>(r)];
      writer.add(ids, values, n, obs_row);
      ++ir.n_cells_kept;
    };
    auto take_block = [&](const Block& b) {
      const io::CsrMatrix& m = b.x;
      const int64_t first = b.first;
      ir.n_cells_read += m.n_rows;
      if (!transform) {  // straight from the mapper to the writer
        for (int64_t r = 0; r < m.n_rows; ++r) {
          const int64_t a = m.indptr[r];
          const int64_t n = mapper.map(m.indices.data() + a, m.data.data() + a, m.indptr[r + 1] - a);
          if (n == 0)
            ++ir.n_cells_all_zero;
          else
            add_cell(mapper.ids(), mapper.values(), n, b, r);
        }
        return;
      }
      kept.n_rows = 0;
      kept.n_cols = vocab.size();
      kept.indptr.assign(1, 0);
      kept.indices.clear();
      kept.data.clear();
      source.clear();
      for (int64_t r = 0; r < m.n_rows; ++r) {
        const int64_t a = m.indptr[r];
        const int64_t n = mapper.map(m.indices.data() + a, m.data.data() + a, m.indptr[r + 1] - a);
        if (n == 0) {
          ++ir.n_cells_all_zero;
          continue;
        }
        kept.indices.insert(kept.indices.end(), mapper.ids(), mapper.ids() + n);
        kept.data.insert(kept.data.end(), mapper.values(), mapper.values() + n);
        kept.indptr.push_back(kept.nnz());
        source.push_back(r);
        ++kept.n_rows;
      }
      try {
        if (tv.normalize_total) {
          pp::NormalizeTotalOptions no;
          no.target_sum = target;
          pp::normalize_total(kept, no);
        }
        if (tv.log1p) pp::log1p(kept);
        drop_zeros(kept, source, ir.n_cells_all_zero);
        if (tv.n_bins > 0) {
          pp::BinnedMatrix b;
          if (numpy_rng) {
            b = pp::binning(kept, tv.n_bins, *numpy_rng);
          } else {
            pp::BinningOptions bo;
            bo.n_bins = tv.n_bins;
            bo.mode = tv.bin_mode;
            bo.seed = tv.bin_seed;
            b = pp::binning(kept, bo, writer.n_cells());  // keyed by the cell's index in the store
          }
          for (size_t k = 0; k < b.bins.size(); ++k) kept.data[k] = static_cast<float>(b.bins[k]);
        }
      } catch (const FormatError&) {
        throw;
      } catch (const Error& e) {
        throw Error(path + ": cells " + std::to_string(first) + ".." + std::to_string(first + m.n_rows - 1) + ": " + e.what());
      }
      for (int64_t r = 0; r < kept.n_rows; ++r) {
        const int64_t a = kept.indptr[r];
        add_cell(kept.indices.data() + a, kept.data.data() + a, kept.indptr[r + 1] - a, b, source[static_cast<size_t>(r)]);
      }
    };
    stream_input(path, in, options, &obs, take_block);

    report.n_cells_read += ir.n_cells_read;
    report.n_cells_all_zero += ir.n_cells_all_zero;
    report.n_genes_dropped += ir.n_genes_dropped;
    for (const auto& g : ir.genes_dropped_examples)
      if (dropped_examples.size() < 10) dropped_examples.push_back(g);
    report.inputs.push_back(std::move(ir));
  }

  nlohmann::ordered_json info;
  info["genes_dropped"] = {{"count", report.n_genes_dropped}, {"examples", dropped_examples}};
  info["cells_dropped_all_zero"] = report.n_cells_all_zero;
  info["n_cells_read"] = report.n_cells_read;
  info["gene_col"] = options.gene_col;
  info["vocab_path"] = vocab.path();
  if (tv.normalize_total) info["normalize_total_target"] = tv.target_sum ? "given" : "median of the kept cells' totals";
  nlohmann::ordered_json in_json = nlohmann::ordered_json::array();
  for (const auto& r : report.inputs) in_json.push_back(input_json(r));
  info["inputs"] = std::move(in_json);
  writer.set_ingest_info(std::move(info));
  report.manifest = writer.commit();
  return report;
}

}  // namespace scfm::store
