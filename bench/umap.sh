#!/usr/bin/env bash
# bench/umap: scfm umap against umap-learn (Debian's umap-learn 0.5.3) in the same script.
#   bash bench/umap.sh [quality|speed|all]     (default all)
# quality: trustworthiness (k=15) of scfm's layout (sequential and parallel optimiser) and of
#   umap-learn's, on pbmc3k (160 real cells; PCA 50 of the counts) and on 20,000 cells simulated
#   from pbmc3k (PCA 50).
# speed: wall time of `scfm umap` and of umap-learn on N (100,000) cells x 50 dims of Gaussian
#   clusters; the ratio is the figure (machines are noisy). Environment: N, THREADS (2), BUILD_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
cmake --build "$BUILD_DIR" --target scfm_cli >/dev/null
SCFM="$BUILD_DIR/scfm --threads ${THREADS:-2}"
PY=/usr/bin/python3
W=${WORK:-$(mktemp -d /tmp/scfm-bench-umap.XXXXXX)}
what=${1:-all}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

if [ "$what" = quality ] || [ "$what" = all ]; then
  $SCFM metrics --in data/pbmc3k.h5ad --pseudo-batches 2 --label-col cell_type --out "$W/m3k" \
    --write-h5ad "$W/pbmc3k_pca.h5ad" > /dev/null
  $SCFM simulate --like data/pbmc3k.h5ad --label-col cell_type --cells 20000 --seed 5 --out "$W/sim20k.h5ad" > /dev/null
  # PCA of the simulated counts through the baselines of scfm metrics (X_pca in the copy)
  $SCFM metrics --in "$W/sim20k.h5ad" --pseudo-batches 2 --label-col cell_type --out "$W/m20k" \
    --write-h5ad "$W/sim20k_pca.h5ad" > /dev/null
  for f in pbmc3k_pca sim20k_pca; do
    $SCFM umap --in "$W/$f.h5ad" --embedding X_pca --out "$W/${f}_seq.h5ad" --layout sequential --key-added X_umap_seq > /dev/null
    $SCFM umap --in "$W/${f}_seq.h5ad" --embedding X_pca --out "$W/${f}_both.h5ad" --layout parallel --key-added X_umap_par > /dev/null
    $PY bench/umap_compare.py quality "$W/${f}_both.h5ad" X_pca X_umap_seq X_umap_par
  done
fi

if [ "$what" = speed ] || [ "$what" = all ]; then
  n=${N:-100000}
  $PY bench/umap_compare.py blobs "$W/blobs.h5ad" "$n" 50
  t0=$(date +%s.%N)
  $SCFM umap --in "$W/blobs.h5ad" --embedding X_emb --out "$W/blobs_umap.h5ad" --json > "$W/scfm.json"
  t1=$(date +%s.%N)
  ref=$($PY bench/umap_compare.py time "$W/blobs.h5ad" X_emb)
  $PY - "$W/scfm.json" "$t0" "$t1" "$ref" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); wall = float(sys.argv[3]) - float(sys.argv[2]); r = json.loads(sys.argv[4])
out = {"cells": s["n_cells"], "dims": s["dim_in"], "scfm_seconds": wall, "scfm_knn_seconds": s["seconds_knn"],
       "scfm_layout_seconds": s["seconds_layout"], "layout": "parallel" if s["n_cells"] > 20000 else "sequential",
       "umap_learn_seconds": r["umap_learn_seconds"], "speedup": r["umap_learn_seconds"] / wall}
print(json.dumps(out))
print(f"{out['cells']} cells x {out['dims']}: scfm {wall:.1f} s (kNN {s['seconds_knn']:.1f}, layout {s['seconds_layout']:.1f}), "
      f"umap-learn {r['umap_learn_seconds']:.1f} s: {out['speedup']:.2f}x")
PY
fi
echo "work files: $W"
