"""Reads the output of `scfm map` with anndata and checks the columns it adds.

usage: map_check.py OUT.h5ad K [OTHER.h5ad]
  OUT's scfm_map_label must equal obs["cell_type"] (well-separated clusters), shares lie in (0, 1],
  distances are >= 0, uns["scfm_map"]["k"] == K. With OTHER, the labels must equal OTHER's.
"""
import sys

import anndata
import numpy as np
import pandas as pd

path, k = sys.argv[1], int(sys.argv[2])
a = anndata.read_h5ad(path)
for col in ("scfm_map_label", "scfm_map_vote_share", "scfm_map_distance"):
    assert col in a.obs.columns, f"missing obs column {col}: {list(a.obs.columns)}"
assert isinstance(a.obs["scfm_map_label"].dtype, pd.CategoricalDtype), a.obs["scfm_map_label"].dtype
assert a.obs["scfm_map_vote_share"].dtype == np.float32, a.obs["scfm_map_vote_share"].dtype
assert a.obs["scfm_map_distance"].dtype == np.float32, a.obs["scfm_map_distance"].dtype
share = a.obs["scfm_map_vote_share"].to_numpy()
assert np.all((share > 0) & (share <= 1)), share
dist = a.obs["scfm_map_distance"].to_numpy()
assert np.all(np.isfinite(dist)) and np.all(dist >= -1e-6), dist
truth = a.obs["cell_type"].astype(str).to_numpy()
pred = a.obs["scfm_map_label"].astype(str).to_numpy()
assert (truth == pred).all(), list(zip(truth[truth != pred], pred[truth != pred]))[:5]
assert "X_scfm" in a.obsm, list(a.obsm.keys())
u = a.uns["scfm_map"]
assert int(u["k"]) == k, u
assert u["label_col"] == "cell_type", u
assert u["metric"] == "cosine", u
if len(sys.argv) > 3:
    b = anndata.read_h5ad(sys.argv[3])
    assert (b.obs["scfm_map_label"].astype(str).to_numpy() == pred).all()
    assert np.allclose(b.obs["scfm_map_distance"].to_numpy(), dist, atol=1e-6)
print("ok", a.n_obs, "cells")
