// Errors that reach the user.
//
// Every error scfm raises on bad input is a scfm::Error whose message names the file, the
// field (an HDF5 path, a line number, a JSON key) and what was expected, so that one line on
// stderr tells the user what to fix. The CLI catches it, prints "scfm: <message>" and exits 1.
#pragma once

#include <stdexcept>
#include <string>

namespace scfm {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Input that does not follow its format: "<file>: <field>: <what was expected, what was found>".
class FormatError : public Error {
 public:
  FormatError(const std::string& file, const std::string& field, const std::string& what)
      : Error(file + ": " + field + ": " + what), file_(file), field_(field) {}
  const std::string& file() const { return file_; }
  const std::string& field() const { return field_; }

 private:
  std::string file_;
  std::string field_;
};

}  // namespace scfm
