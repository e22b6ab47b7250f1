#!/usr/bin/env python3
"""Reference readings and fixtures for tests/io/tenx_test.cpp, made with the real clients
(scipy.io.mmread, h5py, anndata).

  tenx_reference.py mtx DIR [FEATURE_TYPE]     MEX folder -> JSON summary (cells x genes)
  tenx_reference.py h5 FILE [GENOME]           10x .h5 (v3 or legacy) -> JSON summary
  tenx_reference.py h5ad FILE                  .h5ad -> JSON summary of X
  tenx_reference.py write_v3 DIR OUT           MEX folder -> Cell Ranger 3 .h5 (fixed-length bytes)
  tenx_reference.py write_v2 DIR OUT G1 [G2..] MEX folder -> Cell Ranger 2 .h5, one group per genome
                                               (G1: every feature; later genomes: the first 50)
  tenx_reference.py shrink_features FILE N      keep the first N features of a v3 .h5, leaving the
                                               matrix (so indices point past them)
  tenx_reference.py plain_h5 OUT               an HDF5 file that is neither .h5ad nor 10x
  tenx_reference.py make_unique NAME...        anndata.utils.make_index_unique -> JSON list

A summary is {"shape": [cells, genes], "nnz", "cell_sums", "barcodes", "var_names", "gene_ids",
"feature_types"} after keeping only features of FEATURE_TYPE ("Gene Expression" by default, "" =
all), the way scanpy's readers do; var_names are made unique with anndata's make_index_unique
over all features first (scanpy's read_10x_mtx default).
"""
import gzip
import json
import os
import sys
import warnings

import numpy as np
import scipy.io
import scipy.sparse as sp


def open_text(path):
    return gzip.open(path, "rt") if path.endswith(".gz") else open(path)


def find(folder, name):
    for cand in (name + ".gz", name):
        p = os.path.join(folder, cand)
        if os.path.exists(p):
            return p
    return None


def read_mex(folder):
    m = scipy.io.mmread(find(folder, "matrix.mtx"))  # features x barcodes, COO
    feats = find(folder, "features.tsv") or find(folder, "genes.tsv")
    rows = [line.rstrip("\n").split("\t") for line in open_text(feats) if line.strip()]
    barcodes = [line.rstrip("\n").split("\t")[0] for line in open_text(find(folder, "barcodes.tsv")) if line.strip()]
    ids = [r[0] for r in rows]
    names = [r[1] for r in rows]
    types = [r[2] for r in rows] if len(rows[0]) > 2 else None
    return sp.csr_matrix(m.T), barcodes, ids, names, types


def make_unique(names):
    import anndata.utils
    import pandas as pd

    return anndata.utils.make_index_unique(pd.Index(names)).tolist()


def summary(x, barcodes, ids, names, types, feature_type="Gene Expression"):
    # var names as scanpy's read_10x_mtx gives them: made unique over all features, then filtered
    names = make_unique(names)
    x = sp.csr_matrix(x)
    x.sum_duplicates()
    if types is not None and feature_type:
        keep = np.array([t == feature_type for t in types])
        x = x[:, np.where(keep)[0]]
        ids = [v for v, k in zip(ids, keep) if k]
        names = [v for v, k in zip(names, keep) if k]
        types = [v for v, k in zip(types, keep) if k]
    x = sp.csr_matrix(x)
    x.eliminate_zeros()
    return {
        "shape": list(x.shape),
        "nnz": int(x.nnz),
        "cell_sums": [float(v) for v in np.asarray(x.sum(axis=1)).ravel()],
        "barcodes": list(barcodes),
        "var_names": list(names),
        "gene_ids": list(ids),
        "feature_types": list(types) if types is not None else None,
    }


def dec(a):
    return [v.decode() if isinstance(v, bytes) else str(v) for v in a[:]]


def read_h5(path, genome=None):
    import h5py

    with h5py.File(path, "r") as f:
        if "matrix" in f:
            g = f["matrix"]
            feats = g["features"]
            ids, names = dec(feats["id"]), dec(feats["name"])
            types = dec(feats["feature_type"]) if "feature_type" in feats else None
        else:
            groups = list(f.keys())
            g = f[genome or groups[0]]
            ids, names, types = dec(g["genes"]), dec(g["gene_names"]), None
        n_features, n_barcodes = (int(v) for v in g["shape"][:])
        # CSC with barcodes as columns == CSR of barcodes x features
        x = sp.csr_matrix((g["data"][:].astype(np.float64), g["indices"][:], g["indptr"][:]),
                          shape=(n_barcodes, n_features))
        return x, dec(g["barcodes"]), ids, names, types


def write_v3(folder, out):
    import h5py

    x, barcodes, ids, names, types = read_mex(folder)
    csc = sp.csc_matrix(x.T)  # features x barcodes, columns = barcodes (Cell Ranger's layout)
    csc.sort_indices()
    types = types or ["Gene Expression"] * len(ids)
    with h5py.File(out, "w") as f:
        f.attrs["filetype"] = "matrix"
        f.attrs["version"] = 2
        f.attrs["software_version"] = "cellranger-3.0.2"
        g = f.create_group("matrix")
        g.create_dataset("barcodes", data=np.array(barcodes, dtype="S"))
        g.create_dataset("data", data=csc.data.astype(np.int32), compression="gzip")
        g.create_dataset("indices", data=csc.indices.astype(np.int64), compression="gzip")
        g.create_dataset("indptr", data=csc.indptr.astype(np.int64))
        g.create_dataset("shape", data=np.array(csc.shape, dtype=np.int32))
        fg = g.create_group("features")
        fg.create_dataset("_all_tag_keys", data=np.array(["genome"], dtype="S"))
        fg.create_dataset("feature_type", data=np.array(types, dtype="S"))
        fg.create_dataset("genome", data=np.array(["GRCh38"] * len(ids), dtype="S"))
        fg.create_dataset("id", data=np.array(ids, dtype="S"))
        fg.create_dataset("name", data=np.array(names, dtype="S"))


def write_v2(folder, out, genomes):
    import h5py

    x, barcodes, ids, names, _ = read_mex(folder)
    with h5py.File(out, "w") as f:
        for k, genome in enumerate(genomes):
            n = len(ids) if k == 0 else min(50, len(ids))
            csc = sp.csc_matrix(x[:, :n].T)
            csc.sort_indices()
            g = f.create_group(genome)
            g.create_dataset("barcodes", data=np.array(barcodes, dtype="S"))
            g.create_dataset("data", data=csc.data.astype(np.int32))
            g.create_dataset("indices", data=csc.indices.astype(np.int64))
            g.create_dataset("indptr", data=csc.indptr.astype(np.int64))
            g.create_dataset("shape", data=np.array(csc.shape, dtype=np.int32))
            g.create_dataset("genes", data=np.array(ids[:n], dtype="S"))
            g.create_dataset("gene_names", data=np.array(names[:n], dtype="S"))


def main():
    warnings.simplefilter("ignore")  # anndata warns about "-1" suffixes; stdout carries the JSON
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "mtx":
        ft = args[1] if len(args) > 1 else "Gene Expression"
        print(json.dumps(summary(*read_mex(args[0]), feature_type=ft)))
    elif cmd == "h5":
        print(json.dumps(summary(*read_h5(args[0], args[1] if len(args) > 1 else None))))
    elif cmd == "h5ad":
        import anndata

        a = anndata.read_h5ad(args[0])
        print(json.dumps(summary(a.X, a.obs_names.tolist(), a.var_names.tolist(), a.var_names.tolist(), None)))
    elif cmd == "write_v3":
        write_v3(args[0], args[1])
    elif cmd == "write_v2":
        write_v2(args[0], args[1], args[2:])
    elif cmd == "shrink_features":
        import h5py

        n = int(args[1])
        with h5py.File(args[0], "r+") as f:
            g = f["matrix"]
            shape = g["shape"][:]
            del g["shape"]
            g["shape"] = np.array([n, shape[1]], dtype=np.int32)
            for k in ("id", "name", "feature_type", "genome"):
                v = g["features"][k][:n]
                del g["features"][k]
                g["features"].create_dataset(k, data=v)
    elif cmd == "plain_h5":
        import h5py

        with h5py.File(args[0], "w") as f:
            f.create_group("results").create_dataset("values", data=np.arange(3))
    elif cmd == "make_unique":
        print(json.dumps(make_unique(args)))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
