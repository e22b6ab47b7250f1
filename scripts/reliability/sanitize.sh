#!/usr/bin/env bash
# The whole test suite built with AddressSanitizer + UndefinedBehaviorSanitizer (issue 17), in
# build-asan/ beside the normal build (LibTorch, HDF5, OpenBLAS and the other libraries stay as
# Debian built them; scfm's code, the tests and the CLI the tests run are instrumented).
#   scripts/reliability/sanitize.sh              everything
#   scripts/reliability/sanitize.sh -L io        ctest arguments pass through
# Leak checking is off (LibTorch and Python keep allocations until exit by design); an allocation
# over 8 GiB fails as std::bad_alloc, standing in for the supervisor's address-space cap, which a
# sanitized build cannot use (ASan's shadow memory needs terabytes of address space).
# handle_segv/sigbus/sigfpe=0 and replace_intrin=0: libhdf5 (not instrumented) crashing on a
# hostile file reaches scfm's supervisor as the signal it is, as in the normal build, instead of
# ASan's handler or its libc memcpy interceptor (a negative size inside libhdf5) turning it into
# exit 1; scfm's own code is still checked (instrumented calls go through __asan_memcpy).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build-asan}
export ASAN_OPTIONS=${ASAN_OPTIONS:-replace_intrin=0:handle_segv=0:handle_sigbus=0:handle_sigfpe=0:detect_leaks=0:allocator_may_return_null=1:max_allocation_size_mb=8192:verify_asan_link_order=0:detect_stack_use_after_return=0:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DSCFM_SANITIZE=ON -DSCFM_BUILD_BENCH=OFF
fi
cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}"
cd "$BUILD_DIR"
ctest --output-on-failure -j "$(nproc)" "$@"
