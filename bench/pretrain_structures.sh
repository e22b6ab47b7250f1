#!/usr/bin/env bash
# Pretrains every structure for a few hundred steps on a store and reports the validation masked
# MSE next to the "predict each gene's mean" baseline (issue 7's check that models learn).
#   bash bench/pretrain_structures.sh STORE [STEPS] [STRUCTURES...]
# Defaults: 300 steps, all structures. Small models (2 layers, width 64) so that it runs on a CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
SCFM=${SCFM:-./build/scfm}
STORE=$1
STEPS=${2:-300}
shift $(( $# >= 2 ? 2 : 1 ))
structures=("$@")
[ ${#structures[@]} -gt 0 ] || structures=(transformer gnn_cp cnn_base cnn_ours linear_ours linear_base scgpt)
OUT=${OUT:-${TMPDIR:-/tmp}/scfm_pretrain_structures}
mkdir -p "$OUT"
printf "%-12s %8s %12s %14s %8s %10s\n" structure steps valid_mse gene_mean_mse ratio seconds
for s in "${structures[@]}"; do
  run="$OUT/$s"
  rm -rf "$run"
  extra=(--use-mvc)
  maxseq=127  # 128 tokens with <cls>: the CNNs halve the length per layer
  start=$(date +%s.%N)
  $SCFM pretrain --store "$STORE" --out "$run" --model-structure "$s" --epochs 1000 --max-steps "$STEPS" \
    --batch-size 32 --nlayers 2 --nheads 4 --embsize 64 --d-hid 64 --dropout 0 --train-maxseq $maxseq \
    --warmup-iters 30 --lr 1e-3 --log-interval 100 --valid-ratio 0.1 --seed 0 "${extra[@]}" > "$run.log" 2>&1 || {
      echo "$s: failed, see $run.log"; tail -3 "$run.log"; continue; }
  end=$(date +%s.%N)
  /usr/bin/python3 - "$run/metrics.jsonl" "$s" "$STEPS" "$start" "$end" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if '"valid"' in l]
v = lines[-1]
print(f"{sys.argv[2]:<12} {int(v['step']):8d} {v['mse']:12.4f} {v['gene_mean_baseline_mse']:14.4f} "
      f"{v['mse']/v['gene_mean_baseline_mse']:8.3f} {float(sys.argv[5])-float(sys.argv[4]):10.1f}")
PY
done
