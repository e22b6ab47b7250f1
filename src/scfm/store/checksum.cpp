#include "scfm/store/checksum.h"

#include <algorithm>
#include <array>
#include <climits>
#include <zlib.h>

namespace scfm::store {
namespace {

// zlib hashes at most UINT_MAX bytes per call.
uint32_t crc_update(uint32_t crc, const uint8_t* p, size_t n) {
  uLong c = crc;
  while (n > 0) {
    const size_t chunk = std::min<size_t>(n, UINT_MAX);
    c = ::crc32(c, p, static_cast<uInt>(chunk));
    p += chunk;
    n -= chunk;
  }
  return static_cast<uint32_t>(c);
}

// The byte table of the reflected CRC-32 (T[v] = register after feeding byte v to a zero
// register) and its inverse by top byte: the top bytes of T[0..255] are distinct.
struct Tables {
  std::array<uint32_t, 256> t{};
  std::array<uint8_t, 256> by_top{};
  Tables() {
    for (uint32_t v = 0; v < 256; ++v) {
      uint32_t c = v;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
      t[v] = c;
      by_top[c >> 24] = static_cast<uint8_t>(v);
    }
  }
};
const Tables& tables() {
  static const Tables tb;
  return tb;
}

}  // namespace

uint32_t crc32(const void* data, size_t n, uint32_t crc) {
  return crc_update(crc, static_cast<const uint8_t*>(data), n);
}

std::vector<uint32_t> block_crc32(const void* data, size_t n, size_t block_size) {
  std::vector<uint32_t> out;
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t start = 0; start < n; start += block_size)
    out.push_back(crc_update(0, p + start, std::min(block_size, n - start)));
  return out;
}

std::optional<size_t> locate_single_byte_change(uint32_t expected, uint32_t found, size_t length) {
  // For equal lengths crc(a) ^ crc(b) equals the zero-initialised, un-complemented CRC register
  // of a ^ b. A change of one byte v at position p gives the register T[v] followed by
  // length - 1 - p zero bytes. Run the zero-byte steps backwards until the register is some T[v].
  const Tables& tb = tables();
  uint32_t s = expected ^ found;
  if (s == 0 || length == 0) return std::nullopt;
  for (size_t k = 0; k < length; ++k) {
    const uint8_t v = tb.by_top[s >> 24];
    if (tb.t[v] == s && v != 0) return length - 1 - k;
    // Forward step on a zero byte: s' = (s >> 8) ^ T[s & 0xff]; the low byte of s is found from
    // the top byte of s'.
    s = ((s ^ tb.t[v]) << 8) | v;
  }
  return std::nullopt;
}

void BlockCrc::update(const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  whole_ = crc_update(whole_, p, n);
  bytes_ += n;
  while (n > 0) {
    const size_t take = std::min(n, block_size_ - in_block_);
    current_ = crc_update(current_, p, take);
    in_block_ += take;
    p += take;
    n -= take;
    if (in_block_ == block_size_) {
      blocks_.push_back(current_);
      current_ = 0;
      in_block_ = 0;
    }
  }
}

void BlockCrc::finish() {
  if (in_block_ > 0) blocks_.push_back(current_);
  current_ = 0;
  in_block_ = 0;
}

}  // namespace scfm::store
