#!/usr/bin/python3
"""Python baselines for bench/io: anndata.read_h5ad in full, and backed='r' row slices.

io_baseline.py FILE BLOCK  -> one JSON line
"""
import json
import os
import resource
import sys
import time

import anndata as ad

path, block = sys.argv[1], int(sys.argv[2])
mb = os.path.getsize(path) / 1e6
out = {"file_MB": round(mb, 1)}

t = time.perf_counter()
a = ad.read_h5ad(path)
n = a.n_obs
nnz = a.X.nnz
full = time.perf_counter() - t
out.update(full_seconds=round(full, 4), full_cells_per_s=round(n / full, 1), full_MB_per_s=round(mb / full, 1), nnz=int(nnz))
del a
out["full_peak_rss_MB"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)

t = time.perf_counter()
b = ad.read_h5ad(path, backed="r")
seen = 0
for s in range(0, n, block):
    x = b.X[s:s + block]
    seen += x.nnz
backed = time.perf_counter() - t
assert seen == nnz
out.update(backed_seconds=round(backed, 4), backed_cells_per_s=round(n / backed, 1), backed_MB_per_s=round(mb / backed, 1))
print(json.dumps(out))
