#!/usr/bin/python3
"""The real clients' side of the h5ad tests: anndata and h5py write the cases, and dump what they read.

  h5ad_client.py make OUTDIR        writes one .h5ad per encoding case into OUTDIR, lists them in OUTDIR/cases.json
  h5ad_client.py dump FILE          prints what anndata.read_h5ad sees, as JSON (values, dtypes, encodings)
  h5ad_client.py compare A B        exit 0 when anndata sees the same values and dtypes in both files
  h5ad_client.py tile IN OUT N      writes a CSR .h5ad with N cells by repeating IN's cells (for benchmarks)
"""
import collections.abc
import json
import math
import os
import sys

import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp
import anndata as ad


def jsonable(v):
    if isinstance(v, (np.floating, float)):
        v = float(v)
        return None if math.isnan(v) else v
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if isinstance(v, bytes):
        return v.decode()
    return v


def enc_array(a):
    a = np.asarray(a)
    return {"dtype": str(a.dtype), "shape": list(a.shape), "values": [jsonable(x) for x in a.ravel().tolist()]}


def enc_matrix(m):
    if sp.issparse(m):
        return {"format": m.format, "dtype": str(m.dtype), "shape": list(m.shape),
                "indptr_dtype": str(m.indptr.dtype), "dense": enc_array(m.toarray())["values"]}
    m = np.asarray(m)
    return {"format": "dense", "dtype": str(m.dtype), "shape": list(m.shape), "dense": enc_array(m)["values"]}


def enc_series(s):
    dt = str(s.dtype)
    if dt == "category":
        vals = [None if pd.isna(x) else jsonable(x) for x in s.tolist()]
        return {"dtype": "category", "ordered": bool(s.cat.ordered),
                "categories": [jsonable(c) for c in s.cat.categories.tolist()], "values": vals}
    vals = [None if (x is pd.NA or (isinstance(x, float) and math.isnan(x))) else jsonable(x) for x in s.tolist()]
    return {"dtype": dt, "values": vals}


def enc_frame(df):
    return {"index": [str(x) for x in df.index.tolist()],
            "columns": {c: enc_series(df[c]) for c in df.columns}, "order": list(df.columns)}


def enc_uns(v):
    if isinstance(v, collections.abc.Mapping):
        return {"dict": {k: enc_uns(x) for k, x in v.items()}}
    if isinstance(v, str):
        return {"str": v}
    if isinstance(v, np.ndarray):
        if v.dtype.names is not None:
            return {"recarray": [list(map(lambda x: str(x), r)) for r in v.tolist()]}
        if v.dtype == object:
            return {"strings": [str(x) for x in v.ravel().tolist()], "shape": list(v.shape)}
        return {"array": enc_array(v)}
    if isinstance(v, pd.DataFrame):
        return {"frame": enc_frame(v)}
    if sp.issparse(v):
        return {"matrix": enc_matrix(v)}
    return {"scalar": jsonable(v), "type": type(v).__name__}


def dump(path):
    a = ad.read_h5ad(path)
    out = {"n_obs": a.n_obs, "n_vars": a.n_vars, "obs": enc_frame(a.obs), "var": enc_frame(a.var),
           "X": None if a.X is None else enc_matrix(a.X),
           "layers": {k: enc_matrix(v) for k, v in a.layers.items()},
           "obsm": {k: (enc_frame(v) if isinstance(v, pd.DataFrame) else enc_matrix(v)) for k, v in a.obsm.items()},
           "varm": {k: (enc_frame(v) if isinstance(v, pd.DataFrame) else enc_matrix(v)) for k, v in a.varm.items()},
           "obsp": {k: enc_matrix(v) for k, v in a.obsp.items()},
           "varp": {k: enc_matrix(v) for k, v in a.varp.items()},
           "uns": enc_uns(dict(a.uns)),
           "raw": None if a.raw is None else {"X": enc_matrix(a.raw.X), "var": enc_frame(a.raw.var)}}
    return out


def base(n_obs=7, n_vars=5, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    dense = rng.poisson(0.8, size=(n_obs, n_vars)).astype(dtype)
    obs = pd.DataFrame(index=[f"cell{i}" for i in range(n_obs)])
    var = pd.DataFrame(index=[f"GENE{j}" for j in range(n_vars)])
    return dense, obs, var, rng


def make(outdir):
    os.makedirs(outdir, exist_ok=True)
    cases = []

    def save(name, adata, **kw):
        p = os.path.join(outdir, name + ".h5ad")
        adata.write_h5ad(p, **kw)
        cases.append(name)

    dense, obs, var, rng = base()
    save("csr_f32", ad.AnnData(sp.csr_matrix(dense), obs=obs.copy(), var=var.copy()))
    save("csc_f32", ad.AnnData(sp.csc_matrix(dense), obs=obs.copy(), var=var.copy()))
    save("dense_f32", ad.AnnData(dense.copy(), obs=obs.copy(), var=var.copy()))
    save("csr_f64", ad.AnnData(sp.csr_matrix(dense.astype(np.float64) + 0.25 * (dense > 0)), obs=obs.copy(), var=var.copy()))
    save("dense_i32", ad.AnnData(dense.astype(np.int32), obs=obs.copy(), var=var.copy(), dtype=np.int32))
    save("csr_i64", ad.AnnData(sp.csr_matrix(dense.astype(np.int64)), obs=obs.copy(), var=var.copy(), dtype=np.int64))
    save("csr_u16", ad.AnnData(sp.csr_matrix(dense.astype(np.uint16)), obs=obs.copy(), var=var.copy(), dtype=np.uint16))
    m = sp.csr_matrix(dense)
    m.indptr = m.indptr.astype(np.int64)
    m.indices = m.indices.astype(np.int64)
    save("csr_int64_indptr", ad.AnnData(m, obs=obs.copy(), var=var.copy()))

    # obs/var columns of every kind anndata 0.8 writes, layers, obsm/varm, obsp, uns
    o = obs.copy()
    o["cell_type"] = pd.Categorical(["B", "T", "T", None, "NK", "B", "T"])
    o["stage"] = pd.Categorical(["lo", "hi", "mid", "lo", "hi", "mid", "lo"], categories=["lo", "mid", "hi"], ordered=True)
    o["n_counts"] = dense.sum(1).astype(np.float64)
    o["n_genes"] = (dense > 0).sum(1).astype(np.int64)
    o["is_doublet"] = np.array([True, False, False, True, False, False, True])
    o["barcode"] = [f"AC{i}GT" for i in range(7)]
    o["score8"] = np.arange(7, dtype=np.uint8)
    o["small"] = np.arange(7, dtype=np.int16)
    o["f32"] = np.linspace(0, 1, 7, dtype=np.float32)
    v = var.copy()
    v["gene_ids"] = [f"ENSG{j:05d}" for j in range(5)]
    v["highly_variable"] = np.array([True, False, True, False, False])
    v["feature_types"] = pd.Categorical(["Gene Expression"] * 5)
    full = ad.AnnData(sp.csr_matrix(dense), obs=o, var=v)
    full.layers["counts"] = sp.csr_matrix(dense)
    full.layers["dense"] = dense * 2
    full.obsm["X_pca"] = rng.normal(size=(7, 3)).astype(np.float32)
    full.obsm["X_umap"] = rng.normal(size=(7, 2))
    full.varm["PCs"] = rng.normal(size=(5, 3))
    full.obsp["distances"] = sp.csr_matrix(np.triu(rng.random((7, 7)) > 0.6).astype(np.float64))
    full.uns["title"] = "an experiment"
    full.uns["neighbors"] = {"params": {"n_neighbors": 15, "method": "umap", "metric": "euclidean"},
                             "connectivities_key": "connectivities"}
    full.uns["colors"] = np.array(["#ff0000", "#00ff00"], dtype=object)
    full.uns["vec"] = np.array([1.5, 2.5, 3.5])
    full.uns["count"] = 42
    full.uns["ratio"] = 0.5
    full.raw = full.copy()
    save("full", full)
    save("full_gzip", full, compression="gzip")
    save("lzf", ad.AnnData(sp.csr_matrix(dense), obs=obs.copy(), var=var.copy()), compression="lzf")
    # obs of every kind anndata 0.8 writes for a column, over 53 cells (several read blocks)
    n = 53
    k = np.random.default_rng(5)
    ko = pd.DataFrame(index=[f"AAAC{i:04d}-1" for i in range(n)])
    labels = np.array(["B", "T", "NK", "Mono"], dtype=object)[k.integers(0, 4, n)]
    labels[[3, 10, 11, 40, 52]] = None
    ko["cell_type"] = pd.Categorical(labels)  # NA -> code -1
    ko["batch"] = pd.Categorical(k.integers(1, 4, n))  # integer categories
    ko["sample"] = [f"s{i}-\u00fc" for i in range(n)]  # unique strings stay a string-array
    ko["n_genes"] = k.integers(-5, 10**12, n)
    score = k.normal(size=n) * 10.0 ** k.integers(-20, 20, n)
    score[[0, 7, 8]] = [np.nan, 0.1, 123456.789]
    ko["score"] = score
    ko["f32"] = k.normal(size=n).astype(np.float32)
    ko["is_doublet"] = k.random(n) < 0.3
    ko["u8"] = k.integers(0, 255, n).astype(np.uint8)
    save("obs_kinds", ad.AnnData(sp.csr_matrix(k.poisson(0.8, size=(n, 5)).astype(np.float32)), obs=ko, var=var.copy()))
    # X missing: the matrix lives in a layer only
    nox = ad.AnnData(obs=obs.copy(), var=var.copy())
    nox.layers["counts"] = sp.csr_matrix(dense)
    save("no_x", nox)

    # Hand-written layouts anndata 0.8 does not write itself (0.9 - 0.12, and pre-0.7)
    def h5(name, build):
        p = os.path.join(outdir, name + ".h5ad")
        with h5py.File(p, "w") as f:
            build(f)
        cases.append(name)

    def enc(obj, t, vers):
        obj.attrs["encoding-type"] = t
        obj.attrs["encoding-version"] = vers

    def frame(f, name, index, fixed=False):
        g = f.create_group(name)
        enc(g, "dataframe", "0.2.0")
        g.attrs["_index"] = "_index"
        g.attrs["column-order"] = np.array([], dtype=h5py.string_dtype())
        if fixed:
            g.create_dataset("_index", data=np.array(index, dtype="S"))
        else:
            d = g.create_dataset("_index", data=np.array(index, dtype=object), dtype=h5py.string_dtype())
            enc(d, "string-array", "0.2.0")
        return g

    def csr(f, name, m):
        g = f.create_group(name)
        enc(g, "csr_matrix", "0.1.0")
        g.attrs["shape"] = np.array(m.shape, dtype=np.int64)
        g["data"], g["indices"], g["indptr"] = m.data, m.indices, m.indptr

    def modern(f):
        enc(f, "anndata", "0.1.0")
        csr(f, "X", sp.csr_matrix(dense))
        g = frame(f, "obs", list(obs.index))
        g.attrs["column-order"] = np.array(["n_int", "flag", "label"], dtype=h5py.string_dtype())
        n = g.create_group("n_int"); enc(n, "nullable-integer", "0.1.0")
        n["values"] = np.array([1, 2, 3, 0, 5, 6, 7], dtype=np.int64)
        n["mask"] = np.array([False, False, False, True, False, False, False])
        b = g.create_group("flag"); enc(b, "nullable-boolean", "0.1.0")
        b["values"] = np.array([True, False, True, False, True, False, False])
        b["mask"] = np.array([False, False, False, False, False, True, False])
        s = g.create_group("label"); enc(s, "nullable-string-array", "0.1.0")
        s.create_dataset("values", data=np.array(["a", "b", "", "d", "e", "f", "g"], dtype=object), dtype=h5py.string_dtype())
        s["mask"] = np.array([False, False, True, False, False, False, False])
        frame(f, "var", list(var.index), fixed=True)
        for k in ["layers", "obsm", "varm", "obsp", "varp", "uns"]:
            enc(f.create_group(k), "dict", "0.1.0")
    h5("nullable_v011", modern)
    cases.remove("nullable_v011")  # anndata 0.8 (Debian's) predates these encodings: checked with h5py

    def legacy_sparse(f):
        g = f.create_group("X")
        m = sp.csr_matrix(dense)
        g.attrs["h5sparse_format"] = "csr"
        g.attrs["h5sparse_shape"] = np.array(m.shape)
        g["data"], g["indices"], g["indptr"] = m.data, m.indices, m.indptr
        # dataframes as anndata 0.7 wrote them (no encoding on the index dataset, empty float column-order)
        fr = f.create_group("obs"); enc(fr, "dataframe", "0.1.0")
        fr.attrs["_index"] = "_index"; fr.attrs["column-order"] = np.array([], dtype=float)
        fr.create_dataset("_index", data=np.array(list(obs.index), dtype=object), dtype=h5py.string_dtype())
        fv = f.create_group("var"); enc(fv, "dataframe", "0.1.0")
        fv.attrs["_index"] = "_index"; fv.attrs["column-order"] = np.array([], dtype=float)
        fv.create_dataset("_index", data=np.array(list(var.index), dtype=object), dtype=h5py.string_dtype())
    h5("h5sparse_legacy", legacy_sparse)

    def legacy_obs(f):
        # obs as anndata 0.7 wrote it: no encoding on columns, categoricals as codes with an object
        # reference to __categories/<name>; here also an index named "index" of fixed-length strings
        n = 23
        csr(f, "X", sp.csr_matrix(np.ones((n, 5), dtype=np.float32)))
        fr = f.create_group("obs"); enc(fr, "dataframe", "0.1.0")
        fr.attrs["_index"] = "index"
        fr.attrs["column-order"] = np.array(["cat", "fixed", "flag", "vlen", "count"], dtype=h5py.string_dtype())
        fr.create_dataset("index", data=np.array([f"bc{i}" for i in range(n)], dtype="S8"))
        cats = fr.create_group("__categories")
        c = cats.create_dataset("cat", data=np.array(["x", "y", "z"], dtype=object), dtype=h5py.string_dtype())
        c.attrs["ordered"] = False
        codes = np.array([i % 4 - 1 for i in range(n)], dtype=np.int8)  # -1 = NA every fourth row
        d = fr.create_dataset("cat", data=codes)
        d.attrs["categories"] = c.ref
        fr.create_dataset("fixed", data=np.array([f"f{i:02d}" for i in range(n)], dtype="S6"))
        fr["flag"] = np.arange(n) % 3 == 0
        fr.create_dataset("vlen", data=np.array([f"v{i}" * (i % 3) for i in range(n)], dtype=object),
                          dtype=h5py.string_dtype())
        fr["count"] = np.arange(n, dtype=np.int32) * 7
        fv = f.create_group("var"); enc(fv, "dataframe", "0.1.0")
        fv.attrs["_index"] = "_index"; fv.attrs["column-order"] = np.array([], dtype=float)
        fv.create_dataset("_index", data=np.array(list(var.index), dtype=object), dtype=h5py.string_dtype())
    h5("obs_legacy_v07", legacy_obs)
    cases.remove("obs_legacy_v07")  # checked against the whole reader, not anndata

    with open(os.path.join(outdir, "cases.json"), "w") as fh:
        json.dump(cases, fh)


def corrupt(kind, src, dst):
    """Copies src to dst and breaks one thing in it, as named by kind."""
    import shutil
    shutil.copy(src, dst)
    if kind == "truncated":
        size = os.path.getsize(dst)
        with open(dst, "r+b") as fh:
            fh.truncate(size // 2)
        return
    if kind == "not_hdf5":
        with open(dst, "w") as fh:
            fh.write("cell,gene,count\n")
        return
    with h5py.File(dst, "r+") as f:
        x = f["X"]
        if kind == "missing_indptr":
            del x["indptr"]
        elif kind == "indptr_not_monotone":
            p = x["indptr"][...]
            p[2] = p[3] + 1  # row 1 ends after row 2 starts
            del x["indptr"]; x["indptr"] = p
        elif kind == "indptr_end":
            p = x["indptr"][...]
            p[-1] = p[-1] - 1
            del x["indptr"]; x["indptr"] = p
        elif kind == "index_out_of_range":
            i = x["indices"][...]
            i[1] = 999
            del x["indices"]; x["indices"] = i
        elif kind == "shape_mismatch":
            x.attrs["shape"] = np.array([x.attrs["shape"][0] + 2, x.attrs["shape"][1]], dtype=np.int64)
        elif kind == "float16":
            d = x["data"][...].astype(np.float16)
            del x["data"]; x["data"] = d
        elif kind == "categorical_code":
            c = f["obs/cell_type/codes"][...]
            c[0] = 17
            del f["obs/cell_type/codes"]; f["obs/cell_type/codes"] = c
        elif kind == "obs_code_late":
            c = f["obs/cell_type/codes"][...]
            c[40] = 9
            del f["obs/cell_type/codes"]; f["obs/cell_type/codes"] = c
        elif kind == "obs_column_short":
            v = f["obs/n_genes"][...][:-1]
            attrs = dict(f["obs/n_genes"].attrs)
            del f["obs/n_genes"]; f["obs/n_genes"] = v
            f["obs/n_genes"].attrs.update(attrs)
        else:
            sys.exit("unknown corruption " + kind)


def summary(path):
    a = ad.read_h5ad(path)
    X = sp.csr_matrix(a.X)
    cats = {c: [None if pd.isna(x) else str(x) for x in a.obs[c].tolist()]
            for c in a.obs.columns if str(a.obs[c].dtype) == "category"}
    return {"n_obs": a.n_obs, "n_vars": a.n_vars, "nnz": int(X.nnz), "row_sums": [float(x) for x in X.sum(1).A1],
            "obs_names": list(map(str, a.obs_names)), "var_names": list(map(str, a.var_names)),
            "categorical": cats, "x_dtype": str(a.X.dtype)}


def tile(src, dst, n):
    a = ad.read_h5ad(src)
    X = sp.csr_matrix(a.X)
    reps = -(-n // X.shape[0])
    big = sp.vstack([X] * reps, format="csr")[:n]
    obs = pd.DataFrame(index=[f"c{i}" for i in range(n)])
    ad.AnnData(big, obs=obs, var=a.var[[]].copy()).write_h5ad(dst)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "make":
        make(sys.argv[2])
    elif cmd == "dump":
        json.dump(dump(sys.argv[2]), sys.stdout)
    elif cmd == "compare":
        a, b = dump(sys.argv[2]), dump(sys.argv[3])
        if a != b:
            for k in a:
                if a[k] != b.get(k):
                    print(f"differs in {k}:\n  {json.dumps(a[k])[:600]}\n  {json.dumps(b.get(k))[:600]}")
            sys.exit(1)
        print("identical")
    elif cmd == "corrupt":
        corrupt(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "summary":
        json.dump(summary(sys.argv[2]), sys.stdout)
    elif cmd == "tile":
        tile(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit("unknown command " + cmd)
