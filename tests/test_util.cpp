#include "test_util.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

#include "scfm/util/splitmix.h"

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

double keyed_uniform(uint64_t key) { return static_cast<double>(util::splitmix64(key) >> 11) * 0x1.0p-53; }

double keyed_normal(uint64_t key) {
  const double u1 = std::max(keyed_uniform(2 * key), 1e-300), u2 = keyed_uniform(2 * key + 1);
  return std::sqrt(-2 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

const TinyRun& tiny_pbmc_small_run() {
  static const std::unique_ptr<TinyRun> r = [] {  // destroyed at exit: the folder goes too
    auto t = std::make_unique<TinyRun>();
    const std::string s = scfm_binary() + " --threads 1 ";
    t->cells = real_data("pbmc_small.h5ad");
    t->run = t->dir / "run";
    run_all({s + "vocab build " + t->cells + " --out " + (t->dir / "vocab.json"),
             s + "ingest " + t->cells + " --vocab " + (t->dir / "vocab.json") + " --out " + (t->dir / "store"),
             s + "pretrain --store " + (t->dir / "store") + " --out " + t->run +
                 " --model-structure transformer --max-steps 3 --batch-size 16 --nlayers 2 --nheads 2 --embsize 16"
                 " --train-maxseq 64 --use-mvc --seed 0 --loader-threads 1"});
    return t;
  }();
  return *r;
}

}  // namespace scfm::test
