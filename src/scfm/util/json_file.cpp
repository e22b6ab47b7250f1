#include "scfm/util/json_file.h"

#include <fstream>

#include "scfm/util/error.h"

namespace scfm::util {

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw FormatError(path, "file", "cannot open");
  try {
    return nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw FormatError(path, "json", e.what());
  }
}

}  // namespace scfm::util
