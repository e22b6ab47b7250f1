#include "scfm/store/writer.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <unistd.h>

#include "scfm/store/checksum.h"
#include "scfm/store/format.h"
#include "scfm/util/atomic_file.h"
#include "scfm/util/error.h"

namespace scfm::store {
namespace fs = std::filesystem;

namespace {

std::string strip_trailing_slashes(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

// A file written front to back with running CRC-32s; fsync'ed and closed by close().
class ChecksummedFile {
 public:
  explicit ChecksummedFile(const std::string& path) : path_(path), crc_(static_cast<size_t>(kBlockSize)) {
    f_ = std::fopen(path.c_str(), "wb");
    if (f_ == nullptr) throw Error(path + ": cannot create: " + std::strerror(errno));
  }
  ~ChecksummedFile() {
    if (f_ != nullptr) std::fclose(f_);
  }
  void write(const void* p, size_t n) {
    if (n == 0) return;
    if (std::fwrite(p, 1, n, f_) != n) throw Error(path_ + ": write failed: " + std::strerror(errno));
    crc_.update(p, n);
    offset_ += static_cast<int64_t>(n);
  }
  void pad_to(int64_t offset) {
    static const uint8_t zeros[kAlign] = {};
    while (offset_ < offset) write(zeros, static_cast<size_t>(std::min<int64_t>(kAlign, offset - offset_)));
  }
  int64_t offset() const { return offset_; }
  void close() {
    if (std::fflush(f_) != 0 || ::fsync(::fileno(f_)) != 0) throw Error(path_ + ": write failed: " + std::strerror(errno));
    if (std::fclose(f_) != 0) {
      f_ = nullptr;
      throw Error(path_ + ": close failed: " + std::strerror(errno));
    }
    f_ = nullptr;
    crc_.finish();
  }
  const BlockCrc& crc() const { return crc_; }

 private:
  std::string path_;
  std::FILE* f_ = nullptr;
  BlockCrc crc_;
  int64_t offset_ = 0;
};

void write_file_synced(const std::string& path, const std::string& text) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) throw Error(path + ": cannot create: " + std::strerror(errno));
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size() && std::fflush(f) == 0 &&
                  ::fsync(::fileno(f)) == 0;
  const int e = errno;
  if (std::fclose(f) != 0 || !ok) throw Error(path + ": write failed: " + std::strerror(e));
}

void sync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

struct StoreWriter::Impl {
  std::string path;
  util::AtomicPath tmp;
  io::Vocab vocab;  // a copy: saved into the store at commit()
  StoreWriterOptions options;
  Manifest manifest;
  bool committed = false;

  // The shard being filled.
  std::vector<int64_t> indptr{0};
  std::vector<int32_t> ids;
  std::vector<float> values;
  std::vector<std::vector<int64_t>> obs_offsets;  // per column, n_cells + 1
  std::vector<std::string> obs_bytes;             // per column

  Impl(const std::string& p, const io::Vocab& v, const StoreWriterOptions& o)
      : path(strip_trailing_slashes(p)), tmp(path), vocab(v), options(o) {}

  int64_t shard_n() const { return static_cast<int64_t>(indptr.size()) - 1; }

  void reset_shard() {
    indptr.assign(1, 0);
    ids.clear();
    values.clear();
    for (auto& o : obs_offsets) o.assign(1, 0);
    for (auto& b : obs_bytes) b.clear();
  }

  void flush_shard() {
    const int64_t n = shard_n();
    if (n == 0) return;
    char name[32];
    std::snprintf(name, sizeof(name), "shard_%05zu.bin", manifest.shards.size());
    const std::string file = (fs::path(tmp.temp()) / name).string();
    const int64_t nnz = static_cast<int64_t>(ids.size());
    const uint32_t n_cols = static_cast<uint32_t>(obs_bytes.size());

    ShardHeader h{};
    std::memcpy(h.magic, kShardMagic, sizeof(h.magic));
    h.version = kFormatVersion;
    h.n_obs_columns = n_cols;
    h.n_cells = n;
    h.nnz = nnz;
    h.indptr_offset = align_up(sizeof(ShardHeader));
    h.ids_offset = align_up(h.indptr_offset + (n + 1) * 8);
    h.values_offset = align_up(h.ids_offset + nnz * 4);
    h.obs_offset = align_up(h.values_offset + nnz * 4);
    std::vector<ObsColumnEntry> dir(n_cols);
    int64_t at = align_up(h.obs_offset + static_cast<int64_t>(n_cols * sizeof(ObsColumnEntry)));
    for (uint32_t c = 0; c < n_cols; ++c) {
      dir[c].offsets_offset = at;
      dir[c].bytes_offset = align_up(at + (n + 1) * 8);
      dir[c].bytes_size = static_cast<int64_t>(obs_bytes[c].size());
      at = align_up(dir[c].bytes_offset + dir[c].bytes_size);
    }

    ChecksummedFile f(file);
    f.write(&h, sizeof(h));
    f.pad_to(h.indptr_offset);
    f.write(indptr.data(), indptr.size() * 8);
    f.pad_to(h.ids_offset);
    f.write(ids.data(), ids.size() * 4);
    f.pad_to(h.values_offset);
    f.write(values.data(), values.size() * 4);
    f.pad_to(h.obs_offset);
    f.write(dir.data(), dir.size() * sizeof(ObsColumnEntry));
    for (uint32_t c = 0; c < n_cols; ++c) {
      f.pad_to(dir[c].offsets_offset);
      f.write(obs_offsets[c].data(), obs_offsets[c].size() * 8);
      f.pad_to(dir[c].bytes_offset);
      f.write(obs_bytes[c].data(), obs_bytes[c].size());
    }
    f.close();

    ShardInfo s;
    s.file = name;
    s.n_cells = n;
    s.nnz = nnz;
    s.bytes = f.offset();
    s.crc32 = f.crc().whole();
    s.block_crc32 = f.crc().blocks();
    manifest.n_cells += n;
    manifest.nnz += nnz;
    manifest.shards.push_back(std::move(s));
    reset_shard();
  }
};

StoreWriter::StoreWriter(const std::string& path, const io::Vocab& vocab, std::vector<std::string> obs_columns,
                         const StoreWriterOptions& options) {
  if (options.shard_cells < 1) throw Error("cell store: shard_cells must be at least 1, got " + std::to_string(options.shard_cells));
  if (vocab.size() < 1) throw Error("cell store: the vocabulary is empty");
  for (size_t i = 0; i < obs_columns.size(); ++i)
    for (size_t k = 0; k < i; ++k)
      if (obs_columns[i] == obs_columns[k]) throw Error("cell store: obs column \"" + obs_columns[i] + "\" is named twice");
  impl_ = std::make_unique<Impl>(path, vocab, options);
  Impl& m = *impl_;
  if (m.path.empty()) throw Error("cell store: empty output path");
  std::error_code ec;
  if (fs::exists(m.path, ec)) {
    if (!options.overwrite) throw Error(m.path + ": already exists (choose another path, or overwrite it explicitly)");
    // Overwriting replaces a cell store or an empty folder, never other data.
    const bool is_store = fs::exists(fs::path(m.path) / kManifestName, ec);
    const bool is_empty_dir = fs::is_directory(m.path, ec) && fs::is_empty(m.path, ec);
    if (!is_store && !is_empty_dir)
      throw Error(m.path + ": exists and is not a cell store (no " + kManifestName + "); refusing to overwrite it");
  }
  fs::remove_all(m.tmp.temp(), ec);  // a leftover of an earlier run with the same pid
  if (!fs::create_directories(m.tmp.temp(), ec) || ec)
    throw Error(m.tmp.temp() + ": cannot create the temporary store folder: " + ec.message());
  m.manifest.format_version = kFormatVersion;
  m.manifest.vocab_checksum = vocab.checksum();
  m.manifest.vocab_size = vocab.size();
  m.manifest.layer = options.layer;
  m.manifest.obs_columns = std::move(obs_columns);
  m.manifest.block_size = kBlockSize;
  m.obs_offsets.assign(m.manifest.obs_columns.size(), std::vector<int64_t>{0});
  m.obs_bytes.assign(m.manifest.obs_columns.size(), std::string());
}

StoreWriter::~StoreWriter() = default;  // AtomicPath removes the temporary folder unless committed

void StoreWriter::add(const int32_t* ids, const float* values, int64_t n, const std::vector<std::string>& obs) {
  Impl& m = *impl_;
  if (m.committed) throw Error(m.path + ": the store was already committed");
  if (obs.size() != m.obs_bytes.size())
    throw Error(m.path + ": cell " + std::to_string(m.manifest.n_cells + m.shard_n()) + ": expected " +
                std::to_string(m.obs_bytes.size()) + " obs values, got " + std::to_string(obs.size()));
  const int64_t vocab_size = m.manifest.vocab_size;
  for (int64_t k = 0; k < n; ++k) {
    if (ids[k] < 0 || ids[k] >= vocab_size || (k > 0 && ids[k] <= ids[k - 1]) || values[k] == 0.0f) {
      const std::string what = ids[k] < 0 || ids[k] >= vocab_size
                                   ? "gene id " + std::to_string(ids[k]) + " outside [0, " + std::to_string(vocab_size) + ")"
                               : values[k] == 0.0f ? "an explicit zero at gene id " + std::to_string(ids[k])
                                                   : "gene ids not strictly ascending (" + std::to_string(ids[k - 1]) +
                                                         " then " + std::to_string(ids[k]) + ")";
      throw Error(m.path + ": cell " + std::to_string(m.manifest.n_cells + m.shard_n()) + ": " + what);
    }
  }
  m.ids.insert(m.ids.end(), ids, ids + n);
  m.values.insert(m.values.end(), values, values + n);
  m.indptr.push_back(static_cast<int64_t>(m.ids.size()));
  for (size_t c = 0; c < obs.size(); ++c) {
    m.obs_bytes[c] += obs[c];
    m.obs_offsets[c].push_back(static_cast<int64_t>(m.obs_bytes[c].size()));
  }
  if (m.shard_n() >= m.options.shard_cells) m.flush_shard();
}

void StoreWriter::set_ingest_info(nlohmann::ordered_json info) { impl_->manifest.ingest = std::move(info); }

const Manifest& StoreWriter::commit() {
  Impl& m = *impl_;
  if (m.committed) throw Error(m.path + ": the store was already committed");
  m.flush_shard();
  m.vocab.save((fs::path(m.tmp.temp()) / kVocabName).string());
  // The manifest goes last, and whole: written beside, synced, renamed.
  const std::string manifest_path = (fs::path(m.tmp.temp()) / kManifestName).string();
  write_file_synced(manifest_path + ".part", m.manifest.to_json().dump(1) + "\n");
  if (std::rename((manifest_path + ".part").c_str(), manifest_path.c_str()) != 0)
    throw Error(manifest_path + ": cannot rename into place: " + std::strerror(errno));
  sync_dir(m.tmp.temp());

  std::error_code ec;
  std::string old;
  if (fs::exists(m.path, ec)) {
    if (!m.options.overwrite) throw Error(m.path + ": already exists (it appeared while the store was written)");
    old = m.path + ".old." + std::to_string(::getpid());
    fs::remove_all(old, ec);
    fs::rename(m.path, old, ec);
    if (ec) throw Error(m.path + ": cannot move the old store aside: " + ec.message());
  }
  m.tmp.commit();
  m.committed = true;
  if (!old.empty()) fs::remove_all(old, ec);
  const fs::path parent = fs::path(m.path).parent_path();
  sync_dir(parent.empty() ? "." : parent.string());
  return m.manifest;
}

int64_t StoreWriter::n_cells() const { return impl_->manifest.n_cells + impl_->shard_n(); }
const std::string& StoreWriter::temp_path() const { return impl_->tmp.temp(); }

}  // namespace scfm::store
