// A read-only memory mapping of a whole file (the idea of llama.cpp's llama_mmap, our own code).
//
// The mapping lives as long as the object; moving transfers it. The bytes are those of the file
// when it was mapped: a file changed or truncated underneath a mapping is not detected, and
// reading past a truncation raises SIGBUS, so callers check the size before trusting offsets.
// An empty file maps to data() == nullptr, size() == 0. Const methods are thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace scfm::store {

class MappedFile {
 public:
  static constexpr bool kSupported = true;  // POSIX mmap; there is no fallback

  MappedFile() = default;
  // Maps `path` read-only; throws scfm::Error naming the file and the system error.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  int64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  void release();
  const uint8_t* data_ = nullptr;
  int64_t size_ = 0;
  std::string path_;
};

}  // namespace scfm::store
