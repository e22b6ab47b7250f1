"""scanpy's preprocessing steps with scfm's definitions (the ones `scfm pp` runs), on an AnnData in
place. normalize_total and log1p change float32 data where it is (a CSR matrix's data array or a
C-contiguous dense array); other dtypes are converted to float32 first (as scanpy does for
integers). filter_cells / filter_genes subset the AnnData like scanpy's (inplace=False returns the
mask instead)."""

import numpy as np

from . import _core
from . import _anndata as _ad


def _float32_matrix(adata, layer):
    """The matrix, made float32 (and CSR or C-contiguous) in the AnnData itself, so that the steps
    below can change it in place."""
    import scipy.sparse as sp

    X = adata.layers[layer] if layer else adata.X
    if sp.issparse(X):
        if X.format != "csr" or X.dtype != np.float32:
            X = sp.csr_matrix(X, dtype=np.float32)
        if not X.has_sorted_indices:
            X.sort_indices()
    else:
        X = np.ascontiguousarray(X, dtype=np.float32)
    if layer:
        adata.layers[layer] = X
    else:
        adata.X = X
    return X


def normalize_total(adata, target_sum=None, *, layer=None):
    """Scales each cell to target_sum (None: the median of the non-zero totals, scanpy's default).
    Returns the target used; records it in uns["scfm_pp"]["normalize_total_target_sum"]."""
    import scipy.sparse as sp

    X = _float32_matrix(adata, layer)
    t = None if target_sum is None else float(target_sum)
    if sp.issparse(X):
        target = _core.normalize_total_csr(X.indptr, X.data, t)
    else:
        target = _core.normalize_total_dense(X, t)
    adata.uns.setdefault("scfm_pp", {})["normalize_total_target_sum"] = target
    return target


def log1p(adata, *, layer=None):
    """x -> ln(1 + x), correctly rounded to float32 (scanpy.pp.log1p's values, see docs/pp.md)."""
    import scipy.sparse as sp

    X = _float32_matrix(adata, layer)
    _core.log1p_inplace(X.data if sp.issparse(X) else X)
    adata.uns.setdefault("scfm_pp", {})["log1p"] = True


def filter_cells(adata, *, min_counts=None, max_counts=None, min_genes=None, max_genes=None, inplace=True,
                 layer=None):
    """Cells whose total counts / expressed genes are within the bounds (scanpy.pp.filter_cells)."""
    keep = _core.filter_cells(_ad.matrix_spec(adata, layer), min_counts=_or(min_counts, -1.0),
                              max_counts=_or(max_counts, -1.0), min_genes=_or(min_genes, -1),
                              max_genes=_or(max_genes, -1))
    if not inplace:
        return keep
    adata._inplace_subset_obs(keep)


def filter_genes(adata, *, min_counts=None, max_counts=None, min_cells=None, max_cells=None, inplace=True,
                 layer=None):
    """Genes whose total counts / expressing cells are within the bounds (scanpy.pp.filter_genes)."""
    keep = _core.filter_genes(_ad.matrix_spec(adata, layer), min_counts=_or(min_counts, -1.0),
                              max_counts=_or(max_counts, -1.0), min_cells=_or(min_cells, -1),
                              max_cells=_or(max_cells, -1))
    if not inplace:
        return keep
    adata._inplace_subset_var(keep)


def highly_variable_genes(adata, *, n_top_genes=None, flavor="seurat", min_mean=0.0125, max_mean=3.0,
                          min_disp=0.5, max_disp=float("inf"), n_bins=20, span=0.3, batch_key=None, subset=False,
                          layer=None, inplace=True):
    """scanpy.pp.highly_variable_genes: var columns highly_variable, means, dispersions,
    dispersions_norm (seurat, cell_ranger) or variances, variances_norm, highly_variable_rank
    (seurat_v3, which expects counts), and with batch_key highly_variable_nbatches /
    highly_variable_intersection; uns["hvg"] = {"flavor": flavor}. inplace=False returns the
    columns as a pandas DataFrame instead."""
    import pandas as pd

    batch = []
    if batch_key is not None:
        _ad.require_column(adata.obs, batch_key, "adata", "batch")
        batch = pd.factorize(pd.Series(_ad.column_strings(adata.obs, batch_key)))[0].astype(np.int32).tolist()
    cols = _core.highly_variable_genes(_ad.matrix_spec(adata, layer), flavor=flavor, n_top_genes=n_top_genes,
                                       min_mean=float(min_mean), max_mean=float(max_mean), min_disp=float(min_disp),
                                       max_disp=float(max_disp), n_bins=int(n_bins), span=float(span), batch=batch)
    df = pd.DataFrame(cols, index=adata.var_names)
    if not inplace:
        return df
    for c in df.columns:
        adata.var[c] = df[c].to_numpy()
    adata.uns["hvg"] = {"flavor": flavor}
    if subset:
        adata._inplace_subset_var(df["highly_variable"].to_numpy())


def binning(adata, n_bins=51, *, mode="deterministic", seed=0, layer=None, key="X_binned"):
    """scGPT's per-cell value binning (pp/binning.h) into layers[key] (CSR, bins as float32) and
    obsm["bin_edges"] (n_obs x n_bins: [0, e_1, ..., e_{n_bins-1}] per cell, as scGPT stores them).
    mode: deterministic (ties take the middle bin) or keyed (random ties keyed by seed, cell, gene:
    `scfm pp --bin N --seed S`)."""
    import scipy.sparse as sp

    indptr, indices, data, n, g, edges = _core.binning(_ad.matrix_spec(adata, layer), int(n_bins), mode, int(seed))
    adata.layers[key] = sp.csr_matrix((data, indices, indptr), shape=(n, g))
    adata.obsm["bin_edges"] = edges


def _or(v, default):
    return default if v is None else v
