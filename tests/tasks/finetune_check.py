# Reads what `scfm finetune-annotate` wrote with the real clients: anndata for the annotated
# .h5ad, torch.load(weights_only=True) for the checkpoint folder.
import json
import sys

import anndata
import numpy as np
import torch

out, n_classes, width = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = json.load(open(out + "/results.json"))
a = anndata.read_h5ad(out + "/annotated.h5ad")
for col in ("scfm_pred", "scfm_pred_prob", "scfm_split"):
    assert col in a.obs.columns, (col, list(a.obs.columns))
p = a.obsm["scfm_pred_probs"]
assert p.shape == (a.n_obs, n_classes), p.shape
assert np.allclose(p.sum(1), 1, atol=1e-4)
classes = list(a.uns["scfm_finetune"]["classes"])
assert classes == r["classes"], (classes, r["classes"])
# the predicted label is the arg-max class, its probability the max
assert all(classes[i] == l for i, l in zip(p.argmax(1), a.obs["scfm_pred"].astype(str)))
assert np.allclose(p.max(1), a.obs["scfm_pred_prob"].values)
split = a.obs["scfm_split"].astype(str)
assert (split == "test").sum() == r["test"]["n"], ((split == "test").sum(), r["test"]["n"])
assert (split == "train").sum() == r["n_train"] and (split == "valid").sum() == r["n_valid"]
# accuracy recomputed from the file on the test cells
t = split == "test"
acc = float((a.obs["scfm_pred"].astype(str)[t] == a.obs["cell_type"].astype(str)[t]).mean())
assert abs(acc - r["test"]["accuracy"]) < 1e-9, (acc, r["test"]["accuracy"])
head = torch.load(out + "/model/cls_head.pt", weights_only=True)
assert tuple(head["cls_decoder.out_layer.weight"].shape) == (n_classes, width), head.keys()
assert "cls_decoder._decoder.0.weight" in head and "cls_decoder._decoder.2.weight" in head
body = torch.load(out + "/model/best_model.pt", weights_only=True)
assert not any(k.startswith("cls_decoder.") for k in body)  # scBenchmark models keep the head apart
args = json.load(open(out + "/model/args.json"))
assert args["n_cls"] == n_classes and args["cls_classes"] == classes
print("ok", acc)
