#!/usr/bin/env python3
"""bench/metrics: writes N cells x D dims of a clustered embedding with batch shifts as .h5ad
(obsm X_emb, obs cell_type / batch), then, as the baseline, times the libraries scib calls
(scikit-learn's silhouette_score and NMI/ARI) on a subsample, scaled to N by their cost
(silhouette: quadratic in cells).

usage: metrics_data.py OUT.h5ad N D BASELINE_CELLS
"""
import json
import sys
import time

import anndata as ad
import numpy as np
import pandas as pd


def main():
    out, n, d, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    rng = np.random.default_rng(0)
    types, batches = 12, 3
    t = rng.integers(0, types, n)
    b = rng.integers(0, batches, n)
    centres = rng.normal(0, 3, (types, d))
    shifts = rng.normal(0, 1, (batches, d))
    x = (centres[t] + shifts[b] + rng.normal(0, 1, (n, d))).astype(np.float32)
    a = ad.AnnData(obs=pd.DataFrame({"cell_type": pd.Categorical([f"t{v}" for v in t]),
                                     "batch": pd.Categorical([f"b{v}" for v in b])},
                                    index=[f"c{i}" for i in range(n)]))
    a.obsm["X_emb"] = x
    a.write_h5ad(out)
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score
    idx = rng.choice(n, m, replace=False)
    t0 = time.perf_counter()
    silhouette_score(x[idx], t[idx])
    sil = time.perf_counter() - t0
    t0 = time.perf_counter()
    normalized_mutual_info_score(t, b)
    adjusted_rand_score(t, b)
    cl = time.perf_counter() - t0
    print(json.dumps({"baseline": "sklearn silhouette_score on a subsample, scaled by (N/m)^2, + NMI + ARI on N",
                      "subsample": m, "silhouette_subsample_s": sil,
                      "silhouette_scaled_s": sil * (n / m) ** 2, "nmi_ari_s": cl}))


if __name__ == "__main__":
    main()
