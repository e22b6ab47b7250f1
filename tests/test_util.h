// Helpers shared by the test binaries: paths, temporary folders, running the real Python clients.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace scfm::test {

std::string source_dir();            // the repository root
std::string fixtures_dir();          // tests/fixtures: outputs of the original code (README per fixture)
std::string real_data(const std::string& name);  // tests/realdata/<name>: small real datasets
std::string scfm_binary();           // the built scfm CLI

// A fresh empty folder under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
// Runs a shell command line, capturing its output.
CommandResult run_command(const std::string& command);
// Runs each command line in turn; throws std::runtime_error with the command and its output at
// the first that fails (fixtures built in a test's setup).
void run_all(const std::vector<std::string>& commands);
// Runs /usr/bin/python3 on a script under tests/ (path relative to tests/) with arguments.
CommandResult run_python(const std::string& script, const std::string& args);
std::string read_text(const std::string& path);
void write_text(const std::string& path, const std::string& text);

// Keyed test data: a uniform in [0, 1) and a standard normal (Box-Muller) that depend on the key only.
double keyed_uniform(uint64_t key);
double keyed_normal(uint64_t key);

// pbmc_small (80 cells, 230 genes) and scBenchmark's transformer trained on it for 3 steps (2 layers,
// 2 heads, 16 wide, MVC head), built once per test binary through the CLI: run = the run folder.
struct TinyRun {
  TempDir dir;
  std::string cells, run;
};
const TinyRun& tiny_pbmc_small_run();

}  // namespace scfm::test
