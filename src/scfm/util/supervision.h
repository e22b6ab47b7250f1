// What a supervised scfm process tells its supervisor (runtime/supervisor.h) through one page of
// shared memory: whether it is inside the HDF5 library right now (since when, which file and
// object), and which temporary files it has open. Without a supervisor every call here is a cheap
// no-op on a process-local page.
//
// The supervisor reads the page after the worker died or while it runs: a death inside HDF5 is
// reported as "file X: the HDF5 library crashed while reading Y", a stay inside one HDF5 call
// longer than the limit as a hang (the worker is killed), and the temporaries the dead worker
// had registered are removed, so nothing half-written is left behind.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace scfm::util {

struct SupervisionPage {
  static constexpr int kTemps = 32;
  static constexpr int kPath = 1024;
  std::atomic<int32_t> hdf5_depth{0};       // > 0 while inside an HDF5 call
  std::atomic<int64_t> hdf5_since_ns{0};    // CLOCK_MONOTONIC when the outermost call began
  std::atomic<int32_t> hdf5_writing{0};     // the outermost call writes our own output (no time limit)
  char hdf5_file[kPath] = {};
  char hdf5_object[kPath] = {};
  std::atomic<int32_t> temp_used[kTemps] = {};
  char temp_path[kTemps][kPath] = {};
};

// The page in use: the supervisor's shared mapping after attach_supervision_page, else a
// process-local one.
SupervisionPage& supervision_page();
void attach_supervision_page(SupervisionPage* page);

int64_t monotonic_ns();

// Marks a stretch of HDF5 library calls on `file` / `object` (nestable; the outermost names them).
// `writing`: the calls write scfm's own output (a crash there follows a failed write, e.g. a full
// disk: libhdf5 1.10's error paths are not robust), and they are not held to the read time limit.
class Hdf5Call {
 public:
  Hdf5Call(const std::string& file, const std::string& object, bool writing = false);
  ~Hdf5Call();
  Hdf5Call(const Hdf5Call&) = delete;
  Hdf5Call& operator=(const Hdf5Call&) = delete;
  // Names the object once it is known (the name itself comes from an HDF5 call made inside).
  void object(const std::string& name);

 private:
  bool outermost_ = false;
};

// A temporary file or folder the supervisor removes if this process dies before release.
// Returns a slot (-1 when all are taken: then it is simply not tracked).
int register_temporary(const std::string& path);
void release_temporary(int slot);

}  // namespace scfm::util
