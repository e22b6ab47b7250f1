#!/usr/bin/env bash
# bench/map: the compressed (PCA + IVF + PQ) reference index of `scfm map` at atlas scale.
#   bash bench/map.sh [DIM...]      (default: 256; e.g. `bash bench/map.sh 256 512`)
# Simulates 1,000,000 clustered reference embeddings and 10,000 queries of width DIM, builds the
# index scfm map builds (nprobe calibrated), and compares 10-NN search with exact search.
# Prints one JSON line and one human line per width. Environment: N (reference cells, 1000000),
# QUERIES (10000), THREADS (2), NOISE (0.05), BUILD_DIR (build).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
cmake --build "$BUILD_DIR" --target bench_map >/dev/null
BENCH="$BUILD_DIR/bench/bench_map"
dims=("$@")
[ ${#dims[@]} -gt 0 ] || dims=(256)
# passive OpenMP waits: spinning threads cost a lot on a shared 2-core machine
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
for d in "${dims[@]}"; do
  "$BENCH" --n "${N:-1000000}" --queries "${QUERIES:-10000}" --dim "$d" --threads "${THREADS:-2}" \
    --noise "${NOISE:-0.05}" --k 10 --seed 1
done
