#!/usr/bin/python3
"""Checks a store ingested with --normalize-total 1e4 --log1p against numpy.

values_check.py IN.h5ad STORE
Reads IN with anndata and the store's shard files by the layout of docs/store.md (header, indptr,
ids, values at 64-byte aligned offsets), computes log1p(x * 1e4 / sum(x)) in float64 over each
cell's genes in the store's vocabulary (scanpy's normalize_total + log1p after keeping the
vocabulary's genes) and prints JSON: cells, ids_equal, max_abs_diff.
"""
import json
import struct
import sys

import anndata as ad
import numpy as np
import scipy.sparse as sp

src, store = sys.argv[1], sys.argv[2]
manifest = json.load(open(f"{store}/manifest.json"))
vocab = json.load(open(f"{store}/vocab.json"))
assert manifest["values"]["normalize_total"] == 1e4 and manifest["values"]["log1p"] is True, manifest["values"]

a = ad.read_h5ad(src)
X = sp.csr_matrix(a.X).astype(np.float64)
ids = np.array([vocab.get(g, -1) for g in a.var_names], dtype=np.int64)

rows = []  # (ids, values) per stored cell
for shard in manifest["shards"]:
    data = open(f"{store}/{shard['file']}", "rb").read()
    magic, version, n_obs_cols, n_cells, nnz, o_indptr, o_ids, o_values, o_obs = struct.unpack_from("<8sIIqqqqqq", data, 0)
    assert magic == b"SCFMSHRD"
    indptr = np.frombuffer(data, dtype="<i8", count=n_cells + 1, offset=o_indptr)
    sid = np.frombuffer(data, dtype="<i4", count=nnz, offset=o_ids)
    sval = np.frombuffer(data, dtype="<f4", count=nnz, offset=o_values)
    for r in range(n_cells):
        rows.append((sid[indptr[r]:indptr[r + 1]], sval[indptr[r]:indptr[r + 1]]))

ids_equal = True
worst = 0.0
kept = 0
for c in range(X.shape[0]):
    row = X.getrow(c)
    cols, vals = row.indices, row.data
    keep = (ids[cols] >= 0) & (vals != 0)
    cid, cval = ids[cols][keep], vals[keep]
    if len(cid) == 0:
        continue
    order = np.argsort(cid, kind="stable")
    cid, cval = cid[order], cval[order]
    expected = np.log1p(cval * 1e4 / cval.sum())
    got_ids, got_vals = rows[kept]
    kept += 1
    if not np.array_equal(got_ids, cid):
        ids_equal = False
        continue
    worst = max(worst, float(np.max(np.abs(got_vals.astype(np.float64) - expected))))
print(json.dumps({"cells": kept, "stored_cells": len(rows), "ids_equal": ids_equal and kept == len(rows),
                  "max_abs_diff": worst}))
