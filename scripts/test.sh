#!/usr/bin/env bash
# Set-up, build, and the whole test suite (CTest). Used by CI through .ci/run.
#   scripts/test.sh                 everything
#   scripts/test.sh -L io           only tests labelled io (ctest arguments pass through)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j "$(nproc)" "$@"
