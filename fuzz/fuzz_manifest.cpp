// store::Manifest::load: a cell store's manifest.json.
#include "harness.h"
#include "scfm/store/manifest.h"
#include "scfm/util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string dir = scfm::fuzz::work_dir() + "/store";
  std::filesystem::create_directories(dir);
  scfm::fuzz::write_file(dir + "/manifest.json", data, size);
  try {
    scfm::store::Manifest::load(dir);
  } catch (const scfm::Error&) {
  }
  return 0;
}
