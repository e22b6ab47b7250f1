#!/usr/bin/python3
"""bench/model's baseline: scBenchmark's ORIGINAL scModel (models_utils/) under python3-torch.

  model_baseline.py SCBENCHMARK_DIR [--threads N] [--batch B] [--genes G] [--vocab V]
                    [--layers L] [--embsize E] [--heads H] [--reps R] [--pad-fraction F] [--train-step]
                    [STRUCTURE...]

SCBENCHMARK_DIR is a checkout/export of https://github.com/simpleshinobu/scBenchmark (never part
of this repository; bench/model.sh exports one into a temporary folder). Measures exactly what
bench_model measures (same sizes, same input layout, same loss; see bench/model.cpp) and prints
the same JSON lines. Two adapters, needed to run the released code on a CPU at all:
  - cnn_ours builds its index map with .cuda(); Tensor.cuda is a no-op while it is constructed.
  - gnn_cp: the released scModel.forward does not pass `src` to the GNN (a TypeError); the
    encoder is wrapped so that it gets `src`, as the fixtures' README describes.
"""
import argparse
import json
import os
import resource
import statistics
import time

import torch
from torch import nn

from scbench_original import build_scmodel  # bench/: the script's own folder is on sys.path


def parse():
    p = argparse.ArgumentParser()
    p.add_argument("repo")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--genes", type=int, default=512)
    p.add_argument("--vocab", type=int, default=60697)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--embsize", type=int, default=256)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--pad-fraction", type=float, default=0.1)
    p.add_argument("--train-step", action="store_true",
                   help="time whole training steps (zero_grad, forward, loss, backward, Adam step) instead")
    p.add_argument("structures", nargs="*",
                   default=["transformer", "gnn_cp", "cnn_base", "cnn_ours", "linear_ours", "linear_base"])
    return p.parse_intermixed_args()


class PassSrc(nn.Module):
    """Calls the GNN as intended: encoder(x, src, pad_mask)."""
    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.src = None

    def forward(self, x, src_key_padding_mask=None):
        return self.inner(x, self.src, src_key_padding_mask)


def time_ms(reps, f):
    """(fastest, median) of `reps` timed runs after one warm-up run, in ms."""
    f()
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        t.append((time.perf_counter() - t0) * 1e3)
    return min(t), statistics.median(t)


def main():
    a = parse()

    torch.set_num_threads(a.threads)
    blas_core = os.environ.get("OPENBLAS_CORETYPE", "(OpenBLAS's choice)")
    B = a.batch
    pad_id, cls_id = a.vocab - 3, a.vocab - 2
    vocab = {"GENE%d" % i: i for i in range(a.vocab)}
    vocab["<pad>"], vocab["<cls>"], vocab["<eoc>"] = pad_id, cls_id, a.vocab - 1
    vocab = {k: v for k, v in vocab.items() if not (k.startswith("GENE") and v >= pad_id)}
    for structure in a.structures:
        genes = a.genes
        if structure.startswith("cnn"):  # token count divisible by 2^(halving layers); see bench/model.cpp
            m = 2 ** sum(1 for i in range(a.layers) if i % 6 != 0)
            genes = (a.genes + 1) // m * m - 1
        T = genes + 1
        torch.manual_seed(0)
        model = build_scmodel(a.repo, vocab, embsize=a.embsize, nlayers=a.layers, nheads=a.heads, dropout=0.15,
                              cell_emb_style="cls", pad_token="<pad>", model_structure=structure,
                              train_maxseq=genes)
        adapter = None
        if structure == "gnn_cp":
            adapter = model.encoder = PassSrc(model.encoder)
        fixed = structure in ("cnn_base", "cnn_ours", "linear_ours")

        g = torch.Generator().manual_seed(0)
        src = torch.randint(0, pad_id, (B, T), generator=g)
        src[:, 0] = cls_id
        values = torch.rand(B, T, generator=g) * 5
        values[torch.rand(B, T, generator=g) < 0.2] = -1.0
        values[:, 0] = 0
        pad = torch.zeros(B, T, dtype=torch.bool)
        n_pad = int(T * a.pad_fraction)
        if not fixed and n_pad > 0:
            pad[:, T - n_pad:] = True
        src[pad] = pad_id
        values[pad] = 0
        if adapter is not None:
            adapter.src = src
        m = (values == -1).float()
        target = torch.sin(torch.arange(B * T, dtype=torch.float32)).view(B, T)

        def loss_of(o):
            return (((o["mlm_output"] - target) ** 2) * m).sum() / m.sum() + \
                   (((o["mvc_output"] - target) ** 2) * m).sum() / m.sum()

        if a.train_step:
            model.train()
            adam = torch.optim.Adam(model.parameters(), lr=2e-4)

            def train_step():
                adam.zero_grad()
                loss_of(model(src, values, pad)).backward()
                adam.step()

            ts = time_ms(a.reps, train_step)
            print(json.dumps({"structure": structure, "train_step_ms": round(ts[0], 2),
                              "train_step_median_ms": round(ts[1], 2), "threads": a.threads, "batch": B, "tokens": T,
                              "blas_core": blas_core,
                              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}), flush=True)
            continue

        model.eval()

        def forward():
            with torch.no_grad():
                o = model(src, values, pad)
                o["mlm_output"].sum().item()

        fwd = time_ms(a.reps, forward)
        model.train()

        def step():
            model.zero_grad()
            loss_of(model(src, values, pad)).backward()

        fb = time_ms(a.reps, step)
        print(json.dumps({"structure": structure, "forward_ms": round(fwd[0], 2), "fwd_bwd_ms": round(fb[0], 2),
                          "forward_median_ms": round(fwd[1], 2), "fwd_bwd_median_ms": round(fb[1], 2),
                          "threads": a.threads, "batch": B, "tokens": T, "blas_core": blas_core}), flush=True)


if __name__ == "__main__":
    main()
