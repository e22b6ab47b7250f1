#!/usr/bin/env bash
# bench/pretrain: training cells/s of scfm against a PyTorch training step of the ORIGINAL
# scBenchmark modules (python3-torch), same structures, batch, threads and OpenBLAS core, in the
# same run.
#   bash bench/pretrain.sh [SCBENCHMARK] [-- --threads N --reps R --batch B]
# Structures (STRUCTURES env): transformer (scBenchmark's default size: 6 layers, 256 wide,
# 8 heads, 512 genes + <cls>), linear_ours and cnn_base (511 genes + <cls>, see bench/model.cpp).
# A step = zero_grad, forward (training mode, dropout 0.15), masked MSE of the MLM output + masked
# MSE of the MVC output, backward, Adam step (bench_model --train-step / model_baseline.py
# --train-step). Defaults: batch 32, all cores, 3 timed steps after a warm-up (the fastest counts).
# PyTorch runs twice: as a user runs it (glibc's default allocator settings) and with the allocator
# settings scfm's own main() applies (MALLOC_MMAP_MAX_=0, MALLOC_TRIM_THRESHOLD_: large activations
# reused instead of mapped and faulted in again each step; docs/bench_model.md); "at its best" is
# the faster of the two for each structure (the second helps small batches and hurts at batch 32).
# The transformer's arithmetic is put against this machine's float32 peak (cores x GHz x 64 flop per
# cycle with AVX-512, 32 with AVX2 only) and against a 2048^3 sgemm measured with the same core.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
SRC=/work/.mirror/simpleshinobu+scbenchmark/repo
if [ $# -gt 0 ] && [ "$1" != "--" ]; then SRC=$1; shift; fi
if [ "${1:-}" = "--" ]; then shift; fi
THREADS=$(nproc)
REPS=3
BATCH=32
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) THREADS=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    *) echo "bench/pretrain.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
STRUCTURES=${STRUCTURES:-"transformer linear_ours cnn_base"}
cmake --build "$BUILD_DIR" --target bench_model -j2 >/dev/null
BENCH="$BUILD_DIR/bench/bench_model"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
. bench/scbench_models.sh
scbench_models "$SRC" "$OUT/scbenchmark"
OPTS=(--threads "$THREADS" --reps "$REPS" --batch "$BATCH" --train-step)
for s in $STRUCTURES; do
  "$BENCH" "${OPTS[@]}" "$s" | tee -a "$OUT/scfm.jsonl"
  core=$(tail -n1 "$OUT/scfm.jsonl" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["blas_core"])')
  OPENBLAS_CORETYPE=$core /usr/bin/python3 -W ignore bench/model_baseline.py "$ORIG" "${OPTS[@]}" "$s" | tee -a "$OUT/torch.jsonl"
  OPENBLAS_CORETYPE=$core MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=17179869184 \
    /usr/bin/python3 -W ignore bench/model_baseline.py "$ORIG" "${OPTS[@]}" "$s" | tee -a "$OUT/torch_best.jsonl"
done
OPENBLAS_CORETYPE=$core /usr/bin/python3 - "$THREADS" > "$OUT/sgemm.txt" <<'PY'
import sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
torch.mm(a, b)
best = min((lambda t0: (torch.mm(a, b), time.perf_counter() - t0)[1])(time.perf_counter()) for _ in range(5))
print(2 * 2048 ** 3 / best / 1e9)
PY
/usr/bin/python3 - "$OUT" "$THREADS" <<'PY'
import json, sys
out, threads = sys.argv[1], int(sys.argv[2])
load = lambda f: {r["structure"]: r for r in map(json.loads, open(f"{out}/{f}"))}
s, p, q = load("scfm.jsonl"), load("torch.jsonl"), load("torch_best.jsonl")
sgemm = float(open(f"{out}/sgemm.txt").read())
mhz = max(float(l.split(":")[1]) for l in open("/proc/cpuinfo") if l.startswith("cpu MHz"))
avx512 = any(" avx512f" in l for l in open("/proc/cpuinfo") if l.startswith("flags"))
per_cycle = 64 if avx512 else 32  # 2 FMA units x (16 | 8) floats x 2 flop
peak = threads * mhz / 1e3 * per_cycle
r0 = next(iter(s.values()))
print(f"\nthreads {threads}, batch {r0['batch']}, OpenBLAS core {r0['blas_core']}; fastest of the timed steps "
      f"(median in brackets); float32 peak {peak:.0f} GFLOP/s ({threads} cores x {mhz/1e3:.2f} GHz x {per_cycle}), "
      f"sgemm 2048^3 measured {sgemm:.0f} GFLOP/s")
print("| structure | tokens | scfm ms/step | scfm cells/s | PyTorch ms/step | cells/s | ratio | PyTorch at its best ms/step | cells/s | ratio | peak RSS MB scfm / PyTorch |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
best = {}
for k, a in s.items():
    b = p[k]
    c = best[k] = min(p[k], q[k], key=lambda r: r["train_step_ms"])
    how = "default allocator" if c is p[k] else "tuned allocator"
    cps = lambda r: r["batch"] / r["train_step_ms"] * 1e3
    print(f"| {k} | {a['tokens']} | {a['train_step_ms']:.0f} ({a['train_step_median_ms']:.0f}) | {cps(a):.2f} "
          f"| {b['train_step_ms']:.0f} ({b['train_step_median_ms']:.0f}) | {cps(b):.2f} | {b['train_step_ms'] / a['train_step_ms']:.2f}x "
          f"| {c['train_step_ms']:.0f} ({how}) | {cps(c):.2f} | {c['train_step_ms'] / a['train_step_ms']:.2f}x "
          f"| {a['peak_rss_mb']} / {b['peak_rss_mb']} |")
if "transformer" in s:
    gflop = 13.3  # per cell, forward + backward at this size (the issue's figure)
    for name, r in (("scfm", s["transformer"]), ("PyTorch", p["transformer"]), ("PyTorch at its best", best["transformer"])):
        g = gflop * r["batch"] / r["train_step_ms"] * 1e3
        print(f"transformer, {name}: {g:.0f} GFLOP/s = {100 * g / peak:.0f}% of peak, {100 * g / sgemm:.0f}% of sgemm")
PY
