"""What the scfm package reads from an AnnData: its matrix as the tuple scfm._core takes, obs
columns as the strings the command line reads from an .h5ad, and error messages worded as the
command line words them."""

import numpy as np

from . import _core


def matrix_spec(adata, layer=None, name="adata"):
    """The matrix (X, or layers[layer]) as scfm._core's tuple, without copying where the layout
    allows: CSR (scipy.sparse) and C-contiguous dense arrays are read where they are; CSC and other
    sparse formats are converted to CSR first (one copy), as is a dense array in Fortran order. A
    backed AnnData (read with backed='r') is streamed from its file."""
    import scipy.sparse as sp

    if layer:
        if layer not in adata.layers:
            raise _core.Error(f"{name}: /layers/{layer}: missing; no such layer")
        X = adata.layers[layer]
    else:
        X = adata.X
        if X is None:
            raise _core.Error(f"{name}: /X: missing (this AnnData has no X); choose a layer")
    if getattr(adata, "isbacked", False) and not isinstance(X, np.ndarray) and not sp.issparse(X):
        return ("h5ad", str(adata.filename), layer or "")
    if sp.issparse(X):
        if X.format != "csr":
            X = X.tocsr()
        return ("csr", X.shape[0], X.shape[1], np.ascontiguousarray(X.indptr), np.ascontiguousarray(X.indices),
                np.ascontiguousarray(X.data))
    X = np.asarray(X)
    if X.ndim != 2:
        raise _core.Error(f"{name}: X: expected a 2-D matrix, found {X.ndim} dimensions")
    return ("dense", X.shape[0], X.shape[1], np.ascontiguousarray(X))


def _value_strings(values):
    """Values as io::column_strings prints them: strings as they are, floats %.9g ('nan'), other
    numbers in decimal, bools True/False."""
    arr = np.asarray(values)
    if arr.dtype.kind == "b":
        return ["True" if v else "False" for v in arr]
    if arr.dtype.kind == "f":
        return ["%.9g" % v for v in arr]
    if arr.dtype.kind in "iu":
        return [str(int(v)) for v in arr]
    return ["" if v is None or (isinstance(v, float) and v != v) else str(v) for v in values]


def column_strings(df, col):
    """df[col] as the command line reads the same column from an .h5ad (missing values: '')."""
    import pandas as pd

    s = df[col]
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = _value_strings(s.cat.categories.to_numpy())
        return [cats[c] if c >= 0 else "" for c in s.cat.codes.to_numpy()]
    if s.dtype.kind in "biuf":
        return _value_strings(s.to_numpy())
    mask = s.isna().to_numpy()
    out = _value_strings(s.astype(object).to_numpy())
    return ["" if m else v for v, m in zip(out, mask)]


def require_column(df, col, name, role, where="obs"):
    if col not in df.columns:
        have = ", ".join(map(str, df.columns))
        if role is None:
            raise _core.FormatError(f"{name}: {where}/{col}: no such column ({where} has: {have})")
        raise _core.FormatError(f"{name}: {where}/{col}: no such {role} column ({where} has: "
                                f"{have if have else 'nothing'})")


def gene_names(adata, gene_col, name):
    if not gene_col or gene_col == adata.var.index.name:
        return [str(g) for g in adata.var_names]
    if gene_col not in adata.var.columns:
        have = ", ".join(map(str, adata.var.columns))
        raise _core.FormatError(f"{name}: /var/{gene_col}: no such var column; the var columns are: "
                                f"{have if have else '(none)'} (leave the gene column empty to use the var index)")
    return column_strings(adata.var, gene_col)


def embedding(adata, key, name):
    if key not in adata.obsm:
        have = ", ".join(adata.obsm.keys())
        raise _core.FormatError(f"{name}: obsm/{key}: no such embedding (obsm holds: {have if have else 'nothing'}); "
                                f"run `scfm embed --key {key}` first")
    x = adata.obsm[key]
    if hasattr(x, "to_numpy"):
        x = x.to_numpy()
    return np.asarray(x)


def categorical(labels):
    """Strings as a pandas Categorical with sorted categories, as scfm writes obs columns."""
    import pandas as pd

    return pd.Categorical(labels, categories=sorted(set(labels)))
