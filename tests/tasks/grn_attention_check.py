"""Reads scfm grn attention's output with numpy/pandas and checks edges.csv and diff_edges.csv
against the matrices: each source's top-k targets are the largest entries of its column (itself
left out), the difference is A[a] - A[b]. usage: grn_attention_check.py OUT_DIR"""
import json
import sys

import numpy as np
import pandas as pd

out = sys.argv[1]
a = np.load(out + "/attention.npy")
r = json.load(open(out + "/results.json"))
genes = pd.read_csv(out + "/genes.csv")["gene"].astype(str).tolist()
groups = [g["name"] for g in r["groups"]]
assert a.dtype == np.float32 and a.shape == (len(groups), len(genes), len(genes)), (a.dtype, a.shape)
k = r["settings"]["top_k"]
index = {g: i for i, g in enumerate(genes)}


def check(edges, m, score_col):
    for src, part in edges.groupby("source", sort=False):
        j = index[str(src)]
        col = m[:, j].astype(np.float64).copy()
        col[j] = -np.inf
        want = np.argsort(-col, kind="stable")[:k]
        got = [index[str(t)] for t in part.sort_values("rank")["target"]]
        assert got == want.tolist(), (src, got, want)
        assert np.allclose(part.sort_values("rank")[score_col].to_numpy(), col[want], atol=1e-5), src


e = pd.read_csv(out + "/edges.csv")
for gi, g in enumerate(groups):
    part = e[e["group"].astype(str) == g]
    assert len(part) == len(genes) * min(k, len(genes) - 1), (g, len(part))
    check(part, a[gi], "score")
if "difference" in r:
    d = r["difference"]
    ia, ib = groups.index(d["a"]), groups.index(d["b"])
    de = pd.read_csv(out + "/diff_edges.csv")
    check(de, a[ia].astype(np.float64) - a[ib], "difference")
    for _, row in de.iterrows():
        i, j = index[str(row["target"])], index[str(row["source"])]
        assert abs(row["score_a"] - a[ia, i, j]) < 1e-5 and abs(row["score_b"] - a[ib, i, j]) < 1e-5, row
print("ok", a.shape)
