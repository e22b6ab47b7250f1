#include "scfm/store/writer.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <memory>
#include <thread>
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

// A file written front to back with running CRC-32s. Data is hashed and written in chunks of
// 1 MiB (hashed while the chunk is in cache, then copied to the page cache by write()). close()
// asks the kernel to start writing the file back (sync_file_range: asynchronous) and closes it;
// the fsync that makes it durable comes later (StoreWriter::commit syncs every shard before the
// manifest), so the disk writes this shard while the next one is built.
class ChecksummedFile {
 public:
  explicit ChecksummedFile(const std::string& path) : path_(path), crc_(static_cast<size_t>(kBlockSize)) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error(path + ": cannot create: " + std::strerror(errno));
  }
  ~ChecksummedFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  void write(const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    while (n > 0) {
      const size_t chunk = std::min<size_t>(n, size_t(1) << 20);
      crc_.update(p, chunk);
      size_t done = 0;
      while (done < chunk) {
        const ssize_t w = ::write(fd_, p + done, chunk - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) throw Error(path_ + ": write failed: " + std::strerror(w < 0 ? errno : EIO));
        done += static_cast<size_t>(w);
      }
      offset_ += static_cast<int64_t>(chunk);
      p += chunk;
      n -= chunk;
    }
  }
  void pad_to(int64_t offset) {
    static const uint8_t zeros[kAlign] = {};
    while (offset_ < offset) write(zeros, static_cast<size_t>(std::min<int64_t>(kAlign, offset - offset_)));
  }
  int64_t offset() const { return offset_; }
  void close() {
#ifdef __linux__
    ::sync_file_range(fd_, 0, 0, SYNC_FILE_RANGE_WRITE);  // start writeback now; a hint, errors come at fsync
#endif
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) throw Error(path_ + ": close failed: " + std::strerror(errno));
    crc_.finish();
  }
  const BlockCrc& crc() const { return crc_; }

 private:
  std::string path_;
  int fd_ = -1;
  BlockCrc crc_;
  int64_t offset_ = 0;
};

// What a failed write of the store at `path` reports: the temporary folder goes, the target stays.
Error not_written(const std::string& path, const Error& e) {
  return Error(path + ": the cell store was not written (" + e.what() + "); what was there before is untouched");
}

// fsync of a file written and closed earlier: its data and size reach the disk.
void sync_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": cannot open to sync: " + std::strerror(errno));
  const bool ok = ::fsync(fd) == 0;
  const int e = errno;
  ::close(fd);
  if (!ok) throw Error(path + ": write failed (fsync): " + std::strerror(e));
}

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

// The cells of one shard, as they are added.
struct ShardBuffer {
  std::vector<int64_t> indptr{0};
  std::vector<int32_t> ids;
  std::vector<float> values;
  std::vector<std::vector<int64_t>> obs_offsets;  // per column, n_cells + 1
  std::vector<std::string> obs_bytes;             // per column

  int64_t n() const { return static_cast<int64_t>(indptr.size()) - 1; }
  int64_t bytes() const {
    int64_t b = static_cast<int64_t>(indptr.size() * 8 + ids.size() * 4 + values.size() * 4);
    for (size_t c = 0; c < obs_bytes.size(); ++c) b += static_cast<int64_t>(obs_offsets[c].size() * 8 + obs_bytes[c].size());
    return b;
  }
  void reset(size_t n_columns) {  // keeps the capacity: the next shard reuses the memory
    indptr.assign(1, 0);
    ids.clear();
    values.clear();
    obs_offsets.resize(n_columns);
    obs_bytes.resize(n_columns);
    for (auto& o : obs_offsets) o.assign(1, 0);
    for (auto& b : obs_bytes) b.clear();
  }
};

// Writes `b` as a shard file (format.h) to the open `file`, which it closes. Returns the bytes and
// CRC-32s; n_cells, nnz and the name are the caller's.
ShardInfo write_shard(ChecksummedFile& f, const ShardBuffer& b) {
  const int64_t n = b.n();
  const int64_t nnz = static_cast<int64_t>(b.ids.size());
  const uint32_t n_cols = static_cast<uint32_t>(b.obs_bytes.size());
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
    dir[c].bytes_size = static_cast<int64_t>(b.obs_bytes[c].size());
    at = align_up(dir[c].bytes_offset + dir[c].bytes_size);
  }
  f.write(&h, sizeof(h));
  f.pad_to(h.indptr_offset);
  f.write(b.indptr.data(), b.indptr.size() * 8);
  f.pad_to(h.ids_offset);
  f.write(b.ids.data(), b.ids.size() * 4);
  f.pad_to(h.values_offset);
  f.write(b.values.data(), b.values.size() * 4);
  f.pad_to(h.obs_offset);
  f.write(dir.data(), dir.size() * sizeof(ObsColumnEntry));
  for (uint32_t c = 0; c < n_cols; ++c) {
    f.pad_to(dir[c].offsets_offset);
    f.write(b.obs_offsets[c].data(), b.obs_offsets[c].size() * 8);
    f.pad_to(dir[c].bytes_offset);
    f.write(b.obs_bytes[c].data(), b.obs_bytes[c].size());
  }
  f.close();
  ShardInfo s;
  s.bytes = f.offset();
  s.crc32 = f.crc().whole();
  s.block_crc32 = f.crc().blocks();
  return s;
}

// A full shard up to this size is written by a second thread while the next one fills (memory:
// two shard buffers); a larger one is written in place before add() returns (memory: one).
constexpr int64_t kBackgroundShardBytes = int64_t(384) << 20;

}  // namespace

struct StoreWriter::Impl {
  std::string path;
  util::AtomicPath tmp;
  io::Vocab vocab;  // a copy: saved into the store at commit()
  StoreWriterOptions options;
  Manifest manifest;
  bool committed = false;

  ShardBuffer cur;    // the shard being filled
  ShardBuffer spare;  // the previous shard, being written by `worker`, then reused
  std::thread worker;
  std::exception_ptr worker_error;
  ShardInfo worker_result;
  size_t worker_shard = 0;  // its index in manifest.shards

  Impl(const std::string& p, const io::Vocab& v, const StoreWriterOptions& o)
      : path(strip_trailing_slashes(p)), tmp(path), vocab(v), options(o) {}
  ~Impl() {
    if (worker.joinable()) worker.join();  // before the temporary folder goes
  }

  int64_t shard_n() const { return cur.n(); }

  // Waits for the shard being written and records its bytes and checksums; rethrows its error.
  void finish_worker() {
    if (!worker.joinable()) return;
    worker.join();
    if (worker_error) {
      std::exception_ptr e = worker_error;
      worker_error = nullptr;
      std::rethrow_exception(e);
    }
    ShardInfo& s = manifest.shards[worker_shard];
    s.bytes = worker_result.bytes;
    s.crc32 = worker_result.crc32;
    s.block_crc32 = std::move(worker_result.block_crc32);
  }

  void flush_shard() {
    const int64_t n = cur.n();
    if (n == 0) return;
    finish_worker();
    char name[32];
    std::snprintf(name, sizeof(name), "shard_%05zu.bin", manifest.shards.size());
    const std::string file = (fs::path(tmp.temp()) / name).string();
    // Created here, so that the file exists once add() returns, whoever writes it.
    auto f = std::make_shared<ChecksummedFile>(file);
    ShardInfo s;
    s.file = name;
    s.n_cells = n;
    s.nnz = static_cast<int64_t>(cur.ids.size());
    manifest.n_cells += n;
    manifest.nnz += s.nnz;
    manifest.shards.push_back(std::move(s));
    const size_t index = manifest.shards.size() - 1;
    if (cur.bytes() > kBackgroundShardBytes) {
      ShardInfo w = write_shard(*f, cur);
      ShardInfo& m = manifest.shards[index];
      m.bytes = w.bytes;
      m.crc32 = w.crc32;
      m.block_crc32 = std::move(w.block_crc32);
      cur.reset(manifest.obs_columns.size());
      return;
    }
    std::swap(cur, spare);
    cur.reset(manifest.obs_columns.size());
    worker_shard = index;
    worker = std::thread([this, f] {
      try {
        worker_result = write_shard(*f, spare);
      } catch (...) {
        worker_error = std::current_exception();
      }
    });
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
  m.tmp.make_folder();
  m.manifest.format_version = kFormatVersion;
  m.manifest.vocab_checksum = vocab.checksum();
  m.manifest.vocab_size = vocab.size();
  m.manifest.layer = options.layer;
  m.manifest.obs_columns = std::move(obs_columns);
  m.manifest.block_size = kBlockSize;
  m.cur.reset(m.manifest.obs_columns.size());
  m.spare.reset(m.manifest.obs_columns.size());
}

StoreWriter::~StoreWriter() = default;  // AtomicPath removes the temporary folder unless committed

void StoreWriter::add(const int32_t* ids, const float* values, int64_t n, const std::vector<std::string>& obs) {
  Impl& m = *impl_;
  if (m.committed) throw Error(m.path + ": the store was already committed");
  if (obs.size() != m.cur.obs_bytes.size())
    throw Error(m.path + ": cell " + std::to_string(m.manifest.n_cells + m.shard_n()) + ": expected " +
                std::to_string(m.cur.obs_bytes.size()) + " obs values, got " + std::to_string(obs.size()));
  const int64_t vocab_size = m.manifest.vocab_size;
  // One branch-free pass (vectorised) over the row; the culprit is looked for only on failure.
  // (ascending from a non-negative first id: all are >= 0; vocab_size fits int32, manifest.h)
  const int32_t id_end = static_cast<int32_t>(vocab_size);
  bool ok = n == 0 || ids[0] >= 0;
  for (int64_t k = 0; k < n; ++k) ok &= (ids[k] < id_end) & (values[k] != 0.0f);
  for (int64_t k = 1; k < n; ++k) ok &= ids[k] > ids[k - 1];
  for (int64_t k = 0; !ok && k < n; ++k) {
    if (ids[k] < 0 || ids[k] >= vocab_size || (k > 0 && ids[k] <= ids[k - 1]) || values[k] == 0.0f) {
      const std::string what = ids[k] < 0 || ids[k] >= vocab_size
                                   ? "gene id " + std::to_string(ids[k]) + " outside [0, " + std::to_string(vocab_size) + ")"
                               : values[k] == 0.0f ? "an explicit zero at gene id " + std::to_string(ids[k])
                                                   : "gene ids not strictly ascending (" + std::to_string(ids[k - 1]) +
                                                         " then " + std::to_string(ids[k]) + ")";
      throw Error(m.path + ": cell " + std::to_string(m.manifest.n_cells + m.shard_n()) + ": " + what);
    }
  }
  ShardBuffer& b = m.cur;
  b.ids.insert(b.ids.end(), ids, ids + n);
  b.values.insert(b.values.end(), values, values + n);
  b.indptr.push_back(static_cast<int64_t>(b.ids.size()));
  for (size_t c = 0; c < obs.size(); ++c) {
    b.obs_bytes[c] += obs[c];
    b.obs_offsets[c].push_back(static_cast<int64_t>(b.obs_bytes[c].size()));
  }
  if (m.shard_n() >= m.options.shard_cells) {
    try {
      m.flush_shard();
    } catch (const Error& e) {
      throw not_written(m.path, e);
    }
  }
}

void StoreWriter::set_ingest_info(nlohmann::ordered_json info) { impl_->manifest.ingest = std::move(info); }
void StoreWriter::set_values(const StoredValues& values) { impl_->manifest.values = values; }

const Manifest& StoreWriter::commit() {
  Impl& m = *impl_;
  if (m.committed) throw Error(m.path + ": the store was already committed");
  try {
    return commit_files();
  } catch (const Error& e) {
    if (m.committed) throw;
    throw not_written(m.path, e);
  }
}

const Manifest& StoreWriter::commit_files() {
  Impl& m = *impl_;
  m.flush_shard();
  m.finish_worker();
  // Every shard durable before the manifest that names it (their writeback started as each was
  // closed, so this mostly waits for the last ones).
  for (const ShardInfo& s : m.manifest.shards) sync_file((fs::path(m.tmp.temp()) / s.file).string());
  m.vocab.save((fs::path(m.tmp.temp()) / kVocabName).string());
  // The manifest goes last, and whole: written beside, synced, renamed.
  const std::string manifest_path = (fs::path(m.tmp.temp()) / kManifestName).string();
  write_file_synced(manifest_path + ".part", m.manifest.to_json().dump(1) + "\n");
  if (std::rename((manifest_path + ".part").c_str(), manifest_path.c_str()) != 0)
    throw Error(manifest_path + ": cannot rename into place: " + std::strerror(errno));
  sync_dir(m.tmp.temp());

  std::error_code ec;
  if (fs::exists(m.path, ec) && !m.options.overwrite)
    throw Error(m.path + ": already exists (it appeared while the store was written)");
  m.tmp.commit();  // an old store is swapped out in one step: the path always holds a whole store
  m.committed = true;
  const fs::path parent = fs::path(m.path).parent_path();
  sync_dir(parent.empty() ? "." : parent.string());
  return m.manifest;
}

int64_t StoreWriter::n_cells() const { return impl_->manifest.n_cells + impl_->shard_n(); }
const std::string& StoreWriter::temp_path() const { return impl_->tmp.temp(); }

}  // namespace scfm::store
