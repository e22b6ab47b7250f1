// Apache Parquet files, read as far as the seeds' cell tables need (docs/io.md, "Parquet"):
// scBenchmark's and scGPT's scBank rows of `genes` (list of vocabulary ids) and `expressions`
// (list of values), plus scalar columns (an `id`, obs strings). Debian 12 ships no Arrow or Parquet
// library, so this is a small reader of its own on the format's specification:
//   - the footer (FileMetaData, Thrift compact protocol) with every bound checked;
//   - flat columns and one level of lists (the 3-level LIST layout arrow/pyarrow, parquet-mr and
//     HF datasets write, and the legacy 2-level one), definition and repetition levels decoded;
//   - data pages v1 and v2, dictionary pages; encodings PLAIN, PLAIN_DICTIONARY / RLE_DICTIONARY,
//     DELTA_BINARY_PACKED, DELTA_LENGTH_BYTE_ARRAY, DELTA_BYTE_ARRAY (arrow-rs's defaults for v2
//     pages without dictionaries), RLE / bit-packed levels; physical types INT32, INT64, FLOAT, DOUBLE, BOOLEAN, BYTE_ARRAY;
//   - pages uncompressed, SNAPPY, GZIP or ZSTD (libsnappy, zlib, libzstd).
// Anything else (BYTE_STREAM_SPLIT, LZ4/BROTLI, deeper nesting, encrypted
// files) is refused with a FormatError naming the file, the column and what was found.
//
// Memory: one row group's column chunk at a time (read with pread), so a reader needs about one
// row group of one column in memory, whatever the file's size. Not thread-safe per object.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace scfm::io {

struct ParquetColumn {
  std::string name;       // the top-level field ("genes")
  std::string path;       // the leaf's dotted path ("genes.list.element")
  int physical = -1;      // parquet Type: 0 BOOLEAN, 1 INT32, 2 INT64, 4 FLOAT, 5 DOUBLE, 6 BYTE_ARRAY, ...
  bool is_list = false;   // one level of repetition (a list column)
  int max_def = 0, max_rep = 0;
  int list_def = 0;       // lists only: the definition level at which the list has an entry
  bool string = false;    // BYTE_ARRAY annotated as UTF8 / STRING
  std::string type_name() const;  // "list<int64>", "float", "string", ...
};

// One row group's values of a list column: row r's values are values[offsets[r] .. offsets[r+1]).
// A null list reads as empty; a null element is refused.
template <class T> struct ParquetLists {
  std::vector<int64_t> offsets;  // rows + 1
  std::vector<T> values;
};

class ParquetFile {
 public:
  // Opens and validates the footer. Throws a FormatError naming the file when it is not Parquet,
  // is cut short, or its metadata is inconsistent.
  explicit ParquetFile(const std::string& path);
  ~ParquetFile();
  ParquetFile(const ParquetFile&) = delete;
  ParquetFile& operator=(const ParquetFile&) = delete;

  const std::string& path() const { return path_; }
  int64_t num_rows() const { return num_rows_; }
  int num_row_groups() const { return static_cast<int>(row_group_rows_.size()); }
  int64_t row_group_rows(int g) const { return row_group_rows_.at(static_cast<size_t>(g)); }
  const std::vector<ParquetColumn>& columns() const { return columns_; }
  std::string created_by() const { return created_by_; }
  // The column of a top-level field name, or nullptr.
  const ParquetColumn* column(const std::string& name) const;

  // Values of a list column in row group g, as int64 (INT32/INT64 leaves, or FLOAT/DOUBLE leaves
  // holding whole numbers) or float (FLOAT/DOUBLE leaves: doubles rounded to float; integers
  // converted). Throws a FormatError for a type mismatch or a fractional id, naming the column.
  ParquetLists<int64_t> read_int_lists(int g, const std::string& name) const;
  ParquetLists<float> read_float_lists(int g, const std::string& name) const;
  // A flat column of row group g as strings (numbers printed as in io::array_strings; null = "").
  std::vector<std::string> read_strings(int g, const std::string& name) const;

  struct Impl;

 private:
  std::string path_;
  int fd_ = -1;
  int64_t size_ = 0, num_rows_ = 0;
  std::string created_by_;
  std::vector<ParquetColumn> columns_;
  std::vector<int64_t> row_group_rows_;
  std::unique_ptr<Impl> impl_;
};

// The whole of a byte buffer as a Parquet file (for the fuzz harness: footer, then every column of
// every row group decoded). Throws FormatError on bad input; never crashes.
void parquet_check_buffer(const uint8_t* data, size_t size);

}  // namespace scfm::io
