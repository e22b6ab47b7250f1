#!/usr/bin/env python3
"""The demo's last step: the same work from Python (`import scfm`, docs/python.md) on an AnnData in
memory, checked against what the command line wrote.

usage: demo_python.py OUT    (OUT: the demo's output folder, with run/ and pbmc3k_embedded.h5ad)
"""
import json
import sys
import time

import anndata as ad
import numpy as np

import scfm


def main():
    out = sys.argv[1]
    adata = ad.read_h5ad("data/pbmc3k.h5ad")
    t = time.perf_counter()
    info = scfm.embed(adata, f"{out}/run", max_length=385)
    secs = time.perf_counter() - t
    cli = ad.read_h5ad(f"{out}/pbmc3k_embedded.h5ad").obsm["X_scfm"]
    # bitwise equal at the same thread count and OpenBLAS kernels (the command line may have
    # re-executed itself onto faster kernels than this Python process loaded: docs/python.md)
    diff = float(np.abs(adata.obsm["X_scfm"] - cli).max())
    print(f"scfm.embed: {adata.n_obs} cells x {info['width']} in {secs:.2f} s on {scfm.num_threads()} threads; "
          + ("bitwise equal to scfm embed's obsm['X_scfm']" if diff == 0 else
             f"max |difference| from scfm embed's obsm['X_scfm']: {diff:.3g} (other BLAS kernels or threads)"))
    res = scfm.classify(adata, label_col="cell_type", trials=5)
    with open(f"{out}/classify_pbmc3k/results.json") as f:
        want = json.load(f)
    for rep in ("X_scfm", "baseline_pca"):
        got = res["representations"][rep]["knn"]["accuracy"]["mean"]
        cli_acc = want["representations"][rep]["knn"]["accuracy"]["mean"]
        print(f"scfm.classify: {rep} kNN accuracy {got:.3f} (scfm classify: {cli_acc:.3f})")
    scfm.pp.normalize_total(adata, target_sum=1e4)
    scfm.pp.log1p(adata)
    scfm.pp.highly_variable_genes(adata, n_top_genes=2000)
    print(f"scfm.pp: normalize_total, log1p, {int(adata.var['highly_variable'].sum())} highly variable genes in var")
    if diff > 1e-3:
        sys.exit(f"demo_python: the Python embedding differs from the command line's by {diff}")


if __name__ == "__main__":
    main()
