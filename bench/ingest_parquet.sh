#!/usr/bin/env bash
# bench/ingest_parquet: `scfm ingest` of the same cells from .h5ad and from Parquet rows (the
# seeds' layout: id, genes = vocab ids, expressions), in the same run.
#   bash bench/ingest_parquet.sh [N_CELLS...]      (default 100000)
# The cells are simulated from pbmc3k; the Parquet file is written by parquet-wasm (arrow-rs, from
# the npm registry) with snappy pages, dictionaries and row groups of ROW_GROUP (1000) rows. Both
# inputs are read once before timing (page cache). Prints cells/s for each, their ratio, and
# whether the two stores' shards are byte-equal. Environment: ROW_GROUP, CODEC (SNAPPY), BUILD_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
cmake --build "$BUILD_DIR" --target scfm_cli >/dev/null
SCFM="$BUILD_DIR/scfm"
TMP=${TMPDIR:-/tmp}/scfm_bench_ingest_parquet
mkdir -p "$TMP"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100000)
if [ ! -d "$TMP/node_modules/parquet-wasm" ]; then
  (cd "$TMP" && npm init -y > /dev/null && npm install --silent parquet-wasm@0.8.0 apache-arrow@21.2.0 > /dev/null)
fi
cp bench/parquet_write.mjs "$TMP/"
"$SCFM" vocab build data/pbmc3k.h5ad --out "$TMP/vocab.json" > /dev/null
for n in "${sizes[@]}"; do
  h="$TMP/sim_$n.h5ad"
  p="$TMP/sim_$n.parquet"
  [ -f "$h" ] || "$SCFM" simulate --like data/pbmc3k.h5ad --label-col cell_type --cells "$n" --seed 1 --out "$h" > /dev/null
  if [ ! -f "$p" ]; then
    mkdir -p "$TMP/raw_$n"
    /usr/bin/python3 - "$h" "$TMP/vocab.json" "$TMP/raw_$n" <<'PY'
import json, sys
import anndata, numpy as np, scipy.sparse as sp
a = anndata.read_h5ad(sys.argv[1]); vocab = json.load(open(sys.argv[2]))
x = sp.csr_matrix(a.X); ids = np.array([vocab.get(g, -1) for g in a.var_names], dtype=np.int64)
assert (ids >= 0).all()
x.indptr.astype(np.int64).tofile(sys.argv[3] + "/offsets.bin")
ids[x.indices].astype(np.int64).tofile(sys.argv[3] + "/ids.bin")
x.data.astype(np.float32).tofile(sys.argv[3] + "/values.bin")
json.dump(list(map(str, a.obs_names)), open(sys.argv[3] + "/names.json", "w"))
PY
    (cd "$TMP" && node parquet_write.mjs "raw_$n" "$p" "${ROW_GROUP:-1000}" "${CODEC:-SNAPPY}")
  fi
  cat "$h" "$p" > /dev/null
  t() { local s e; s=$(date +%s.%N); "$@" > /dev/null; e=$(date +%s.%N); echo "$s $e"; }
  rm -rf "$TMP/store_h5ad_$n" "$TMP/store_pq_$n"
  th=$(t "$SCFM" --quiet ingest "$h" --vocab "$TMP/vocab.json" --out "$TMP/store_h5ad_$n" --dataset-names sim)
  tp=$(t "$SCFM" --quiet ingest "$p" --vocab "$TMP/vocab.json" --out "$TMP/store_pq_$n" --dataset-names sim)
  same=yes
  for s in "$TMP/store_h5ad_$n"/shard_*; do cmp -s "$s" "$TMP/store_pq_$n/$(basename "$s")" || same=no; done
  /usr/bin/python3 - "$n" "$th" "$tp" "$same" "$(du -m "$h" | cut -f1)" "$(du -m "$p" | cut -f1)" <<'PY'
import json, sys
n = int(sys.argv[1]); h = [float(v) for v in sys.argv[2].split()]; p = [float(v) for v in sys.argv[3].split()]
sh, sp_ = h[1] - h[0], p[1] - p[0]
out = {"cells": n, "h5ad_MB": int(sys.argv[5]), "parquet_MB": int(sys.argv[6]), "h5ad_s": sh, "parquet_s": sp_,
       "h5ad_cells_per_s": n / sh, "parquet_cells_per_s": n / sp_, "parquet_vs_h5ad": sh / sp_,
       "shards_byte_equal": sys.argv[4] == "yes"}
print(json.dumps(out))
print(f"{n} cells: .h5ad {n/sh:,.0f} cells/s, parquet {n/sp_:,.0f} cells/s ({sh/sp_:.2f}x); shards byte-equal: {sys.argv[4]}")
PY
done
