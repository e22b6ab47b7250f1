#include "scfm/store/ingest.h"

#include <algorithm>
#include <filesystem>
#include <numeric>

#include "scfm/io/h5ad.h"
#include "scfm/io/h5ad_stream.h"
#include "scfm/store/writer.h"
#include "scfm/util/error.h"

namespace scfm::store {
namespace fs = std::filesystem;

namespace {

std::string dataset_name_of(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  std::string name = fs::path(p).filename().string();
  for (const char* ext : {".h5ad", ".h5"}) {
    const std::string e = ext;
    if (name.size() > e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0) {
      name.resize(name.size() - e.size());
      break;
    }
  }
  return name;
}

// Turns input rows into store rows: maps columns to vocab ids, drops unmatched genes and zeros,
// sorts by id and sums duplicates. Reuses its buffers across rows.
class RowMapper {
 public:
  explicit RowMapper(const std::vector<int32_t>& var_to_id) : var_to_id_(var_to_id) {}

  // Returns the number of entries of the mapped row, in ids()/values().
  int64_t map(const int32_t* cols, const float* vals, int64_t n) {
    pairs_.clear();
    for (int64_t k = 0; k < n; ++k) {
      const int32_t id = var_to_id_[static_cast<size_t>(cols[k])];
      if (id >= 0 && vals[k] != 0.0f) pairs_.emplace_back(id, vals[k]);
    }
    std::sort(pairs_.begin(), pairs_.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    ids_.clear();
    values_.clear();
    for (const auto& [id, v] : pairs_) {
      if (!ids_.empty() && ids_.back() == id) {
        values_.back() += v;
      } else {
        ids_.push_back(id);
        values_.push_back(v);
      }
    }
    // A sum of duplicates can cancel to zero.
    size_t w = 0;
    for (size_t r = 0; r < ids_.size(); ++r)
      if (values_[r] != 0.0f) {
        ids_[w] = ids_[r];
        values_[w] = values_[r];
        ++w;
      }
    ids_.resize(w);
    values_.resize(w);
    return static_cast<int64_t>(w);
  }
  const int32_t* ids() const { return ids_.data(); }
  const float* values() const { return values_.data(); }

 private:
  const std::vector<int32_t>& var_to_id_;
  std::vector<std::pair<int32_t, float>> pairs_;
  std::vector<int32_t> ids_;
  std::vector<float> values_;
};

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

IngestReport ingest(const std::vector<std::string>& inputs, const io::Vocab& vocab, const std::string& out,
                    const IngestOptions& options) {
  if (inputs.empty()) throw Error("ingest: no inputs");
  if (options.block_rows < 1) throw Error("ingest: block_rows must be at least 1");
  if (!options.dataset_names.empty() && options.dataset_names.size() != inputs.size())
    throw Error("ingest: " + std::to_string(options.dataset_names.size()) + " dataset names for " +
                std::to_string(inputs.size()) + " inputs");
  for (const std::string& c : options.obs_columns)
    if (c == "dataset" || c == "barcode")
      throw Error("ingest: obs column \"" + c + "\" is always written by ingest (the input's name / obs index); "
                  "do not list it");
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
  StoreWriter writer(out, vocab, columns, wo);

  IngestReport report;
  report.out = out;
  std::vector<std::string> dropped_examples;
  for (size_t in = 0; in < inputs.size(); ++in) {
    const std::string& path = inputs[in];
    IngestInputReport ir;
    ir.path = path;
    ir.dataset = names[in];
    std::error_code ec;
    const bool tenx = fs::is_directory(path, ec) || io::is_10x_h5(path);
    if (tenx && !options.layer.empty())
      throw Error(path + ": a 10x input has no layers (asked for layer \"" + options.layer + "\")");
    io::TenxOptions ro = options.tenx;
    ro.h5ad.lazy_matrix_elements = 0;  // .h5ad: obs and var only; X stays on disk
    const io::AnnData meta = io::read_any(path, ro);

    const io::GeneMatch match = io::match_genes(vocab, meta, options.gene_col);
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

    const int64_t n_obs = meta.n_obs();
    std::vector<std::vector<std::string>> obs_values;  // per column, per cell
    obs_values.push_back({});                          // dataset: constant, filled per cell
    obs_values.push_back(meta.obs_names());
    const std::vector<std::string> have = io::dataframe_columns(meta.obs());
    for (const std::string& c : options.obs_columns) {
      if (std::find(have.begin(), have.end(), c) == have.end()) {
        if (!options.allow_missing_obs) {
          std::string list;
          for (const auto& h : have) list += (list.empty() ? "" : ", ") + h;
          throw FormatError(path, "/obs/" + c,
                            "no such obs column; the obs columns are: " + (list.empty() ? "(none)" : list) +
                                " (or allow missing obs columns to store \"\")");
        }
        obs_values.push_back(std::vector<std::string>(static_cast<size_t>(n_obs)));
      } else {
        obs_values.push_back(io::column_strings(meta.obs(), c));
      }
    }

    RowMapper mapper(match.var_to_id);
    std::vector<std::string> obs_row(columns.size());
    obs_row[0] = ir.dataset;
    auto take_rows = [&](const io::CsrMatrix& m, int64_t first) {
      for (int64_t r = 0; r < m.n_rows; ++r) {
        const int64_t a = m.indptr[r], b = m.indptr[r + 1];
        const int64_t n = mapper.map(m.indices.data() + a, m.data.data() + a, b - a);
        ++ir.n_cells_read;
        if (n == 0) {
          ++ir.n_cells_all_zero;
          continue;
        }
        for (size_t c = 1; c < columns.size(); ++c) obs_row[c] = obs_values[c][static_cast<size_t>(first + r)];
        writer.add(mapper.ids(), mapper.values(), n, obs_row);
        ++ir.n_cells_kept;
      }
    };

    if (tenx) {
      const io::CsrMatrix m = meta.matrix_csr(options.layer);
      if (m.n_rows != n_obs || m.n_cols != ir.n_genes)
        throw FormatError(path, "matrix", "shape " + std::to_string(m.n_rows) + " x " + std::to_string(m.n_cols) +
                                              " disagrees with obs x var " + std::to_string(n_obs) + " x " + std::to_string(ir.n_genes));
      take_rows(m, 0);
    } else {
      io::H5adStreamOptions so;
      so.layer = options.layer;
      io::H5adMatrixReader reader(path, so);
      if (reader.n_rows() != n_obs || reader.n_cols() != ir.n_genes)
        throw FormatError(path, options.layer.empty() ? "/X" : "/layers/" + options.layer,
                          "shape " + std::to_string(reader.n_rows()) + " x " + std::to_string(reader.n_cols()) +
                              " disagrees with obs x var " + std::to_string(n_obs) + " x " + std::to_string(ir.n_genes));
      for (int64_t start = 0; start < n_obs; start += options.block_rows) {
        const int64_t count = std::min(options.block_rows, n_obs - start);
        take_rows(reader.read_rows(start, count), start);
      }
    }

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
  nlohmann::ordered_json in_json = nlohmann::ordered_json::array();
  for (const auto& r : report.inputs) in_json.push_back(input_json(r));
  info["inputs"] = std::move(in_json);
  writer.set_ingest_info(std::move(info));
  report.manifest = writer.commit();
  return report;
}

}  // namespace scfm::store
