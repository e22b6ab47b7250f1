// A JSON file read whole, with errors that name the file (cannot open / where it fails to parse).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace scfm::util {

// Throws scfm::FormatError(path, "file", "cannot open") or (path, "json", the parser's message).
nlohmann::json read_json_file(const std::string& path);

}  // namespace scfm::util
