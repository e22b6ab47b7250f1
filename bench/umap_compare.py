#!/usr/bin/env python3
"""bench/umap: scfm's UMAP beside umap-learn's on the same embedding, in one process run.

  umap_compare.py quality FILE.h5ad KEY LAYOUT_KEY...   trustworthiness (k=15) of obsm[LAYOUT_KEY]
                                                          (scfm's) and of umap-learn's layout
  umap_compare.py blobs OUT.h5ad N DIM                  N cells of DIM-dim Gaussian clusters in
                                                          obsm['X_emb'] (the speed set)
  umap_compare.py time FILE.h5ad KEY                    umap-learn's wall time on obsm[KEY]

umap-learn runs as scanpy calls it: n_neighbors 15, min_dist 0.5, spread 1, spectral start,
random_state 0. Trustworthiness is sklearn's formula, computed a block of rows at a time (sklearn's
own function needs n x n int64 matrices: 10 GB at 20,000 cells); equal to
sklearn.manifold.trustworthiness (checked against it at the start on 1,000 cells).
"""
import json
import sys
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")


def trust(x, y, k=15, block=512):
    n = x.shape[0]
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    xx = (x * x).sum(1)
    yy = (y * y).sum(1)
    t = 0.0
    for s in range(0, n, block):
        e = min(n, s + block)
        dx = xx[s:e, None] + xx[None, :] - 2 * x[s:e] @ x.T
        dy = yy[s:e, None] + yy[None, :] - 2 * y[s:e] @ y.T
        rows = np.arange(e - s)
        dx[rows, rows + s] = np.inf
        dy[rows, rows + s] = np.inf
        order = np.argsort(dx, axis=1, kind="stable")
        ranks = np.empty_like(order)
        ranks[rows[:, None], order] = np.arange(1, n + 1)[None, :]
        nn_y = np.argpartition(dy, k, axis=1)[:, :k]
        r = ranks[rows[:, None], nn_y] - k
        t += r[r > 0].sum()
    return 1.0 - t * (2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0)))


def umap_learn(x):
    import umap
    t0 = time.time()
    y = umap.UMAP(n_neighbors=15, min_dist=0.5, spread=1.0, random_state=0, init="spectral").fit_transform(x)
    return y, time.time() - t0


def main():
    mode = sys.argv[1]
    import anndata
    if mode == "blobs":
        out, n, d = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        rng = np.random.default_rng(0)
        k = 20
        centres = rng.normal(scale=4.0, size=(k, d))
        lab = rng.integers(0, k, size=n)
        x = (centres[lab] + rng.normal(size=(n, d))).astype(np.float32)
        import pandas as pd
        a = anndata.AnnData(X=np.zeros((n, 1), dtype=np.float32),
                            obs=pd.DataFrame({"cluster": pd.Categorical([f"c{v}" for v in lab])},
                                             index=[f"cell{i}" for i in range(n)]))
        a.obsm["X_emb"] = x
        a.write_h5ad(out)
        return
    a = anndata.read_h5ad(sys.argv[2])
    x = np.asarray(a.obsm[sys.argv[3]], dtype=np.float32)
    if mode == "time":
        _, secs = umap_learn(x)
        print(json.dumps({"cells": int(x.shape[0]), "dims": int(x.shape[1]), "umap_learn_seconds": secs}))
        return
    # quality: first check the blockwise formula against sklearn's own on 1,000 cells
    from sklearn.manifold import trustworthiness
    sub = np.random.default_rng(1).choice(x.shape[0], size=min(1000, x.shape[0]), replace=False)
    y0 = np.asarray(a.obsm[sys.argv[4]])[sub]
    assert abs(trust(x[sub], y0) - trustworthiness(x[sub].astype(np.float64), y0.astype(np.float64), n_neighbors=15)) < 1e-9
    ref, secs = umap_learn(x)
    out = {"file": sys.argv[2], "cells": int(x.shape[0]), "dims": int(x.shape[1]),
           "umap_learn": trust(x, ref), "umap_learn_seconds": secs}
    for key in sys.argv[4:]:
        out[key] = trust(x, np.asarray(a.obsm[key]))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
