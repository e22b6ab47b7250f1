#!/usr/bin/python3
"""scGPT's TransformerGenerator forward, composed from PyTorch's own modules with the names of
scgpt/model/generation_model.py, on a state dict scfm wrote (tests/model/scgpt_test.cpp).

  generator_reference.py MODEL.pt IO.pt OUT.pt NHEAD D_HID NLAYERS
IO.pt holds src, values, flags, src_key_padding_mask; OUT.pt gets pred (batch, seq).
"""
import sys

import torch
from torch import nn


class ExprDecoder(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(d, d), nn.LeakyReLU(), nn.Linear(d, d), nn.LeakyReLU(), nn.Linear(d, 1))

    def forward(self, x):
        return self.fc(x).squeeze(-1)


class Affine(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.coeff_decoder, self.bias_decoder = ExprDecoder(d), ExprDecoder(d)

    def forward(self, x, values):
        return self.coeff_decoder(x) * values + self.bias_decoder(x)


class Generator(nn.Module):
    def __init__(self, ntoken, d, nhead, d_hid, nlayers, pad_id):
        super().__init__()
        self.encoder = nn.Module()
        self.encoder.embedding = nn.Embedding(ntoken, d, padding_idx=pad_id)
        self.encoder.enc_norm = nn.LayerNorm(d)
        self.value_encoder = nn.Module()
        self.value_encoder.linear1, self.value_encoder.linear2 = nn.Linear(1, d), nn.Linear(d, d)
        self.value_encoder.norm = nn.LayerNorm(d)
        self.pert_encoder = nn.Embedding(3, d, padding_idx=2)
        layer = nn.TransformerEncoderLayer(d, nhead, d_hid, 0.0, batch_first=True)
        self.transformer_encoder = nn.TransformerEncoder(layer, nlayers, enable_nested_tensor=False)
        self.decoder = Affine(d)

    def forward(self, src, values, flags, mask):
        g = self.encoder.enc_norm(self.encoder.embedding(src))
        v = values.unsqueeze(-1).clamp(max=512)
        v = self.value_encoder.norm(self.value_encoder.linear2(torch.relu(self.value_encoder.linear1(v))))
        out = self.transformer_encoder(g + v + self.pert_encoder(flags), src_key_padding_mask=mask)
        return self.decoder(out, values)


def main():
    model_pt, io_pt, out_pt = sys.argv[1:4]
    nhead, d_hid, nlayers = map(int, sys.argv[4:7])
    sd = torch.load(model_pt, map_location="cpu")
    io = torch.load(io_pt, map_location="cpu")
    ntoken, d = sd["encoder.embedding.weight"].shape
    m = Generator(ntoken, d, nhead, d_hid, nlayers, 0)
    own = {k: v for k, v in sd.items() if k.split(".")[0] in
           ("encoder", "value_encoder", "pert_encoder", "transformer_encoder", "decoder")}
    missing, unexpected = m.load_state_dict(own, strict=False)
    assert not missing and not unexpected, (missing, unexpected)
    m.eval()
    with torch.no_grad():
        pred = m(io["src"], io["values"], io["flags"], io["src_key_padding_mask"])
    torch.save({"pred": pred}, out_pt)


if __name__ == "__main__":
    main()
