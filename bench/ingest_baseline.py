#!/usr/bin/python3
"""Python baseline for bench/ingest: the same steps with python3-anndata + numpy/scipy/pandas,
following scanpy 1.9's formulas (scanpy itself is not a Debian package):
read -> normalize_total(target_sum=1e4) -> log1p -> highly_variable_genes(flavor="seurat", n_top_genes)

ingest_baseline.py memory|backed FILE OUT_HVG_TXT [N_TOP] [BLOCK]   -> one JSON line
  memory: anndata.read_h5ad (whole X in memory), scanpy's in-place sparse operations
  backed: anndata.read_h5ad(backed="r"), X[i:i+BLOCK] row slices, per-gene sums accumulated
"""
import json
import resource
import sys
import time
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
import anndata as ad

warnings.simplefilter("ignore")
mode, path, out_txt = sys.argv[1], sys.argv[2], sys.argv[3]
n_top = int(sys.argv[4]) if len(sys.argv) > 4 else 2000
block = int(sys.argv[5]) if len(sys.argv) > 5 else 10000


def normalize_log1p(X):
    # scanpy.pp.normalize_total(target_sum=1e4) then scanpy.pp.log1p, on float32 CSR
    counts = np.asarray(X.sum(axis=1)).ravel()
    counts[counts == 0] = 1
    X = sp.diags((1e4 / counts).astype(np.float32)) @ X
    np.log1p(X.data, out=X.data)
    return X


def moments(X):
    # scanpy seurat: X = expm1(X); _get_mean_var sums of x and x^2
    X = X.copy()
    np.expm1(X.data, out=X.data)
    s = np.asarray(X.sum(axis=0, dtype=np.float64)).ravel()
    X.data = X.data.astype(np.float64) ** 2
    s2 = np.asarray(X.sum(axis=0)).ravel()
    return s, s2


def seurat(mean, var, n_top):
    mean = mean.copy()
    mean[mean == 0] = 1e-12
    dispersion = var / mean
    dispersion[dispersion == 0] = np.nan
    dispersion = np.log(dispersion)
    mean = np.log1p(mean)
    df = pd.DataFrame({"means": mean, "dispersions": dispersion})
    df["mean_bin"] = pd.cut(df["means"], bins=20)
    g = df.groupby("mean_bin")["dispersions"]
    disp_mean_bin, disp_std_bin = g.mean(), g.std(ddof=1)
    one = disp_std_bin.isnull()
    disp_std_bin[one.values] = disp_mean_bin[one.values].values
    disp_mean_bin[one.values] = 0
    norm = (df["dispersions"].values - disp_mean_bin[df["mean_bin"].values].values) / \
        disp_std_bin[df["mean_bin"].values].values
    d = norm[~np.isnan(norm)]
    d[::-1].sort()
    cut = d[min(n_top, d.size) - 1]
    return np.nan_to_num(norm) >= cut


t0 = time.perf_counter()
if mode == "memory":
    a = ad.read_h5ad(path)
    names = np.asarray(a.var_names)
    n = a.n_obs
    X = sp.csr_matrix(a.X)
    del a
    t_read = time.perf_counter() - t0
    X = normalize_log1p(X)
    s, s2 = moments(X)
else:
    a = ad.read_h5ad(path, backed="r")
    names = np.asarray(a.var_names)
    n = a.n_obs
    s = np.zeros(a.n_vars)
    s2 = np.zeros(a.n_vars)
    t_read = 0.0
    for start in range(0, n, block):
        tr = time.perf_counter()
        X = sp.csr_matrix(a.X[start:start + block])
        t_read += time.perf_counter() - tr
        X = normalize_log1p(X)
        bs, bs2 = moments(X)
        s += bs
        s2 += bs2
t_pp = time.perf_counter() - t0 - (t_read if mode == "memory" else 0)
mean = s / n
var = (s2 / n - mean**2) * n / (n - 1)
hv = seurat(mean, var, n_top)
total = time.perf_counter() - t0
with open(out_txt, "w") as f:
    f.write("".join(g + "\n" for g in names[hv]))
print(json.dumps({"mode": mode, "cells": int(n), "read_s": round(t_read, 3), "total_s": round(total, 3),
                  "cells_per_s": round(n / total, 1), "n_hvg": int(hv.sum()),
                  "peak_rss_MB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
