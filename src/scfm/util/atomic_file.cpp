#include "scfm/util/atomic_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <signal.h>
#include <unistd.h>

#include "scfm/util/error.h"
#include "scfm/util/supervision.h"

namespace scfm::util {

AtomicPath::AtomicPath(std::string target) : target_(std::move(target)) {
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

void AtomicPath::commit() {
  if (std::rename(temp_.c_str(), target_.c_str()) != 0) {
    throw Error(target_ + ": cannot rename the finished temporary file " + temp_ + " onto it: " +
                std::strerror(errno));
  }
  committed_ = true;
}

int remove_stale_temporaries(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  int removed = 0;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    const size_t at = name.rfind(".tmp.");
    if (at == std::string::npos || at + 5 >= name.size()) continue;
    const std::string digits = name.substr(at + 5);
    if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(digits));
    if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;  // still running (or not ours to judge)
    std::error_code rm;
    if (fs::remove_all(e.path(), rm) > 0) ++removed;
  }
  return removed;
}

}  // namespace scfm::util
