// Writing files so that a crash never leaves one half-written.
//
// AtomicPath hands out a temporary path beside the target ("<target>.tmp.<pid>"); the caller
// writes there and calls commit(), which renames it onto the target (atomic on POSIX within one
// file system). If the object is destroyed without commit() - an exception, an early return -
// the temporary is removed and the target is left exactly as it was. Under scfm's supervisor
// (runtime/supervisor.h) the temporary is also removed when the process dies of a crash; after a
// kill -9 (which nobody can catch) the next AtomicPath for the same target removes what the dead
// process left. The temporary may be a folder: commit() swaps it with an existing target folder
// in one step (renameat2 RENAME_EXCHANGE), so the target is always the old folder or the new one.
#pragma once

#include <string>

namespace scfm::util {

class AtomicPath {
 public:
  explicit AtomicPath(std::string target);
  ~AtomicPath();
  AtomicPath(const AtomicPath&) = delete;
  AtomicPath& operator=(const AtomicPath&) = delete;

  const std::string& temp() const { return temp_; }
  // Creates temp() as an empty folder (removing whatever an earlier process with the same pid left
  // there) and returns its path; throws scfm::Error naming it if that fails.
  const std::string& make_folder();
  const std::string& target() const { return target_; }
  // Renames temp() onto target() (a folder onto a folder: swapped, then the old one removed);
  // throws scfm::Error if that fails.
  void commit();

 private:
  std::string target_;
  std::string temp_;
  bool committed_ = false;
  int slot_ = -1;  // util/supervision.h: the supervisor removes the temporary if the process dies
};

// Removes the temporaries ("<name>.tmp.<pid>") in `dir` that a killed process left: those whose
// process no longer runs. A kill -9 during a write cannot be caught, so the temporary stays
// (the target is intact); a run that resumes in the folder calls this first. Returns the count.
int remove_stale_temporaries(const std::string& dir);

}  // namespace scfm::util
