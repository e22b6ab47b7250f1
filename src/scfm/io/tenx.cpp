#include "scfm/io/tenx.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <memory>
#include <numeric>
#include <set>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "scfm/io/hdf5.h"

namespace scfm::io {
namespace {

namespace fs = std::filesystem;

std::string line_field(int64_t line) { return "line " + std::to_string(line); }

// ---------------------------------------------------------------------------------------------
// Text input: plain or gzip-compressed (zlib reads both), one line at a time.

class LineReader {
 public:
  explicit LineReader(std::string path) : path_(std::move(path)) {
    file_ = gzopen(path_.c_str(), "rb");
    if (file_ == nullptr) throw FormatError(path_, "file", std::string("cannot open: ") + std::strerror(errno));
    gzbuffer(file_, 1 << 18);
    buf_.resize(1 << 16);  // grows for longer lines; a small start keeps tiny files cheap
  }
  ~LineReader() {
    if (file_ != nullptr) gzclose(file_);
  }
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  const std::string& path() const { return path_; }
  // The 1-based number of the line last returned by next().
  int64_t line_no() const { return line_no_; }

  // The next line without its "\n" (and "\r"); false at the end of the file. A gzip stream that
  // ends before its trailer, or corrupt compressed data, throws before the last (partial) line
  // is handed out.
  bool next(std::string_view& line) {
    for (;;) {
      const char* start = buf_.data() + begin_;
      const void* nl = std::memchr(start, '\n', end_ - begin_);
      if (nl != nullptr) {
        size_t len = static_cast<const char*>(nl) - start;
        begin_ += len + 1;
        return emit(start, len, line);
      }
      if (eof_) {
        if (begin_ == end_) return false;
        size_t len = end_ - begin_;
        begin_ = end_;
        return emit(start, len, line);
      }
      fill();
    }
  }

 private:
  bool emit(const char* p, size_t len, std::string_view& line) {
    if (len > 0 && p[len - 1] == '\r') --len;
    line = std::string_view(p, len);
    ++line_no_;
    return true;
  }

  void fill() {
    // keep the unfinished line at the front and read behind it
    if (begin_ > 0) {
      std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (end_ == buf_.size()) buf_.resize(buf_.size() * 2);
    int n = gzread(file_, buf_.data() + end_, static_cast<unsigned>(buf_.size() - end_));
    int err = Z_OK;
    const char* msg = gzerror(file_, &err);
    if (n < 0 || (err != Z_OK && err != Z_BUF_ERROR)) {
      throw FormatError(path_, line_field(line_no_ + 1),
                        std::string("cannot decompress: ") + (msg != nullptr ? msg : "read error") +
                            " (the gzip file is corrupt)");
    }
    if (err == Z_BUF_ERROR) {
      // zlib reports a stream that stops before its end (no trailer) as Z_BUF_ERROR
      throw FormatError(path_, line_field(line_no_ + 1),
                        "the gzip stream ends early: the file is truncated (unexpected end of file after " +
                            std::to_string(line_no_) + " complete lines)");
    }
    if (n == 0) eof_ = true;
    end_ += static_cast<size_t>(n);
  }

  std::string path_;
  gzFile file_ = nullptr;
  std::vector<char> buf_;
  size_t begin_ = 0, end_ = 0;
  bool eof_ = false;
  int64_t line_no_ = 0;
};

// Whitespace-separated tokens of a line.
std::vector<std::string_view> split_ws(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

std::vector<std::string_view> split_tabs(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  for (;;) {
    size_t j = s.find('\t', i);
    if (j == std::string_view::npos) {
      out.push_back(s.substr(i));
      return out;
    }
    out.push_back(s.substr(i, j - i));
    i = j + 1;
  }
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

bool blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t'; });
}

template <class T> bool parse_number(std::string_view s, T& out) {
  const char* end = s.data() + s.size();
  auto r = std::from_chars(s.data(), end, out);
  return r.ec == std::errc() && r.ptr == end;
}

// Parses a MatrixMarket entry "row column value" (separated by spaces or tabs) without allocating.
bool parse_entry(std::string_view s, bool integer, int64_t& i, int64_t& j, double& v) {
  const char* p = s.data();
  const char* end = p + s.size();
  auto skip = [&] {
    while (p < end && (*p == ' ' || *p == '\t')) ++p;
  };
  auto field_end = [&] { return p == end || *p == ' ' || *p == '\t'; };
  skip();
  auto r = std::from_chars(p, end, i);
  if (r.ec != std::errc() || r.ptr == p) return false;
  p = r.ptr;
  if (!field_end()) return false;
  skip();
  r = std::from_chars(p, end, j);
  if (r.ec != std::errc() || r.ptr == p) return false;
  p = r.ptr;
  if (!field_end()) return false;
  skip();
  if (integer) {
    int64_t iv = 0;
    r = std::from_chars(p, end, iv);
    v = static_cast<double>(iv);
  } else {
    r = std::from_chars(p, end, v);
  }
  if (r.ec != std::errc() || r.ptr == p) return false;
  p = r.ptr;
  if (!field_end()) return false;
  skip();
  return p == end;
}

std::string excerpt(std::string_view s, size_t max = 80) {
  std::string t(s.substr(0, max));
  if (s.size() > max) t += "...";
  return "'" + t + "'";
}

// ---------------------------------------------------------------------------------------------
// Shared assembly: features, barcodes and the CSR matrix into an AnnData.

struct Features {
  std::vector<std::string> ids, names, types, genomes;  // types / genomes empty when unknown
  size_t size() const { return ids.size(); }
};

// New column of each feature after the feature-type filter, or -1 when dropped.
std::vector<int32_t> feature_keep_map(const Features& f, const TenxOptions& opt, int64_t& n_kept) {
  std::vector<int32_t> map(f.size(), -1);
  n_kept = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    bool keep = opt.feature_type.empty() || f.types.empty() || f.types[i] == opt.feature_type;
    if (keep) map[i] = static_cast<int32_t>(n_kept++);
  }
  return map;
}

template <class T> std::vector<T> select(const std::vector<T>& v, const std::vector<int32_t>& map, int64_t n_kept) {
  if (v.empty()) return {};
  std::vector<T> out(static_cast<size_t>(n_kept));
  for (size_t i = 0; i < v.size(); ++i)
    if (map[i] >= 0) out[map[i]] = v[i];
  return out;
}

// anndata writes a string column as a categorical when it has fewer distinct values than rows.
Node string_column(std::vector<std::string> values) {
  std::unordered_set<std::string> distinct(values.begin(), values.end());
  if (distinct.size() < values.size()) return make_categorical_from_labels(values);
  return make_string_array(std::move(values));
}

// Builds the AnnData from the kept features. `names_unique` are the names made unique over all
// features (scanpy makes them unique before the feature-type filter).
AnnData assemble(const std::string& path, CsrMatrix x, std::vector<std::string> barcodes, const Features& all,
                 const std::vector<int32_t>& keep, int64_t n_kept, const TenxOptions& opt) {
  std::vector<std::string> ids = select(all.ids, keep, n_kept);
  std::vector<std::string> names = select(all.names, keep, n_kept);
  std::vector<std::string> types = select(all.types, keep, n_kept);
  std::vector<std::string> genomes = select(all.genomes, keep, n_kept);

  std::vector<std::string> index;
  Node var;
  if (opt.gene_symbols) {
    // scanpy: var_names = make_index_unique(names) over all features, then the filter
    std::vector<std::string> unique_all = opt.make_unique ? make_names_unique(all.names) : all.names;
    index = select(unique_all, keep, n_kept);
    var = make_dataframe("_index", std::move(index));
    dataframe_set_column(var, "gene_ids", make_string_array(std::move(ids)));
  } else {
    std::vector<std::string> unique_all = opt.make_unique ? make_names_unique(all.ids) : all.ids;
    index = select(unique_all, keep, n_kept);
    var = make_dataframe("_index", std::move(index));
    dataframe_set_column(var, "gene_symbols", string_column(std::move(names)));
  }
  if (!all.types.empty()) dataframe_set_column(var, "feature_types", string_column(std::move(types)));
  if (!all.genomes.empty()) dataframe_set_column(var, "genome", string_column(std::move(genomes)));

  AnnData ad;
  ad.path = path;
  ad.root.is_group = true;
  ad.root.set_attr("encoding-type", Array::string_scalar("anndata"));
  ad.root.set_attr("encoding-version", Array::string_scalar("0.1.0"));
  ad.root.set("X", make_csr(x));
  ad.root.set("layers", make_dict());
  ad.root.set("obs", make_dataframe("_index", std::move(barcodes)));
  ad.root.set("obsm", make_dict());
  ad.root.set("obsp", make_dict());
  ad.root.set("uns", make_dict());
  ad.root.set("var", std::move(var));
  ad.root.set("varm", make_dict());
  ad.root.set("varp", make_dict());
  return ad;
}

// ---------------------------------------------------------------------------------------------
// MEX folders

// `<dir>/<prefix><name>.gz` or `<dir>/<prefix><name>`, or "" when neither exists.
std::string find_file(const std::string& dir, const std::string& prefix, const std::string& name) {
  for (const std::string& candidate : {name + ".gz", name}) {
    fs::path p = fs::path(dir) / (prefix + candidate);
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) return p.string();
  }
  return "";
}

const char* kMexLayout =
    "a 10x folder holds matrix.mtx(.gz), barcodes.tsv(.gz) and features.tsv(.gz) (Cell Ranger >= 3) or "
    "genes.tsv(.gz) (Cell Ranger 2)";

Features read_features(const std::string& path, bool legacy) {
  Features f;
  LineReader in(path);
  std::string_view line;
  const size_t need = legacy ? 2 : 3;
  while (in.next(line)) {
    if (blank(line)) continue;  // pandas skips blank lines
    auto cols = split_tabs(line);
    if (cols.size() < need) {
      throw FormatError(path, line_field(in.line_no()),
                        "expected at least " + std::to_string(need) + " tab-separated columns (" +
                            (legacy ? "gene id, gene name" : "feature id, name, feature type") + "), found " +
                            std::to_string(cols.size()) + ": " + excerpt(line));
    }
    f.ids.emplace_back(cols[0]);
    f.names.emplace_back(cols[1]);
    if (!legacy) f.types.emplace_back(cols[2]);
  }
  return f;
}

std::vector<std::string> read_barcodes(const std::string& path) {
  std::vector<std::string> out;
  LineReader in(path);
  std::string_view line;
  while (in.next(line)) {
    if (blank(line)) continue;
    out.emplace_back(split_tabs(line)[0]);
  }
  return out;
}

struct MtxHeader {
  int64_t rows = 0, cols = 0, entries = 0;
  bool integer = true;
  int64_t size_line = 0;
};

MtxHeader read_mtx_header(LineReader& in) {
  const std::string expected = "'%%MatrixMarket matrix coordinate (integer|real) general'";
  std::string_view line;
  if (!in.next(line)) throw FormatError(in.path(), line_field(1), "the file is empty; expected the header " + expected);
  auto tok = split_ws(line);
  bool ok = tok.size() == 5 && iequals(tok[0], "%%MatrixMarket") && iequals(tok[1], "matrix") &&
            iequals(tok[2], "coordinate") && (iequals(tok[3], "integer") || iequals(tok[3], "real")) &&
            iequals(tok[4], "general");
  if (!ok) {
    std::string why;
    if (tok.size() == 5 && iequals(tok[0], "%%MatrixMarket") && iequals(tok[1], "matrix")) {
      if (!iequals(tok[2], "coordinate")) why = " (dense 'array' matrices are not 10x output)";
      else if (!iequals(tok[4], "general")) why = " (symmetric layouts are not supported)";
      else why = " (the value field must be integer or real)";
    }
    throw FormatError(in.path(), line_field(in.line_no()),
                      "bad MatrixMarket header: expected " + expected + ", found " + excerpt(line) + why);
  }
  MtxHeader h;
  h.integer = iequals(tok[3], "integer");
  // comments (Cell Ranger writes "%metadata_json: {...}") and blank lines, then the size line
  for (;;) {
    if (!in.next(line))
      throw FormatError(in.path(), line_field(in.line_no() + 1),
                        "the file ends before the size line 'rows columns entries'");
    if (blank(line) || line[0] == '%') continue;
    break;
  }
  h.size_line = in.line_no();
  auto sz = split_ws(line);
  if (sz.size() != 3 || !parse_number(sz[0], h.rows) || !parse_number(sz[1], h.cols) ||
      !parse_number(sz[2], h.entries) || h.rows < 0 || h.cols < 0 || h.entries < 0) {
    throw FormatError(in.path(), line_field(h.size_line),
                      "wrong size line: expected three non-negative integers 'rows columns entries', found " +
                          excerpt(line));
  }
  if (h.rows > INT32_MAX || h.cols > INT32_MAX)
    throw FormatError(in.path(), line_field(h.size_line), "the matrix is too large (more than 2^31-1 rows or columns)");
  return h;
}

// Counting sort of (cell, gene, value) triplets into CSR over cells; duplicates are summed
// (scipy's tocsr does the same).
CsrMatrix triplets_to_csr(int64_t n_cells, int64_t n_genes, const std::vector<int32_t>& cell,
                          const std::vector<int32_t>& gene, const std::vector<float>& value) {
  CsrMatrix m;
  m.n_rows = n_cells;
  m.n_cols = n_genes;
  m.indptr.assign(static_cast<size_t>(n_cells) + 1, 0);
  for (int32_t c : cell) ++m.indptr[static_cast<size_t>(c) + 1];
  for (int64_t r = 0; r < n_cells; ++r) m.indptr[r + 1] += m.indptr[r];
  std::vector<int64_t> next(m.indptr.begin(), m.indptr.end() - 1);
  m.indices.resize(cell.size());
  m.data.resize(cell.size());
  for (size_t k = 0; k < cell.size(); ++k) {
    int64_t at = next[cell[k]]++;
    m.indices[at] = gene[k];
    m.data[at] = value[k];
  }
  sort_indices(m);
  // sum duplicate (cell, gene) entries
  bool dup = false;
  for (int64_t r = 0; r < n_cells && !dup; ++r)
    for (int64_t k = m.indptr[r] + 1; k < m.indptr[r + 1]; ++k)
      if (m.indices[k] == m.indices[k - 1]) {
        dup = true;
        break;
      }
  if (dup) {
    int64_t w = 0;
    for (int64_t r = 0; r < n_cells; ++r) {
      int64_t start = w;
      for (int64_t k = m.indptr[r]; k < m.indptr[r + 1]; ++k) {
        if (w > start && m.indices[w - 1] == m.indices[k]) {
          m.data[w - 1] += m.data[k];
        } else {
          m.indices[w] = m.indices[k];
          m.data[w] = m.data[k];
          ++w;
        }
      }
      m.indptr[r] = start;
    }
    m.indptr[n_cells] = w;
    m.indices.resize(w);
    m.data.resize(w);
  }
  return m;
}

}  // namespace

std::vector<std::string> make_names_unique(std::vector<std::string> names) {
  // anndata.utils.make_index_unique (used by scanpy's var_names_make_unique and read_10x_mtx):
  // the first occurrence keeps its name; each later duplicate v becomes v-1, v-2, ... taking the
  // next counter value whose name is not already in use.
  std::unordered_set<std::string> seen;
  std::vector<size_t> dups;
  for (size_t i = 0; i < names.size(); ++i)
    if (!seen.insert(names[i]).second) dups.push_back(i);
  if (dups.empty()) return names;
  std::unordered_map<std::string, int64_t> counter;
  for (size_t i : dups) {
    const std::string v = names[i];
    for (;;) {
      std::string candidate = v + "-" + std::to_string(++counter[v]);
      if (seen.insert(candidate).second) {
        names[i] = std::move(candidate);
        break;
      }
    }
  }
  return names;
}

bool is_10x_mtx_dir(const std::string& path, const std::string& prefix) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return false;
  return !find_file(path, prefix, "matrix.mtx").empty() && !find_file(path, prefix, "barcodes.tsv").empty() &&
         (!find_file(path, prefix, "features.tsv").empty() || !find_file(path, prefix, "genes.tsv").empty());
}

AnnData read_10x_mtx(const std::string& dir, const TenxOptions& opt) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw FormatError(dir, "folder", fs::exists(dir, ec) ? std::string("not a folder; ") + kMexLayout
                                                          : std::string("no such folder; ") + kMexLayout);
  }
  const std::string matrix_path = find_file(dir, opt.prefix, "matrix.mtx");
  const std::string barcodes_path = find_file(dir, opt.prefix, "barcodes.tsv");
  std::string features_path = find_file(dir, opt.prefix, "features.tsv");
  const bool legacy = features_path.empty();
  if (legacy) features_path = find_file(dir, opt.prefix, "genes.tsv");
  auto missing = [&](const std::string& name) {
    throw FormatError(dir, opt.prefix + name, std::string("missing from the folder; ") + kMexLayout);
  };
  if (matrix_path.empty()) missing("matrix.mtx(.gz)");
  if (features_path.empty()) missing("features.tsv(.gz)");
  if (barcodes_path.empty()) missing("barcodes.tsv(.gz)");

  Features features = read_features(features_path, legacy);
  std::vector<std::string> barcodes = read_barcodes(barcodes_path);

  LineReader in(matrix_path);
  MtxHeader h = read_mtx_header(in);
  const std::string where_dims =
      fs::path(matrix_path).filename().string() + " (" + line_field(h.size_line) + ") declares " +
      std::to_string(h.rows) + " features x " + std::to_string(h.cols) + " barcodes";
  if (static_cast<int64_t>(features.size()) != h.rows)
    throw FormatError(features_path, line_field(static_cast<int64_t>(features.size())),
                      "the file lists " + std::to_string(features.size()) + " features, but " + where_dims);
  if (static_cast<int64_t>(barcodes.size()) != h.cols)
    throw FormatError(barcodes_path, line_field(static_cast<int64_t>(barcodes.size())),
                      "the file lists " + std::to_string(barcodes.size()) + " barcodes, but " + where_dims);

  int64_t n_kept = 0;
  std::vector<int32_t> keep = feature_keep_map(features, opt, n_kept);

  std::vector<int32_t> cell, gene;
  std::vector<float> value;
  const size_t reserve = static_cast<size_t>(std::min<int64_t>(h.entries, int64_t(1) << 26));
  cell.reserve(reserve);
  gene.reserve(reserve);
  value.reserve(reserve);
  int64_t seen = 0;
  std::string_view line;
  while (in.next(line)) {
    if (blank(line) || line[0] == '%') continue;
    int64_t i = 0, j = 0;
    double v = 0;
    const bool ok = parse_entry(line, h.integer, i, j, v);
    if (!ok) {
      throw FormatError(in.path(), line_field(in.line_no()),
                        std::string("expected an entry 'row column value' with an ") +
                            (h.integer ? "integer" : "real") + " value, found " + excerpt(line));
    }
    if (seen == h.entries)
      throw FormatError(in.path(), line_field(in.line_no()),
                        "more entries than the " + std::to_string(h.entries) + " declared on " +
                            line_field(h.size_line));
    if (i < 1 || i > h.rows || j < 1 || j > h.cols)
      throw FormatError(in.path(), line_field(in.line_no()),
                        "entry (" + std::to_string(i) + ", " + std::to_string(j) + ") is out of range: the matrix is " +
                            std::to_string(h.rows) + " x " + std::to_string(h.cols) + " (1-based indices)");
    ++seen;
    int32_t g = keep[static_cast<size_t>(i - 1)];
    if (g < 0) continue;
    cell.push_back(static_cast<int32_t>(j - 1));
    gene.push_back(g);
    value.push_back(static_cast<float>(v));
  }
  if (seen < h.entries)
    throw FormatError(in.path(), line_field(in.line_no() + 1),
                      "the file ends after " + std::to_string(seen) + " of the " + std::to_string(h.entries) +
                          " entries declared on " + line_field(h.size_line) + " (fewer entries than declared)");

  CsrMatrix x = triplets_to_csr(h.cols, n_kept, cell, gene, value);
  return assemble(dir, std::move(x), std::move(barcodes), features, keep, n_kept, opt);
}

// ---------------------------------------------------------------------------------------------
// .h5 files

namespace {

std::vector<int64_t> dataset_shape(hid_t loc, const std::string& name) {
  h5::Handle d = h5::open_dataset(loc, name);
  return h5::dataset_info(d).shape;
}

// A 1-D dataset of `n` elements (n < 0: any length) read as strings.
std::vector<std::string> read_strings(hid_t loc, const std::string& name, int64_t n) {
  h5::Handle d = h5::open_dataset(loc, name);
  Array a = h5::read_dataset(d);
  if (!a.is_string()) h5::fail(loc, name, std::string("expected strings, found ") + dtype_name(a.dtype));
  if (a.shape.size() != 1) h5::fail(loc, name, "expected a 1-D dataset");
  if (n >= 0 && a.shape[0] != n)
    h5::fail(loc, name, "holds " + std::to_string(a.shape[0]) + " strings; expected " + std::to_string(n));
  return std::move(a.strings);
}

template <class T> std::vector<T> read_numbers(hid_t loc, const std::string& name, int64_t n) {
  h5::Handle d = h5::open_dataset(loc, name);
  h5::DatasetInfo info = h5::dataset_info(d);
  if (info.dtype == DType::String) h5::fail(loc, name, "expected numbers, found strings");
  if (info.shape.size() != 1) h5::fail(loc, name, "expected a 1-D dataset");
  if (n >= 0 && info.shape[0] != n)
    h5::fail(loc, name, "holds " + std::to_string(info.shape[0]) + " values; expected " + std::to_string(n));
  std::vector<T> out(static_cast<size_t>(info.shape[0]));
  if (!out.empty()) h5::read_rows_into(d, 0, info.shape[0], dtype_of<T>(), out.data());
  return out;
}

// CSC arrays (columns = barcodes) as CSR of cells x kept features.
CsrMatrix read_csc_as_cells(hid_t group, int64_t n_features, int64_t n_barcodes, const std::vector<int32_t>& keep,
                            int64_t n_kept) {
  std::vector<int64_t> indptr = read_numbers<int64_t>(group, "indptr", n_barcodes + 1);
  const int64_t nnz = dataset_shape(group, "indices").at(0);
  if (indptr[0] != 0 || indptr[n_barcodes] != nnz)
    h5::fail(group, "indptr", "must run from 0 to the number of stored values (" + std::to_string(nnz) +
                                  "); found " + std::to_string(indptr[0]) + " .. " + std::to_string(indptr[n_barcodes]));
  for (int64_t c = 0; c < n_barcodes; ++c)
    if (indptr[c + 1] < indptr[c]) h5::fail(group, "indptr", "decreases at barcode " + std::to_string(c));
  std::vector<int64_t> indices = read_numbers<int64_t>(group, "indices", nnz);
  std::vector<float> data = read_numbers<float>(group, "data", nnz);

  CsrMatrix m;
  m.n_rows = n_barcodes;
  m.n_cols = n_kept;
  m.indptr.assign(1, 0);
  m.indptr.reserve(static_cast<size_t>(n_barcodes) + 1);
  const bool all = n_kept == n_features;
  if (all) {
    m.indices.reserve(static_cast<size_t>(nnz));
    m.data.reserve(static_cast<size_t>(nnz));
  }
  for (int64_t c = 0; c < n_barcodes; ++c) {
    for (int64_t k = indptr[c]; k < indptr[c + 1]; ++k) {
      int64_t f = indices[k];
      if (f < 0 || f >= n_features)
        h5::fail(group, "indices", "value " + std::to_string(f) + " at position " + std::to_string(k) +
                                       " is outside the " + std::to_string(n_features) + " features");
      int32_t g = keep[static_cast<size_t>(f)];
      if (g < 0) continue;
      m.indices.push_back(g);
      m.data.push_back(data[k]);
    }
    m.indptr.push_back(m.nnz());
  }
  sort_indices(m);
  return m;
}

AnnData read_v3(hid_t file, const std::string& path, const TenxOptions& opt) {
  h5::Handle g = h5::open_group(file, "matrix");
  std::vector<int64_t> shape = read_numbers<int64_t>(g, "shape", 2);
  if (shape[0] < 0 || shape[1] < 0 || shape[0] > INT32_MAX || shape[1] > INT32_MAX)
    h5::fail(g, "shape", "invalid matrix size");
  const int64_t n_features = shape[0], n_barcodes = shape[1];
  std::vector<std::string> barcodes = read_strings(g, "barcodes", n_barcodes);
  h5::Handle fg = h5::open_group(g, "features");
  Features f;
  f.ids = read_strings(fg, "id", n_features);
  f.names = read_strings(fg, "name", n_features);
  if (h5::exists(fg, "feature_type")) f.types = read_strings(fg, "feature_type", n_features);
  if (h5::exists(fg, "genome")) f.genomes = read_strings(fg, "genome", n_features);
  int64_t n_kept = 0;
  std::vector<int32_t> keep = feature_keep_map(f, opt, n_kept);
  CsrMatrix x = read_csc_as_cells(g, n_features, n_barcodes, keep, n_kept);
  return assemble(path, std::move(x), std::move(barcodes), f, keep, n_kept, opt);
}

// Root groups that look like Cell Ranger 2 genome groups.
std::vector<std::string> legacy_genomes(hid_t file) {
  std::vector<std::string> out;
  for (const std::string& name : h5::list(file))
    if (h5::is_group(file, name) && h5::is_dataset(file, name + "/indptr") && h5::is_dataset(file, name + "/barcodes"))
      out.push_back(name);
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

AnnData read_legacy(hid_t file, const std::string& path, const TenxOptions& opt) {
  std::vector<std::string> genomes = legacy_genomes(file);
  if (genomes.empty())
    throw FormatError(path, "/", "not a 10x .h5 file: expected a /matrix group (Cell Ranger >= 3) or genome groups "
                                 "with data, indices, indptr, shape, barcodes, genes, gene_names (Cell Ranger 2)");
  std::string genome = opt.genome;
  if (genome.empty()) {
    if (genomes.size() > 1)
      throw FormatError(path, "/", "holds " + std::to_string(genomes.size()) + " genomes (" + join(genomes) +
                                       "); choose one with the genome option");
    genome = genomes[0];
  } else if (std::find(genomes.begin(), genomes.end(), genome) == genomes.end()) {
    throw FormatError(path, "/" + genome, "no such genome; the file holds: " + join(genomes));
  }
  h5::Handle g = h5::open_group(file, genome);
  std::vector<int64_t> shape = read_numbers<int64_t>(g, "shape", 2);
  if (shape[0] < 0 || shape[1] < 0 || shape[0] > INT32_MAX || shape[1] > INT32_MAX)
    h5::fail(g, "shape", "invalid matrix size");
  const int64_t n_features = shape[0], n_barcodes = shape[1];
  std::vector<std::string> barcodes = read_strings(g, "barcodes", n_barcodes);
  Features f;
  f.ids = read_strings(g, "genes", n_features);
  f.names = read_strings(g, "gene_names", n_features);
  // scanpy leaves the genome out for legacy files; it is known here (the group), so we keep it
  f.genomes.assign(static_cast<size_t>(n_features), genome);
  int64_t n_kept = 0;
  std::vector<int32_t> keep = feature_keep_map(f, opt, n_kept);
  CsrMatrix x = read_csc_as_cells(g, n_features, n_barcodes, keep, n_kept);
  return assemble(path, std::move(x), std::move(barcodes), f, keep, n_kept, opt);
}

bool has_hdf5_signature(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return false;
  htri_t r = H5Fis_hdf5(path.c_str());
  if (r <= 0) H5Eclear2(H5E_DEFAULT);
  return r > 0;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

AnnData read_10x_h5(const std::string& path, const TenxOptions& opt) {
  h5::Handle file = h5::open_file(path);
  if (h5::is_group(file, "matrix")) return read_v3(file, path, opt);
  if (h5::exists(file, "obs"))
    throw FormatError(path, "/obs", "this is an .h5ad (AnnData) file, not a 10x .h5 file; read it as .h5ad");
  return read_legacy(file, path, opt);
}

bool is_10x_h5(const std::string& path) {
  if (!has_hdf5_signature(path)) return false;
  try {
    h5::Handle file = h5::open_file(path);
    if (h5::exists(file, "obs")) return false;
    if (h5::is_group(file, "matrix")) return true;
    return !legacy_genomes(file).empty();
  } catch (const Error&) {
    return false;
  }
}

AnnData read_any(const std::string& path, const TenxOptions& opt) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return read_10x_mtx(path, opt);  // names any missing file
  if (!fs::exists(path, ec))
    throw FormatError(path, "path", "no such file or folder; expected an .h5ad file, a 10x folder or a 10x .h5 file");
  if (has_hdf5_signature(path)) {
    if (ends_with(path, ".h5ad")) return read_h5ad(path, opt.h5ad);
    bool anndata = false;
    {
      h5::Handle file = h5::open_file(path);
      anndata = h5::exists(file, "obs");
    }
    if (anndata) return read_h5ad(path, opt.h5ad);
    return read_10x_h5(path, opt);  // explains what a 10x .h5 needs when it is neither
  }
  if (ends_with(path, ".h5ad") || ends_with(path, ".h5"))
    throw FormatError(path, "/", "not an HDF5 file (no HDF5 signature); the file is corrupt or of another format");
  if (ends_with(path, ".mtx") || ends_with(path, ".mtx.gz") || ends_with(path, ".tsv") || ends_with(path, ".tsv.gz"))
    throw FormatError(path, "path", "give the folder that holds this file; " + std::string(kMexLayout));
  throw FormatError(path, "path", "unknown format; expected an .h5ad file, a 10x folder or a 10x .h5 file");
}

}  // namespace scfm::io
