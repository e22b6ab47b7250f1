#!/usr/bin/env bash
# Regenerates the test Parquet files of this folder (committed; tests read them, not this script):
# pbmc_small's cells as the seeds' rows (export_rows.py, python3-anndata), written by a real
# Parquet writer, parquet-wasm (arrow-rs) from the npm registry (write_parquet.mjs). Needs node/npm.
#   bash tests/data/parquet/make.sh [SCFM_BINARY]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
scfm=${1:-$root/build/scfm}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$scfm" vocab build "$root/data/pbmc_small.h5ad" --out "$here/vocab.json" > /dev/null
/usr/bin/python3 "$here/export_rows.py" "$root/data/pbmc_small.h5ad" "$here/vocab.json" "$work/rows.json"
(cd "$work" && npm init -y > /dev/null && npm install --silent parquet-wasm@0.8.0 apache-arrow@21.2.0 > /dev/null)
cp "$here/write_parquet.mjs" "$work/"
(cd "$work" && node write_parquet.mjs rows.json "$here")
ls -la "$here"/*.parquet
