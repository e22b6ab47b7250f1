"""scanpy's highly_variable_genes (flavors "seurat" and "cell_ranger", with and without batches),
recomputed with numpy and pandas following scanpy 1.9's _highly_variable_genes_single_batch and
its batch_key branch step by step (scanpy itself and statsmodels are not Debian packages here;
statsmodels.robust.mad is its one-line definition). The oracle for tests/pp/hvg_test.cpp.

Usage: python3 hvg_scanpy_reference.py PBMC_SMALL_H5AD OUT_JSON
Data: the h5ad's counts; "seurat" runs on log1p(x / total * 1e4), "cell_ranger" on x / total * 1e4
(float64). Batches: cells 0..39 -> 0, 40..79 -> 1. NaN is written as null.
"""
import json
import sys
import warnings

import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

warnings.simplefilter("ignore")


def read_counts(path):
    with h5py.File(path, "r") as f:
        x = f["X"]
        shape = tuple(x.attrs["shape"])
        m = sp.csr_matrix((x["data"][:], x["indices"][:], x["indptr"][:]), shape=shape)
    return m.toarray().astype(np.float64)


def get_mean_var(X):
    # scanpy.preprocessing._utils._get_mean_var for a dense array
    mean = np.mean(X, axis=0, dtype=np.float64)
    mean_sq = np.multiply(X, X).mean(axis=0, dtype=np.float64)
    var = mean_sq - mean**2
    var *= X.shape[0] / (X.shape[0] - 1)
    return mean, var


def mad(a):
    a = np.asarray(a)
    if a.size == 0:
        return np.nan
    return np.median(np.abs(a - np.median(a)) / 0.6744897501960817)


def single_batch(X, flavor, n_top_genes=None, min_disp=0.5, max_disp=np.inf, min_mean=0.0125,
                 max_mean=3, n_bins=20):
    if flavor == "seurat":
        X = np.expm1(X)
    mean, var = get_mean_var(X)
    mean[mean == 0] = 1e-12
    dispersion = var / mean
    if flavor == "seurat":
        dispersion[dispersion == 0] = np.nan
        dispersion = np.log(dispersion)
        mean = np.log1p(mean)
    df = pd.DataFrame()
    df["means"] = mean
    df["dispersions"] = dispersion
    if flavor == "seurat":
        df["mean_bin"] = pd.cut(df["means"], bins=n_bins)
        disp_grouped = df.groupby("mean_bin")["dispersions"]
        disp_mean_bin = disp_grouped.mean()
        disp_std_bin = disp_grouped.std(ddof=1)
        one_gene_per_bin = disp_std_bin.isnull()
        disp_std_bin[one_gene_per_bin.values] = disp_mean_bin[one_gene_per_bin.values].values
        disp_mean_bin[one_gene_per_bin.values] = 0
        df["dispersions_norm"] = (df["dispersions"].values - disp_mean_bin[df["mean_bin"].values].values) / \
            disp_std_bin[df["mean_bin"].values].values
    else:
        df["mean_bin"] = pd.cut(df["means"], np.r_[-np.inf, np.percentile(df["means"], np.arange(10, 105, 5)), np.inf])
        disp_grouped = df.groupby("mean_bin")["dispersions"]
        disp_median_bin = disp_grouped.median()
        disp_mad_bin = disp_grouped.apply(mad)
        df["dispersions_norm"] = (df["dispersions"].values - disp_median_bin[df["mean_bin"].values].values) / \
            disp_mad_bin[df["mean_bin"].values].values
    dispersion_norm = df["dispersions_norm"].values.copy()  # scfm keeps NaN in the reported column
    if n_top_genes is not None:
        dispersion_norm = dispersion_norm[~np.isnan(dispersion_norm)]
        dispersion_norm[::-1].sort()
        n_top_genes = min(n_top_genes, X.shape[1], dispersion_norm.size)
        disp_cut_off = dispersion_norm[n_top_genes - 1]
        gene_subset = np.nan_to_num(df["dispersions_norm"].values) >= disp_cut_off
    else:
        dispersion_norm[np.isnan(dispersion_norm)] = 0
        gene_subset = np.logical_and.reduce((mean > min_mean, mean < max_mean, dispersion_norm > min_disp,
                                             dispersion_norm < max_disp))
    df["highly_variable"] = gene_subset
    return df


def batched(X, batch, flavor, n_top_genes=None, min_disp=0.5, max_disp=np.inf, min_mean=0.0125, max_mean=3):
    n_genes = X.shape[1]
    gene_list = np.array(["g%05d" % j for j in range(n_genes)])
    dfs = []
    batches = np.unique(batch)
    for b in batches:
        Xb = X[batch == b]
        filt = (Xb > 0).sum(axis=0) >= 1
        Xb = Xb[:, filt]
        hvg = single_batch(Xb, flavor, n_top_genes, min_disp, max_disp, min_mean, max_mean)
        hvg = hvg.drop(columns=["mean_bin"])
        missing = pd.DataFrame(np.zeros((np.sum(~filt), len(hvg.columns))), columns=hvg.columns)
        missing["highly_variable"] = missing["highly_variable"].astype(bool)
        missing["gene"] = gene_list[~filt]
        hvg["gene"] = gene_list[filt]
        hvg = pd.concat([hvg, missing], ignore_index=True)
        idxs = np.concatenate((np.where(filt)[0], np.where(~filt)[0]))
        hvg = hvg.loc[np.argsort(idxs)]
        dfs.append(hvg)
    df = pd.concat(dfs, axis=0)
    df["highly_variable"] = df["highly_variable"].astype(int)
    df = df.groupby("gene").agg(dict(means=np.nanmean, dispersions=np.nanmean, dispersions_norm=np.nanmean,
                                     highly_variable=np.nansum))
    df.rename(columns=dict(highly_variable="highly_variable_nbatches"), inplace=True)
    df["highly_variable_intersection"] = df["highly_variable_nbatches"] == len(batches)
    if n_top_genes is not None:
        df.sort_values(["highly_variable_nbatches", "dispersions_norm"], ascending=False, na_position="last",
                       inplace=True, kind="mergesort")
        high_var = np.zeros(df.shape[0])
        high_var[:n_top_genes] = True
        df["highly_variable"] = high_var.astype(bool)
        df = df.loc[gene_list]
    else:
        df = df.loc[gene_list]
        dispersion_norm = df.dispersions_norm.values.copy()
        dispersion_norm[np.isnan(dispersion_norm)] = 0
        df["highly_variable"] = np.logical_and.reduce((df.means > min_mean, df.means < max_mean,
                                                       dispersion_norm > min_disp, dispersion_norm < max_disp))
    return df


def columns(df):
    out = {}
    for c in ["means", "dispersions", "dispersions_norm", "highly_variable", "highly_variable_nbatches",
              "highly_variable_intersection"]:
        if c in df.columns:
            v = df[c].values
            if v.dtype == bool:
                out[c] = [bool(x) for x in v]
            else:
                out[c] = [None if np.isnan(x) else float(x) for x in v.astype(np.float64)]
    return out


def main():
    counts = read_counts(sys.argv[1])
    totals = counts.sum(axis=1, keepdims=True)
    normalized = counts / totals * 1e4
    lognorm = np.log1p(normalized)
    batch = np.array([0 if i < 40 else 1 for i in range(counts.shape[0])])
    res = {
        "seurat_cutoffs": columns(single_batch(lognorm, "seurat")),
        "seurat_top50": columns(single_batch(lognorm, "seurat", n_top_genes=50)),
        "cell_ranger_cutoffs": columns(single_batch(normalized, "cell_ranger")),
        "cell_ranger_wide_cutoffs": columns(single_batch(normalized, "cell_ranger", max_mean=1e6)),
        "cell_ranger_top30": columns(single_batch(normalized, "cell_ranger", n_top_genes=30)),
        "seurat_batch_cutoffs": columns(batched(lognorm, batch, "seurat")),
        "seurat_batch_top50": columns(batched(lognorm, batch, "seurat", n_top_genes=50)),
        "cell_ranger_batch_cutoffs": columns(batched(normalized, batch, "cell_ranger")),
        "cell_ranger_batch_wide_cutoffs": columns(batched(normalized, batch, "cell_ranger", max_mean=1e6)),
        "cell_ranger_batch_top30": columns(batched(normalized, batch, "cell_ranger", n_top_genes=30)),
    }
    with open(sys.argv[2], "w") as f:
        json.dump(res, f)
    print("ok")


if __name__ == "__main__":
    main()
