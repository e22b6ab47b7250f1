// io::Vocab::load: scGPT's vocab.json.
#include "harness.h"
#include "scfm/io/vocab.h"
#include "scfm/util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = scfm::fuzz::work_dir() + "/vocab.json";
  scfm::fuzz::write_file(path, data, size);
  try {
    scfm::io::Vocab v = scfm::io::Vocab::load(path);
    (void)v.size();
  } catch (const scfm::Error&) {
  }
  return 0;
}
