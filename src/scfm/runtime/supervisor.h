// Untrusted files never take scfm down: every scfm command runs in a worker process that a small
// supervisor (the process the user started) watches.
//
// Debian's HDF5 (1.10.8) crashes or loops on damaged and hostile files (public CVE reproducers;
// fuzzing finds more inside libhdf5), and a crash inside a library cannot be caught in-process. So
// main() forks before anything else runs: the child does the work with the memory limit below and
// tells the parent, through one shared page (util/supervision.h), whether it is inside HDF5 and
// which temporaries it holds. The parent only waits:
//   - the child exits: its exit status is scfm's;
//   - it dies of a signal inside HDF5: one line "scfm: FILE: the HDF5 library crashed (SIGSEGV)
//     while reading OBJECT; the file is damaged or hostile", exit status 3;
//   - it stays in one HDF5 call longer than SCFM_HDF5_TIMEOUT seconds (default 300): killed, one
//     line "... hung ...", exit status 3;
//   - it dies elsewhere: one line naming the signal, exit status 2 (128 + n for SIGINT/SIGTERM/
//     SIGKILL sent from outside);
// and in every case of death the temporaries it registered are removed, so nothing half-written
// is left. Signals sent to the supervisor (SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGUSR1/2) are passed on; the child dies with the
// supervisor (PR_SET_PDEATHSIG), so `kill -9` of scfm's pid stops the work as before.
//
// Memory: the child's address space is limited to SCFM_MEMORY_LIMIT (bytes, or with K/M/G
// suffix; default: RAM + swap; "0" = none; never on CUDA builds, whose driver reserves huge address
// ranges), so an allocation a hostile file asks for fails as std::bad_alloc, a clean error,
// instead of waking the OOM killer.
//
// Cost: one fork at start (~1 ms) and a 50 ms poll in the idle parent. Trusted files can be read
// in-process with --trusted-input (or SCFM_TRUSTED_INPUT=1): no supervisor, no limits.
#pragma once

#include <optional>

namespace scfm::runtime {

// Call first in main(). In the worker (or when supervision is off) returns std::nullopt and main
// goes on; in the supervisor returns the exit status once the worker is gone.
std::optional<int> supervise(int argc, char** argv);

}  // namespace scfm::runtime
