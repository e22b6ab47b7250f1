#!/usr/bin/env python3
"""The real client's side of tests/tasks/perturb_test.cpp (python3-anndata, numpy, torch).

usage: perturb_check.py write-gears OUT.h5ad [bad]   GEARS's layout: obs condition/cell_type, var gene_name, counts
                                                      bad = syntax | missing-gene | no-ctrl: one defect
       perturb_check.py check-prepared IN.h5ad PREP.h5ad
       perturb_check.py write-additive OUT.h5ad      log values whose condition means add exactly
       perturb_check.py check-additive PREP.h5ad RESULTS_DIR
       perturb_check.py torch-keys MODEL.pt          pert_encoder and AffineExprDecoder keys load in torch
       perturb_check.py singles H5AD                 JSON: cells and sorted conditions that are control or single
"""
import json
import sys

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp


def write_gears(out, bad=None):
    rng = np.random.default_rng(0)
    genes = [f"G{i}" for i in range(12)]
    conds = ["ctrl"] * 40
    for i in range(6):
        conds += [f"G{i}+ctrl"] * 15
    conds += ["G0+G1"] * 15 + ["G2+G3"] * 15 + ["ctrl+G4"] * 10 + ["G4+G5"] * 12
    if bad == "syntax":
        conds[-1] = "G4+G5+G6"
    elif bad == "missing-gene":
        conds[-1] = "NOTAGENE+ctrl"
    elif bad == "no-ctrl":
        conds = ["G0+ctrl" if c == "ctrl" else c for c in conds]
    n = len(conds)
    mean = rng.uniform(2, 20, size=len(genes))
    x = np.zeros((n, len(genes)))
    for r, c in enumerate(conds):
        m = mean.copy()
        for g in c.split("+"):
            if g.startswith("G"):
                m[int(g[1:])] *= 0.1
        x[r] = rng.poisson(m)
    obs = pd.DataFrame({"condition": pd.Categorical(conds), "cell_type": pd.Categorical(["K562"] * n)},
                       index=[f"cell{i}" for i in range(n)])
    var = pd.DataFrame({"gene_name": genes}, index=[f"ENSG{i:011d}" for i in range(len(genes))])
    ad.AnnData(X=sp.csr_matrix(x.astype(np.float32)), obs=obs, var=var).write_h5ad(out)


def check_prepared(inp, prep):
    a, p = ad.read_h5ad(inp), ad.read_h5ad(prep)
    assert list(p.obs_names) == list(a.obs_names)
    assert list(p.obs["condition"]) == list(a.obs["condition"])
    assert set(p.obs["split"].unique()) <= {"train", "val", "test"}, p.obs["split"].unique()
    # a condition's cells share one split; control is in train
    assert (p.obs.groupby("condition", observed=True)["split"].nunique() == 1).all()
    assert set(p.obs.loc[p.obs["condition"] == "ctrl", "split"]) == {"train"}
    assert "gene_name" in p.var.columns
    # X = log1p(normalize_total(1e4)) of the counts, on the kept genes
    x = a.X.toarray().astype(np.float64)
    ln = np.log1p(x / x.sum(1, keepdims=True) * 1e4)
    cols = [list(a.var["gene_name"]).index(g) for g in p.var["gene_name"]]
    assert np.allclose(p.X.toarray(), ln[:, cols], atol=1e-5), np.abs(p.X.toarray() - ln[:, cols]).max()
    de = p.uns["rank_genes_groups_cov_all"]
    perts = sorted(c for c in a.obs["condition"].unique() if c != "ctrl")
    assert sorted(de.keys()) == perts, (sorted(de.keys()), perts)
    for c in perts:
        assert sorted(de[c]) == sorted(p.var["gene_name"]), c  # every gene ranked
        assert len(p.uns["top_non_dropout_de_20"][c]) <= 20
    # the knocked-down gene ranks first for its single perturbation
    for c in perts:
        if "ctrl" in c:
            g = [t for t in c.split("+") if t != "ctrl"][0]
            assert de[c][0] == g, (c, list(de[c][:3]))
    meta = json.loads(str(p.uns["scfm_perturb"]))
    assert set(meta["split"]) >= {"train", "val", "test", "subgroups"}
    print("ok")


def profiles():
    genes = 14
    rng = np.random.default_rng(1)
    ctrl = rng.uniform(1, 3, size=genes)
    eff = {i: np.zeros(genes) for i in range(10)}
    for i in range(10):
        eff[i][rng.choice(genes, 4, replace=False)] = rng.normal(0, 0.8, size=4)
    return genes, ctrl, eff


def write_additive(out):
    genes, ctrl, eff = profiles()
    conds, rows = [], []
    combos = [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (0, 2), (1, 3)]
    groups = [("ctrl", ctrl)] + [(f"G{i}+ctrl", ctrl + eff[i]) for i in range(10)]
    groups += [(f"G{a}+G{b}", ctrl + eff[a] + eff[b]) for a, b in combos]
    noise = np.random.default_rng(2).uniform(0.05, 0.2, size=genes)
    for name, m in groups:
        for k in range(8):  # +noise, -noise alternating: the mean is exact
            conds.append(name)
            rows.append(m + (noise if k % 2 == 0 else -noise) * (1 + k // 2) * 0.25)
    x = np.asarray(rows, dtype=np.float64) + 0.123456  # not counts: taken as log values
    obs = pd.DataFrame({"condition": pd.Categorical(conds)}, index=[f"c{i}" for i in range(len(conds))])
    var = pd.DataFrame({"gene_name": [f"G{i}" for i in range(genes)]}, index=[f"G{i}" for i in range(genes)])
    ad.AnnData(X=sp.csr_matrix(x.astype(np.float32)), obs=obs, var=var).write_h5ad(out)


def check_additive(prep, results_dir):
    p = ad.read_h5ad(prep)
    r = json.load(open(results_dir + "/results.json"))
    pred = ad.read_h5ad(results_dir + "/predictions.h5ad")
    meta = json.loads(str(p.uns["scfm_perturb"]))
    train = [c for c in meta["split"]["train"] if c != "ctrl"]
    x = p.X.toarray().astype(np.float64)
    mean_of = {c: x[(p.obs["condition"] == c).values].mean(0) for c in p.obs["condition"].unique()}
    ctrl = mean_of["ctrl"]
    exact = 0
    for c in r["conditions"]:
        m = r["methods"]
        assert m["no-change"]["per_condition"][c]["pearson_delta"] == 0.0
        row = list(pred.obs_names).index(c)
        assert np.allclose(pred.layers["no-change"][row], ctrl, atol=1e-5)
        assert np.allclose(pred.layers["mean"][row], np.mean([mean_of[t] for t in train], 0), atol=1e-5)
        assert np.allclose(pred.X[row], mean_of[c], atol=1e-5)
        a, b = c.split("+")
        if a + "+ctrl" in train and b + "+ctrl" in train:
            exact += 1
            assert m["additive"]["per_condition"][c]["mse"] < 1e-10, m["additive"]["per_condition"][c]
            assert m["additive"]["per_condition"][c]["pearson_delta"] > 0.999999
    assert exact >= 3, exact
    print("ok", exact)


def torch_keys(pt):
    import torch
    sd = torch.load(pt, map_location="cpu")
    assert tuple(sd["pert_encoder.weight"].shape)[0] == 3
    assert torch.all(sd["pert_encoder.weight"][2] == 0)  # padding_idx 2 stays zero
    for k in ("decoder.coeff_decoder.fc.0.weight", "decoder.bias_decoder.fc.4.weight", "encoder.embedding.weight",
              "transformer_encoder.layers.0.self_attn.in_proj_weight", "cls_decoder.out_layer.weight"):
        assert k in sd, k
    assert not any(k.startswith("decoder.fc.") for k in sd)
    print("ok", len(sd))


def singles(path):
    a = ad.read_h5ad(path)
    keep = [c for c in a.obs["condition"] if c == "ctrl" or "ctrl" in c.split("+")]
    print(json.dumps({"cells": len(keep), "classes": sorted(set(keep))}))


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "write-gears":
        write_gears(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    elif mode == "check-prepared":
        check_prepared(sys.argv[2], sys.argv[3])
    elif mode == "write-additive":
        write_additive(sys.argv[2])
    elif mode == "check-additive":
        check_additive(sys.argv[2], sys.argv[3])
    elif mode == "singles":
        singles(sys.argv[2])
    elif mode == "torch-keys":
        torch_keys(sys.argv[2])
    else:
        sys.exit("unknown mode " + mode)
