"""Reads scfm grn programs' --write-h5ad output with anndata: the scores, their names, and the mean
score per obs['groups'] (pandas groupby). usage: grn_check.py SCORED.h5ad OUT.json"""
import json
import sys

import anndata
import numpy as np
import pandas as pd

a = anndata.read_h5ad(sys.argv[1])
s = np.asarray(a.obsm["X_grn_programs"], dtype=np.float64)
names = [str(n) for n in a.uns["scfm_grn_programs"]["names"]]
means = pd.DataFrame(s, index=a.obs_names).groupby(a.obs["groups"].astype(str).values).mean()
json.dump({"shape": list(s.shape), "names": names, "scores": s.tolist(),
           "group_means": {g: means.loc[g].tolist() for g in means.index}}, open(sys.argv[2], "w"))
