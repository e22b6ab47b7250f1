"""Builds scBenchmark's ORIGINAL scModel on a CPU, for the Python baselines of bench/.

The released code calls `.cuda()` while building cnn_ours' index map; that call is made a no-op
for the duration of the constructor (nothing else changes). `repo` is a folder holding
scBenchmark's models_utils/.
"""
import sys
import types

import torch


def build_scmodel(repo, vocab, **args):
    """scModel(vocab, args) with args given as keywords (embsize, nlayers, nheads, dropout,
    cell_emb_style, pad_token, model_structure, train_maxseq)."""
    if repo not in sys.path:
        sys.path.insert(0, repo)
    from models_utils.model import scModel  # the original
    ns = types.SimpleNamespace(vocab=vocab, **args)
    cuda = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *x, **k: self
    try:
        return scModel(vocab, ns)
    finally:
        torch.Tensor.cuda = cuda
