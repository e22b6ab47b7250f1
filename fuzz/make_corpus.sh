#!/usr/bin/env bash
# Seed corpora for the harnesses from the repository's test files: make_corpus.sh OUT_DIR
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$1
mkdir -p "$out"/{pickle,torch_zip,vocab,mtx,manifest,shard,h5ad,parquet}
# Parquet: the test files written by arrow-rs (tests/data/parquet)
k=0
for f in "$root"/tests/data/parquet/*.parquet; do k=$((k + 1)); cp "$f" "$out/parquet/seed$k.parquet"; done
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
# shard harness: valid shards in src/scfm/store/format.h's layout (the harness writes the manifest)
/usr/bin/python3 - "$out/shard" <<'PY'
import struct, sys
def align(x): return (x + 63) // 64 * 64
def shard(rows, obs):
    n = len(rows); nnz = sum(len(r) for r in rows)
    indptr = [0]
    for r in rows: indptr.append(indptr[-1] + len(r))
    body = {}
    off = 64
    body["indptr"] = (off, struct.pack("<%dq" % (n + 1), *indptr)); off = align(off + 8 * (n + 1))
    body["ids"] = (off, struct.pack("<%di" % nnz, *[g for r in rows for g, _ in r])); off = align(off + 4 * nnz)
    body["values"] = (off, struct.pack("<%df" % nnz, *[v for r in rows for _, v in r])); off = align(off + 4 * nnz)
    obs_off = off; off = align(off + 24 * len(obs))
    entries, parts = [], []
    for col in obs:
        data = [s.encode() for s in col]; offs = [0]
        for d in data: offs.append(offs[-1] + len(d))
        o1 = off; off = align(off + 8 * (n + 1)); o2 = off; off = off + offs[-1]
        entries.append((o1, o2, offs[-1])); parts.append((o1, struct.pack("<%dq" % (n + 1), *offs))); parts.append((o2, b"".join(data)))
        off = align(off) if col is not obs[-1] else off
    head = b"SCFMSHRD" + struct.pack("<IIqqqqqq", 1, len(obs), n, nnz, body["indptr"][0], body["ids"][0],
                                     body["values"][0], obs_off)
    out = bytearray(off if obs else align(off))
    out[0:64] = head
    for o, b in list(body.values()) + parts: out[o:o + len(b)] = b
    out[obs_off:obs_off + 24 * len(obs)] = b"".join(struct.pack("<qqq", *e) for e in entries)
    return bytes(out)
rows = [[(0, 1.0), (5, 2.5), (60, 7.0)], [(3, 1.0)], [(1, 0.5), (2, 3.0)]]
open(sys.argv[1] + "/seed2obs.bin", "wb").write(shard(rows, [["a", "bb", ""], ["pbmc", "pbmc", "x"]]))
open(sys.argv[1] + "/seed0obs.bin", "wb").write(shard(rows, []))
PY
# h5ad harness: small files written by the real writers (anndata; h5py in Cell Ranger's v3 layout)
/usr/bin/python3 - "$out/h5ad" <<'PY'
import sys, warnings
import anndata, h5py, numpy as np, pandas as pd, scipy.sparse as sp
warnings.filterwarnings("ignore")
out = sys.argv[1]
rng = np.random.default_rng(0)
x = sp.random(6, 5, density=0.5, format="csr", random_state=0, dtype=np.float32) * 10
obs = pd.DataFrame({"cell_type": pd.Categorical(["T", "B", "T", "NK", "B", "T"]), "n": np.arange(6)},
                   index=[f"c{i}" for i in range(6)])
var = pd.DataFrame(index=["CD3D", "MS4A1", "LYZ", "NKG7", "GNLY"])
a = anndata.AnnData(X=x, obs=obs, var=var)
a.obsm["X_emb"] = rng.normal(size=(6, 2)).astype(np.float32)
a.layers["counts"] = x.copy()
a.uns["note"] = "seed"
a.write_h5ad(out + "/csr.h5ad")
anndata.AnnData(X=x.toarray(), obs=obs[["n"]], var=var).write_h5ad(out + "/dense.h5ad")
with h5py.File(out + "/tenx_v3.h5", "w") as f:
    g = f.create_group("matrix")
    m = x.T.tocsc()  # genes x cells, stored by cell
    g["data"] = m.data.astype(np.int32); g["indices"] = m.indices.astype(np.int64)
    g["indptr"] = m.indptr.astype(np.int64); g["shape"] = np.array(m.shape, dtype=np.int32)
    g["barcodes"] = np.array([f"AAAC-{i}".encode() for i in range(6)])
    fe = g.create_group("features")
    fe["id"] = np.array([f"ENSG{i}".encode() for i in range(5)]); fe["name"] = np.array([n.encode() for n in var.index])
    fe["feature_type"] = np.array([b"Gene Expression"] * 5); fe["genome"] = np.array([b"GRCh38"] * 5)
PY
