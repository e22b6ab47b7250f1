// CRC-32 checksums of store files (zlib's crc32: reflected polynomial 0xEDB88320, the checksum
// `python3 -c "import zlib; print(zlib.crc32(data))"` prints), whole-file and per block.
// Computed with carry-less multiplication (PCLMULQDQ) where the CPU has it, zlib otherwise: the
// same values either way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace scfm::store {

uint32_t crc32(const void* data, size_t n, uint32_t crc = 0);

// CRC-32s of consecutive blocks of `block_size` bytes (the last one may be shorter).
std::vector<uint32_t> block_crc32(const void* data, size_t n, size_t block_size);

// Where a single changed byte would sit, given a block of `length` bytes whose CRC-32 was
// `expected` and is now `found`: CRC-32 is linear, so expected ^ found depends only on the
// change, and a one-byte change can be traced back to its position. Returns the offset within
// the block, or nothing when no single-byte change explains the difference (several bytes
// changed). A multi-byte change is mistaken for a single-byte one with probability about
// length * 255 / 2^32; callers say "consistent with", not "is".
std::optional<size_t> locate_single_byte_change(uint32_t expected, uint32_t found, size_t length);

// Incremental CRC-32 of a stream written in order: whole and per block.
class BlockCrc {
 public:
  explicit BlockCrc(size_t block_size) : block_size_(block_size) {}
  void update(const void* data, size_t n);
  // Finishes the last partial block. Call once, after the last update().
  void finish();
  uint32_t whole() const;  // of all bytes so far
  const std::vector<uint32_t>& blocks() const { return blocks_; }
  uint64_t bytes() const { return bytes_; }

 private:
  size_t block_size_;
  uint32_t done_ = 0;     // CRC-32 of the completed blocks
  uint32_t current_ = 0;  // of the bytes of the block being filled
  size_t in_block_ = 0;
  uint64_t bytes_ = 0;
  std::vector<uint32_t> blocks_;
};

}  // namespace scfm::store
