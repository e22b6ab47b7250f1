#!/usr/bin/python3
"""Reads a simulated .h5ad with anndata and checks its layout: CSR float32 integer counts, the
ground-truth obs columns as categoricals, uns["simulate"] with the design.

sim_check.py OUT.h5ad    prints 'ok' or what is wrong
"""
import sys
import warnings

import numpy as np
import scipy.sparse as sp
import anndata as ad

warnings.simplefilter("ignore")
a = ad.read_h5ad(sys.argv[1])
problems = []
if not sp.issparse(a.X) or a.X.format != "csr" or a.X.dtype != np.float32:
    problems.append(f"X is {type(a.X)} {a.X.dtype}")
elif (a.X.data != np.round(a.X.data)).any() or (a.X.data <= 0).any():
    problems.append("X holds values that are not positive counts")
elif a.X.indptr.dtype != a.X.indices.dtype:
    problems.append(f"X's indptr is {a.X.indptr.dtype} but its indices {a.X.indices.dtype}")
else:
    # what scanpy users do first: a gene subset (scipy refuses mixed index widths here)
    cols = list(range(0, a.n_vars, 3))
    sub = a[:, cols].X.toarray()
    if not np.array_equal(sub, a.X.toarray()[:, cols]):
        problems.append("a[:, genes] differs from the dense columns")
if "gene_name" not in a.var or list(a.var["gene_name"]) != list(a.var_names):
    problems.append("var['gene_name'] missing or not the gene names (GEARS's layout)")
if "condition" not in a.obs:
    problems.append("obs['condition'] missing (GEARS's layout)")
else:
    for cond, pert in zip(a.obs["condition"].astype(str), a.obs["perturbation"].astype(str)):
        want = "ctrl" if pert == "control" else (pert if "+" in pert else pert + "+ctrl")
        if cond != want:
            problems.append(f"condition {cond} for perturbation {pert}")
            break
for c in ("cell_type", "batch", "perturbation", "condition"):
    if c not in a.obs or a.obs[c].dtype.name != "category":
        problems.append(f"obs[{c}] missing or not categorical")
u = a.uns.get("simulate", {})
for k in ("seed", "rel_mean", "dispersion", "dropout", "batch_log_effect", "perturbations", "cell_types"):
    if k not in u:
        problems.append(f"uns['simulate'] has no {k}")
if not problems:
    if u["rel_mean"].shape != (len(u["cell_types"]), a.n_vars):
        problems.append(f"rel_mean shape {u['rel_mean'].shape}")
    targets = set(u["perturbations"]["targets"]) | set(u["perturbations"].get("combinations", []))
    if set(a.obs["perturbation"].unique()) - targets != {"control"}:
        problems.append("perturbation labels are not control + targets (+ combinations)")
print("ok" if not problems else "; ".join(problems))
