"""Checks of `scfm incremental` outputs with python3-torch (the real client of the checkpoints).

rows RUN METHOD: per stage s and gene set k <= s, whether the gene-embedding rows of set k's genes
    after stage s equal those after stage k (bitwise) -> JSON {"s,k": bool}; also whether the
    rows of the newest set changed in each stage ("new s": bool).
equal A B: whether every model-stage*.pt under A equals the one under B (bitwise, same keys) -> JSON
"""
import glob
import json
import os
import sys

import torch


def load(path):
    return torch.load(path, weights_only=True)


def emb(sd):
    for k in ("embedding.weight", "encoder.embedding.weight"):
        if k in sd:
            return sd[k]
    raise SystemExit("no embedding table")


def rows(run, method):
    split = json.load(open(os.path.join(run, "stages.json")))
    vocab = json.load(open(os.path.join(run, "incremental", "stage0", "vocab.json")))
    sets = [[vocab[g] for g in st["added"]] for st in split["stages"]]
    def path(s):  # the naive baseline shares the incremental run's stage 0
        p = os.path.join(run, method, f"model-stage{s}.pt")
        return p if os.path.exists(p) or s > 0 else os.path.join(run, "incremental", "model-stage0.pt")
    w = [emb(load(path(s))) for s in range(len(sets))]
    out = {}
    for s in range(len(sets)):
        for k in range(s + 1):
            idx = torch.tensor(sets[k], dtype=torch.long)
            out[f"{s},{k}"] = bool(torch.equal(w[s][idx], w[k][idx]))
        if s > 0:
            idx = torch.tensor(sets[s], dtype=torch.long)
            out[f"new {s}"] = not bool(torch.equal(w[s][idx], w[s - 1][idx]))
    return out


def equal(a, b):
    fa = sorted(os.path.relpath(p, a) for p in glob.glob(os.path.join(a, "*", "model-stage*.pt")))
    fb = sorted(os.path.relpath(p, b) for p in glob.glob(os.path.join(b, "*", "model-stage*.pt")))
    res = {"files": fa, "same_files": fa == fb, "equal": True}
    for f in fa:
        x, y = load(os.path.join(a, f)), load(os.path.join(b, f))
        if list(x) != list(y) or any(not torch.equal(x[k], y[k]) for k in x):
            res["equal"] = False
            res.setdefault("differ", []).append(f)
    return res


if __name__ == "__main__":
    mode = sys.argv[1]
    print(json.dumps(rows(*sys.argv[2:4]) if mode == "rows" else equal(*sys.argv[2:4])))
