// HDF5 inputs as scfm info and scfm ingest read them: io::describe_file, io::read_any (.h5ad or a
// 10x .h5, by content) and, for .h5ad, the block reader of the matrix. libhdf5 1.10 itself crashes
// and hangs on damaged files (docs/reliability.md); scfm contains that in its supervised worker,
// so this harness runs with libFuzzer's -fork (run_one.sh) and fuzz/triage.py sorts the crashes:
// inside libhdf5 (contained in production) or in scfm's code (a finding).
#include <new>

#include "harness.h"
#include "scfm/io/h5ad_stream.h"
#include "scfm/io/inspect.h"
#include "scfm/io/tenx.h"
#include "scfm/util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = scfm::fuzz::work_dir() + "/input.h5ad";
  scfm::fuzz::write_file(path, data, size);
  try {
    scfm::io::describe_file(path, 200);
  } catch (const scfm::Error&) {
  } catch (const std::bad_alloc&) {  // the worker's memory cap turns a huge request into this
  }
  try {
    const bool tenx = scfm::io::is_10x_h5(path);
    scfm::io::AnnData ad = scfm::io::read_any(path);
    if (!tenx) {
      scfm::io::H5adMatrixReader reader(path);
      const int64_t n = std::min<int64_t>(reader.n_rows(), 4096);
      for (int64_t r = 0; r < n; r += 64) reader.read_rows(r, std::min<int64_t>(64, n - r));
    }
  } catch (const scfm::Error&) {
  } catch (const std::bad_alloc&) {
  }
  return 0;
}
