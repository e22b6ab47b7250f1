#!/usr/bin/env bash
# Set-up, build, then the main job on the small real dataset in data/.
# Output goes to out/demo/ (override with OUT=...).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
SCFM=./${BUILD_DIR:-build}/scfm
OUT=${OUT:-out/demo}
mkdir -p "$OUT"

echo "== this machine"
$SCFM info --system
echo
echo "== the data"
$SCFM info data/pbmc3k.h5ad
echo
echo "== a gene vocabulary from the data (scGPT's vocab.json layout)"
$SCFM vocab build data/pbmc3k.h5ad --out "$OUT/vocab.json"
echo
echo "== preprocessing as scanpy does it: filter, normalize_total, log1p"
$SCFM pp data/pbmc3k.h5ad --out "$OUT/pbmc3k_pp.h5ad" \
  --filter-cells-min-genes 200 --filter-genes-min-cells 3 --normalize-total 10000 --log1p
$SCFM info "$OUT/pbmc3k_pp.h5ad"
echo
echo "== a sharded, memory-mapped cell store on that vocabulary"
$SCFM ingest data/pbmc3k.h5ad data/pbmc_small.h5ad --vocab "$OUT/vocab.json" --out "$OUT/store" \
  --obs-cols cell_type --allow-missing-obs --shard-cells 100 --overwrite
$SCFM store verify "$OUT/store"
$SCFM info "$OUT/store"
echo
echo "== pretrain a small scBenchmark transformer on the store (a few epochs on the CPU)"
$SCFM pretrain --store "$OUT/store" --out "$OUT/run" --model-structure transformer \
  --epochs 4 --batch-size 32 --nlayers 2 --nheads 4 --embsize 64 --dropout 0.1 --train-maxseq 256 \
  --warmup-iters 20 --lr 1e-3 --log-interval 10 --use-mvc --seed 0
echo
echo "== embed the cells with it; the embeddings go back into the .h5ad as obsm['X_scfm']"
$SCFM embed --model "$OUT/run" --in data/pbmc3k.h5ad --out "$OUT/pbmc3k_embedded.h5ad" --max-length 257
$SCFM info "$OUT/pbmc3k_embedded.h5ad" | grep -E "obsm|uns"
echo
echo "demo: done; results in $OUT/"
