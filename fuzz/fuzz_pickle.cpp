// io::unpickle: the restricted pickle machine on arbitrary bytes.
#include "scfm/io/torch_pickle.h"
#include "scfm/util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    scfm::io::unpickle(data, size, "fuzz.pkl");
  } catch (const scfm::Error&) {
  }
  return 0;
}
