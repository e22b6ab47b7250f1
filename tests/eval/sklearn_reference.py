#!/usr/bin/env python3
"""Reference values for tests/eval/scib_test.cpp from the libraries scib itself calls:
scikit-learn (NMI, ARI, silhouette), numpy (PCA + regression, scib's pc_regression with
linreg "numpy"), scipy (connected components) and harmonypy (Harmony).

usage: sklearn_reference.py metrics IN.json OUT.json
       sklearn_reference.py harmony IN.json OUT.json
       sklearn_reference.py gears IN.json OUT.json   (GEARS's metrics: scipy pearsonr, sklearn mse)
       sklearn_reference.py gears_split IN.json OUT.json   (GEARS's simulation split, numpy's RandomState)
       sklearn_reference.py welch IN.json OUT.json   (scipy's Welch t-test, the score scanpy ranks by)
       sklearn_reference.py trustworthiness IN.json OUT.json   (sklearn.manifold.trustworthiness)
"""
import json
import sys

import numpy as np


def metrics(inp):
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_samples, silhouette_score
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    out = {}
    a, b = inp["a"], inp["b"]
    out["nmi"] = normalized_mutual_info_score(a, b, average_method="arithmetic")
    out["ari"] = adjusted_rand_score(a, b)
    x = np.asarray(inp["x"], dtype=np.float32)
    labels = np.asarray(inp["labels"])
    out["silhouette_samples"] = silhouette_samples(x, labels).tolist()
    out["silhouette_score"] = float(silhouette_score(x, labels))
    # scib's pc_regression: PCA of the embedding (all components when d < 50), R2 of the batch
    # one-hot regression per component (linreg "numpy": lstsq with intercept), variance-weighted
    batch = np.asarray(inp["batch"])
    xc = x.astype(np.float64) - x.astype(np.float64).mean(axis=0)
    cov = xc.T @ xc / (x.shape[0] - 1)
    w, v = np.linalg.eigh(cov)
    order = np.argsort(w)[::-1][: min(50, x.shape[1])]
    var, pcs = w[order], xc @ v[:, order]
    onehot = np.eye(batch.max() + 1)[batch][:, 1:]
    design = np.hstack([np.ones((x.shape[0], 1)), onehot])
    r2 = []
    for j in range(pcs.shape[1]):
        y = pcs[:, j]
        beta, *_ = np.linalg.lstsq(design, y, rcond=None)
        rss = np.sum((y - design @ beta) ** 2)
        tss = np.sum((y - y.mean()) ** 2)
        r2.append(max(0.0, 1 - rss / tss))
    out["pcr"] = float(np.sum(np.asarray(r2) * var / var.sum()))
    g = inp["graph"]
    m = csr_matrix((g["weights"], g["indices"], g["indptr"]), shape=(len(g["indptr"]) - 1,) * 2)
    keep = np.asarray(g["keep"], dtype=bool)
    sub = m[keep][:, keep]
    _, comp = connected_components(sub, connection="strong")
    out["largest_component_share"] = float(np.bincount(comp).max() / keep.sum())
    return out


def harmony(inp):
    import logging
    import pandas as pd
    import harmonypy
    from harmonypy import harmony as hm

    logging.getLogger("harmonypy").setLevel(logging.ERROR)
    centroids = np.asarray(inp["centroids"], dtype=np.float64)  # K x d

    class FixedKMeans:  # the starting centroids the C++ side was given, in place of sklearn's KMeans
        def __init__(self, *args, **kwargs):
            pass

        def fit(self, data):
            self.cluster_centers_ = centroids
            self.labels_ = np.zeros(data.shape[0], dtype=int)
            return self

    hm.KMeans = FixedKMeans
    z = np.asarray(inp["z"], dtype=np.float64)  # N x d
    meta = pd.DataFrame({"batch": [f"b{c}" for c in inp["batch"]]})
    ho = harmonypy.run_harmony(z, meta, "batch", theta=inp["theta"], sigma=inp["sigma"], nclust=centroids.shape[0],
                               block_size=inp["block_size"], max_iter_harmony=inp["max_iter_harmony"],
                               verbose=False)
    return {"corrected": ho.Z_corr.T.tolist(), "objective": [float(v) for v in ho.objective_harmony],
            "kmeans_rounds": [int(v) for v in ho.kmeans_rounds]}


def gears(inp):
    from scipy.stats import pearsonr
    from sklearn.metrics import mean_squared_error as mse

    pred, truth = np.asarray(inp["pred"]), np.asarray(inp["truth"])  # cells x genes
    ctrl = np.asarray(inp["ctrl"]).mean(0)
    de = np.asarray(inp["de"])
    p, t = pred.mean(0), truth.mean(0)

    def r(a, b):
        v = pearsonr(a, b)[0]
        return 0.0 if np.isnan(v) else float(v)

    return {"mse": float(mse(p, t)), "pearson": r(p, t), "mse_de": float(mse(p[de], t[de])),
            "pearson_de": r(p[de], t[de]), "pearson_delta": r(p - ctrl, t - ctrl),
            "pearson_delta_de": r(p[de] - ctrl[de], t[de] - ctrl[de])}


def gears_split(inp):
    """GEARS's DataSplitter.get_simulation_split and split_data("simulation"), written out from
    the published algorithm with numpy's global legacy RandomState, as GEARS calls it."""
    def genes_of(p):
        parts = p.split("+")
        return [g for g in parts if g != "ctrl"]

    def is_single(p):
        return "ctrl" in p and p != "ctrl"

    def perts_from_genes(genes, pert_list, kind):
        cands = [p for p in pert_list if (is_single(p) if kind == "single" else "ctrl" not in p)]
        out = []
        for p in cands:
            if any(g in genes_of(p) for g in genes):
                out.append(p)
        return out

    def split(pert_list, gene_frac, combo_frac, seed):
        unique_genes = np.unique([g for p in np.unique(pert_list) for g in genes_of(p)])
        np.random.seed(seed=seed)
        train_genes = np.random.choice(unique_genes, int(len(unique_genes) * gene_frac), replace=False)
        ood = np.setdiff1d(unique_genes, train_genes)
        train = list(perts_from_genes(train_genes, pert_list, "single"))
        combo = perts_from_genes(train_genes, pert_list, "combo")
        seen1 = [x for x in combo if len([t for t in x.split("+") if t in train_genes]) == 1]
        test = list(seen1)
        combo = np.setdiff1d(combo, seen1)
        np.random.seed(seed=seed)
        combo_train = np.random.choice(combo, int(len(combo) * combo_frac), replace=False)
        seen2 = np.setdiff1d(combo, combo_train).tolist()
        test += seen2
        train += list(combo_train)
        unseen = perts_from_genes(ood, pert_list, "single")
        test += unseen
        seen0 = [x for x in perts_from_genes(ood, pert_list, "combo")
                 if len([t for t in x.split("+") if t in train_genes]) == 0]
        test += seen0
        return [str(x) for x in train], [str(x) for x in test], {
            "unseen_single": unseen, "combo_seen0": seen0, "combo_seen1": seen1, "combo_seen2": seen2}

    perts = [p for p in inp["conditions"] if p != "ctrl"]
    train, test, sub = split(perts, inp["train_gene_frac"], inp["combo_frac"], inp["seed"])
    train, val, vsub = split(train, 0.9, 0.9, inp["seed"])
    sub.update({"val_" + k: v for k, v in vsub.items()})
    return {"train": train + ["ctrl"], "val": val, "test": test, "subgroups": sub}


def welch(inp):
    from scipy.stats import ttest_ind
    x = np.asarray(inp["x"], dtype=np.float64)
    t = ttest_ind(x[inp["group"]], x[inp["control"]], equal_var=False).statistic
    t = np.nan_to_num(t, nan=0.0)
    return {"t": [float(v) for v in t]}


def f_classif(inp):
    import warnings
    from sklearn.feature_selection import f_classif as f
    x = np.asarray(inp["x"], dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stat, _ = f(x, np.asarray(inp["labels"]))
    return {"f": [None if np.isnan(v) else ("inf" if np.isinf(v) else float(v)) for v in stat]}


def trust(inp):
    from sklearn.manifold import trustworthiness
    x = np.asarray(inp["x"], dtype=np.float64)
    y = np.asarray(inp["y"], dtype=np.float64)
    return {"t": {str(k): float(trustworthiness(x, y, n_neighbors=k)) for k in inp["k"]}}


def main():
    mode, src, dst = sys.argv[1:4]
    with open(src) as f:
        inp = json.load(f)
    out = {"metrics": metrics, "harmony": harmony, "gears": gears, "gears_split": gears_split,
           "welch": welch, "f_classif": f_classif, "trustworthiness": trust}[mode](inp)
    with open(dst, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
