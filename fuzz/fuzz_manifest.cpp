// store::Manifest::parse: a cell store's manifest.json, from memory (Manifest::load reads the file
// and calls it).
#include "harness.h"
#include "scfm/store/manifest.h"
#include "scfm/util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    scfm::store::Manifest::parse(std::string_view(reinterpret_cast<const char*>(data), size), "store/manifest.json");
  } catch (const scfm::Error&) {
  }
  return 0;
}
