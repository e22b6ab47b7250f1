#!/usr/bin/env python3
"""Compares scfm's UMAP with umap-learn's on the same embedding (Debian's python3 + umap-learn).

  umap_check.py FILE.h5ad EMBEDDING_KEY [--k 15] [--max-gap 0.02] [--json OUT]

FILE holds obsm[EMBEDDING_KEY] and scfm's obsm['X_umap']. umap-learn runs with scanpy's settings
(n_neighbors 15, min_dist 0.5, spread 1, spectral start, random_state 0); the trustworthiness of
both layouts (sklearn.manifold.trustworthiness, k nearest neighbours) is printed, and the exit
status is 1 when scfm's is lower than umap-learn's by more than --max-gap. Also checks what scanpy
users read: obsm['X_umap'] float32 n x 2, uns['umap']['params'] a and b against find_ab_params.
"""
import argparse
import json
import sys
import time
import warnings

import anndata
import numpy as np
from sklearn.manifold import trustworthiness

warnings.filterwarnings("ignore")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("file")
    p.add_argument("key")
    p.add_argument("--k", type=int, default=15)
    p.add_argument("--max-gap", type=float, default=0.02)
    p.add_argument("--json")
    a = p.parse_args()
    ad = anndata.read_h5ad(a.file)
    x = np.asarray(ad.obsm[a.key], dtype=np.float64)
    ours = np.asarray(ad.obsm["X_umap"])
    assert ours.dtype == np.float32 and ours.shape == (ad.n_obs, 2), (ours.dtype, ours.shape)
    assert np.isfinite(ours).all()
    import umap
    from umap.umap_ import find_ab_params
    ra, rb = find_ab_params(1.0, 0.5)
    pa, pb = float(ad.uns["umap"]["params"]["a"]), float(ad.uns["umap"]["params"]["b"])
    assert abs(pa - ra) < 1e-4 * ra and abs(pb - rb) < 1e-4 * rb, (pa, pb, ra, rb)
    t0 = time.time()
    ref = umap.UMAP(n_neighbors=15, min_dist=0.5, spread=1.0, random_state=0, init="spectral").fit_transform(x)
    seconds = time.time() - t0
    t_ours = trustworthiness(x, ours, n_neighbors=a.k)
    t_ref = trustworthiness(x, ref, n_neighbors=a.k)
    out = {"cells": int(ad.n_obs), "dims": int(x.shape[1]), "k": a.k, "trustworthiness_scfm": t_ours,
           "trustworthiness_umap_learn": t_ref, "gap": t_ref - t_ours, "umap_learn_seconds": seconds,
           "umap_learn_version": umap.__version__}
    print(json.dumps(out))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f)
    if t_ref - t_ours > a.max_gap:
        print(f"scfm's trustworthiness {t_ours:.4f} is below umap-learn's {t_ref:.4f} by more than {a.max_gap}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
