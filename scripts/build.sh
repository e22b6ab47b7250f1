#!/usr/bin/env bash
# Configures and builds scfm into build/ (Release, ccache, Ninja when available).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "$@"
fi
# BUILD_TARGET="scfm_cli scfm_python" builds those targets alone (what the demo needs).
# shellcheck disable=SC2086  # BUILD_TARGET is a list of target names
cmake --build "$BUILD_DIR" -j "$JOBS" ${BUILD_TARGET:+--target $BUILD_TARGET}
