#!/usr/bin/python3
"""Checks `scfm pp` output against scanpy's formulas computed here with numpy/scipy.

pp_check.py IN OUT MIN_GENES MIN_CELLS TARGET   (TARGET 'auto' = median of the totals)
Prints 'ok' or what differs.
"""
import sys

import numpy as np
import scipy.sparse as sp
import anndata as ad

src, dst, min_genes, min_cells, target = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
a = ad.read_h5ad(src)
X = sp.csr_matrix(a.X).astype(np.float64)
cells = np.asarray((X > 0).sum(1)).ravel() >= min_genes          # scanpy.pp.filter_cells(min_genes=)
X = X[cells]
genes = np.asarray((X > 0).sum(0)).ravel() >= min_cells          # scanpy.pp.filter_genes(min_cells=)
X = X[:, genes]
totals = np.asarray(X.sum(1)).ravel()
t = np.median(totals[totals > 0]) if target == "auto" else float(target)
norm = sp.diags(t / totals) @ X                                   # scanpy.pp.normalize_total
expected = norm.copy()
expected.data = np.log1p(expected.data)                           # scanpy.pp.log1p

b = ad.read_h5ad(dst)
problems = []
if b.shape != expected.shape:
    problems.append(f"shape {b.shape} != {expected.shape}")
else:
    if list(b.obs_names) != list(a.obs_names[cells]):
        problems.append("obs_names differ")
    if list(b.var_names) != list(a.var_names[genes]):
        problems.append("var_names differ")
    d = abs(sp.csr_matrix(b.X) - expected).max()
    if d > 1e-5:
        problems.append(f"X differs by {d}")
    c = abs(sp.csr_matrix(b.layers["counts"]) - X).max()
    if c != 0:
        problems.append(f"layers['counts'] differs by {c}")
    if b.X.dtype != np.float32:
        problems.append(f"X dtype {b.X.dtype}")
    if "cell_type" in a.obs and list(b.obs["cell_type"]) != list(a.obs["cell_type"][cells]):
        problems.append("obs columns not carried")
    if abs(float(b.uns["scfm_pp"]["normalize_total_target_sum"]) - t) > 1e-6 * t:
        problems.append("target_sum not recorded")
print("ok" if not problems else "; ".join(problems))
