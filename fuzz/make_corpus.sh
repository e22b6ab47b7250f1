#!/usr/bin/env bash
# Seed corpora for the harnesses from the repository's test files: make_corpus.sh OUT_DIR
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$1
mkdir -p "$out"/{pickle,torch_zip,vocab,mtx,manifest}
n=0
for pt in $(find "$root/tests/fixtures" -name '*.pt' -size -200k | head -20); do
  n=$((n + 1))
  cp "$pt" "$out/torch_zip/seed$n.pt"
  /usr/bin/python3 - "$pt" "$out/pickle/seed$n.pkl" <<'PY'
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
name = [n for n in z.namelist() if n.endswith("data.pkl")][0]
open(sys.argv[2], "wb").write(z.read(name))
PY
done
k=0
for v in $(find "$root/tests/fixtures" -name 'vocab.json' -size -100k | head -5); do k=$((k + 1)); cp "$v" "$out/vocab/seed$k.json"; done
# mtx harness: the first byte chooses the file (even: matrix.mtx, odd: features.tsv)
tiny=$root/tests/realdata/cellranger3_tiny_10x
{ printf '\x00'; gzip -dc "$tiny/matrix.mtx.gz"; } > "$out/mtx/matrix"
{ printf '\x01'; gzip -dc "$tiny/features.tsv.gz"; } > "$out/mtx/features"
cat > "$out/manifest/seed.json" <<'JSON'
{"format": "scfm-cell-store", "format_version": 1, "vocab_checksum": "71ec272fb6f65226", "vocab_size": 8677,
 "layer": "", "obs_columns": ["dataset", "barcode", "cell_type"], "n_cells": 160, "nnz": 1234,
 "checksum_algorithm": "crc32", "block_size": 65536,
 "shards": [{"file": "shard_00000.bin", "n_cells": 160, "nnz": 1234, "bytes": 20480, "crc32": 305419896,
             "block_crc32": [305419896]}],
 "values": {"normalize_total": 10000.0, "log1p": true, "binning": null}, "ingest": {"inputs": []}}
JSON
