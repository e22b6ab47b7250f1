// io::parquet: a whole Parquet file from memory (footer, then every page of every column chunk
// decoded and the lists assembled), the reader behind `scfm ingest --from parquet`.
#include "harness.h"
#include "scfm/io/parquet.h"
#include "scfm/util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    scfm::io::parquet_check_buffer(data, size);
  } catch (const scfm::Error&) {
  }
  return 0;
}
