"""The Python side of the classify tests (anndata 0.8 as the real client, numpy as the reference).

  make OUT.h5ad              a small .h5ad: 3 separated clusters of 100 cells in obsm X_scfm (and
                             X_collapsed: 100 + 0.001 * X_scfm), Poisson counts in X (cluster-specific
                             genes) and layers/counts, obs cell_type with 6 unlabelled
  check-obs FILE.h5ad        the --write-obs copy: obs scfm_knn_pred is categorical and equals cell_type
                             for the labelled cells; X and obsm are unchanged
  pca FILE.h5ad SCORES.tsv   numpy PCA of log1p(normalize_total(X, 1e4)) against scfm's scores
  knn-ref FILE.h5ad LABEL_COL RESULTS.json REP [HVG.h5ad]
                             numpy kNN (k=10, lowest class on vote ties) on scfm's splits (SplitMix64
                             Fisher-Yates, replicated here) must give results.json's per-trial
                             accuracies exactly. REP is an obsm key, or baseline_pca: numpy PCA(50) of
                             the log-normalised X on the genes var.highly_variable of HVG.h5ad marks
  probe-ref DATA.tsv N_CLASSES SEED EPOCHS BATCH LR LOSSES.txt
                             PyTorch's nn.Linear + CrossEntropyLoss + Adam, initialised from a
                             torch.Generator seeded as scfm seeds its one and fed scfm's batch order
                             (replicated), must give scfm's per-epoch mean losses (DATA.tsv: code, then
                             the features, one row per cell)
"""
import sys

import anndata
import numpy as np
import pandas as pd
import scipy.sparse as sp


def make(path):
    rng = np.random.default_rng(7)
    sizes = [100, 100, 100]
    names = ["alpha", "beta", "gamma"]
    n_genes = 40
    emb, counts, labels = [], [], []
    for c, n in enumerate(sizes):
        centre = np.zeros(8)
        centre[c] = 5.0
        emb.append(centre + rng.normal(0, 0.5, size=(n, 8)))
        mu = np.full(n_genes, 1.0)
        mu[c * 10:(c + 1) * 10] = 12.0
        counts.append(rng.poisson(mu, size=(n, n_genes)))
        labels += [names[c]] * n
    # 6 unlabelled cells, near cluster 0
    emb.append(np.array([5.0] + [0.0] * 7) + rng.normal(0, 0.5, size=(6, 8)))
    counts.append(rng.poisson(np.full(n_genes, 2.0), size=(6, n_genes)))
    labels += [np.nan] * 6
    X = sp.csr_matrix(np.vstack(counts).astype(np.float32))
    obs = pd.DataFrame({"cell_type": pd.Categorical(labels, categories=names)},
                       index=[f"cell{i}" for i in range(X.shape[0])])
    var = pd.DataFrame(index=[f"G{j}" for j in range(n_genes)])
    ad = anndata.AnnData(X=X, obs=obs, var=var)
    ad.obsm["X_scfm"] = np.vstack(emb).astype(np.float32)
    # the same structure at a tiny scale around a large offset (a nearly collapsed embedding)
    ad.obsm["X_collapsed"] = (100.0 + 0.001 * np.vstack(emb)).astype(np.float32)
    ad.layers["counts"] = X.copy()
    ad.write_h5ad(path)
    print("made", ad.shape)


def check_obs(path):
    ad = anndata.read_h5ad(path)
    assert "scfm_knn_pred" in ad.obs.columns, list(ad.obs.columns)
    pred = ad.obs["scfm_knn_pred"]
    assert pd.api.types.is_categorical_dtype(pred), pred.dtype
    truth = ad.obs["cell_type"]
    labelled = truth.notna().to_numpy()
    assert labelled.sum() == 300
    assert (pred.astype(str).to_numpy()[labelled] == truth.astype(str).to_numpy()[labelled]).all()
    assert pred.notna().all()
    # the unlabelled cells sit in cluster alpha's region
    assert (pred.astype(str).to_numpy()[~labelled] == "alpha").all()
    split = ad.obs["scfm_knn_split"].astype(str)
    assert set(split[~labelled]) == {"unlabelled"}
    assert (split == "train").sum() == 210 and (split == "test").sum() == 90, split.value_counts()
    assert ad.obsm["X_scfm"].shape == (306, 8)
    assert ad.X.shape == (306, 40)
    print("ok", list(ad.obs.columns))


def pca(path, scores_path):
    ad = anndata.read_h5ad(path)
    X = ad.X.toarray().astype(np.float64) if sp.issparse(ad.X) else np.asarray(ad.X, dtype=np.float64)
    tot = X.sum(1, keepdims=True)
    tot[tot == 0] = 1
    X = np.log1p(X / tot * 1e4)
    X -= X.mean(0)
    u, s, vt = np.linalg.svd(X, full_matrices=False)
    ref = u * s
    got = np.loadtxt(scores_path, ndmin=2)
    k = got.shape[1]
    ref = ref[:, :k]
    # the sign convention: the largest-magnitude loading of each component is positive
    for c in range(k):
        if vt[c, np.argmax(np.abs(vt[c]))] < 0:
            ref[:, c] = -ref[:, c]
    err = np.abs(ref - got).max() / np.abs(ref).max()
    assert err < 1e-4, err
    print("ok", k, err)


M64 = (1 << 64) - 1


def splitmix64(z):
    z = (z + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def random_split(n, ratio, seed):
    """scfm::eval::random_split"""
    perm = list(range(n))
    state = splitmix64(seed ^ 0x5C0F5EED)
    for i in range(n - 1, 0, -1):
        state = splitmix64(state)
        j = state % (i + 1)
        perm[i], perm[j] = perm[j], perm[i]
    n_train = int(np.floor(ratio * n + 0.5))
    return np.array(perm[:n_train]), np.array(perm[n_train:])


def knn_ref(path, label_col, results_path, rep, hvg_path=None):
    import json
    res = json.load(open(results_path))
    ad = anndata.read_h5ad(path)
    labels = ad.obs[label_col]
    labelled = np.where(labels.notna().to_numpy())[0]
    y = labels.astype(str).to_numpy()[labelled]
    classes = sorted(set(y))
    if rep == "baseline_pca":
        X = ad.X.toarray().astype(np.float64) if sp.issparse(ad.X) else np.asarray(ad.X, dtype=np.float64)
        tot = X.sum(1, keepdims=True)
        tot[tot == 0] = 1
        X = np.log1p(X / tot * 1e4)
        if hvg_path:
            X = X[:, anndata.read_h5ad(hvg_path).var["highly_variable"].to_numpy()]
        X -= X.mean(0)
        u, s, _ = np.linalg.svd(X, full_matrices=False)
        Z = (u * s)[:, :50]
    else:
        Z = np.asarray(ad.obsm[rep], dtype=np.float64)
    Z = Z[labelled]
    got = res["representations"][rep]["knn"]["accuracy"]["per_trial"]
    ratio = res["protocol"]["train_ratio"]
    for trial, acc in enumerate(got):
        tr, te = random_split(len(y), ratio, trial)
        d = ((Z[te, None, :] - Z[None, tr, :]) ** 2).sum(-1)
        nn = np.argsort(d, axis=1, kind="stable")[:, :10]
        pred = []
        for row in nn:
            votes = [list(y[tr][row]).count(c) for c in classes]
            pred.append(classes[int(np.argmax(votes))])
        ref = float(np.mean(np.array(pred) == y[te]))
        assert abs(ref - acc) < 1e-12, (trial, ref, acc)
    print("ok", rep, got)


def keyed_permutation(n, seed, epoch):
    """scfm::tasks keyed_permutation (classify.cpp)"""
    p = list(range(n))
    state = splitmix64((splitmix64(seed ^ 0xC1A55B47C) + epoch) & M64)
    for i in range(n - 1, 0, -1):
        state = splitmix64(state)
        j = state % (i + 1)
        p[i], p[j] = p[j], p[i]
    return p


def probe_ref(data_path, n_classes, seed, epochs, batch, lr, losses_path):
    import torch
    n_classes, seed, epochs, batch, lr = int(n_classes), int(seed), int(epochs), int(batch), float(lr)
    data = np.loadtxt(data_path, ndmin=2)
    y = torch.tensor(data[:, 0].astype(np.int64))
    x = torch.tensor(data[:, 1:], dtype=torch.float32)
    n, d = x.shape
    torch.set_num_threads(1)
    lin = torch.nn.Linear(d, n_classes)
    g = torch.Generator()
    g.manual_seed(splitmix64(seed ^ 0x11AEA4))
    bound = 1.0 / np.sqrt(d)
    with torch.no_grad():
        lin.weight.uniform_(-bound, bound, generator=g)
        lin.bias.uniform_(-bound, bound, generator=g)
    opt = torch.optim.Adam(lin.parameters(), lr=lr)
    crit = torch.nn.CrossEntropyLoss()
    got = np.loadtxt(losses_path, ndmin=1)
    ref = []
    for epoch in range(1, epochs + 1):
        perm = keyed_permutation(n, seed, epoch)
        total, batches = 0.0, 0
        for b0 in range(0, n, batch):
            idx = torch.tensor(perm[b0:b0 + batch])
            loss = crit(lin(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
            batches += 1
        ref.append(total / batches)
    ref = np.array(ref)
    err = np.abs(ref - got).max()
    assert err < 1e-4 * max(1.0, np.abs(ref).max()), (err, ref[:5], got[:5])
    print("ok", len(ref), err)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "make":
        make(sys.argv[2])
    elif cmd == "check-obs":
        check_obs(sys.argv[2])
    elif cmd == "pca":
        pca(sys.argv[2], sys.argv[3])
    elif cmd == "knn-ref":
        knn_ref(*sys.argv[2:])
    elif cmd == "probe-ref":
        probe_ref(*sys.argv[2:])
    else:
        sys.exit("unknown command " + cmd)
