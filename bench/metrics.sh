#!/usr/bin/env bash
# bench/metrics: `scfm metrics` (every scib metric scfm computes: kNN graph, 10 Leiden runs,
# silhouettes, PCR, graph connectivity, graph LISI) on N cells x D dims, against the cost of the
# same silhouette in scikit-learn (the library scib calls; measured on a subsample in the same
# script and scaled by its quadratic cost).
#   bash bench/metrics.sh            (N=100000, D=50; THREADS=2, BASELINE_CELLS=20000, BUILD_DIR=build)
# Target (issue 14): under 60 s for 100,000 x 50 on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
N=${N:-100000}; D=${D:-50}; M=${BASELINE_CELLS:-20000}
cmake --build "$BUILD_DIR" --target scfm_cli >/dev/null
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
baseline=$(OMP_NUM_THREADS=${THREADS:-2} /usr/bin/python3 bench/metrics_data.py "$tmp/emb.h5ad" "$N" "$D" "$M")
t0=$(date +%s.%N)
"$BUILD_DIR/scfm" --threads "${THREADS:-2}" metrics --in "$tmp/emb.h5ad" --embedding X_emb --no-baselines \
  --batch-col batch --label-col cell_type --out "$tmp/out" --json > "$tmp/r.json"
t1=$(date +%s.%N)
/usr/bin/python3 - "$tmp/r.json" "$t0" "$t1" "$baseline" "$N" "$D" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); t0, t1 = float(sys.argv[2]), float(sys.argv[3]); base = json.loads(sys.argv[4])
det = r["methods"]["X_emb"]["details"]
wall = t1 - t0
line = {"bench": "metrics", "cells": int(sys.argv[5]), "dims": int(sys.argv[6]), "scfm_wall_s": round(wall, 2),
        "knn_and_label_silhouette_s": round(det["seconds_neighbors_and_label_silhouette"], 2), "leiden_s": round(det["seconds_leiden"], 2),
        "batch_silhouette_s": round(det["seconds_batch_silhouette"], 2), "pcr_graph_lisi_s": round(det["seconds_pcr_graph_lisi"], 2),
        "sklearn_silhouette_scaled_s": round(base["silhouette_scaled_s"], 2),
        "ratio_sklearn_silhouette_over_scfm_all": round(base["silhouette_scaled_s"] / wall, 2)}
print(json.dumps(line))
print(f"scfm metrics: {wall:.1f} s for all metrics (target < 60 s); sklearn's silhouette alone would take "
      f"~{base['silhouette_scaled_s']:.0f} s ({line['ratio_sklearn_silhouette_over_scfm_all']}x scfm's whole run)")
PY
