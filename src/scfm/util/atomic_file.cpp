#include "scfm/util/atomic_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "scfm/util/error.h"
#include "scfm/util/supervision.h"

namespace scfm::util {
namespace {

// The pid in a name "<stem>.tmp.<pid>" when `name` has that form and `stem` (if given) matches.
pid_t temporary_pid(const std::string& name, const std::string* stem) {
  const size_t at = name.rfind(".tmp.");
  if (at == std::string::npos || at + 5 >= name.size()) return 0;
  if (stem && name.compare(0, at, *stem) != 0) return 0;
  if (stem && at != stem->size()) return 0;
  const std::string digits = name.substr(at + 5);
  if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) return 0;
  return static_cast<pid_t>(std::stol(digits));
}

// True when `pid` is ours or may still run: its temporary is not ours to remove.
bool may_be_alive(pid_t pid) { return pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH; }

// Removes the temporaries "<stem>.tmp.<pid>" (any stem when `stem` is null) in `dir` whose process
// no longer runs: what a run killed with SIGKILL (which nobody can catch) left. Returns the count.
int remove_dead_temporaries(const std::filesystem::path& dir, const std::string* stem) {
  namespace fs = std::filesystem;
  std::error_code ec;
  int removed = 0;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const pid_t pid = temporary_pid(e.path().filename().string(), stem);
    if (pid <= 0 || may_be_alive(pid)) continue;  // still running (or not ours to judge)
    std::error_code rm;
    if (fs::remove_all(e.path(), rm) > 0) ++removed;
  }
  return removed;
}

}  // namespace

AtomicPath::AtomicPath(std::string target) : target_(std::move(target)) {
  {  // what a killed writer of this same target left beside it
    const std::filesystem::path t(target_);
    const std::string stem = t.filename().string();
    if (!stem.empty()) remove_dead_temporaries(t.has_parent_path() ? t.parent_path() : ".", &stem);
  }
  temp_ = target_ + ".tmp." + std::to_string(::getpid());
  std::error_code ec;
  const std::filesystem::path abs = std::filesystem::absolute(temp_, ec);
  slot_ = register_temporary(ec ? temp_ : abs.string());  // removed by the supervisor if we die
}

AtomicPath::~AtomicPath() {
  if (!committed_) {
    std::error_code ec;
    std::filesystem::remove_all(temp_, ec);
  }
  release_temporary(slot_);
}

const std::string& AtomicPath::make_folder() {
  std::error_code ec;
  std::filesystem::remove_all(temp_, ec);  // a leftover of an earlier run with the same pid
  if (!std::filesystem::create_directories(temp_, ec) || ec)
    throw Error(temp_ + ": cannot create the temporary folder: " + (ec ? ec.message() : "it exists"));
  return temp_;
}

void AtomicPath::commit() {
  if (std::rename(temp_.c_str(), target_.c_str()) == 0) {
    committed_ = true;
    return;
  }
  const int err = errno;
  std::error_code ec;
  // A folder replacing a folder: rename() cannot replace a non-empty one, so the two are swapped
  // in one step (Linux renameat2 RENAME_EXCHANGE) and the old one, now at the temporary name, is
  // removed. At every moment the target is the old folder or the new one, never missing.
  if ((err == ENOTEMPTY || err == EEXIST) && std::filesystem::is_directory(temp_, ec) &&
      std::filesystem::is_directory(target_, ec)) {
    if (::renameat2(AT_FDCWD, temp_.c_str(), AT_FDCWD, target_.c_str(), RENAME_EXCHANGE) != 0)
      throw Error(target_ + ": cannot swap the finished folder " + temp_ + " into its place: " + std::strerror(errno));
    committed_ = true;
    std::filesystem::remove_all(temp_, ec);  // the old folder
    return;
  }
  throw Error(target_ + ": cannot rename the finished temporary file " + temp_ + " onto it: " + std::strerror(err));
}

int remove_stale_temporaries(const std::string& dir) { return remove_dead_temporaries(dir, nullptr); }

}  // namespace scfm::util
