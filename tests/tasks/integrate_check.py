#!/usr/bin/env python3
"""Helpers for tests/tasks/integrate_test.cpp, with python3-anndata and python3-torch as the real
clients.

usage: integrate_check.py make-fixture-cells OUT.h5ad       cells on the scGPT fixture's genes, 2 batches
       integrate_check.py read OUT.h5ad MODEL_DIR             the embedding and the checkpoint, summarised
"""
import json
import sys

import numpy as np


def make_cells(out):
    import anndata as ad
    import pandas as pd
    rng = np.random.default_rng(0)
    n, g = 120, 40
    x = rng.poisson(rng.gamma(2.0, 1.0, (n, g))).astype(np.float32)
    obs = pd.DataFrame({"batch": pd.Categorical(["b0" if i < 60 else "b1" for i in range(n)]),
                        "cell_type": pd.Categorical([f"t{i % 3}" for i in range(n)])},
                       index=[f"c{i}" for i in range(n)])
    a = ad.AnnData(X=x, obs=obs, var=pd.DataFrame(index=[f"GENE{j}" for j in range(g)]))
    a.write_h5ad(out)


def read(path, model_dir):
    import anndata as ad
    import torch
    a = ad.read_h5ad(path)
    e = np.asarray(a.obsm["X_scfm_integrated"])
    norms = np.linalg.norm(e, axis=1)
    sd = torch.load(f"{model_dir}/best_model.pt", map_location="cpu")
    args = json.load(open(f"{model_dir}/args.json"))
    print(json.dumps({
        "n": int(e.shape[0]), "dim": int(e.shape[1]), "unit_norm": bool(np.allclose(norms, 1, atol=1e-5)),
        "zero_shot": "X_scfm" in a.obsm, "has_dsbn": any(k.startswith("dsbn.bns.") for k in sd),
        "n_dsbn": len({k.split(".")[2] for k in sd if k.startswith("dsbn.bns.")}),
        "has_dab": any(k.startswith("grad_reverse_discriminator.") for k in sd),
        "has_batch_encoder": "batch_encoder.embedding.weight" in sd,
        "do_dab": args.get("do_dab"), "explicit_zero_prob": args.get("explicit_zero_prob"),
        "use_batch_labels": args.get("use_batch_labels")}))


def main():
    if sys.argv[1] == "make-fixture-cells":
        make_cells(sys.argv[2])
    else:
        read(sys.argv[2], sys.argv[3])


if __name__ == "__main__":
    main()
