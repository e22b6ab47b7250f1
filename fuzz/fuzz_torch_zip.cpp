// io::check_torch_zip_bytes: the zip directory vetting that runs before LibTorch's reader.
#include "scfm/io/zip_check.h"
#include "scfm/util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    scfm::io::check_torch_zip_bytes(data, size, "fuzz.pt");
  } catch (const scfm::Error&) {
  }
  return 0;
}
