#include "scfm/io/parquet.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <new>
#include <stdexcept>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>

#ifdef SCFM_HAVE_SNAPPY
#include <snappy-c.h>
#endif
#ifdef SCFM_HAVE_ZSTD
#include <zstd.h>
#endif

#include "scfm/util/error.h"

namespace scfm::io {

namespace {

// Limits on what a footer or page may claim, so that a hostile file cannot make us allocate
// without bound: a page or a footer beyond 1 GiB, more than 2^31 values in a page.
constexpr int64_t kMaxBlock = int64_t{1} << 30;
constexpr int64_t kMaxValues = int64_t{1} << 26;       // in one page
constexpr int64_t kMaxChunkValues = int64_t{1} << 27;  // in one column chunk (a row group's column)

enum Physical { kBoolean = 0, kInt32 = 1, kInt64 = 2, kInt96 = 3, kFloat = 4, kDouble = 5, kByteArray = 6, kFixed = 7 };
const char* physical_name(int t) {
  static const char* names[] = {"boolean", "int32", "int64", "int96", "float", "double", "byte_array", "fixed_len_byte_array"};
  return t >= 0 && t < 8 ? names[t] : "unknown";
}
const char* codec_name(int c) {
  static const char* names[] = {"UNCOMPRESSED", "SNAPPY", "GZIP", "LZO", "BROTLI", "LZ4", "ZSTD", "LZ4_RAW"};
  return c >= 0 && c < 8 ? names[c] : "unknown";
}
const char* encoding_name(int e) {
  static const char* names[] = {"PLAIN", "GROUP_VAR_INT", "PLAIN_DICTIONARY", "RLE", "BIT_PACKED", "DELTA_BINARY_PACKED",
                                "DELTA_LENGTH_BYTE_ARRAY", "DELTA_BYTE_ARRAY", "RLE_DICTIONARY", "BYTE_STREAM_SPLIT"};
  return e >= 0 && e < 10 ? names[e] : "unknown";
}

// ---- Thrift compact protocol -------------------------------------------------------------

struct ThriftError {
  std::string what;
};

class Thrift {
 public:
  Thrift(const uint8_t* p, size_t n) : p_(p), end_(p + n), begin_(p) {}
  size_t consumed() const { return static_cast<size_t>(p_ - begin_); }

  uint8_t byte() {
    if (p_ >= end_) throw ThriftError{"metadata cut short"};
    return *p_++;
  }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      const uint8_t b = byte();
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    throw ThriftError{"varint longer than 10 bytes"};
  }
  int64_t zigzag() {
    const uint64_t v = varint();
    return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
  }
  std::string binary() {
    const uint64_t n = varint();
    if (n > static_cast<uint64_t>(end_ - p_)) throw ThriftError{"string longer than the metadata"};
    std::string s(reinterpret_cast<const char*>(p_), static_cast<size_t>(n));
    p_ += n;
    return s;
  }
  // list header: (size, element type)
  std::pair<int64_t, int> list_header() {
    const uint8_t h = byte();
    int64_t size = h >> 4;
    if (size == 15) size = static_cast<int64_t>(varint());
    if (size < 0 || size > static_cast<int64_t>(end_ - p_) + 1) throw ThriftError{"list longer than the metadata"};
    return {size, h & 0x0f};
  }
  void skip(int type, int depth = 0) {
    if (depth > 32) throw ThriftError{"metadata nested too deep"};
    switch (type) {
      case 1: case 2: return;  // bools carry their value in the type
      case 3: byte(); return;
      case 4: case 5: case 6: zigzag(); return;
      case 7:
        for (int i = 0; i < 8; ++i) byte();
        return;
      case 8: binary(); return;
      case 9: case 10: {
        const auto [n, et] = list_header();
        for (int64_t i = 0; i < n; ++i) {
          if (et == 1 || et == 2) byte();  // bools in a list take a byte each
          else skip(et, depth + 1);
        }
        return;
      }
      case 11: {
        const uint64_t n = varint();
        if (n == 0) return;
        if (n > static_cast<uint64_t>(end_ - p_)) throw ThriftError{"map longer than the metadata"};
        const uint8_t kv = byte();
        // inside a container a bool takes a byte (skip(1) alone consumes nothing)
        auto element = [&](int t) {
          if (t == 1 || t == 2) byte();
          else skip(t, depth + 1);
        };
        for (uint64_t i = 0; i < n; ++i) {
          element(kv >> 4);
          element(kv & 0x0f);
        }
        return;
      }
      case 12: struct_fields([&](int, int t) { skip(t, depth + 1); return true; }, depth + 1); return;
      default: throw ThriftError{"unknown field type " + std::to_string(type)};
    }
  }
  // Calls field(id, type) for each field of a struct; field must consume the value (or return
  // false to have it skipped).
  void struct_fields(const std::function<bool(int, int)>& field, int depth = 0) {
    if (depth > 32) throw ThriftError{"metadata nested too deep"};
    int last = 0;
    while (true) {
      const uint8_t h = byte();
      if (h == 0) return;
      const int type = h & 0x0f, delta = h >> 4;
      const int id = delta ? last + delta : static_cast<int>(zigzag());
      last = id;
      bool_value_ = type == 1;
      if (!field(id, type)) skip(type, depth);
    }
  }
  bool last_bool() const { return bool_value_; }
  int64_t integer(int type) {
    if (type < 3 || type > 6) throw ThriftError{"expected an integer field, found type " + std::to_string(type)};
    return type == 3 ? static_cast<int8_t>(byte()) : zigzag();
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
  const uint8_t* begin_;
  bool bool_value_ = false;
};

struct SchemaElement {
  int type = -1, repetition = 0, num_children = 0, converted = -1;
  bool logical_string = false;
  std::string name;
};

struct ChunkMeta {
  int type = -1, codec = 0;
  std::vector<std::string> path;
  int64_t num_values = 0, data_offset = -1, dict_offset = -1, compressed_size = 0;
};

struct PageHeader {
  int type = -1;
  int32_t uncompressed = 0, compressed = 0;
  // v1 and v2 data pages, dictionary pages
  int32_t num_values = 0, encoding = 0, def_encoding = 3, rep_encoding = 3;
  int32_t num_nulls = 0, num_rows = 0, def_len = 0, rep_len = 0;
  bool v2_compressed = true;
};

PageHeader read_page_header(Thrift& t) {
  PageHeader h;
  t.struct_fields([&](int id, int type) {
    switch (id) {
      case 1: h.type = static_cast<int>(t.integer(type)); return true;
      case 2: h.uncompressed = static_cast<int32_t>(t.integer(type)); return true;
      case 3: h.compressed = static_cast<int32_t>(t.integer(type)); return true;
      case 5:  // DataPageHeader
        if (type != 12) return false;
        t.struct_fields([&](int f, int ft) {
          if (f == 1) h.num_values = static_cast<int32_t>(t.integer(ft));
          else if (f == 2) h.encoding = static_cast<int32_t>(t.integer(ft));
          else if (f == 3) h.def_encoding = static_cast<int32_t>(t.integer(ft));
          else if (f == 4) h.rep_encoding = static_cast<int32_t>(t.integer(ft));
          else return false;
          return true;
        });
        return true;
      case 7:  // DictionaryPageHeader
        if (type != 12) return false;
        t.struct_fields([&](int f, int ft) {
          if (f == 1) h.num_values = static_cast<int32_t>(t.integer(ft));
          else if (f == 2) h.encoding = static_cast<int32_t>(t.integer(ft));
          else return false;
          return true;
        });
        return true;
      case 8:  // DataPageHeaderV2
        if (type != 12) return false;
        t.struct_fields([&](int f, int ft) {
          switch (f) {
            case 1: h.num_values = static_cast<int32_t>(t.integer(ft)); return true;
            case 2: h.num_nulls = static_cast<int32_t>(t.integer(ft)); return true;
            case 3: h.num_rows = static_cast<int32_t>(t.integer(ft)); return true;
            case 4: h.encoding = static_cast<int32_t>(t.integer(ft)); return true;
            case 5: h.def_len = static_cast<int32_t>(t.integer(ft)); return true;
            case 6: h.rep_len = static_cast<int32_t>(t.integer(ft)); return true;
            case 7: h.v2_compressed = ft == 1; return true;
            default: return false;
          }
        });
        return true;
      default: return false;
    }
  });
  return h;
}

// ---- levels and dictionary indices: the RLE / bit-packed hybrid ----------------------------

struct Reader {
  const uint8_t* p;
  const uint8_t* end;
  size_t left() const { return static_cast<size_t>(end - p); }
};

// Decodes `count` values of `bit_width` bits (<= 32) from the hybrid encoding in [p, end).
void rle_hybrid(Reader r, int bit_width, int64_t count, std::vector<uint32_t>& out, const char* what) {
  out.clear();
  out.reserve(static_cast<size_t>(count));
  if (bit_width < 0 || bit_width > 32) throw ThriftError{std::string(what) + ": bit width " + std::to_string(bit_width)};
  const int bytes = (bit_width + 7) / 8;
  size_t pos = 0;
  const size_t n = r.left();
  while (static_cast<int64_t>(out.size()) < count) {
    Thrift h(r.p + pos, n - pos);
    const uint64_t header = h.varint();
    pos += h.consumed();
    if (header & 1) {  // bit-packed: (header >> 1) groups of 8 values
      const uint64_t groups = header >> 1;
      if (groups > (n - pos) / std::max(1, bit_width) + 1) throw ThriftError{std::string(what) + ": bit-packed run past the page"};
      const size_t run_bytes = static_cast<size_t>(groups) * static_cast<size_t>(bit_width);
      if (run_bytes > n - pos) throw ThriftError{std::string(what) + ": bit-packed run past the page"};
      const uint8_t* b = r.p + pos;
      const uint64_t want = static_cast<uint64_t>(count) - out.size();
      const uint64_t values = std::min<uint64_t>(groups, want / 8 + 1) * 8;
      const uint64_t mask = bit_width == 32 ? 0xffffffffULL : (uint64_t{1} << bit_width) - 1;
      for (uint64_t v = 0; v < values && static_cast<int64_t>(out.size()) < count; ++v) {
        const uint64_t bit = v * static_cast<uint64_t>(bit_width);
        uint64_t x = 0;
        if ((bit >> 3) + 8 <= run_bytes) {  // one unaligned 8-byte load holds the value
          uint64_t word;
          std::memcpy(&word, b + (bit >> 3), 8);
          x = (word >> (bit & 7)) & mask;
        } else {
          for (int k = 0; k < bit_width; ++k) {
            const uint64_t at = bit + static_cast<uint64_t>(k);
            x |= static_cast<uint64_t>((b[at >> 3] >> (at & 7)) & 1) << k;
          }
        }
        out.push_back(static_cast<uint32_t>(x));
      }
      pos += run_bytes;
    } else {  // RLE: (header >> 1) copies of one value in `bytes` bytes
      const uint64_t run = header >> 1;
      if (static_cast<size_t>(bytes) > n - pos) throw ThriftError{std::string(what) + ": RLE run past the page"};
      uint32_t v = 0;
      for (int k = 0; k < bytes; ++k) v |= static_cast<uint32_t>(r.p[pos + k]) << (8 * k);
      pos += static_cast<size_t>(bytes);
      if (bit_width < 32 && (v >> bit_width) != 0) throw ThriftError{std::string(what) + ": RLE value wider than its bit width"};
      const int64_t take = std::min<int64_t>(static_cast<int64_t>(std::min<uint64_t>(run, static_cast<uint64_t>(kMaxValues))),
                                             count - static_cast<int64_t>(out.size()));
      out.insert(out.end(), static_cast<size_t>(take), v);
    }
    if (pos >= n && static_cast<int64_t>(out.size()) < count) throw ThriftError{std::string(what) + ": fewer values than the page holds"};
  }
}

int bit_width_of(int max_level) {
  int w = 0;
  while ((1 << w) <= max_level) ++w;
  return w;
}

// DELTA_BINARY_PACKED (INT32 / INT64): a header (block size, miniblocks a block, value count,
// first value), then blocks of a minimum delta and bit-packed miniblocks of deltas above it.
// Returns the bytes it took.
size_t delta_binary_packed(const uint8_t* p, size_t n, int64_t count, std::vector<int64_t>& out) {
  Thrift t(p, n);
  const uint64_t block = t.varint(), miniblocks = t.varint(), total = t.varint();
  int64_t value = t.zigzag();
  if (block == 0 || block % 128 != 0 || miniblocks == 0 || block % miniblocks != 0 || (block / miniblocks) % 32 != 0 ||
      block > (1u << 20))
    throw ThriftError{"DELTA_BINARY_PACKED header with block " + std::to_string(block) + ", miniblocks " + std::to_string(miniblocks)};
  if (static_cast<int64_t>(total) < count) throw ThriftError{"DELTA_BINARY_PACKED holds fewer values than the page"};
  const uint64_t per_mini = block / miniblocks;
  if (count == 0) return t.consumed();
  out.push_back(value);
  int64_t got = 1;
  size_t pos = t.consumed();
  while (got < count) {
    Thrift h(p + pos, n - pos);
    const int64_t min_delta = h.zigzag();
    pos += h.consumed();
    if (n - pos < miniblocks) throw ThriftError{"DELTA_BINARY_PACKED bit widths past the page"};
    const uint8_t* widths = p + pos;
    pos += static_cast<size_t>(miniblocks);
    for (uint64_t m = 0; m < miniblocks && got < count; ++m) {
      const int w = widths[m];
      if (w > 64) throw ThriftError{"DELTA_BINARY_PACKED bit width " + std::to_string(w)};
      const size_t bytes = static_cast<size_t>(per_mini) * static_cast<size_t>(w) / 8;
      if (bytes > n - pos) throw ThriftError{"DELTA_BINARY_PACKED miniblock past the page"};
      const uint8_t* b = p + pos;
      for (uint64_t v = 0; v < per_mini && got < count; ++v) {
        uint64_t x = 0;
        const uint64_t bit = v * static_cast<uint64_t>(w);
        for (int k = 0; k < w; ++k) {
          const uint64_t at = bit + static_cast<uint64_t>(k);
          x |= static_cast<uint64_t>((b[at >> 3] >> (at & 7)) & 1) << k;
        }
        // wrapping arithmetic, as the format defines it
        value = static_cast<int64_t>(static_cast<uint64_t>(value) + static_cast<uint64_t>(min_delta) + x);
        out.push_back(value);
        ++got;
      }
      pos += bytes;
    }
  }
  return pos;
}

// DELTA_LENGTH_BYTE_ARRAY (lengths delta-packed, then the bytes) and DELTA_BYTE_ARRAY (prefix
// lengths delta-packed, then the suffixes as DELTA_LENGTH_BYTE_ARRAY): strings.
size_t delta_length_strings(const uint8_t* p, size_t n, int64_t count, std::vector<std::string>& out) {
  std::vector<int64_t> lengths;
  size_t pos = delta_binary_packed(p, n, count, lengths);
  for (int64_t len : lengths) {
    if (len < 0 || static_cast<uint64_t>(len) > n - pos) throw ThriftError{"DELTA_LENGTH_BYTE_ARRAY string past the page"};
    out.emplace_back(reinterpret_cast<const char*>(p + pos), static_cast<size_t>(len));
    pos += static_cast<size_t>(len);
  }
  return pos;
}
void delta_strings(const uint8_t* p, size_t n, int64_t count, std::vector<std::string>& out) {
  std::vector<int64_t> prefix;
  const size_t pos = delta_binary_packed(p, n, count, prefix);
  std::vector<std::string> suffix;
  delta_length_strings(p + pos, n - pos, count, suffix);
  std::string last;
  for (int64_t k = 0; k < count; ++k) {
    const int64_t pre = prefix[static_cast<size_t>(k)];
    if (pre < 0 || static_cast<size_t>(pre) > last.size()) throw ThriftError{"DELTA_BYTE_ARRAY prefix longer than the last string"};
    last = last.substr(0, static_cast<size_t>(pre)) + suffix[static_cast<size_t>(k)];
    out.push_back(last);
  }
}

// ---- decompression -------------------------------------------------------------------------

std::vector<uint8_t> decompress(int codec, const uint8_t* p, size_t n, size_t expected, const std::string& where) {
  if (expected > static_cast<size_t>(kMaxBlock)) throw ThriftError{where + ": page claims " + std::to_string(expected) + " bytes"};
  std::vector<uint8_t> out(expected);
  switch (codec) {
    case 0:
      if (n != expected) throw ThriftError{where + ": uncompressed page of " + std::to_string(n) + " bytes, header says " + std::to_string(expected)};
      if (n > 0) std::memcpy(out.data(), p, n);
      return out;
    case 1: {
#ifdef SCFM_HAVE_SNAPPY
      size_t len = 0;
      if (snappy_uncompressed_length(reinterpret_cast<const char*>(p), n, &len) != SNAPPY_OK || len != expected)
        throw ThriftError{where + ": damaged SNAPPY page"};
      if (snappy_uncompress(reinterpret_cast<const char*>(p), n, reinterpret_cast<char*>(out.data()), &len) != SNAPPY_OK ||
          len != expected)
        throw ThriftError{where + ": damaged SNAPPY page"};
      return out;
#else
      throw ThriftError{where + ": SNAPPY pages need libsnappy, which this build lacks"};
#endif
    }
    case 2: {
      z_stream z{};
      if (inflateInit2(&z, 15 + 32) != Z_OK) throw ThriftError{where + ": zlib could not start"};
      z.next_in = const_cast<Bytef*>(p);
      z.avail_in = static_cast<uInt>(n);
      z.next_out = out.data();
      z.avail_out = static_cast<uInt>(expected);
      const int rc = inflate(&z, Z_FINISH);
      const size_t got = expected - z.avail_out;
      inflateEnd(&z);
      if ((rc != Z_STREAM_END && rc != Z_OK && rc != Z_BUF_ERROR) || got != expected) throw ThriftError{where + ": damaged GZIP page"};
      return out;
    }
    case 6: {
#ifdef SCFM_HAVE_ZSTD
      const size_t got = ZSTD_decompress(out.data(), expected, p, n);
      if (ZSTD_isError(got) || got != expected) throw ThriftError{where + ": damaged ZSTD page"};
      return out;
#else
      throw ThriftError{where + ": ZSTD pages need libzstd, which this build lacks"};
#endif
    }
    default:
      throw ThriftError{where + ": " + codec_name(codec) + " compression is not supported (UNCOMPRESSED, SNAPPY, GZIP, ZSTD are)"};
  }
}

// A column chunk's values before assembly: levels and the non-null leaf values
struct Decoded {
  std::vector<uint32_t> def, rep;
  std::vector<int64_t> ints;
  std::vector<double> reals;
  std::vector<std::string> strings;
  int64_t levels = 0;
};

}  // namespace

// Reads bytes [offset, offset + n) of the file or buffer.
struct ParquetFile::Impl {
  std::function<void(int64_t, int64_t, uint8_t*)> read;
  std::vector<std::vector<ChunkMeta>> chunks;  // [row group][column]
};

std::string ParquetColumn::type_name() const {
  const std::string leaf = string ? "string" : physical_name(physical);
  return is_list ? "list<" + leaf + ">" : leaf;
}

namespace {

void parse_footer(const std::string& path, int64_t size, const std::function<void(int64_t, int64_t, uint8_t*)>& read,
                  int64_t& num_rows, std::string& created_by, std::vector<ParquetColumn>& columns,
                  std::vector<int64_t>& rg_rows, std::vector<std::vector<ChunkMeta>>& chunks) {
  if (size < 12) throw FormatError(path, "file", "too short for Parquet (" + std::to_string(size) + " bytes)");
  uint8_t tail[8], head[4];
  read(size - 8, 8, tail);
  read(0, 4, head);
  if (std::memcmp(tail + 4, "PAR1", 4) != 0 || std::memcmp(head, "PAR1", 4) != 0) {
    if (std::memcmp(tail + 4, "PARE", 4) == 0) throw FormatError(path, "file", "an encrypted Parquet file; not supported");
    throw FormatError(path, "file", "not a Parquet file (no PAR1 magic at both ends)");
  }
  const uint32_t meta_len = static_cast<uint32_t>(tail[0]) | static_cast<uint32_t>(tail[1]) << 8 |
                            static_cast<uint32_t>(tail[2]) << 16 | static_cast<uint32_t>(tail[3]) << 24;
  if (meta_len == 0 || static_cast<int64_t>(meta_len) > size - 12)
    throw FormatError(path, "footer", "metadata length " + std::to_string(meta_len) + " does not fit the file");
  std::vector<uint8_t> meta(meta_len);
  read(size - 8 - meta_len, meta_len, meta.data());
  std::vector<SchemaElement> schema;
  try {
    Thrift t(meta.data(), meta.size());
    t.struct_fields([&](int id, int type) {
      switch (id) {
        case 2: {  // schema
          if (type != 9) return false;
          const auto [n, et] = t.list_header();
          if (et != 12) throw ThriftError{"schema is not a list of structs"};
          for (int64_t i = 0; i < n; ++i) {
            SchemaElement e;
            t.struct_fields([&](int f, int ft) {
              switch (f) {
                case 1: e.type = static_cast<int>(t.integer(ft)); return true;
                case 3: e.repetition = static_cast<int>(t.integer(ft)); return true;
                case 4: e.name = t.binary(); return true;
                case 5: e.num_children = static_cast<int>(t.integer(ft)); return true;
                case 6: e.converted = static_cast<int>(t.integer(ft)); return true;
                case 10:  // LogicalType union: field 1 = STRING
                  if (ft != 12) return false;
                  t.struct_fields([&](int lf, int lt) {
                    if (lf == 1) e.logical_string = true;
                    t.skip(lt);
                    return true;
                  });
                  return true;
                default: return false;
              }
            });
            schema.push_back(std::move(e));
          }
          return true;
        }
        case 3: num_rows = t.integer(type); return true;
        case 4: {  // row groups
          if (type != 9) return false;
          const auto [n, et] = t.list_header();
          if (et != 12) throw ThriftError{"row_groups is not a list of structs"};
          for (int64_t g = 0; g < n; ++g) {
            std::vector<ChunkMeta> cols;
            int64_t rows = 0;
            t.struct_fields([&](int f, int ft) {
              if (f == 3) {
                rows = t.integer(ft);
                return true;
              }
              if (f != 1 || ft != 9) return false;
              const auto [nc, ct] = t.list_header();
              if (ct != 12) throw ThriftError{"columns is not a list of structs"};
              for (int64_t c = 0; c < nc; ++c) {
                ChunkMeta m;
                t.struct_fields([&](int cf, int cft) {
                  if (cf == 1) throw ThriftError{"column chunk in another file (file_path); not supported"};
                  if (cf != 3 || cft != 12) return false;
                  t.struct_fields([&](int mf, int mft) {
                    switch (mf) {
                      case 1: m.type = static_cast<int>(t.integer(mft)); return true;
                      case 3: {
                        const auto [np, pt] = t.list_header();
                        for (int64_t k = 0; k < np; ++k) {
                          if (pt != 8) throw ThriftError{"path_in_schema is not a list of strings"};
                          m.path.push_back(t.binary());
                        }
                        return true;
                      }
                      case 4: m.codec = static_cast<int>(t.integer(mft)); return true;
                      case 5: m.num_values = t.integer(mft); return true;
                      case 7: m.compressed_size = t.integer(mft); return true;
                      case 9: m.data_offset = t.integer(mft); return true;
                      case 11: m.dict_offset = t.integer(mft); return true;
                      default: return false;
                    }
                  });
                  return true;
                });
                cols.push_back(std::move(m));
              }
              return true;
            });
            chunks.push_back(std::move(cols));
            rg_rows.push_back(rows);
          }
          return true;
        }
        case 6: created_by = t.binary(); return true;
        default: return false;
      }
    });
  } catch (const ThriftError& e) {
    throw FormatError(path, "footer", e.what);
  }
  if (schema.empty() || schema[0].num_children < 1) throw FormatError(path, "footer/schema", "no columns");
  if (num_rows < 0) throw FormatError(path, "footer", "negative num_rows");
  int64_t sum = 0;
  for (int64_t r : rg_rows) {
    if (r < 0) throw FormatError(path, "footer/row_groups", "a row group with a negative row count");
    sum += r;
  }
  if (sum != num_rows)
    throw FormatError(path, "footer", "row groups hold " + std::to_string(sum) + " rows, num_rows says " + std::to_string(num_rows));
  // walk the schema tree: each top-level field is a leaf or a list (one repeated level)
  size_t i = 1;
  for (int top = 0; top < schema[0].num_children; ++top) {
    if (i >= schema.size()) throw FormatError(path, "footer/schema", "fewer elements than the tree declares");
    ParquetColumn col;
    col.name = schema[i].name;
    // descend, counting definition/repetition levels, until the first leaf
    std::string dotted;
    int def = 0, rep = 0;
    int depth = 0;
    while (true) {
      if (i >= schema.size()) throw FormatError(path, "footer/schema", "fewer elements than the tree declares");
      const SchemaElement& e = schema[i];
      dotted += (dotted.empty() ? "" : ".") + e.name;
      if (e.repetition == 1) ++def;
      if (e.repetition == 2) {
        ++def;
        ++rep;
        col.list_def = def;
      }
      ++i;
      if (e.num_children == 0) {
        col.physical = e.type;
        col.string = e.logical_string || e.converted == 0;
        break;
      }
      if (e.num_children != 1 || ++depth > 3)
        throw FormatError(path, "footer/schema/" + col.name,
                          "a nested structure (" + std::to_string(e.num_children) + " children at " + dotted +
                              "); only flat columns and lists of one value are supported");
    }
    if (rep > 1) throw FormatError(path, "footer/schema/" + col.name, "lists of lists are not supported");
    col.path = dotted;
    col.is_list = rep == 1;
    col.max_def = def;
    col.max_rep = rep;
    columns.push_back(col);
  }
  for (size_t g = 0; g < chunks.size(); ++g) {
    if (chunks[g].size() != columns.size())
      throw FormatError(path, "footer/row_groups/" + std::to_string(g),
                        std::to_string(chunks[g].size()) + " column chunks for " + std::to_string(columns.size()) + " columns");
    for (size_t c = 0; c < columns.size(); ++c) {
      const ChunkMeta& m = chunks[g][c];
      if (m.type != columns[c].physical)
        throw FormatError(path, "footer/row_groups/" + std::to_string(g) + "/" + columns[c].name, "chunk type differs from the schema");
      const int64_t start = m.dict_offset > 0 ? std::min(m.dict_offset, m.data_offset) : m.data_offset;
      if (start < 4 || m.compressed_size < 0 || m.compressed_size > size || start > size - 8 - m.compressed_size)
        throw FormatError(path, "footer/row_groups/" + std::to_string(g) + "/" + columns[c].name, "column chunk outside the file");
    }
  }
}

}  // namespace

ParquetFile::ParquetFile(const std::string& path) : path_(path), impl_(std::make_unique<Impl>()) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st {};
  if (fstat(fd_, &st) != 0) throw Error(path + ": cannot stat");
  size_ = st.st_size;
  const int fd = fd_;
  const std::string p = path;
  impl_->read = [fd, p](int64_t off, int64_t n, uint8_t* out) {
    int64_t done = 0;
    while (done < n) {
      const ssize_t got = ::pread(fd, out + done, static_cast<size_t>(n - done), static_cast<off_t>(off + done));
      if (got <= 0) throw FormatError(p, "file", "read failed at byte " + std::to_string(off + done) + " (cut short?)");
      done += got;
    }
  };
  try {
    parse_footer(path, size_, impl_->read, num_rows_, created_by_, columns_, row_group_rows_, impl_->chunks);
  } catch (...) {
    ::close(fd_);
    fd_ = -1;
    throw;
  }
}

ParquetFile::~ParquetFile() {
  if (fd_ >= 0) ::close(fd_);
}

const ParquetColumn* ParquetFile::column(const std::string& name) const {
  for (const auto& c : columns_)
    if (c.name == name) return &c;
  return nullptr;
}

namespace {

// Decodes one column chunk: every page's levels and values.
Decoded decode_chunk(const std::string& path, const std::function<void(int64_t, int64_t, uint8_t*)>& read,
                     const ChunkMeta& m, const ParquetColumn& col, int64_t rows) {
  const std::string where = path + ": " + col.name;
  const int64_t start = m.dict_offset > 0 ? std::min(m.dict_offset, m.data_offset) : m.data_offset;
  if (m.compressed_size > kMaxBlock) throw FormatError(path, col.name, "column chunk larger than 1 GiB");
  std::vector<uint8_t> chunk(static_cast<size_t>(m.compressed_size));
  read(start, m.compressed_size, chunk.data());
  Decoded d;
  // one allocation each for the chunk's levels and values (growing them page by page faulted in
  // fresh memory at every doubling)
  if (m.num_values < 0 || m.num_values > kMaxChunkValues)
    throw FormatError(path, col.name, "column chunk of " + std::to_string(m.num_values) + " values; more than the " +
                                          std::to_string(kMaxChunkValues) + " scfm decodes at once (write smaller row groups)");
  // a hint only (the values can be fewer): no more than the chunk's bytes could plausibly hold
  const size_t expect = static_cast<size_t>(std::min<int64_t>(m.num_values, 32 * m.compressed_size + 4096));
  if (col.max_def > 0) d.def.reserve(expect);
  if (col.max_rep > 0) d.rep.reserve(expect);
  if (col.physical == kFloat || col.physical == kDouble) d.reals.reserve(expect);
  else if (col.physical != kByteArray) d.ints.reserve(expect);
  std::vector<int64_t> dict_ints;
  std::vector<double> dict_reals;
  std::vector<std::string> dict_strings;
  bool have_dict = false;
  size_t pos = 0;
  std::vector<uint32_t> idx;
  auto plain = [&](const uint8_t* p, size_t n, int64_t count, std::vector<int64_t>& ints, std::vector<double>& reals,
                   std::vector<std::string>& strs) {
    const int t = col.physical;
    const size_t w = t == kInt32 || t == kFloat ? 4 : t == kInt64 || t == kDouble ? 8 : 0;
    if (w > 0) {
      if (static_cast<uint64_t>(count) * w > n) throw ThriftError{"PLAIN values past the page"};
      // one tight loop a type (the values are little-endian, as this machine)
      auto widen = [&](auto tag, auto& out) {
        using T = decltype(tag);
        const size_t at = out.size();
        out.resize(at + static_cast<size_t>(count));
        for (int64_t k = 0; k < count; ++k) {
          T v;
          std::memcpy(&v, p + static_cast<size_t>(k) * sizeof(T), sizeof(T));
          out[at + static_cast<size_t>(k)] = v;
        }
      };
      if (t == kInt32) widen(int32_t{}, ints);
      else if (t == kInt64) widen(int64_t{}, ints);
      else if (t == kFloat) widen(float{}, reals);
      else widen(double{}, reals);
    } else if (t == kBoolean) {
      if (static_cast<uint64_t>(count) > static_cast<uint64_t>(n) * 8) throw ThriftError{"PLAIN booleans past the page"};
      for (int64_t k = 0; k < count; ++k) ints.push_back((p[k >> 3] >> (k & 7)) & 1);
    } else if (t == kByteArray) {
      size_t q = 0;
      for (int64_t k = 0; k < count; ++k) {
        if (n - q < 4) throw ThriftError{"PLAIN strings past the page"};
        uint32_t len;
        std::memcpy(&len, p + q, 4);
        q += 4;
        if (len > n - q) throw ThriftError{"PLAIN string past the page"};
        strs.emplace_back(reinterpret_cast<const char*>(p + q), len);
        q += len;
      }
    } else {
      throw ThriftError{std::string("values of type ") + physical_name(t) + " are not supported"};
    }
  };
  try {
    while (pos < chunk.size() && d.levels < m.num_values) {
      Thrift t(chunk.data() + pos, chunk.size() - pos);
      const PageHeader h = read_page_header(t);
      pos += t.consumed();
      if (h.compressed < 0 || h.uncompressed < 0 || static_cast<size_t>(h.compressed) > chunk.size() - pos)
        throw ThriftError{"page past the column chunk"};
      const uint8_t* body = chunk.data() + pos;
      pos += static_cast<size_t>(h.compressed);
      if (h.num_values < 0 || h.num_values > kMaxValues) throw ThriftError{"page value count out of range"};
      if (h.type == 2) {  // dictionary page
        if (have_dict) throw ThriftError{"a second dictionary page"};
        if (h.encoding != 0 && h.encoding != 2) throw ThriftError{std::string("dictionary encoded as ") + encoding_name(h.encoding)};
        const std::vector<uint8_t> raw = decompress(m.codec, body, static_cast<size_t>(h.compressed), static_cast<size_t>(h.uncompressed), "dictionary page");
        plain(raw.data(), raw.size(), h.num_values, dict_ints, dict_reals, dict_strings);
        have_dict = true;
        continue;
      }
      if (h.type != 0 && h.type != 3) continue;  // index pages and unknown kinds: skipped
      const int64_t n = h.num_values;
      std::vector<uint8_t> raw;
      const uint8_t* levels_p = nullptr;
      size_t levels_n = 0;
      const uint8_t* values_p = nullptr;
      size_t values_n = 0;
      std::vector<uint32_t> def, rep;
      if (h.type == 0) {  // v1: everything compressed together; levels with 4-byte lengths
        raw = decompress(m.codec, body, static_cast<size_t>(h.compressed), static_cast<size_t>(h.uncompressed), "data page");
        size_t q = 0;
        auto levels = [&](int max_level, std::vector<uint32_t>& out, const char* what) {
          if (max_level == 0) {
            out.assign(static_cast<size_t>(n), 0);
            return;
          }
          if (raw.size() - q < 4) throw ThriftError{std::string(what) + " levels past the page"};
          uint32_t len;
          std::memcpy(&len, raw.data() + q, 4);
          q += 4;
          if (len > raw.size() - q) throw ThriftError{std::string(what) + " levels past the page"};
          rle_hybrid({raw.data() + q, raw.data() + q + len}, bit_width_of(max_level), n, out, what);
          q += len;
        };
        if (col.max_rep > 0 && h.rep_encoding != 3) throw ThriftError{"repetition levels not RLE"};
        if (col.max_def > 0 && h.def_encoding != 3) throw ThriftError{"definition levels not RLE"};
        levels(col.max_rep, rep, "repetition");
        levels(col.max_def, def, "definition");
        values_p = raw.data() + q;
        values_n = raw.size() - q;
      } else {  // v2: levels uncompressed in front, then the (maybe compressed) values
        if (h.rep_len < 0 || h.def_len < 0 || static_cast<int64_t>(h.rep_len) + h.def_len > h.compressed)
          throw ThriftError{"v2 level lengths past the page"};
        levels_p = body;
        levels_n = static_cast<size_t>(h.rep_len) + static_cast<size_t>(h.def_len);
        if (col.max_rep > 0) rle_hybrid({levels_p, levels_p + h.rep_len}, bit_width_of(col.max_rep), n, rep, "repetition");
        else rep.assign(static_cast<size_t>(n), 0);
        if (col.max_def > 0) rle_hybrid({levels_p + h.rep_len, levels_p + levels_n}, bit_width_of(col.max_def), n, def, "definition");
        else def.assign(static_cast<size_t>(n), 0);
        const size_t vc = static_cast<size_t>(h.compressed) - levels_n;
        const size_t vu = static_cast<size_t>(h.uncompressed) - std::min(levels_n, static_cast<size_t>(h.uncompressed));
        if (h.v2_compressed) {
          raw = decompress(m.codec, body + levels_n, vc, vu, "data page");
        } else {
          raw.assign(body + levels_n, body + levels_n + vc);
        }
        values_p = raw.data();
        values_n = raw.size();
      }
      int64_t present = 0;
      for (uint32_t v : def) {
        if (v > static_cast<uint32_t>(col.max_def)) throw ThriftError{"definition level above the schema's maximum"};
        present += v == static_cast<uint32_t>(col.max_def);
      }
      for (uint32_t v : rep)
        if (v > static_cast<uint32_t>(col.max_rep)) throw ThriftError{"repetition level above the schema's maximum"};
      if (h.encoding == 0) {
        plain(values_p, values_n, present, d.ints, d.reals, d.strings);
      } else if (h.encoding == 2 || h.encoding == 8) {
        if (!have_dict) throw ThriftError{"dictionary-encoded page without a dictionary page"};
        if (values_n < 1 && present > 0) throw ThriftError{"dictionary indices missing"};
        if (present > 0) {
          rle_hybrid({values_p + 1, values_p + values_n}, values_p[0], present, idx, "dictionary indices");
          const size_t dn = std::max({dict_ints.size(), dict_reals.size(), dict_strings.size()});
          for (uint32_t k : idx) {
            if (k >= dn) throw ThriftError{"dictionary index " + std::to_string(k) + " beyond its " + std::to_string(dn) + " entries"};
            if (!dict_ints.empty()) d.ints.push_back(dict_ints[k]);
            else if (!dict_reals.empty()) d.reals.push_back(dict_reals[k]);
            else d.strings.push_back(dict_strings[k]);
          }
        }
      } else if (h.encoding == 5 && (col.physical == kInt32 || col.physical == kInt64)) {
        std::vector<int64_t> v;
        delta_binary_packed(values_p, values_n, present, v);
        for (int64_t x : v) d.ints.push_back(col.physical == kInt32 ? static_cast<int32_t>(x) : x);
      } else if (h.encoding == 6 && col.physical == kByteArray) {
        delta_length_strings(values_p, values_n, present, d.strings);
      } else if (h.encoding == 7 && col.physical == kByteArray) {
        delta_strings(values_p, values_n, present, d.strings);
      } else {
        throw ThriftError{std::string(encoding_name(h.encoding)) + " encoding of " + physical_name(col.physical) +
                          " values is not supported (PLAIN, dictionary and the DELTA_* encodings are)"};
      }
      d.def.insert(d.def.end(), def.begin(), def.end());
      d.rep.insert(d.rep.end(), rep.begin(), rep.end());
      d.levels += n;
    }
  } catch (const ThriftError& e) {
    throw FormatError(path, col.name, e.what);
  }
  if (d.levels != m.num_values)
    throw FormatError(path, col.name, "pages hold " + std::to_string(d.levels) + " values, the footer says " + std::to_string(m.num_values));
  // rows: a flat column has one level a row; a list column starts a row at each repetition level 0
  int64_t row_starts = 0;
  for (int64_t k = 0; k < d.levels; ++k) row_starts += col.max_rep == 0 || d.rep[static_cast<size_t>(k)] == 0;
  if (row_starts != rows)
    throw FormatError(path, col.name, std::to_string(row_starts) + " rows in the pages, the row group has " + std::to_string(rows));
  (void)where;
  return d;
}

// decode_chunk, with a failed allocation (a file claiming more values than memory holds) as a
// FormatError instead of std::bad_alloc
Decoded decode_guarded(const std::string& path, const std::function<void(int64_t, int64_t, uint8_t*)>& read,
                       const ChunkMeta& m, const ParquetColumn& col, int64_t rows) {
  try {
    return decode_chunk(path, read, m, col, rows);
  } catch (const std::bad_alloc&) {
    throw FormatError(path, col.name, "too large to decode in memory (" + std::to_string(m.num_values) + " values)");
  } catch (const std::length_error&) {
    throw FormatError(path, col.name, "too large to decode in memory (" + std::to_string(m.num_values) + " values)");
  }
}

template <class T, class Src>
ParquetLists<T> assemble_lists(const std::string& path, const ParquetColumn& col, const Decoded& d, const Src& values) {
  ParquetLists<T> out;
  out.values.reserve(values.size());
  out.offsets.push_back(0);
  size_t v = 0;
  for (int64_t k = 0; k < d.levels; ++k) {
    const uint32_t def = d.def[static_cast<size_t>(k)];
    if (d.rep[static_cast<size_t>(k)] == 0 && k > 0) out.offsets.push_back(static_cast<int64_t>(out.values.size()));
    if (def < static_cast<uint32_t>(col.list_def)) continue;  // a null or empty list
    if (def < static_cast<uint32_t>(col.max_def))
      throw FormatError(path, col.name, "a null element inside a list (row " + std::to_string(out.offsets.size() - 1) + ")");
    if (v >= values.size()) throw FormatError(path, col.name, "fewer values than definition levels");
    out.values.push_back(static_cast<T>(values[v++]));
  }
  if (d.levels > 0) out.offsets.push_back(static_cast<int64_t>(out.values.size()));
  return out;
}

}  // namespace

ParquetLists<int64_t> ParquetFile::read_int_lists(int g, const std::string& name) const {
  const ParquetColumn* c = column(name);
  if (c == nullptr) throw FormatError(path_, name, "no such column");
  const bool real = c->physical == kFloat || c->physical == kDouble;
  if (!c->is_list || (c->physical != kInt32 && c->physical != kInt64 && !real))
    throw FormatError(path_, name, "expected a list of integers, found " + c->type_name());
  const size_t ci = static_cast<size_t>(c - columns_.data());
  const Decoded d = decode_guarded(path_, impl_->read, impl_->chunks.at(static_cast<size_t>(g))[ci], *c, row_group_rows(g));
  if (!real) return assemble_lists<int64_t>(path_, *c, d, d.ints);
  // integers stored as floats (scBenchmark's combine_and_sample casts `genes` to float32): each
  // must be a whole number
  for (size_t k = 0; k < d.reals.size(); ++k) {
    const double v = d.reals[k];
    if (!(v == std::floor(v)) || std::fabs(v) > 9007199254740992.0)
      throw FormatError(path_, name, "value " + std::to_string(v) + " (the " + std::to_string(k + 1) +
                                         "th of row group " + std::to_string(g) + ") is not a whole number");
  }
  return assemble_lists<int64_t>(path_, *c, d, d.reals);
}

ParquetLists<float> ParquetFile::read_float_lists(int g, const std::string& name) const {
  const ParquetColumn* c = column(name);
  if (c == nullptr) throw FormatError(path_, name, "no such column");
  if (!c->is_list || (c->physical != kFloat && c->physical != kDouble && c->physical != kInt32 && c->physical != kInt64))
    throw FormatError(path_, name, "expected a list of numbers, found " + c->type_name());
  const size_t ci = static_cast<size_t>(c - columns_.data());
  const Decoded d = decode_guarded(path_, impl_->read, impl_->chunks.at(static_cast<size_t>(g))[ci], *c, row_group_rows(g));
  if (c->physical == kInt32 || c->physical == kInt64) return assemble_lists<float>(path_, *c, d, d.ints);
  return assemble_lists<float>(path_, *c, d, d.reals);
}

std::vector<std::string> ParquetFile::read_strings(int g, const std::string& name) const {
  const ParquetColumn* c = column(name);
  if (c == nullptr) throw FormatError(path_, name, "no such column");
  if (c->is_list) throw FormatError(path_, name, "expected a flat column, found " + c->type_name());
  const size_t ci = static_cast<size_t>(c - columns_.data());
  const Decoded d = decode_guarded(path_, impl_->read, impl_->chunks.at(static_cast<size_t>(g))[ci], *c, row_group_rows(g));
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(d.levels));
  size_t v = 0;
  for (int64_t k = 0; k < d.levels; ++k) {
    if (c->max_def > 0 && d.def[static_cast<size_t>(k)] < static_cast<uint32_t>(c->max_def)) {
      out.emplace_back();
      continue;
    }
    if (!d.strings.empty()) {
      if (v >= d.strings.size()) throw FormatError(path_, name, "fewer values than rows");
      out.push_back(d.strings[v++]);
    } else if (!d.ints.empty()) {
      if (v >= d.ints.size()) throw FormatError(path_, name, "fewer values than rows");
      out.push_back(std::to_string(d.ints[v++]));
    } else {
      if (v >= d.reals.size()) throw FormatError(path_, name, "fewer values than rows");
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.9g", d.reals[v++]);
      out.emplace_back(buf);
    }
  }
  return out;
}

void parquet_check_buffer(const uint8_t* data, size_t size) {
  const std::string path = "<buffer>";
  auto read = [&](int64_t off, int64_t n, uint8_t* out) {
    if (off < 0 || n < 0 || static_cast<uint64_t>(off) + static_cast<uint64_t>(n) > size)
      throw FormatError(path, "file", "read past the end");
    if (n > 0) std::memcpy(out, data + off, static_cast<size_t>(n));
  };
  int64_t num_rows = 0;
  std::string created_by;
  std::vector<ParquetColumn> columns;
  std::vector<int64_t> rows;
  std::vector<std::vector<ChunkMeta>> chunks;
  parse_footer(path, static_cast<int64_t>(size), read, num_rows, created_by, columns, rows, chunks);
  for (size_t g = 0; g < chunks.size(); ++g)
    for (size_t c = 0; c < columns.size(); ++c) {
      const Decoded d = decode_guarded(path, read, chunks[g][c], columns[c], rows[g]);
      if (columns[c].is_list) {
        if (!d.ints.empty()) assemble_lists<int64_t>(path, columns[c], d, d.ints);
        else assemble_lists<float>(path, columns[c], d, d.reals);
      }
    }
}

}  // namespace scfm::io
