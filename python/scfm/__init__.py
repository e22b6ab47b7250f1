"""scfm from Python: the same C++ core as the `scfm` command line, on AnnData objects in memory.

    import anndata as ad, scfm
    adata = ad.read_h5ad("pbmc.h5ad")
    scfm.embed(adata, "run/")                        # adata.obsm["X_scfm"], adata.uns["scfm_embed_X_scfm"]
    res = scfm.classify(adata, label_col="cell_type")  # results.json's content, as a dict
    scfm.map(reference, adata, label_col="cell_type")  # adata.obs["scfm_map_label"], ...
    scfm.metrics(adata, embeddings=["X_scfm"])         # scib metrics with PCA and Harmony peers
    scfm.pp.normalize_total(adata, target_sum=1e4); scfm.pp.log1p(adata)

Every function takes the command line's options under the same names (--max-length: max_length),
gives the same numbers on the same input (tests/python), releases the GIL while it computes, and
raises scfm.Error (a ValueError; scfm.FormatError for malformed input) with the command line's
message. See docs/python.md.
"""

import numpy as np

from . import _core
from . import _anndata as _ad
from . import pp

Error = _core.Error
FormatError = _core.FormatError
__version__ = _core.version

__all__ = ["embed", "classify", "map", "metrics", "pp", "set_threads", "num_threads", "set_progress", "Error",
           "FormatError"]

# LibTorch from Debian starts on one thread; scfm's default is every core (docs/blas.md).
_core.set_threads(0)
# Notebooks have no terminal: bars would be log lines. scfm.set_progress(True) turns them on.
_core.set_progress(False)


def _check_blas():
    # The command line re-executes itself with OPENBLAS_CORETYPE when Debian's OpenBLAS picked slow
    # kernels for this CPU (docs/blas.md); a Python process cannot, so it says what to set instead.
    import os
    import warnings

    # the command line's rules: SCFM_BLAS_CORETYPE=none leaves OpenBLAS alone, an OPENBLAS_CORETYPE
    # set without SCFM_BLAS_CORETYPE is the user's choice, SCFM_BLAS_CORETYPE=auto (or nothing set)
    # checks the kernels against the CPU
    choice = os.environ.get("SCFM_BLAS_CORETYPE", "")
    if choice == "none" or (not choice and os.environ.get("OPENBLAS_CORETYPE")):
        return
    core, candidates = _core.blas_core()
    if core and candidates and _core.core_tier(core) < _core.core_tier(candidates[0]):
        warnings.warn(f"scfm: OpenBLAS runs its {core} kernels on this CPU, which can run {candidates[0]}'s "
                      f"(several times faster); start Python with OPENBLAS_CORETYPE={candidates[0]} "
                      f"(set SCFM_BLAS_CORETYPE=none to silence this)", RuntimeWarning, stacklevel=3)


_check_blas()


def set_threads(n=0):
    """Threads of LibTorch and OpenBLAS (0: every core this process may use); returns the count."""
    return _core.set_threads(int(n))


def num_threads():
    return _core.num_threads()


def set_progress(enabled=True):
    """Progress bars on stderr while scfm computes (drawn only when stderr is a terminal)."""
    _core.set_progress(bool(enabled))


def embed(adata, model_dir, *, key="X_scfm", layer=None, gene_col=None, max_length=1200, batch_size=64,
          block_cells=4096, pool="auto", normalize_l2=False, sample=False, seed=0, allow_partial=False,
          name="adata"):
    """Cell embeddings from a pretrained model (`scfm embed`): adata.obsm[key] (float32 n x width) and
    adata.uns["scfm_embed_" + key]. Raw counts are expected in X (or `layer`). Returns the summary
    the command line prints with --json (without seconds)."""
    spec = _ad.matrix_spec(adata, layer, name)
    genes = _ad.gene_names(adata, gene_col, name)
    x, summary, uns = _core.embed(str(model_dir), spec, genes, name, key=key, max_length=max_length,
                                  batch_size=batch_size, block_cells=block_cells, pool=pool,
                                  normalize_l2=normalize_l2, sample=sample, seed=seed, allow_partial=allow_partial)
    adata.obsm[key] = x
    adata.uns["scfm_embed_" + key] = uns
    return summary


def classify(adata, *, embedding="X_scfm", label_col="cell_type", out_dir=None, trials=5, train_ratio=0.7,
             valid_ratio=0.1, k=10, epochs=50, eval_every=5, lr=0.005, batch_size=64, probe_input="standardized",
             baseline=True, layer=None, n_top_genes=2000, n_comps=50, write_obs=False, name="adata"):
    """scBenchmark's classification protocol on obsm[embedding] against obs[label_col] (`scfm
    classify`), with the PCA baseline on the counts in X (or `layer`) unless baseline=False. Returns
    results.json's content; out_dir also writes the report files. write_obs=True adds obs
    scfm_knn_pred and scfm_knn_split as --write-obs does."""
    x = _ad.embedding(adata, embedding, name)
    _ad.require_column(adata.obs, label_col, name, None)
    labels = _ad.column_strings(adata.obs, label_col)
    counts = _ad.matrix_spec(adata, layer, name) if baseline else None
    results, pred, split = _core.classify(x, labels, name, counts, bool(write_obs), embedding=embedding,
                                          label_col=label_col, out_dir=str(out_dir) if out_dir else "",
                                          trials=trials, train_ratio=train_ratio, valid_ratio=valid_ratio, k=k,
                                          epochs=epochs, eval_every=eval_every, lr=lr, batch_size=batch_size,
                                          probe_input=probe_input, n_top_genes=n_top_genes, n_comps=n_comps)
    if write_obs:
        adata.obs["scfm_knn_pred"] = _ad.categorical(pred)
        adata.obs["scfm_knn_split"] = _ad.categorical(split)
    return results


def map(reference, query, *, key="X_scfm", label_col="cell_type", k=10, index="auto", vote="majority",
        metric="cosine", save_index=None, index_file=None, report_dir=None, seed=0, reference_name="reference",
        query_name="query"):
    """Reference mapping (`scfm map`): each query cell takes the vote of its k nearest reference cells
    in obsm[key]. Fills query.obs scfm_map_label (categorical), scfm_map_vote_share,
    scfm_map_distance and query.uns["scfm_map"]; returns the summary (with accuracy and macro_f1
    when the query has label_col). report_dir writes the report folder."""
    rx = _ad.embedding(reference, key, reference_name)
    qx = _ad.embedding(query, key, query_name)
    _ad.require_column(reference.obs, label_col, reference_name, None)
    rl = _ad.column_strings(reference.obs, label_col)
    ql = _ad.column_strings(query.obs, label_col) if label_col in query.obs.columns else None
    classes, codes, share, dist, settings, summary = _core.map(
        rx, rl, reference_name, qx, ql, query_name, key=key, label_col=label_col, k=k, index=index, vote=vote,
        metric=metric, save_index=str(save_index) if save_index else "",
        index_file=str(index_file) if index_file else "", report_dir=str(report_dir) if report_dir else "",
        seed=seed)
    import pandas as pd

    query.obs["scfm_map_label"] = pd.Categorical.from_codes(codes, categories=classes)
    query.obs["scfm_map_vote_share"] = share
    query.obs["scfm_map_distance"] = dist
    query.uns["scfm_map"] = settings
    return summary


def metrics(adata, *, embeddings=(), batch_col="batch", label_col="cell_type", out_dir=None, pseudo_batches=0,
            baselines=True, layer=None, n_top_genes=2000, n_comps=50, harmony_theta=2.0, harmony_lambda=1.0,
            harmony_clusters=0, harmony_max_iter=10, n_neighbors=15, resolutions=None, seed=0, write=False,
            name="adata"):
    """scib's integration metrics for obsm[embeddings] (`scfm metrics`), with the PCA and Harmony peers
    computed on the counts in X (or `layer`) unless baselines=False. Returns results.json's content;
    write=True also sets obsm X_pca / X_pca_harmony and obs scfm_leiden_<key> (--write-h5ad)."""
    if isinstance(embeddings, str):
        embeddings = [embeddings]
    embs = [(k, _ad.embedding(adata, k, name)) for k in embeddings]
    batch = None
    if pseudo_batches <= 0:
        _ad.require_column(adata.obs, batch_col, name, "batch")
        batch = _ad.column_strings(adata.obs, batch_col)
    _ad.require_column(adata.obs, label_col, name, "label")
    labels = _ad.column_strings(adata.obs, label_col)
    counts = _ad.matrix_spec(adata, layer, name) if baselines else None
    results, methods = _core.metrics(adata.n_obs, embs, batch, labels, name, counts, batch_col=batch_col,
                                     label_col=label_col, out_dir=str(out_dir) if out_dir else "",
                                     pseudo_batches=pseudo_batches, n_top_genes=n_top_genes, n_comps=n_comps,
                                     harmony_theta=harmony_theta, harmony_lambda=harmony_lambda,
                                     harmony_clusters=harmony_clusters, harmony_max_iter=harmony_max_iter,
                                     n_neighbors=n_neighbors, resolutions=list(resolutions or []), seed=seed)
    if write:
        for _name, key, x, clusters in methods:
            if key in ("X_pca", "X_pca_harmony"):
                adata.obsm[key] = x
            adata.obs["scfm_leiden_" + key] = _ad.categorical(clusters)
    return results
