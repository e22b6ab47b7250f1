#!/usr/bin/env python3
"""Helpers for tests/tasks/metrics_test.cpp, with python3-anndata as the real client.

usage: metrics_check.py nan-labels IN.h5ad OUT.h5ad    copy with three cell types set to NaN
       metrics_check.py read OUT.h5ad KEY...            prints shape of obsm[KEY] and obs columns
"""
import sys

import anndata as ad
import numpy as np


def main():
    mode = sys.argv[1]
    if mode == "nan-labels":
        a = ad.read_h5ad(sys.argv[2])
        labels = a.obs["cell_type"].astype(object).to_numpy()
        labels[[0, 5, 9]] = np.nan
        a.obs["cell_type"] = labels
        a.write_h5ad(sys.argv[3])
    elif mode == "read":
        a = ad.read_h5ad(sys.argv[2])
        for key in sys.argv[3:]:
            m = np.asarray(a.obsm[key])
            print(f"{key} {m.shape[0]} {m.shape[1]} finite={bool(np.isfinite(m).all())}")
        print("obs " + " ".join(sorted(c for c in a.obs.columns if c.startswith("scfm_leiden_"))))
        print(f"clusters {a.obs['scfm_leiden_X_pca_harmony'].nunique()}")


if __name__ == "__main__":
    main()
