"""scanpy 1.9's sc.tl.score_genes, step for step on numpy and pandas (scanpy itself is not in
Debian): the reference tests/eval/gene_programs_test.cpp compares eval::score_genes with.

usage: score_genes_reference.py IN.json OUT.json
IN: {"dense": cells x genes, "sets": [[column, ...], ...], "ctrl_size": 50, "n_bins": 25, "seed": 0}
OUT: {"scores": [[per cell] per set], "control": [[columns] per set]}
"""
import json
import sys

import numpy as np
import pandas as pd


def score_genes(x, gene_list, ctrl_size, n_bins, random_state):
    # scanpy/tools/_score_genes.py (1.9): seed, obs_avg, rank bins, shuffle per bin, controls
    np.random.seed(random_state)
    var_names = [f"g{j}" for j in range(x.shape[1])]
    gene_list = set(var_names[j] for j in gene_list)
    gene_pool = list(var_names)
    obs_avg = pd.Series(np.nanmean(x, axis=0), index=gene_pool)
    obs_avg = obs_avg[np.isfinite(obs_avg)]
    n_items = int(np.round(len(obs_avg) / (n_bins - 1)))
    obs_cut = obs_avg.rank(method="min") // n_items
    control_genes = set()
    for cut in np.unique(obs_cut.loc[list(gene_list)]):
        r_genes = np.array(obs_cut[obs_cut == cut].index)
        np.random.shuffle(r_genes)
        control_genes.update(set(r_genes[:ctrl_size]))
    control_genes = list(control_genes - gene_list)
    gene_list = list(gene_list)
    col = {g: j for j, g in enumerate(var_names)}
    x_list = np.nanmean(x[:, [col[g] for g in gene_list]], axis=1, dtype="float64")
    x_control = np.nanmean(x[:, [col[g] for g in control_genes]], axis=1, dtype="float64")
    return x_list - x_control, sorted(col[g] for g in control_genes)


def main():
    spec = json.load(open(sys.argv[1]))
    x = np.asarray(spec["dense"], dtype=np.float32)
    scores, controls = [], []
    for s in spec["sets"]:
        v, c = score_genes(x, s, spec["ctrl_size"], spec["n_bins"], spec["seed"])
        scores.append([float(t) for t in v])
        controls.append(c)
    json.dump({"scores": scores, "control": controls}, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
