#include "scfm/store/reader.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "scfm/store/format.h"
#include "scfm/store/mmap.h"
#include "scfm/util/error.h"

namespace scfm::store {
namespace fs = std::filesystem;

namespace {

struct Shard {
  MappedFile map;
  ShardHeader header{};
  const int64_t* indptr = nullptr;
  const int32_t* ids = nullptr;
  const float* values = nullptr;
  std::vector<ObsColumnEntry> obs;
};

// Checks that [offset, offset + bytes) lies within the file and is aligned.
void check_section(const std::string& file, const std::string& field, int64_t offset, int64_t count, int64_t elem,
                   int64_t file_size) {
  if (offset < static_cast<int64_t>(sizeof(ShardHeader)) || offset % kAlign != 0 || count < 0 ||
      count > (file_size - offset) / std::max<int64_t>(elem, 1) || offset > file_size)
    throw FormatError(file, field,
                      "section at offset " + std::to_string(offset) + " with " + std::to_string(count) + " x " +
                          std::to_string(elem) + " bytes does not fit a 64-byte aligned place in the " +
                          std::to_string(file_size) + "-byte file (corrupted or incomplete)");
}

}  // namespace

struct CellStore::Impl {
  std::string path;
  Manifest manifest;
  std::vector<Shard> shards;
  std::vector<int64_t> starts{0};

  const Shard& locate(int64_t i, int64_t& local) const {
    if (i < 0 || i >= manifest.n_cells)
      throw Error(path + ": cell " + std::to_string(i) + " out of range [0, " + std::to_string(manifest.n_cells) + ")");
    const auto it = std::upper_bound(starts.begin(), starts.end(), i);
    const size_t s = static_cast<size_t>(it - starts.begin()) - 1;
    local = i - starts[s];
    return shards[s];
  }
};

CellStore::CellStore() : impl_(std::make_unique<Impl>()) {}
CellStore::CellStore(CellStore&&) noexcept = default;
CellStore& CellStore::operator=(CellStore&&) noexcept = default;
CellStore::~CellStore() = default;

CellStore CellStore::open(const std::string& path) {
  CellStore store;
  Impl& m = *store.impl_;
  m.path = path;
  m.manifest = Manifest::load(path);
  const int64_t n_cols = static_cast<int64_t>(m.manifest.obs_columns.size());
  m.shards.reserve(m.manifest.shards.size());
  for (size_t k = 0; k < m.manifest.shards.size(); ++k) {
    const ShardInfo& info = m.manifest.shards[k];
    const std::string file = (fs::path(path) / info.file).string();
    std::error_code ec;
    if (!fs::is_regular_file(file, ec))
      throw FormatError(file, "(file)", "listed in the manifest as shard " + std::to_string(k) + " but missing");
    Shard s;
    s.map = MappedFile(file);
    if (s.map.size() != info.bytes)
      throw FormatError(file, "(size)", "the manifest records " + std::to_string(info.bytes) + " bytes, the file has " +
                                            std::to_string(s.map.size()) + " (truncated or replaced)");
    std::memcpy(&s.header, s.map.data(), sizeof(ShardHeader));
    const ShardHeader& h = s.header;
    if (std::memcmp(h.magic, kShardMagic, sizeof(h.magic)) != 0)
      throw FormatError(file, "header.magic", "expected \"SCFMSHRD\" (not a cell store shard)");
    if (h.version != kFormatVersion)
      throw FormatError(file, "header.version", "expected " + std::to_string(kFormatVersion) + ", found " + std::to_string(h.version));
    if (h.n_cells != info.n_cells || h.nnz != info.nnz || static_cast<int64_t>(h.n_obs_columns) != n_cols)
      throw FormatError(file, "header",
                        "holds " + std::to_string(h.n_cells) + " cells, " + std::to_string(h.nnz) + " entries, " +
                            std::to_string(h.n_obs_columns) + " obs columns; the manifest says " +
                            std::to_string(info.n_cells) + ", " + std::to_string(info.nnz) + ", " + std::to_string(n_cols));
    const int64_t size = s.map.size();
    check_section(file, "header.indptr_offset", h.indptr_offset, h.n_cells + 1, 8, size);
    check_section(file, "header.ids_offset", h.ids_offset, h.nnz, 4, size);
    check_section(file, "header.values_offset", h.values_offset, h.nnz, 4, size);
    check_section(file, "header.obs_offset", h.obs_offset, n_cols, sizeof(ObsColumnEntry), size);
    s.indptr = reinterpret_cast<const int64_t*>(s.map.data() + h.indptr_offset);
    s.ids = reinterpret_cast<const int32_t*>(s.map.data() + h.ids_offset);
    s.values = reinterpret_cast<const float*>(s.map.data() + h.values_offset);
    s.obs.resize(static_cast<size_t>(n_cols));
    if (n_cols > 0) std::memcpy(s.obs.data(), s.map.data() + h.obs_offset, s.obs.size() * sizeof(ObsColumnEntry));
    for (int64_t c = 0; c < n_cols; ++c) {
      const std::string field = "obs[" + m.manifest.obs_columns[static_cast<size_t>(c)] + "]";
      check_section(file, field + ".offsets", s.obs[c].offsets_offset, h.n_cells + 1, 8, size);
      check_section(file, field + ".bytes", s.obs[c].bytes_offset, s.obs[c].bytes_size, 1, size);
    }
    m.starts.push_back(m.starts.back() + info.n_cells);
    m.shards.push_back(std::move(s));
  }
  return store;
}

int64_t CellStore::n_cells() const { return impl_->manifest.n_cells; }
int64_t CellStore::nnz() const { return impl_->manifest.nnz; }
int64_t CellStore::n_shards() const { return static_cast<int64_t>(impl_->shards.size()); }
int64_t CellStore::vocab_size() const { return impl_->manifest.vocab_size; }
const std::string& CellStore::path() const { return impl_->path; }
const Manifest& CellStore::manifest() const { return impl_->manifest; }
const std::vector<std::string>& CellStore::obs_columns() const { return impl_->manifest.obs_columns; }
const std::vector<int64_t>& CellStore::shard_starts() const { return impl_->starts; }

int CellStore::obs_column_index(const std::string& column) const {
  const auto& cols = impl_->manifest.obs_columns;
  const auto it = std::find(cols.begin(), cols.end(), column);
  return it == cols.end() ? -1 : static_cast<int>(it - cols.begin());
}

int64_t CellStore::shard_of(int64_t i) const {
  int64_t local = 0;
  const Shard& s = impl_->locate(i, local);
  return static_cast<int64_t>(&s - impl_->shards.data());
}

CellRow CellStore::row(int64_t i) const {
  int64_t local = 0;
  const Shard& s = impl_->locate(i, local);
  const int64_t a = s.indptr[local], b = s.indptr[local + 1];
  if (a < 0 || b < a || b > s.header.nnz)
    throw FormatError(s.map.path(), "indptr[" + std::to_string(local) + "]",
                      "entries " + std::to_string(a) + ".." + std::to_string(b) + " outside [0, " +
                          std::to_string(s.header.nnz) + "] (corrupted; run scfm store verify)");
  return CellRow{s.ids + a, s.values + a, b - a};
}

std::string_view CellStore::obs(int column, int64_t i) const {
  if (column < 0 || column >= static_cast<int>(impl_->manifest.obs_columns.size()))
    throw Error(impl_->path + ": obs column " + std::to_string(column) + " out of range [0, " +
                std::to_string(impl_->manifest.obs_columns.size()) + ")");
  int64_t local = 0;
  const Shard& s = impl_->locate(i, local);
  const ObsColumnEntry& e = s.obs[static_cast<size_t>(column)];
  const auto* offsets = reinterpret_cast<const int64_t*>(s.map.data() + e.offsets_offset);
  const int64_t a = offsets[local], b = offsets[local + 1];
  if (a < 0 || b < a || b > e.bytes_size)
    throw FormatError(s.map.path(), "obs[" + impl_->manifest.obs_columns[static_cast<size_t>(column)] + "].offsets[" +
                                        std::to_string(local) + "]",
                      "bytes " + std::to_string(a) + ".." + std::to_string(b) + " outside [0, " +
                          std::to_string(e.bytes_size) + "] (corrupted; run scfm store verify)");
  return std::string_view(reinterpret_cast<const char*>(s.map.data() + e.bytes_offset + a), static_cast<size_t>(b - a));
}

std::string_view CellStore::obs(const std::string& column, int64_t i) const {
  const int c = obs_column_index(column);
  if (c < 0) {
    std::string names;
    for (const auto& n : impl_->manifest.obs_columns) names += (names.empty() ? "" : ", ") + n;
    throw Error(impl_->path + ": no obs column \"" + column + "\" (the store has: " + names + ")");
  }
  return obs(c, i);
}

}  // namespace scfm::store
