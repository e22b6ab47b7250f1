#!/usr/bin/env python3
"""Writes the cells of an .h5ad as the seeds' parquet rows, in JSON, for write_parquet.mjs:
{"id": [obs names], "genes": [[vocab ids of the row's non-zero genes, in var order]],
 "expressions": [[their values]]}.   usage: export_rows.py IN.h5ad VOCAB.json OUT.json"""
import json
import sys

import anndata
import numpy as np
import scipy.sparse as sp

a = anndata.read_h5ad(sys.argv[1])
vocab = json.load(open(sys.argv[2]))
x = sp.csr_matrix(a.X)
ids = np.array([vocab.get(g, -1) for g in a.var_names])
rows = {"id": list(map(str, a.obs_names)), "genes": [], "expressions": [], "groups": list(map(str, a.obs["groups"]))}
for r in range(x.shape[0]):
    cols = x.indices[x.indptr[r]:x.indptr[r + 1]]
    vals = x.data[x.indptr[r]:x.indptr[r + 1]]
    keep = (ids[cols] >= 0) & (vals != 0)
    # var order, not id order: the reader's mapper sorts
    rows["genes"].append([int(v) for v in ids[cols][keep]])
    rows["expressions"].append([float(v) for v in vals[keep].astype(np.float32)])
json.dump(rows, open(sys.argv[3], "w"))
