#!/usr/bin/python3
"""python3-torch's side of the train-mode gradient parity test (grad_parity_test.cpp).

  grad_reference.py FIXTURE_DIR OUT.pt

An independent PyTorch reference of scBenchmark's scModel built from torch.nn blocks (it does not
import scBenchmark: CI has no copy of it). It
  1. builds the model described by FIXTURE_DIR/args.json + vocab.json and loads model.pt strictly,
  2. checks that, in eval mode, it reproduces the fixture's io.pt outputs (the outputs of the
     original code), so the reference itself is validated against the original,
  3. in train mode (the fixtures have dropout 0) runs io.pt's inputs, takes
         loss = masked_mse(mlm_output, target) + masked_mse(mvc_output, target)
                + 0.1 * mean((mlm_output + mvc_output)^2)
     with the masked MSEs over the masked genes (values == mask_value), the last term over every
     token (pads included), target[b, t] = sin(0.37 * (b * T + t) + 0.1), and backpropagates,
  4. writes OUT.pt: {"loss": scalar, "grad.<param>": gradient} for every parameter that received a
     gradient, "nograd.<param>" (an empty tensor) for those that did not (grad None), and
     "buffer.<name>" for every buffer after the step (BatchNorm running statistics).
Prints one JSON line with the eval-mode differences.
"""
import collections
import json
import math
import os
import sys

import torch
import torch.nn.functional as F
from torch import nn

TOL = 1e-4
DICT_SIZE = 256  # scBenchmark's scModel always uses a 256-wide gene table


def mlp(width, out):
    return nn.Sequential(nn.Linear(width, width), nn.LeakyReLU(0.01), nn.Linear(width, width),
                         nn.LeakyReLU(0.01), nn.Linear(width, out))


# ---- encoders, named as scBenchmark's modules name their parameters ----------------------------

class Transformer(nn.Module):
    def __init__(self, a):
        super().__init__()
        layer = nn.TransformerEncoderLayer(a["embsize"], a["nheads"], a["dim_feedforward"] or a["embsize"],
                                           a["dropout"], activation=a["activation"], batch_first=True,
                                           norm_first=False)
        self.enc = nn.TransformerEncoder(layer, a["nlayers"], enable_nested_tensor=False)

    def forward(self, x, src, pad):
        return self.enc(x, src_key_padding_mask=pad)

    def state_prefix(self):
        return "enc."


class FeedForward(nn.Module):
    def __init__(self, e):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(e, e), nn.Linear(e, e)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


class LinearBase(nn.Module):
    def __init__(self, a):
        super().__init__()
        e, n = a["embsize"], a["nlayers"]
        self.ffns = nn.ModuleList(FeedForward(e) for _ in range(n))
        self.layer_norms = nn.ModuleList(nn.LayerNorm(e) for _ in range(n))

    def forward(self, x, src, pad):
        for ffn, norm in zip(self.ffns, self.layer_norms):
            x = x + F.gelu(norm(ffn(x)))
        return x


class ConvBlock(nn.Module):
    def __init__(self, e, stride):
        super().__init__()
        self.conv = nn.Conv1d(e, e, kernel_size=9, padding=4, stride=stride)
        self.bn = nn.BatchNorm1d(e)


class Cnn(nn.Module):
    """cnn_base: block i has stride 1 when i % 6 == 0, else stride 2 with a 2-wide max-pool skip."""
    def __init__(self, a):
        super().__init__()
        self.strides = [1 if i % 6 == 0 else 2 for i in range(a["nlayers"])]
        self.layers = nn.ModuleList(ConvBlock(a["embsize"], s) for s in self.strides)

    def forward(self, x, src, pad):
        x = x.transpose(1, 2)
        for block, s in zip(self.layers, self.strides):
            skip = F.max_pool1d(x, s, s) if s > 1 else x
            x = skip + F.gelu(block.bn(block.conv(x)))
        return x.mean(dim=2)


class SeqMix(nn.Module):
    def __init__(self, e, t_in, t_out):
        super().__init__()
        self.linear_channel = nn.Linear(e, e)
        self.linear_seq = nn.Linear(t_in, t_out)
        self.bn = nn.BatchNorm1d(e)


class LinearOurs(nn.Module):
    def __init__(self, a):
        super().__init__()
        e, n, t = a["embsize"], a["nlayers"], a["train_maxseq"] + 1
        layers = []
        for i in range(n):
            t_out = 1 if i == n - 1 else t // 2
            layers.append(SeqMix(e, t, t_out))
            t = t_out
        self.layers = nn.ModuleList(layers)

    def forward(self, x, src, pad):
        for l in self.layers:
            y = l.bn(l.linear_seq(l.linear_channel(x).transpose(1, 2)))  # B x E x T'
            y = F.gelu(y.transpose(1, 2))
            skip = F.adaptive_avg_pool1d(x.transpose(1, 2), y.size(1)).transpose(1, 2)
            x = y + skip
        return x.squeeze(1)


class GraphConv(nn.Module):
    def __init__(self, e, ntoken, k=64):
        super().__init__()
        self.factor_linear = nn.Parameter(torch.empty(ntoken, k))
        self.factor = nn.Parameter(torch.empty(ntoken, k))
        self.linear = nn.Linear(e, e)
        self.linear_trans = nn.Sequential(nn.Linear(k, k), nn.GELU(), nn.Linear(k, k))

    def forward(self, x, src, pad):
        f = self.factor[src]
        g = self.linear_trans(self.factor_linear[src])
        adj = g @ g.transpose(1, 2) + f @ f.transpose(1, 2)
        adj = adj.masked_fill(pad.unsqueeze(1), float("-inf"))
        return self.linear(torch.softmax(adj, dim=2) @ x)


class GnnCp(nn.Module):
    def __init__(self, a, ntoken):
        super().__init__()
        e, n = a["embsize"], a["nlayers"]
        self.layers = nn.ModuleList(GraphConv(e, ntoken) for _ in range(n))
        self.layer_norms = nn.ModuleList(nn.LayerNorm(e) for _ in range(n))

    def forward(self, x, src, pad):
        for conv, norm in zip(self.layers, self.layer_norms):
            x = x + F.gelu(norm(conv(x, src, pad)))
        return x


POOLED = ("cnn_base", "linear_ours")


class Reference(nn.Module):
    def __init__(self, a, vocab):
        super().__init__()
        e = a["embsize"]
        self.a = a
        self.embedding = nn.Embedding(len(vocab), DICT_SIZE, padding_idx=vocab[a.get("pad_token", "<pad>")])
        self.layer_norm = nn.LayerNorm(e)
        if DICT_SIZE != e:
            self.emb_trans = nn.Linear(DICT_SIZE, e)
        self.value_encoder = nn.Sequential(nn.Linear(1, e), nn.ReLU(), nn.Linear(e, e))
        s = a["model_structure"]
        if s in ("transformer", "transformer_ours"):
            self.encoder = Transformer(a)
        elif s == "linear_base":
            self.encoder = LinearBase(a)
        elif s == "cnn_base":
            self.encoder = Cnn(a)
        elif s == "linear_ours":
            self.encoder = LinearOurs(a)
        elif s == "gnn_cp":
            self.encoder = GnnCp(a, len(vocab))
        else:
            raise SystemExit("grad_reference.py: no reference for " + s)
        self.decoder = mlp(e, 1)
        self.gene2query = mlp(e, e)

    def forward(self, src, values, pad):
        gene = self.embedding(src)
        if hasattr(self, "emb_trans"):
            gene = self.emb_trans(gene)
        x = gene + self.value_encoder(values.clamp(max=self.a.get("max_value", 512)).unsqueeze(-1))
        h = self.encoder(x, src, pad)
        query = self.gene2query(gene.detach())
        if self.a["model_structure"] in POOLED:
            cell = h
            mvc = (query @ cell.unsqueeze(2)).squeeze(2)
            return {"mlm_output": mvc.detach(), "mvc_output": mvc, "cell_emb": cell}
        mlm = self.decoder(h).squeeze(2)
        cell = h[:, 0] if self.a.get("cell_emb_style", "cls") == "cls" else h.mean(dim=1)
        mvc = (query @ cell.unsqueeze(2)).squeeze(2)
        return {"mlm_output": mlm, "mvc_output": mvc, "cell_emb": cell}


def load_weights(model, state):
    # The transformer's layers live under encoder.enc.layers here and encoder.layers in the file.
    renamed = collections.OrderedDict()
    for k, v in state.items():
        if isinstance(model.encoder, Transformer) and k.startswith("encoder."):
            k = "encoder.enc." + k[len("encoder."):]
        renamed[k] = v
    model.load_state_dict(renamed, strict=True)


def file_name(model, name):
    return name.replace("encoder.enc.", "encoder.", 1) if isinstance(model.encoder, Transformer) else name


def target_for(shape):
    b, t = shape
    return torch.sin(0.37 * torch.arange(b * t, dtype=torch.float32) + 0.1).view(b, t)


def masked_mse(pred, target, m):
    m = m.float()
    return ((pred - target) ** 2 * m).sum() / m.sum()


def main(fixture, out_path):
    a = json.load(open(os.path.join(fixture, "args.json")))
    vocab = json.load(open(os.path.join(fixture, "vocab.json")))
    if a.get("dropout", 0) != 0:
        raise SystemExit("grad_reference.py: the fixture must have dropout 0")
    torch.manual_seed(0)
    model = Reference(a, vocab)
    load_weights(model, torch.load(os.path.join(fixture, "model.pt"), map_location="cpu"))
    io = torch.load(os.path.join(fixture, "io.pt"), map_location="cpu")
    src, values, pad = io["src"], io["values"], io["src_key_padding_mask"]

    # 1. the reference reproduces the original's eval outputs (pads excluded for the transformer,
    #    whose fast path zeroes them in the original's run).
    model.eval()
    with torch.no_grad():
        ev = model(src, values, pad)
    keep = ~pad if a["model_structure"].startswith("transformer") else torch.ones_like(pad)
    diffs = {}
    for k in ("mlm_output", "mvc_output", "cell_emb"):
        d = (ev[k] - io[k]).abs()
        if d.dim() == 2 and d.shape == keep.shape:
            d = d[keep]
        diffs[k] = d.max().item()
    bad = {k: v for k, v in diffs.items() if not v < TOL}
    if bad:
        raise SystemExit("grad_reference.py: reference does not reproduce %s/io.pt: %s" % (fixture, bad))

    # 2. train-mode gradients.
    model.train()
    model.zero_grad(set_to_none=True)
    out = model(src, values, pad)
    target = target_for(src.shape)
    m = values == a.get("mask_value", -1)
    # + a term over every token, pads included, so that what reaches the pads (and the <pad>
    # embedding row, which padding_idx keeps at zero gradient) is compared too.
    loss = masked_mse(out["mlm_output"], target, m) + masked_mse(out["mvc_output"], target, m) + \
        0.1 * (out["mlm_output"] + out["mvc_output"]).pow(2).mean()
    loss.backward()
    result = collections.OrderedDict()
    result["loss"] = loss.detach()
    for name, p in model.named_parameters():
        key = file_name(model, name)
        if p.grad is None:
            result["nograd." + key] = torch.zeros(0)
        else:
            result["grad." + key] = p.grad.detach().clone()
    for name, b in model.named_buffers():  # BatchNorm running statistics after one training step
        result["buffer." + file_name(model, name)] = b.detach().clone()
    torch.save(result, out_path)
    print(json.dumps({"eval_max_abs_diff": diffs, "loss": loss.item()}))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
