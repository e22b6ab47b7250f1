// io::Vocab::parse: scGPT's vocab.json, from memory (Vocab::load streams a file into the same checks).
#include "harness.h"
#include "scfm/io/vocab.h"
#include "scfm/util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    scfm::io::Vocab v = scfm::io::Vocab::parse(std::string_view(reinterpret_cast<const char*>(data), size), "vocab.json");
    (void)v.size();
  } catch (const scfm::Error&) {
  }
  return 0;
}
