#!/usr/bin/python3
"""python3-torch's side of bench/embed: the ORIGINAL modules on scfm's tokens.

  embed_baseline.py SCBENCH_DIR SCGPT_DIR MODEL_DIR TOKENS.pt [--threads N] [--reps R]

SCBENCH_DIR holds scBenchmark's models_utils/, SCGPT_DIR scGPT's scgpt/model/ files (both
exported from their repositories by bench/embed.sh). Builds the model MODEL_DIR/args.json
describes with the original code, loads MODEL_DIR/best_model.pt strictly, and times eval-mode
inference over the batches in TOKENS.pt (written by bench_embed): scBenchmark's scModel.forward,
as its embedding script calls it, or scGPT's TransformerModel._encode plus the <cls> row, as
scgpt.tasks.embed_data does. Checks that its embeddings equal scfm's (max abs difference printed).
"""
import argparse
import importlib.util
import json
import os
import sys
import time
import types

import torch

from scbench_original import build_scmodel  # bench/: the script's own folder is on sys.path


def load_scgpt(src):
    # scgpt/model/model.py imports tqdm (not in Debian's python3 set here) for trange only.
    sys.modules.setdefault("tqdm", types.SimpleNamespace(trange=range, tqdm=lambda x, **k: x))
    pkg = types.ModuleType("scgpt_model")
    pkg.__path__ = [src]
    sys.modules["scgpt_model"] = pkg
    spec = importlib.util.spec_from_file_location("scgpt_model.model", os.path.join(src, "model.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules["scgpt_model.model"] = mod
    spec.loader.exec_module(mod)
    return mod.TransformerModel


def main():
    p = argparse.ArgumentParser()
    p.add_argument("scbench")
    p.add_argument("scgpt")
    p.add_argument("model")
    p.add_argument("tokens")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    args = json.load(open(os.path.join(a.model, "args.json")))
    vocab = json.load(open(os.path.join(a.model, "vocab.json")))
    state = torch.load(os.path.join(a.model, "best_model.pt"), weights_only=True)
    structure = args["model_structure"]
    if structure == "scgpt":
        TransformerModel = load_scgpt(a.scgpt)
        model = TransformerModel(
            ntoken=len(vocab), d_model=args["embsize"], nhead=args["nheads"], d_hid=args["d_hid"],
            nlayers=args["nlayers"], nlayers_cls=args["n_layers_cls"], n_cls=args["n_cls"], vocab=vocab,
            dropout=args["dropout"], pad_token=args["pad_token"], pad_value=args["pad_value"],
            do_mvc=args["do_mvc"], do_dab=False, use_batch_labels=False, domain_spec_batchnorm=False,
            input_emb_style=args["input_emb_style"], n_input_bins=args["n_input_bins"],
            cell_emb_style=args["cell_emb_style"], mvc_decoder_style=args["mvc_decoder_style"],
            explicit_zero_prob=args["explicit_zero_prob"], use_fast_transformer=False, pre_norm=False)

        def embed(g, v, pad):
            return model._encode(g, v, src_key_padding_mask=pad)[:, 0, :]
    else:
        model = build_scmodel(a.scbench, vocab, embsize=args["embsize"], nlayers=args["nlayers"],
                              nheads=args["nheads"], dropout=args["dropout"], cell_emb_style=args["cell_emb_style"],
                              pad_token=args["pad_token"], model_structure=structure,
                              train_maxseq=args["train_maxseq"])

        def embed(g, v, pad):
            return model(g, v, pad)["cell_emb"]
    model.load_state_dict(state, strict=True)
    model.eval()
    tok = torch.load(a.tokens, weights_only=True)
    n = len([k for k in tok if k.startswith("genes.")])
    batches = [(tok["genes.%d" % i], tok["values.%d" % i], tok["padding.%d" % i]) for i in range(n)]
    cells = sum(b[0].shape[0] for b in batches)
    diff = 0.0
    with torch.no_grad():
        for i, (g, v, pad) in enumerate(batches):  # warm-up, and the check against scfm
            diff = max(diff, float((embed(g, v, pad) - tok["emb.%d" % i]).abs().max()))
        best = 1e30
        for _ in range(a.reps):
            t0 = time.perf_counter()
            for g, v, pad in batches:
                embed(g, v, pad)
            best = min(best, time.perf_counter() - t0)
    print(json.dumps({"side": "pytorch", "structure": structure, "cells": cells, "tokens": int(batches[0][0].shape[1]),
                      "threads": a.threads, "seconds": round(best, 4), "cells_per_s": round(cells / best, 2),
                      "max_abs_diff_vs_scfm": diff,
                      "blas_core": os.environ.get("OPENBLAS_CORETYPE", "(OpenBLAS's choice)")}), flush=True)


if __name__ == "__main__":
    main()
