#include "scfm/util/atomic_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <unistd.h>

#include "scfm/util/error.h"

namespace scfm::util {

AtomicPath::AtomicPath(std::string target) : target_(std::move(target)) {
  temp_ = target_ + ".tmp." + std::to_string(::getpid());
}

AtomicPath::~AtomicPath() {
  if (!committed_) {
    std::error_code ec;
    std::filesystem::remove_all(temp_, ec);
  }
}

void AtomicPath::commit() {
  if (std::rename(temp_.c_str(), target_.c_str()) != 0) {
    throw Error(target_ + ": cannot rename the finished temporary file " + temp_ + " onto it: " +
                std::strerror(errno));
  }
  committed_ = true;
}

}  // namespace scfm::util
