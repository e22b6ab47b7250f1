#!/usr/bin/env bash
# bench/python: `import scfm` against the command line on the same cells, in the same script.
#   bash bench/python.sh            (N=20000 cells simulated from data/pbmc3k.h5ad, THREADS=2)
# Three ways to embed N cells with the same model (2 layers, 64 wide, max_length 385 as the demo):
#   cli        scfm embed --in sim.h5ad --out e.h5ad (process start, read, embed, write)
#   py-files   /usr/bin/python3: anndata.read_h5ad, scfm.embed, write_h5ad
#   py-memory  scfm.embed alone on the AnnData already in memory (what a notebook pays)
# and the ratio of each to cli (machines are noisy: ratios from the same run are the figure). Also
# checks that the three embeddings are bitwise equal (same threads, same OpenBLAS kernels).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
cmake --build "$BUILD_DIR" --target scfm_cli scfm_python -j2 >/dev/null
N=${N:-20000}
THREADS=${THREADS:-2}
SCFM="$BUILD_DIR/scfm --threads $THREADS --quiet"
W=$(mktemp -d /tmp/scfm-bench-python.XXXXXX)
trap 'rm -rf "$W"' EXIT
$SCFM simulate --like data/pbmc3k.h5ad --label-col cell_type --cells "$N" --seed 3 --out "$W/sim.h5ad" >/dev/null
$SCFM vocab build data/pbmc3k.h5ad --out "$W/vocab.json" >/dev/null
$SCFM ingest data/pbmc3k.h5ad --vocab "$W/vocab.json" --out "$W/store" >/dev/null
$SCFM pretrain --store "$W/store" --out "$W/run" --model-structure transformer --max-steps 1 --batch-size 16 \
  --nlayers 2 --nheads 4 --embsize 64 --train-maxseq 64 --seed 0 >/dev/null 2>&1
t0=$(date +%s.%N)
$SCFM embed --model "$W/run" --in "$W/sim.h5ad" --out "$W/cli.h5ad" --max-length 385 >/dev/null
t1=$(date +%s.%N)
PYTHONPATH="$BUILD_DIR/python" /usr/bin/python3 - "$W" "$THREADS" "$t0" "$t1" <<'PY'
import sys, time
import anndata as ad
import numpy as np
import scfm

w, threads, t0, t1 = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
scfm.set_threads(threads)
cli = t1 - t0
a0 = time.perf_counter()
a = ad.read_h5ad(f"{w}/sim.h5ad")
m0 = time.perf_counter()
scfm.embed(a, f"{w}/run", max_length=385)
m1 = time.perf_counter()
a.write_h5ad(f"{w}/py.h5ad")
a1 = time.perf_counter()
ref = ad.read_h5ad(f"{w}/cli.h5ad").obsm["X_scfm"]
same = np.array_equal(ref, a.obsm["X_scfm"])
print(f"{a.n_obs} cells x {a.n_vars} genes, {threads} threads; embeddings bitwise equal: {same}")
print(f"{'way':<10} {'seconds':>8} {'cells/s':>9} {'vs cli':>7}")
for name, s in (("cli", cli), ("py-files", a1 - a0), ("py-memory", m1 - m0)):
    print(f"{name:<10} {s:8.2f} {a.n_obs / s:9.0f} {s / cli:7.2f}")
PY
