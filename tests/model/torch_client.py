#!/usr/bin/python3
"""python3-torch's side of the checkpoint tests.

  torch_client.py dump FILE            torch.load(FILE, weights_only=True): JSON {name: {dtype, shape, values}}
  torch_client.py make DIR             writes the files the tests read (see below), lists them in DIR/cases.json
"""
import collections
import json
import os
import sys

import torch


def dump(path):
    obj = torch.load(path, map_location="cpu", weights_only=True)
    out = collections.OrderedDict()
    for k, v in obj.items():
        if isinstance(v, torch.Tensor):
            out[k] = {"dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape),
                      "values": v.detach().double().flatten().tolist() if v.dtype != torch.bool else v.flatten().tolist()}
        else:
            out[k] = {"python": repr(v)}
    return {"keys": list(out.keys()), "tensors": out}


class Evil:
    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __reduce__(self):
        return (self.fn, (self.arg,))


def make(d):
    os.makedirs(d, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    base = torch.randn(6, 4, generator=g)
    sd = collections.OrderedDict()
    sd["encoder.weight"] = base
    sd["encoder.bias"] = torch.randn(4, generator=g)
    sd["view.of.encoder"] = base[2:5, 1:3]          # shares storage, offset and strides
    sd["counts"] = torch.arange(7, dtype=torch.int64)
    sd["mask"] = torch.tensor([True, False, True])
    sd["half"] = torch.randn(5, generator=g).half()
    sd["double"] = torch.randn(2, 3, generator=g).double()
    sd["scalar"] = torch.tensor(3.5)
    torch.save(sd, os.path.join(d, "state.pt"))
    torch.save(collections.OrderedDict(("module." + k, v) for k, v in sd.items()), os.path.join(d, "ddp.pt"))
    param = torch.nn.Linear(3, 2)
    torch.save({"weight": param.weight, "bias": param.bias}, os.path.join(d, "params.pt"))  # nn.Parameter objects
    torch.save(sd, os.path.join(d, "legacy.pt"), _use_new_zipfile_serialization=False)
    marker = os.path.join(d, "PWNED")
    torch.save({"x": Evil(os.system, "touch " + marker)}, os.path.join(d, "evil_system.pt"))
    torch.save({"x": Evil(eval, "open('" + marker + "', 'w')")}, os.path.join(d, "evil_eval.pt"))
    torch.save({"x": Evil(os.system, "touch " + marker)}, os.path.join(d, "evil_proto4.pt"), pickle_protocol=4)
    import numpy as np
    torch.save({"x": np.arange(3)}, os.path.join(d, "numpy.pt"))
    json.dump({"marker": marker}, open(os.path.join(d, "cases.json"), "w"))


if __name__ == "__main__":
    if sys.argv[1] == "dump":
        json.dump(dump(sys.argv[2]), sys.stdout)
    elif sys.argv[1] == "make":
        make(sys.argv[2])
