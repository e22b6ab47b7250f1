#include "scfm/util/supervision.h"

#include <time.h>

#include <algorithm>
#include <cstring>

namespace scfm::util {

namespace {
SupervisionPage local_page;
std::atomic<SupervisionPage*> current{&local_page};

void copy_path(char* dst, const std::string& src) {
  const size_t n = std::min(src.size(), static_cast<size_t>(SupervisionPage::kPath - 1));
  std::memcpy(dst, src.data(), n);
  dst[n] = '\0';
}
}  // namespace

SupervisionPage& supervision_page() { return *current.load(std::memory_order_acquire); }

void attach_supervision_page(SupervisionPage* page) { current.store(page ? page : &local_page, std::memory_order_release); }

int64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

Hdf5Call::Hdf5Call(const std::string& file, const std::string& object, bool writing) {
  SupervisionPage& p = supervision_page();
  outermost_ = p.hdf5_depth.load(std::memory_order_relaxed) == 0;
  if (outermost_) {
    copy_path(p.hdf5_file, file);
    copy_path(p.hdf5_object, object);
    p.hdf5_writing.store(writing ? 1 : 0, std::memory_order_relaxed);
    p.hdf5_since_ns.store(monotonic_ns(), std::memory_order_release);
  }
  p.hdf5_depth.fetch_add(1, std::memory_order_acq_rel);
}

void Hdf5Call::object(const std::string& name) {
  if (outermost_) copy_path(supervision_page().hdf5_object, name);
}

Hdf5Call::~Hdf5Call() { supervision_page().hdf5_depth.fetch_sub(1, std::memory_order_acq_rel); }

int register_temporary(const std::string& path) {
  SupervisionPage& p = supervision_page();
  for (int i = 0; i < SupervisionPage::kTemps; ++i) {
    int32_t expected = 0;
    if (p.temp_used[i].compare_exchange_strong(expected, 2, std::memory_order_acq_rel)) {  // 2: being written
      copy_path(p.temp_path[i], path);
      p.temp_used[i].store(1, std::memory_order_release);
      return i;
    }
  }
  return -1;
}

void release_temporary(int slot) {
  if (slot < 0 || slot >= SupervisionPage::kTemps) return;
  supervision_page().temp_used[slot].store(0, std::memory_order_release);
}

}  // namespace scfm::util
