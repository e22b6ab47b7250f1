#!/usr/bin/env python3
"""`import scfm` against the command line: the same inputs give the same bits (tests/python).

Run by CTest (label python) with PYTHONPATH at the build tree's python/ folder and SCFM_BINARY,
SCFM_SOURCE_DIR, SCFM_BUILD_DIR set; one CTest entry per TestCase class:
    PYTHONPATH=build/python SCFM_BINARY=build/scfm SCFM_SOURCE_DIR=. SCFM_BUILD_DIR=build \
        /usr/bin/python3 tests/python/test_scfm.py TestEmbed
Everything runs on one thread (the CLI with --threads 1, scfm.set_threads(1)): an embedding's last
bits follow the thread count (docs/classify.md), so bitwise comparisons need the same count.
"""
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import anndata as ad
import numpy as np
import scipy.sparse as sp

import scfm

SRC = os.environ.get("SCFM_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("SCFM_BINARY", os.path.join(SRC, "build", "scfm"))
BUILD = os.environ.get("SCFM_BUILD_DIR", os.path.join(SRC, "build"))
PBMC_SMALL = os.path.join(SRC, "tests", "realdata", "pbmc_small.h5ad")

scfm.set_threads(1)


def cli(*args, check=True):
    r = subprocess.run([BIN, "--threads", "1", "--quiet", *map(str, args)], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"scfm {' '.join(map(str, args))} failed:\n{r.stdout}\n{r.stderr}")
    return r


_tmp = tempfile.TemporaryDirectory(prefix="scfm_py_")
TMP = _tmp.name
_run = None


def tiny_run():
    """A 3-step transformer pretrained on pbmc_small (as tests/test_util.cpp makes one)."""
    global _run
    if _run is None:
        vocab, store, run = (os.path.join(TMP, n) for n in ("vocab.json", "store", "run"))
        cli("vocab", "build", PBMC_SMALL, "--out", vocab)
        cli("ingest", PBMC_SMALL, "--vocab", vocab, "--out", store)
        cli("pretrain", "--store", store, "--out", run, "--model-structure", "transformer", "--max-steps", 3,
            "--batch-size", 16, "--nlayers", 2, "--nheads", 2, "--embsize", 16, "--train-maxseq", 64, "--use-mvc",
            "--seed", 0, "--loader-threads", 1)
        _run = run
    return _run


def embedded_file():
    """pbmc_small with obsm X_scfm written by the command line."""
    out = os.path.join(TMP, "embedded.h5ad")
    if not os.path.exists(out):
        cli("embed", "--model", tiny_run(), "--in", PBMC_SMALL, "--out", out, "--max-length", 41)
    return out


def without(d, *keys):
    return {k: v for k, v in d.items() if k not in keys}


class TestEmbed(unittest.TestCase):
    def test_same_bits_and_uns_as_the_command_line(self):
        ref = ad.read_h5ad(embedded_file())
        a = ad.read_h5ad(PBMC_SMALL)
        summary = scfm.embed(a, tiny_run(), max_length=41)
        self.assertEqual(a.obsm["X_scfm"].dtype, np.float32)
        self.assertEqual(a.obsm["X_scfm"].shape, (80, 16))
        np.testing.assert_array_equal(a.obsm["X_scfm"], ref.obsm["X_scfm"])
        self.assertEqual(a.uns["scfm_embed_X_scfm"], {k: (v.item() if hasattr(v, "item") else v)
                                                      for k, v in ref.uns["scfm_embed_X_scfm"].items()})
        self.assertEqual(summary["n_cells"], 80)
        self.assertEqual(summary["genes_matched"], 230)

    def test_every_layout_gives_the_same_bits(self):
        ref = ad.read_h5ad(embedded_file()).obsm["X_scfm"]
        base = ad.read_h5ad(PBMC_SMALL)
        X = base.X.tocsr()
        layouts = {
            "csr int64 indices, float64": sp.csr_matrix((X.data.astype(np.float64), X.indices.astype(np.int64),
                                                         X.indptr.astype(np.int64)), shape=X.shape),
            "csc": X.tocsc(),
            "dense": X.toarray(),
            "dense fortran": np.asfortranarray(X.toarray()),
            "dense int32": X.toarray().astype(np.int32),
            "coo": X.tocoo(),
        }
        # unsorted indices within rows: the reader sorts them
        U = X.copy()
        for r in range(U.shape[0]):
            s, e = U.indptr[r], U.indptr[r + 1]
            U.indices[s:e] = U.indices[s:e][::-1].copy()
            U.data[s:e] = U.data[s:e][::-1].copy()
        U.has_sorted_indices = False
        layouts["csr unsorted"] = U
        for name, m in layouts.items():
            with self.subTest(layout=name):
                a = base.copy()
                a.X = m
                scfm.embed(a, tiny_run(), max_length=41)
                np.testing.assert_array_equal(a.obsm["X_scfm"], ref)
        # a layer, and the gene names from a var column
        a = base.copy()
        a.layers["counts"] = X.copy()
        a.X = sp.csr_matrix(X.shape, dtype=np.float32)
        a.var["symbol"] = list(a.var_names)
        a.var_names = [f"g{i}" for i in range(a.n_vars)]
        scfm.embed(a, tiny_run(), max_length=41, layer="counts", gene_col="symbol", key="X_layer")
        np.testing.assert_array_equal(a.obsm["X_layer"], ref)

    def test_backed_anndata_is_streamed_from_its_file(self):
        ref = ad.read_h5ad(embedded_file()).obsm["X_scfm"]
        a = ad.read_h5ad(PBMC_SMALL, backed="r")
        scfm.embed(a, tiny_run(), max_length=41)
        np.testing.assert_array_equal(a.obsm["X_scfm"], ref)
        a.file.close()

    def test_errors_carry_the_command_lines_messages(self):
        r = cli("embed", "--model", os.path.join(TMP, "nope"), "--in", PBMC_SMALL, "--out",
                os.path.join(TMP, "x.h5ad"), check=False)
        self.assertNotEqual(r.returncode, 0)
        cli_msg = r.stderr.strip().splitlines()[-1]
        self.assertTrue(cli_msg.startswith("scfm: "), cli_msg)
        with self.assertRaises(scfm.Error) as cm:
            scfm.embed(ad.read_h5ad(PBMC_SMALL), os.path.join(TMP, "nope"))
        self.assertEqual(str(cm.exception), cli_msg[len("scfm: "):])
        self.assertIsInstance(cm.exception, ValueError)
        # genes none of which the model knows
        a = ad.read_h5ad(PBMC_SMALL)
        a.var_names = [f"x{i}" for i in range(a.n_vars)]
        with self.assertRaisesRegex(scfm.Error, "none of the 230 genes of adata is in the model's vocabulary"):
            scfm.embed(a, tiny_run())
        with self.assertRaisesRegex(scfm.FormatError, r"adata: /var/nope: no such var column"):
            scfm.embed(a, tiny_run(), gene_col="nope")
        with self.assertRaisesRegex(TypeError, "unknown option"):
            scfm._core.embed(tiny_run(), ("dense", 1, 1, np.zeros((1, 1), np.float32)), ["a"], "adata", maxlen=3)
        bad = ("csr", 2, 230, np.array([0, 5, 3]), np.zeros(5, np.int32), np.ones(5, np.float32))
        with self.assertRaisesRegex(scfm.FormatError, "adata: indptr: is not monotone at row 1"):
            scfm._core.embed(tiny_run(), bad, list(ad.read_h5ad(PBMC_SMALL).var_names), "adata")

    def test_the_gil_is_released_while_it_computes(self):
        a = ad.read_h5ad(PBMC_SMALL)
        big = ad.AnnData(sp.vstack([a.X] * 80).tocsr(), var=a.var)
        run = tiny_run()
        done = threading.Event()
        ticks, span = [], []

        def work():
            span.append(time.perf_counter())
            scfm.embed(big, run, max_length=41, batch_size=8)
            span.append(time.perf_counter())
            done.set()

        t = threading.Thread(target=work)
        t.start()
        while not done.is_set():
            ticks.append(time.perf_counter())
            sum(range(2000))  # pure Python: runs only while the worker does not hold the GIL
        t.join()
        # a held GIL stops this loop for the whole forward pass (measured: a 0.195 s pause in a
        # 0.200 s call); released, the loop never waits long
        inside = [x for x in ticks if span[0] <= x <= span[1]]
        elapsed = span[1] - span[0]
        gap = max(np.diff([span[0]] + inside + [span[1]]))
        self.assertGreater(elapsed, 0.05)
        self.assertLess(gap, elapsed / 2, f"longest pause {gap:.3f} s of {elapsed:.3f} s")
        self.assertEqual(big.obsm["X_scfm"].shape, (6400, 16))


class TestClassify(unittest.TestCase):
    def test_same_results_and_obs_as_the_command_line(self):
        src = embedded_file()
        out = os.path.join(TMP, "cls")
        obs_file = os.path.join(TMP, "cls_obs.h5ad")
        args = ["--in", src, "--label-col", "RNA_snn_res_1", "--trials", 2, "--epochs", 10, "--n-top-genes", 100,
                "--n-comps", 10]
        cli("classify", *args, "--out", out, "--write-obs", obs_file)
        with open(os.path.join(out, "results.json")) as f:
            want = json.load(f)
        a = ad.read_h5ad(src)
        out_py = os.path.join(TMP, "cls_py")
        got = scfm.classify(a, label_col="RNA_snn_res_1", trials=2, epochs=10, n_top_genes=100, n_comps=10,
                            write_obs=True, out_dir=out_py)
        self.assertEqual(without(got, "input"), without(want, "input", "seconds"))
        self.assertEqual(got["input"], "adata")
        self.assertTrue(os.path.exists(os.path.join(out_py, "results.md")))
        ref = ad.read_h5ad(obs_file)
        for col in ("scfm_knn_pred", "scfm_knn_split"):
            self.assertEqual(list(a.obs[col].astype(str)), list(ref.obs[col].astype(str)))
            self.assertEqual(list(a.obs[col].cat.categories), list(ref.obs[col].cat.categories))

    def test_no_baseline_and_missing_columns(self):
        a = ad.read_h5ad(embedded_file())
        got = scfm.classify(a, label_col="groups", trials=1, epochs=5, baseline=False)
        self.assertEqual(list(got["representations"].keys()), ["X_scfm"])
        with self.assertRaisesRegex(scfm.FormatError, r"adata: obs/nope: no such column \(obs has: RNA_snn_res_0_8"):
            scfm.classify(a, label_col="nope")
        with self.assertRaisesRegex(scfm.FormatError, r"adata: obsm/X_other: no such embedding"):
            scfm.classify(a, embedding="X_other")


class TestMap(unittest.TestCase):
    def test_same_labels_and_summary_as_the_command_line(self):
        full = ad.read_h5ad(embedded_file())
        ref_f, qry_f, out_f = (os.path.join(TMP, n) for n in ("ref.h5ad", "qry.h5ad", "mapped.h5ad"))
        full[:50].copy().write_h5ad(ref_f)
        full[50:].copy().write_h5ad(qry_f)
        r = cli("map", "--reference", ref_f, "--query", qry_f, "--out", out_f, "--label-col", "RNA_snn_res_1",
                "--k", 5, "--json")
        want = json.loads(r.stdout)
        mapped = ad.read_h5ad(out_f)
        ref, qry = ad.read_h5ad(ref_f), ad.read_h5ad(qry_f)
        got = scfm.map(ref, qry, label_col="RNA_snn_res_1", k=5, reference_name=ref_f, query_name=qry_f)
        self.assertEqual(list(qry.obs["scfm_map_label"].astype(str)), list(mapped.obs["scfm_map_label"].astype(str)))
        self.assertEqual(list(qry.obs["scfm_map_label"].cat.categories),
                         list(mapped.obs["scfm_map_label"].cat.categories))
        np.testing.assert_array_equal(qry.obs["scfm_map_vote_share"].to_numpy(),
                                      mapped.obs["scfm_map_vote_share"].to_numpy())
        np.testing.assert_array_equal(qry.obs["scfm_map_distance"].to_numpy(),
                                      mapped.obs["scfm_map_distance"].to_numpy())
        self.assertEqual(qry.uns["scfm_map"], {k: (v.item() if hasattr(v, "item") else v)
                                               for k, v in mapped.uns["scfm_map"].items()})
        timing = ("seconds", "index_seconds", "search_seconds", "output", "report_dir", "metrics")
        self.assertEqual(without(got, *timing), without(want, *timing))
        self.assertGreater(got["accuracy"], 0)

    def test_query_without_labels(self):
        full = ad.read_h5ad(embedded_file())
        ref, qry = full[:50].copy(), full[50:].copy()
        del qry.obs["RNA_snn_res_1"]
        got = scfm.map(ref, qry, label_col="RNA_snn_res_1")
        self.assertNotIn("accuracy", got)
        self.assertEqual(qry.obs["scfm_map_label"].shape, (30,))
        bad = full[50:].copy()
        bad.obsm["X_scfm"] = bad.obsm["X_scfm"][:, :8]
        with self.assertRaisesRegex(scfm.Error, "has 16 columns but query obsm/X_scfm has 8; embed both"):
            scfm.map(ref, bad, label_col="RNA_snn_res_1")


class TestMetrics(unittest.TestCase):
    def test_same_results_as_the_command_line(self):
        src = embedded_file()
        out, out_f = os.path.join(TMP, "metrics"), os.path.join(TMP, "metrics.h5ad")
        args = ["--embedding", "X_scfm", "--batch-col", "groups", "--label-col", "RNA_snn_res_1",
                "--n-top-genes", 100, "--n-comps", 10, "--resolutions", "0.5,1.0"]
        cli("metrics", "--in", src, *args, "--out", out, "--write-h5ad", out_f)
        with open(os.path.join(out, "results.json")) as f:
            want = json.load(f)
        a = ad.read_h5ad(src)
        got = scfm.metrics(a, embeddings=["X_scfm"], batch_col="groups", label_col="RNA_snn_res_1", n_top_genes=100,
                           n_comps=10, resolutions=[0.5, 1.0], write=True)

        def strip(r):
            r = without(r, "input", "seconds")
            r["harmony"] = without(r["harmony"], "seconds")
            r["methods"] = {m: without(v, "seconds", "details") for m, v in r["methods"].items()}
            return r

        self.assertEqual(strip(got), strip(want))
        written = ad.read_h5ad(out_f)
        for key in ("X_pca", "X_pca_harmony"):
            np.testing.assert_array_equal(a.obsm[key], written.obsm[key])
        for col in ("scfm_leiden_X_pca", "scfm_leiden_X_scfm"):
            self.assertEqual(list(a.obs[col].astype(str)), list(written.obs[col].astype(str)))

    def test_missing_batch_column(self):
        a = ad.read_h5ad(embedded_file())
        r = cli("metrics", "--in", embedded_file(), "--batch-col", "nope", "--out", os.path.join(TMP, "m2"),
                check=False)
        with self.assertRaises(scfm.FormatError) as cm:
            scfm.metrics(a, embeddings="X_scfm", batch_col="nope")
        self.assertEqual("scfm: " + str(cm.exception).replace("adata", embedded_file(), 1),
                         r.stderr.strip().splitlines()[-1])


class TestPp(unittest.TestCase):
    def test_the_steps_of_scfm_pp(self):
        out_f = os.path.join(TMP, "pp.h5ad")
        cli("pp", PBMC_SMALL, "--out", out_f, "--filter-cells-min-genes", 45, "--filter-genes-min-cells", 3,
            "--normalize-total", "1e4", "--log1p", "--hvg", 50, "--bin", 11, "--bin-deterministic")
        want = ad.read_h5ad(out_f)
        a = ad.read_h5ad(PBMC_SMALL)
        scfm.pp.filter_cells(a, min_genes=45)
        scfm.pp.filter_genes(a, min_cells=3)
        self.assertEqual(list(a.obs_names), list(want.obs_names))
        self.assertEqual(list(a.var_names), list(want.var_names))
        counts = a.X.copy()
        data_before = a.X.data  # normalize_total and log1p change float32 CSR data where it is
        self.assertEqual(scfm.pp.normalize_total(a, target_sum=1e4), 1e4)
        scfm.pp.log1p(a)
        self.assertIs(a.X.data, data_before)
        np.testing.assert_array_equal(a.X.toarray(), want.X.toarray())
        np.testing.assert_array_equal(counts.toarray(), want.layers["counts"].toarray())
        scfm.pp.highly_variable_genes(a, n_top_genes=50)
        for col in ("highly_variable", "means", "dispersions", "dispersions_norm"):
            np.testing.assert_array_equal(a.var[col].to_numpy(), want.var[col].to_numpy(), err_msg=col)
        scfm.pp.binning(a, 11)
        np.testing.assert_array_equal(a.layers["X_binned"].toarray(), want.layers["X_binned"].toarray())
        self.assertEqual(a.obsm["bin_edges"].shape, (a.n_obs, 11))
        self.assertTrue(np.all(np.diff(a.obsm["bin_edges"], axis=1) >= 0))

    def test_dense_and_integer_matrices(self):
        a = ad.read_h5ad(PBMC_SMALL)
        b = a.copy()
        b.X = b.X.toarray().astype(np.int64)
        target = scfm.pp.normalize_total(a)
        self.assertEqual(scfm.pp.normalize_total(b), target)  # the median of the totals
        scfm.pp.log1p(a)
        scfm.pp.log1p(b)
        self.assertEqual(b.X.dtype, np.float32)
        np.testing.assert_array_equal(a.X.toarray(), b.X)
        keep = scfm.pp.filter_genes(a, min_cells=10, inplace=False)
        self.assertEqual(keep.dtype, np.bool_)
        self.assertEqual(keep.sum(), int(((a.X > 0).sum(axis=0) >= 10).sum()))


class TestBlas(unittest.TestCase):
    def test_slow_openblas_kernels_are_reported_at_import(self):
        core, candidates = scfm._core.blas_core()
        if not core or not candidates or scfm._core.core_tier(candidates[0]) == 0:
            self.skipTest("not OpenBLAS, or no faster kernels for this CPU")
        def stderr_of_import(**env):
            e = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "SCFM_BLAS_CORETYPE")}
            r = subprocess.run([sys.executable, "-c", "import scfm"], capture_output=True, text=True,
                               env=dict(e, **env))
            self.assertEqual(r.returncode, 0, r.stderr)
            return r.stderr

        # SCFM_BLAS_CORETYPE=auto checks the kernels loaded (here forced slow) against the CPU
        err = stderr_of_import(OPENBLAS_CORETYPE="Prescott", SCFM_BLAS_CORETYPE="auto")
        self.assertIn("OpenBLAS runs its Prescott kernels", err)
        self.assertIn(f"OPENBLAS_CORETYPE={candidates[0]}", err)
        self.assertNotIn("OpenBLAS runs", stderr_of_import(OPENBLAS_CORETYPE=candidates[0], SCFM_BLAS_CORETYPE="auto"))
        # an OPENBLAS_CORETYPE of the user's own is honoured, as the command line honours it
        self.assertNotIn("OpenBLAS runs", stderr_of_import(OPENBLAS_CORETYPE="Prescott"))
        self.assertNotIn("OpenBLAS runs", stderr_of_import(OPENBLAS_CORETYPE="Prescott", SCFM_BLAS_CORETYPE="none"))


class TestDocs(unittest.TestCase):
    def test_the_notebook_session_of_docs_python_md_runs(self):
        with open(os.path.join(SRC, "docs", "python.md")) as f:
            text = f.read()
        block = text.split("## A notebook session", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
        code = block.replace('"out/demo/run"', repr(tiny_run()))
        cwd = os.getcwd()
        os.chdir(SRC)
        try:
            env = {}
            exec(compile(code, "docs/python.md", "exec"), env)
        finally:
            os.chdir(cwd)
        self.assertEqual(env["adata"].obsm["X_scfm"].shape, (160, 16))
        self.assertIn("accuracy", env["summary"])
        self.assertIn("X_pca_harmony", env["adata"].obsm)
        self.assertIn("highly_variable", env["raw"].var.columns)
        self.assertIn("X_binned", env["raw"].layers)


class TestInstall(unittest.TestCase):
    def test_cmake_install_gives_an_importable_package(self):
        prefix = os.path.join(TMP, "prefix")
        r = subprocess.run(["cmake", "--install", BUILD, "--prefix", prefix, "--component", "Unspecified"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        ver = f"python{sys.version_info.major}.{sys.version_info.minor}"
        site = os.path.join(prefix, "lib", ver, "dist-packages")
        self.assertTrue(os.path.exists(os.path.join(site, "scfm", "__init__.py")), os.listdir(prefix))
        env = dict(os.environ, PYTHONPATH=site)
        code = "import scfm, sys; print(scfm.__file__); print(scfm.num_threads())"
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=TMP)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.splitlines()[0].startswith(site), r.stdout)
        self.assertTrue(os.path.exists(os.path.join(prefix, "bin", "scfm")))


if __name__ == "__main__":
    unittest.main()
