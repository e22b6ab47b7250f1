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
# scGPT scBank folders of the same cells (DataBank's layout: manifest.json, gene_vocab.json without
# special tokens, the main table): one in JSON lines (datasets' to_json), one in Parquet
for fmt in json parquet; do
  d="$here/../scbank_$fmt"
  mkdir -p "$d"
  printf '{\n  "on_disk_format": "%s",\n  "main_data": "counts",\n  "gene_vocab_md5": null\n}' "$fmt" > "$d/manifest.json"
  /usr/bin/python3 - "$here/vocab.json" "$work/rows.json" "$d" "$fmt" <<'PY'
import json, sys
vocab = json.load(open(sys.argv[1]))
genes = {t: i for t, i in vocab.items() if not t.startswith("<")}
json.dump(genes, open(sys.argv[3] + "/gene_vocab.json", "w"), indent=2)
if sys.argv[4] == "json":
    rows = json.load(open(sys.argv[2]))
    with open(sys.argv[3] + "/counts.datatable.json", "w") as f:
        for i, (g, e) in enumerate(zip(rows["genes"], rows["expressions"])):
            f.write(json.dumps({"id": i, "genes": g, "expressions": e}, separators=(",", ":")) + "\n")
PY
done
cp "$here/snappy_dict_v1.parquet" "$here/../scbank_parquet/counts.datatable.parquet"
ls -la "$here"/*.parquet "$here"/../scbank_*
