#!/usr/bin/env python3
"""Reference readings for tests/io/vocab_test.cpp, made with Python's json module and anndata.

  vocab_reference.py tokens VOCAB_JSON   the tokens in id order (json.load; ids must be 0..n-1)
                                         with <pad>, <cls>, <eoc> appended when missing, and
                                         {"checksum": FNV-1a 64 over the tokens, each + NUL}
  vocab_reference.py var H5AD            {"var_names": [...], "var_columns": [...]} (anndata)
"""
import json
import sys
import warnings

SPECIALS = ["<pad>", "<cls>", "<eoc>"]


def fnv1a64(tokens):
    h = 0xCBF29CE484222325
    for t in tokens:
        for b in t.encode("utf-8") + b"\0":
            h ^= b
            h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def main():
    warnings.simplefilter("ignore")
    cmd, arg = sys.argv[1], sys.argv[2]
    if cmd == "tokens":
        with open(arg, encoding="utf-8") as f:
            stoi = json.load(f)
        tokens = sorted(stoi, key=lambda t: stoi[t])
        assert [stoi[t] for t in tokens] == list(range(len(tokens))), "ids are not 0..n-1"
        tokens += [s for s in SPECIALS if s not in stoi]
        print(json.dumps({"tokens": tokens, "checksum": fnv1a64(tokens)}))
    elif cmd == "var":
        import anndata

        a = anndata.read_h5ad(arg, backed="r")
        print(json.dumps({"var_names": a.var_names.tolist(), "var_columns": a.var.columns.tolist()}))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
