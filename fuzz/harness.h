// Shared by the libFuzzer harnesses: parsers that take a path get the input written to a file on
// tmpfs (one folder per process). scfm::Error is the parsers' clean refusal; anything else that
// escapes (another exception type, a sanitizer report, a crash) is a finding.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

namespace scfm::fuzz {

inline const std::string& work_dir() {
  static const std::string dir = [] {
    const char* base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string d = std::string(base) + "/scfm-fuzz-" + std::to_string(getpid());
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

inline void write_file(const std::string& path, const uint8_t* data, size_t size) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
}

}  // namespace scfm::fuzz
