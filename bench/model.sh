#!/usr/bin/env bash
# bench/model: scBenchmark's structures in scfm against the ORIGINAL PyTorch modules
# (python3-torch), measured in the same run with the same thread count and OpenBLAS core.
#   bash bench/model.sh [SCBENCHMARK] [-- BENCH_OPTIONS...]
# SCBENCHMARK: a scBenchmark checkout (folder with models_utils/) or a bare git mirror of it
# (default /work/.mirror/simpleshinobu+scbenchmark/repo), exported to $TMPDIR, never into the repo.
# BENCH_OPTIONS go to both sides: --threads N (default 2) --batch B --genes G --vocab V --layers L
# --embsize E --heads H --reps R (see bench/model.cpp). STRUCTURES (env, default all six) picks
# the structures; each is run by scfm and then by PyTorch, so both see the same machine load.
# Prints one JSON line per side and structure, then a table of ratios (PyTorch ms / scfm ms,
# fastest of R runs; higher = scfm faster).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
SRC=/work/.mirror/simpleshinobu+scbenchmark/repo
if [ $# -gt 0 ] && [ "$1" != "--" ]; then SRC=$1; shift; fi
if [ "${1:-}" = "--" ]; then shift; fi
STRUCTURES=${STRUCTURES:-"transformer gnn_cp cnn_base cnn_ours linear_ours linear_base"}
cmake --build "$BUILD_DIR" --target bench_model -j2 >/dev/null
BENCH="$BUILD_DIR/bench/bench_model"

. bench/scbench_models.sh
scbench_models "$SRC" "${TMPDIR:-/tmp}/scfm_bench_model_scbenchmark"

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
for s in $STRUCTURES; do
  "$BENCH" "$@" "$s" | tee -a "$OUT/scfm.jsonl"
  # PyTorch runs on the OpenBLAS core scfm chose (runtime::select_blas_core), so both run the
  # same sgemm kernels.
  core=$(tail -n1 "$OUT/scfm.jsonl" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["blas_core"])')
  OPENBLAS_CORETYPE=$core /usr/bin/python3 -W ignore bench/model_baseline.py "$ORIG" "$@" "$s" | tee -a "$OUT/torch.jsonl"
done
/usr/bin/python3 - "$OUT/scfm.jsonl" "$OUT/torch.jsonl" <<'PY'
import json, sys
s = {r["structure"]: r for r in map(json.loads, open(sys.argv[1]))}
p = {r["structure"]: r for r in map(json.loads, open(sys.argv[2]))}
r0 = next(iter(s.values()))
print(f"\nthreads {r0['threads']}, batch {r0['batch']}, tokens {r0['tokens']}, OpenBLAS core {r0['blas_core']}; "
      "ms = fastest run (median in brackets); ratio = PyTorch / scfm on the fastest runs")
print("| structure | forward scfm | forward PyTorch | ratio | fwd+bwd scfm | fwd+bwd PyTorch | ratio |")
print("|---|---|---|---|---|---|---|")
for k in s:
    if k not in p:
        continue
    a, b = s[k], p[k]
    print(f"| {k} | {a['forward_ms']:.1f} ({a['forward_median_ms']:.0f}) | {b['forward_ms']:.1f} ({b['forward_median_ms']:.0f}) "
          f"| {b['forward_ms'] / a['forward_ms']:.2f}x "
          f"| {a['fwd_bwd_ms']:.1f} ({a['fwd_bwd_median_ms']:.0f}) | {b['fwd_bwd_ms']:.1f} ({b['fwd_bwd_median_ms']:.0f}) "
          f"| {b['fwd_bwd_ms'] / a['fwd_bwd_ms']:.2f}x |")
PY
