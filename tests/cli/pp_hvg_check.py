#!/usr/bin/python3
"""Checks the HVG and binning output of `scfm pp` with the real client (anndata) against scanpy's
formulas recomputed here with numpy/pandas (tests/pp/hvg_scanpy_reference.py follows scanpy's code).

pp_hvg_check.py seurat|cell_ranger IN OUT N [BATCH_KEY]  run with --normalize-total 10000 [--log1p]
pp_hvg_check.py seurat_v3 IN OUT SELECTED_TXT           run with --hvg 200 --hvg-flavor seurat_v3
pp_hvg_check.py subset IN OUT N                         run with --subset-hvg
pp_hvg_check.py bins OUT N_BINS deterministic|keyed     X_binned against X
pp_hvg_check.py same OUT1 OUT2                          prints 'same' or 'different' (X_binned)
Prints 'ok' or what differs.
"""
import os
import sys
import warnings

import numpy as np
import scipy.sparse as sp
import anndata as ad

warnings.simplefilter("ignore")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pp"))
import hvg_scanpy_reference as ref  # noqa: E402

problems = []


def close(name, got, want, rtol):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        problems.append(f"{name}: shape {got.shape} != {want.shape}")
        return
    nan_g, nan_w = np.isnan(got), np.isnan(want)
    if (nan_g != nan_w).any():
        problems.append(f"{name}: NaN at different genes ({int((nan_g != nan_w).sum())})")
        return
    ok = ~nan_w
    err = np.abs(got[ok] - want[ok]) / np.maximum(np.abs(want[ok]), 1e-3)
    if err.size and err.max() > rtol:
        problems.append(f"{name}: max relative error {err.max():.3g}")


def counts_of(path):
    a = ad.read_h5ad(path)
    return a, sp.csr_matrix(a.X).toarray().astype(np.float64)


mode = sys.argv[1]
if mode in ("seurat", "cell_ranger"):
    a, counts = counts_of(sys.argv[2])
    b = ad.read_h5ad(sys.argv[3])
    n = int(sys.argv[4])
    normalized = counts / counts.sum(axis=1, keepdims=True) * 1e4
    x64 = np.log1p(normalized) if mode == "seurat" else normalized
    if np.abs(sp.csr_matrix(b.X).toarray() - x64).max() > 1e-6 * max(1.0, x64.max()):
        problems.append("X is not the processed matrix")
    # scanpy's HVG on X as stored (float32), the data the CLI ran on
    x = sp.csr_matrix(b.X).toarray().astype(np.float64)
    if len(sys.argv) > 5:
        labels = np.asarray(a.obs[sys.argv[5]].astype(str))
        codes = np.unique(labels, return_inverse=True)[1]
        want = ref.batched(x, codes, mode, n_top_genes=n)
        for c in ("highly_variable_nbatches", "highly_variable_intersection"):
            if c not in b.var or not np.array_equal(np.asarray(b.var[c]).astype(np.float64),
                                                    np.asarray(want[c]).astype(np.float64)):
                problems.append(f"{c} differs")
    else:
        want = ref.single_batch(x, mode, n_top_genes=n)
    for c in ("means", "dispersions", "dispersions_norm", "highly_variable"):
        if c not in b.var:
            problems.append(f"var has no {c}")
    if not problems:
        close("means", b.var["means"], want["means"], 1e-5)
        close("dispersions", b.var["dispersions"], want["dispersions"], 1e-4)
        close("dispersions_norm", b.var["dispersions_norm"], want["dispersions_norm"], 1e-4)
        got_hv = np.asarray(b.var["highly_variable"], dtype=bool)
        want_hv = np.asarray(want["highly_variable"], dtype=bool)
        if b.var["highly_variable"].dtype != bool:
            problems.append(f"highly_variable dtype {b.var['highly_variable'].dtype}")
        if (got_hv != want_hv).any():
            problems.append(f"highly_variable differs at {int((got_hv != want_hv).sum())} genes")
        if abs(sp.csr_matrix(b.layers["counts"]).toarray() - counts).max() != 0:
            problems.append("layers['counts'] are not the counts")
elif mode == "seurat_v3":
    a, counts = counts_of(sys.argv[2])
    b = ad.read_h5ad(sys.argv[3])
    want_sel = set(open(sys.argv[4]).read().split())
    got_sel = set(b.var_names[np.asarray(b.var["highly_variable"], dtype=bool)])
    if got_sel != want_sel:
        problems.append(f"selected set differs from Seurat's vst in {len(got_sel ^ want_sel)} genes")
    close("means", b.var["means"], counts.mean(axis=0), 1e-9)
    close("variances", b.var["variances"], counts.var(axis=0, ddof=1), 1e-9)
    for c in ("variances_norm", "highly_variable_rank"):
        if c not in b.var:
            problems.append(f"var has no {c}")
    if not problems:
        rank = np.asarray(b.var["highly_variable_rank"], dtype=np.float64)
        hv = np.asarray(b.var["highly_variable"], dtype=bool)
        if not np.array_equal(~np.isnan(rank), hv) or sorted(rank[hv]) != list(range(int(hv.sum()))):
            problems.append("highly_variable_rank is not 0..N-1 on the selected genes")
        # the rank orders variances_norm, decreasing
        vn = np.asarray(b.var["variances_norm"], dtype=np.float64)
        order = np.argsort(rank[hv])
        if (np.diff(vn[hv][order]) > 1e-12).any():
            problems.append("highly_variable_rank does not follow variances_norm")
elif mode == "subset":
    a, counts = counts_of(sys.argv[2])
    b = ad.read_h5ad(sys.argv[3])
    n = int(sys.argv[4])
    if b.n_vars != n:
        problems.append(f"{b.n_vars} genes kept, not {n}")
    if not np.asarray(b.var["highly_variable"], dtype=bool).all():
        problems.append("a kept gene is not highly variable")
    idx = [list(a.var_names).index(g) for g in b.var_names]
    if idx != sorted(idx):
        problems.append("gene order changed")
    if abs(sp.csr_matrix(b.layers["counts"]).toarray() - counts[:, idx]).max() != 0:
        problems.append("layers['counts'] are not the kept genes' counts")
    if b.X.shape != (a.n_obs, n):
        problems.append(f"X shape {b.X.shape}")
elif mode == "bins":
    b = ad.read_h5ad(sys.argv[2])
    n_bins = int(sys.argv[3])
    x = sp.csr_matrix(b.X).toarray()
    bins = sp.csr_matrix(b.layers["X_binned"]).toarray()
    if bins.shape != x.shape:
        problems.append(f"X_binned shape {bins.shape}")
    else:
        nz = x > 0
        if (bins[~nz] != 0).any():
            problems.append("a zero got a non-zero bin")
        if (bins[nz] < 1).any() or (bins[nz] > n_bins - 1).any() or (bins != np.round(bins)).any():
            problems.append(f"bins of non-zeros outside 1..{n_bins - 1}")
        for i in range(x.shape[0]):
            v = x[i][nz[i]].astype(np.float32)
            if v.size == 0:
                continue
            edges = np.quantile(v, np.linspace(0, 1, n_bins - 1))
            left, right = np.digitize(v, edges), np.digitize(v, edges, right=True)
            got = bins[i][nz[i]]
            if sys.argv[4] == "deterministic":
                want = np.ceil((left + right) / 2)
                if (got != want).any():
                    problems.append(f"cell {i}: bins differ from numpy's digitize")
                    break
            elif ((got < np.minimum(left, right + 1)) | (got > left)).any():
                problems.append(f"cell {i}: bins outside the digitize range")
                break
elif mode == "same":
    b1 = sp.csr_matrix(ad.read_h5ad(sys.argv[2]).layers["X_binned"])
    b2 = sp.csr_matrix(ad.read_h5ad(sys.argv[3]).layers["X_binned"])
    print("same" if (b1 != b2).nnz == 0 else "different")
    sys.exit(0)
else:
    problems.append(f"unknown mode {mode}")
print("ok" if not problems else "; ".join(problems))
