#!/usr/bin/env bash
# bench/ingest: ingest + normalize_total + log1p + HVG (seurat, 2000 genes) on cells simulated from
# pbmc3k, against the same steps in Python (python3-anndata, numpy/scipy/pandas, scanpy's formulas)
# measured in the same run.
#   bash bench/ingest.sh [N_CELLS...]     (default: 100000 1000000; files go to $TMPDIR)
# Prints one JSON line per measurement and a table (ratio = scfm cells/s / Python cells/s). The
# input is read once before timing, so all measurements read it from the page cache; "hdf5 read
# alone" is the floor under scfm's ingest (it reads the same blocks).
# BENCH=path/to/bench_ingest skips the build. Python's in-memory mode runs up to MEMORY_MAX cells
# (default 200000: it needs ~29 MB per 1,000 cells).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
if [ -z "${BENCH:-}" ]; then
  cmake --build "$BUILD_DIR" --target bench_ingest >/dev/null
  BENCH="$BUILD_DIR/bench/bench_ingest"
fi
TMP=${TMPDIR:-/tmp}/scfm_bench_ingest
MEMORY_MAX=${MEMORY_MAX:-200000}
mkdir -p "$TMP"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100000 1000000)
REF=tests/realdata/pbmc3k_decoupler.h5ad

printf "%-8s %-7s %8s %8s %8s %11s %11s %11s %11s %8s %8s %8s %8s %8s %8s %8s\n" cells file_MB ingest_s pp_s \
  scfm_s scfm/s direct/s py_mem/s py_backed/s vs_mem vs_backed dir/bk scfm_MB dir_MB pymem_MB pybk_MB
for n in "${sizes[@]}"; do
  f="$TMP/sim_$n.h5ad"
  [ -f "$f" ] || "$BENCH" make "$REF" "$n" "$f" 1 >&2
  rm -rf "$TMP/work_$n/store"   # a previous run's store: out of the page cache before timing
  sync
  cat "$f" > /dev/null          # every measurement reads the input from the page cache
  r=$("$BENCH" read "$f")
  echo "hdf5 read alone: $r" >&2
  s=$("$BENCH" run "$f" "$TMP/work_$n")
  echo "scfm:           $s" >&2
  d=$("$BENCH" direct "$f" "$TMP/work_$n")
  echo "scfm direct:    $d" >&2
  m='{}'
  if [ "$n" -le "$MEMORY_MAX" ]; then
    m=$(/usr/bin/python3 bench/ingest_baseline.py memory "$f" "$TMP/work_$n/py_memory_hvg.txt")
    echo "python memory:  $m" >&2
  fi
  b=$(/usr/bin/python3 bench/ingest_baseline.py backed "$f" "$TMP/work_$n/py_backed_hvg.txt")
  echo "python backed:  $b" >&2
  for w in scfm_hvg scfm_direct_hvg; do
    same=$(comm -3 <(sort "$TMP/work_$n/$w.txt") <(sort "$TMP/work_$n/py_backed_hvg.txt") | wc -l)
    echo "HVG genes ($w vs python backed): $same differ" >&2
  done
  /usr/bin/python3 - "$s" "$d" "$m" "$b" "$n" "$(du -m "$f" | cut -f1)" <<'PY'
import json, sys
s, d, m, b = (json.loads(a) for a in sys.argv[1:5])
n, mb = sys.argv[5], sys.argv[6]
dash = lambda w: f"{'-':>{w}}"
mem = f"{m['cells_per_s']:11.0f}" if m else dash(11)
vs_mem = f"{s['cells_per_s']/m['cells_per_s']:7.2f}x" if m else dash(8)
mem_mb = f"{m['peak_rss_MB']:8.0f}" if m else dash(8)
print(f"{n:<8} {mb:<7} {s['ingest_s']:8.2f} {s['pp_s']+s['hvg_s']:8.2f} {s['total_s']:8.2f} {s['cells_per_s']:11.0f} "
      f"{d['cells_per_s']:11.0f} {mem} {b['cells_per_s']:11.0f} {vs_mem} {s['cells_per_s']/b['cells_per_s']:7.2f}x "
      f"{d['cells_per_s']/b['cells_per_s']:7.2f}x {s['peak_rss_MB']:8.0f} {d['peak_rss_MB']:8.0f} {mem_mb} {b['peak_rss_MB']:8.0f}")
PY
done
