#include "scfm/io/zip_check.h"

#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "scfm/util/error.h"

namespace scfm::io {

namespace {

uint16_t le16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t le32(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}
uint64_t le64(const unsigned char* p) { return le32(p) | (static_cast<uint64_t>(le32(p + 4)) << 32); }

}  // namespace

void check_torch_zip_bytes(const unsigned char* d, size_t n, const std::string& name) {
  auto bad = [&](const std::string& where, const std::string& what) {
    throw FormatError(name, where, "not a readable torch.save archive: " + what);
  };
  if (n < 22) bad("zip", "too short for a zip archive (" + std::to_string(n) + " bytes)");
  // end of central directory: the last "PK\5\6" within the final 64 KiB + 22 bytes
  size_t eocd = n;
  const size_t lowest = n > 22 + 65535 ? n - 22 - 65535 : 0;
  for (size_t p = n - 22 + 1; p-- > lowest;)
    if (le32(d + p) == 0x06054b50) {
      eocd = p;
      break;
    }
  if (eocd == n) bad("zip", "no end-of-central-directory record (truncated or not a zip archive)");
  uint64_t entries = le16(d + eocd + 10), cd_size = le32(d + eocd + 12), cd_offset = le32(d + eocd + 16);
  if (entries == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_offset == 0xFFFFFFFFu) {
    // zip64: the locator sits just before the EOCD and points at the zip64 EOCD record
    if (eocd < 20 || le32(d + eocd - 20) != 0x07064b50) bad("zip", "zip64 sizes without a zip64 locator");
    const uint64_t z = le64(d + eocd - 20 + 8);
    if (z > n || n - z < 56 || le32(d + z) != 0x06064b50) bad("zip", "zip64 end-of-central-directory record out of the file");
    entries = le64(d + z + 32);
    cd_size = le64(d + z + 40);
    cd_offset = le64(d + z + 48);
  }
  if (entries > 1000000) bad("zip", std::to_string(entries) + " records: refused (torch.save writes a few per tensor)");
  if (cd_offset > n || cd_size > n - cd_offset) bad("zip", "the central directory reaches past the end of the file");
  size_t p = static_cast<size_t>(cd_offset);
  const size_t cd_end = static_cast<size_t>(cd_offset + cd_size);
  for (uint64_t e = 0; e < entries; ++e) {
    if (cd_end - p < 46 || le32(d + p) != 0x02014b50) bad("zip", "central directory entry " + std::to_string(e) + " is damaged");
    const uint16_t method = le16(d + p + 10);
    uint64_t csize = le32(d + p + 20), usize = le32(d + p + 24), local = le32(d + p + 42);
    const size_t name_len = le16(d + p + 28), extra_len = le16(d + p + 30), comment_len = le16(d + p + 32);
    if (cd_end - p - 46 < name_len + extra_len + comment_len) bad("zip", "central directory entry " + std::to_string(e) + " runs past the directory");
    const std::string rec(reinterpret_cast<const char*>(d + p + 46), name_len);
    if (rec.find('\0') != std::string::npos || rec.find("..") != std::string::npos || (!rec.empty() && rec[0] == '/'))
      bad("zip", "record name '" + rec.substr(0, 80) + "': refused");
    // zip64 extra field (id 1): the 0xFFFFFFFF fields in order usize, csize, offset
    for (size_t x = p + 46 + name_len, xe = x + extra_len; x + 4 <= xe;) {
      const uint16_t id = le16(d + x), len = le16(d + x + 2);
      if (x + 4 + len > xe) break;
      if (id == 1) {
        size_t q = x + 4;
        auto next = [&](uint64_t& field) {
          if (field != 0xFFFFFFFFu) return;
          if (q + 8 > x + 4 + len) bad(rec, "zip64 extra field too short");
          field = le64(d + q);
          q += 8;
        };
        next(usize);
        next(csize);
        next(local);
      }
      x += 4 + len;
    }
    if (method != 0) bad(rec, "compressed record (method " + std::to_string(method) + "): torch.save stores records uncompressed; refused");
    if (csize != usize) bad(rec, "stored record whose sizes differ (" + std::to_string(csize) + " vs " + std::to_string(usize) + ")");
    if (local > n || n - local < 30 || le32(d + local) != 0x04034b50) bad(rec, "local header out of the file or damaged");
    const uint64_t data_start = local + 30 + le16(d + local + 26) + le16(d + local + 28);
    if (data_start > n || usize > n - data_start)
      bad(rec, "record of " + std::to_string(usize) + " bytes reaches past the end of the file (" + std::to_string(n) + " bytes)");
    p += 46 + name_len + extra_len + comment_len;
  }
}

void check_torch_zip(const std::string& path) {
  // mapped, not read: only the directory's pages are touched
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw FormatError(path, "file", std::string("cannot open: ") + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || st.st_size <= 0) {
    ::close(fd);
    check_torch_zip_bytes(nullptr, 0, path);  // "too short"
  }
  void* m = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) throw FormatError(path, "file", std::string("cannot map: ") + std::strerror(errno));
  try {
    check_torch_zip_bytes(static_cast<const unsigned char*>(m), static_cast<size_t>(st.st_size), path);
  } catch (...) {
    ::munmap(m, static_cast<size_t>(st.st_size));
    throw;
  }
  ::munmap(m, static_cast<size_t>(st.st_size));
}

}  // namespace scfm::io
