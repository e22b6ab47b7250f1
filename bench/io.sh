#!/usr/bin/env bash
# bench/io: scfm's .h5ad reading against python3-anndata, measured in the same run.
#   bash bench/io.sh [N_CELLS...]      (default: 50000 200000; files go to $TMPDIR)
# Prints one JSON line per measurement and a table of ratios (scfm / anndata, higher = faster).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
cmake --build "$BUILD_DIR" --target bench_io >/dev/null
BENCH="$BUILD_DIR/bench/bench_io"
TMP=${TMPDIR:-/tmp}/scfm_bench_io
mkdir -p "$TMP"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(50000 200000)
BLOCK=10000

echo "== full read of data/pbmc3k.h5ad (Google Benchmark)"
"$BENCH" --benchmark_filter=BM_ReadH5adFull --benchmark_min_time=1
/usr/bin/python3 bench/io_baseline.py data/pbmc3k.h5ad 16

printf "\n%-8s %-8s %12s %12s %12s %10s %10s %10s\n" cells file_MB scfm_cells/s ad_full/s ad_backed/s vs_full vs_backed scfm_rss_MB
for n in "${sizes[@]}"; do
  f="$TMP/tiled_$n.h5ad"
  [ -f "$f" ] || /usr/bin/python3 tests/io/h5ad_client.py tile data/pbmc3k.h5ad "$f" "$n" 2>/dev/null
  sync
  s=$("$BENCH" stream "$f" "$BLOCK")
  p=$(/usr/bin/python3 bench/io_baseline.py "$f" "$BLOCK")
  echo "scfm:    $s" >&2
  echo "anndata: $p" >&2
  /usr/bin/python3 - "$s" "$p" "$n" <<'PY'
import json, sys
s, p, n = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
print(f"{n:<8} {s['file_MB']:<8} {s['cells_per_s']:12.0f} {p['full_cells_per_s']:12.0f} {p['backed_cells_per_s']:12.0f} "
      f"{s['cells_per_s']/p['full_cells_per_s']:9.2f}x {s['cells_per_s']/p['backed_cells_per_s']:9.2f}x {s['peak_rss_MB']:10.1f}")
PY
done
