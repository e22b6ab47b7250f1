"""Dumps arrays of the scGPT preprocess fixture (preprocess.npz) as raw little-endian files.

Usage: python3 scgpt_preprocess_dump.py FIXTURE_NPZ OUT_DIR
       python3 scgpt_preprocess_dump.py --quantile OUT_DIR
Writes OUT_DIR/<name>.bin for each array the C++ binning test reads, with a fixed dtype
(float32 for log1p_f32, float64 for bin_edges and binned_rand, int64 for the integer bins), and
OUT_DIR/shapes.txt with one line "name dtype dim0 dim1" per array. The expected values come from
the fixture itself; nothing here recomputes them.
"""
import os
import sys

import numpy as np


def quantile_reference(out_dir):
    """numpy's own np.quantile(row, linspace(0, 1, 50)) on random float32 rows (seeded), the
    reference for scfm's quantile edges beyond the fixture's rows: rows.txt holds one row per line
    as float32 hex bit patterns, edges.txt the 50 float64 edges of each row as hex floats."""
    rng = np.random.default_rng(7)
    q = np.linspace(0, 1, 50)
    with open(os.path.join(out_dir, "rows.txt"), "w") as rows, open(os.path.join(out_dir, "edges.txt"), "w") as edges:
        for _ in range(300):
            n = int(rng.integers(1, 120))
            kind = int(rng.integers(0, 3))
            if kind == 0:
                x = rng.exponential(3.0, size=n)
            elif kind == 1:
                x = np.log1p(rng.integers(1, 6, size=n) * rng.exponential(200.0))
            else:
                x = rng.lognormal(0.0, 4.0, size=n)
            x = x.astype(np.float32)
            e = np.quantile(x, q)
            rows.write(" ".join("%08x" % v for v in x.view(np.uint32)) + "\n")
            edges.write(" ".join(float(v).hex() for v in e) + "\n")
    print("ok")


def main():
    if sys.argv[1] == "--quantile":
        quantile_reference(sys.argv[2])
        return
    npz_path, out_dir = sys.argv[1], sys.argv[2]
    z = np.load(npz_path, allow_pickle=False)
    wanted = {
        "log1p_f32": "<f4",
        "binned": "<i8",
        "binned_left": "<i8",
        "binned_right": "<i8",
        "binned_rand": "<f8",
        "bin_edges": "<f8",
    }
    with open(os.path.join(out_dir, "shapes.txt"), "w") as shapes:
        for name, dtype in wanted.items():
            a = np.ascontiguousarray(z[name].astype(dtype))
            if a.ndim != 2:
                raise SystemExit(f"{name}: expected a 2-d array, got shape {a.shape}")
            a.tofile(os.path.join(out_dir, name + ".bin"))
            shapes.write(f"{name} {dtype} {a.shape[0]} {a.shape[1]}\n")
    print("ok")


if __name__ == "__main__":
    main()
