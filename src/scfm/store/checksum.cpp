#include "scfm/store/checksum.h"

#include <algorithm>
#include <array>
#include <climits>
#include <zlib.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

namespace scfm::store {
namespace {

// zlib hashes at most UINT_MAX bytes per call.
uint32_t zlib_crc(uint32_t crc, const uint8_t* p, size_t n) {
  uLong c = crc;
  while (n > 0) {
    const size_t chunk = std::min<size_t>(n, UINT_MAX);
    c = ::crc32(c, p, static_cast<uInt>(chunk));
    p += chunk;
    n -= chunk;
  }
  return static_cast<uint32_t>(c);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// CRC-32 by carry-less multiplication (Gopal et al., "Fast CRC Computation for Generic
// Polynomials Using PCLMULQDQ Instruction", Intel 2009; the reflected-domain constants of
// zlib's polynomial, as Linux's crc32-pclmul and Chromium's zlib use them): four 128-bit lanes
// folded 64 bytes at a time, folded into one, then Barrett-reduced. `crc` is the
// pre-inverted register; `n` >= 64 and a multiple of 16. Returns the register (not inverted).
// ~10x zlib 1.2.13's table code on the machines we measured (bench/README.md, bench/ingest).
// a * x^128 (mod P) folded onto b, k = the fold constants
__attribute__((target("pclmul,sse4.1"))) inline __m128i clmul_fold(__m128i a, __m128i b, __m128i k) {
  const __m128i lo = _mm_clmulepi64_si128(a, k, 0x00);
  return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(a, k, 0x11), b), lo);
}

__attribute__((target("pclmul,sse4.1"))) uint32_t clmul_crc_register(uint32_t crc, const uint8_t* buf, size_t len) {
  alignas(16) static const uint64_t k1k2[] = {0x0154442bd4ull, 0x01c6e41596ull};
  alignas(16) static const uint64_t k3k4[] = {0x01751997d0ull, 0x00ccaa009eull};
  alignas(16) static const uint64_t k5k0[] = {0x0163cd6124ull, 0x0000000000ull};
  alignas(16) static const uint64_t poly[] = {0x01db710641ull, 0x01f7011641ull};
  auto load = [](const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); };
  __m128i x1 = load(buf), x2 = load(buf + 16), x3 = load(buf + 32), x4 = load(buf + 48);
  x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128(static_cast<int>(crc)));
  __m128i x0 = _mm_load_si128(reinterpret_cast<const __m128i*>(k1k2));
  buf += 64;
  len -= 64;
  while (len >= 64) {
    const __m128i x5 = _mm_clmulepi64_si128(x1, x0, 0x00), x6 = _mm_clmulepi64_si128(x2, x0, 0x00);
    const __m128i x7 = _mm_clmulepi64_si128(x3, x0, 0x00), x8 = _mm_clmulepi64_si128(x4, x0, 0x00);
    x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
    x2 = _mm_clmulepi64_si128(x2, x0, 0x11);
    x3 = _mm_clmulepi64_si128(x3, x0, 0x11);
    x4 = _mm_clmulepi64_si128(x4, x0, 0x11);
    x1 = _mm_xor_si128(_mm_xor_si128(x1, x5), load(buf));
    x2 = _mm_xor_si128(_mm_xor_si128(x2, x6), load(buf + 16));
    x3 = _mm_xor_si128(_mm_xor_si128(x3, x7), load(buf + 32));
    x4 = _mm_xor_si128(_mm_xor_si128(x4, x8), load(buf + 48));
    buf += 64;
    len -= 64;
  }
  // fold the four lanes into one
  x0 = _mm_load_si128(reinterpret_cast<const __m128i*>(k3k4));
  x1 = clmul_fold(x1, x2, x0);
  x1 = clmul_fold(x1, x3, x0);
  x1 = clmul_fold(x1, x4, x0);
  while (len >= 16) {
    x1 = clmul_fold(x1, load(buf), x0);
    buf += 16;
    len -= 16;
  }
  // 128 -> 64 bits
  x2 = _mm_clmulepi64_si128(x1, x0, 0x10);
  x3 = _mm_setr_epi32(~0, 0, ~0, 0);
  x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), x2);
  x0 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(k5k0));
  x2 = _mm_srli_si128(x1, 4);
  x1 = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x1, x3), x0, 0x00), x2);
  // Barrett reduction to 32 bits
  x0 = _mm_load_si128(reinterpret_cast<const __m128i*>(poly));
  x2 = _mm_clmulepi64_si128(_mm_and_si128(x1, x3), x0, 0x10);
  x2 = _mm_clmulepi64_si128(_mm_and_si128(x2, x3), x0, 0x00);
  x1 = _mm_xor_si128(x1, x2);
  return static_cast<uint32_t>(_mm_extract_epi32(x1, 1));
}

bool have_clmul() {
  static const bool yes = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
  return yes;
}
#endif

// zlib's CRC-32 of p[0..n) continuing `crc`: carry-less multiplication where the CPU has it, for
// the whole 16-byte chunks of inputs of at least 64 bytes; zlib for the rest.
uint32_t crc_update(uint32_t crc, const uint8_t* p, size_t n) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (n >= 64 && have_clmul()) {
    const size_t chunk = n & ~size_t(15);
    crc = ~clmul_crc_register(~crc, p, chunk);
    p += chunk;
    n -= chunk;
  }
#endif
  return zlib_crc(crc, p, n);
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

// Each byte is hashed once, into its block's CRC; the whole-file CRC is the completed blocks'
// CRCs combined (crc32_combine: CRC(A+B) from CRC(A), CRC(B) and |B|, O(log |B|)).
void BlockCrc::update(const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  bytes_ += n;
  while (n > 0) {
    const size_t take = std::min(n, block_size_ - in_block_);
    current_ = crc_update(current_, p, take);
    in_block_ += take;
    p += take;
    n -= take;
    if (in_block_ == block_size_) {
      blocks_.push_back(current_);
      done_ = static_cast<uint32_t>(::crc32_combine(done_, current_, static_cast<z_off_t>(block_size_)));
      current_ = 0;
      in_block_ = 0;
    }
  }
}

uint32_t BlockCrc::whole() const {
  if (in_block_ == 0) return done_;
  return static_cast<uint32_t>(::crc32_combine(done_, current_, static_cast<z_off_t>(in_block_)));
}

void BlockCrc::finish() {
  if (in_block_ > 0) {
    blocks_.push_back(current_);
    done_ = whole();
  }
  current_ = 0;
  in_block_ = 0;
}

}  // namespace scfm::store
