#include "test_util.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

namespace scfm::test {

std::string source_dir() { return SCFM_SOURCE_DIR; }
std::string fixtures_dir() { return std::string(SCFM_SOURCE_DIR) + "/tests/fixtures"; }
std::string real_data(const std::string& name) { return std::string(SCFM_SOURCE_DIR) + "/tests/realdata/" + name; }
std::string scfm_binary() { return SCFM_BINARY; }

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "scfm_test_XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed: " + command);
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), n);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

void run_all(const std::vector<std::string>& commands) {
  for (const std::string& cmd : commands) {
    const CommandResult r = run_command(cmd);
    if (r.exit_code != 0) throw std::runtime_error(cmd + "\n" + r.output);
  }
}

CommandResult run_python(const std::string& script, const std::string& args) {
  return run_command(std::string(SCFM_PYTHON) + " " + source_dir() + "/tests/" + script + " " + args);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path);
}

}  // namespace scfm::test
