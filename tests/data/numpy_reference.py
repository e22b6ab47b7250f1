"""Reference values for tests/data: reads the scGPT tokenizer fixture and runs numpy's legacy RNG.

  numpy_reference.py npz PATH        every array of PATH as `name n v0 v1 ...` (flattened, repr)
  numpy_reference.py rand SEED N     np.random.seed(SEED); N x np.random.rand() as `rand N v...`
  numpy_reference.py choice SEED N K np.random.seed(SEED); np.random.choice(N, K, replace=False), twice
"""
import sys

import numpy as np


def emit(name, arr):
    a = np.asarray(arr).ravel()
    if a.dtype == np.bool_:
        a = a.astype(np.int64)
    vals = " ".join(repr(float(v)) if a.dtype.kind == "f" else str(int(v)) for v in a)
    print(name, a.size, vals)


def main():
    mode = sys.argv[1]
    if mode == "npz":
        z = np.load(sys.argv[2])
        for k in z.files:
            emit(k, z[k])
    elif mode == "rand":
        np.random.seed(int(sys.argv[2]))
        emit("rand", np.random.rand(int(sys.argv[3])))
    elif mode == "choice":
        np.random.seed(int(sys.argv[2]))
        n, k = int(sys.argv[3]), int(sys.argv[4])
        emit("choice0", np.random.choice(n, k, replace=False))
        emit("choice1", np.random.choice(n, k, replace=False))
    else:
        raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    main()
