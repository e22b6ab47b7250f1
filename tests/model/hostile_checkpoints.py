"""Writes hostile torch.save archives (and real ones) for tests/model/hostile_checkpoint_test.cpp.

    hostile_checkpoints.py OUT_DIR MARKER

OUT_DIR/hostile/*.pt: files scfm must refuse without running anything. Every payload that would run
code, if executed, creates MARKER (the test checks it never appears). Groups:
  global_*   a dangerous callable through GLOBAL (protocol 0-2 'c') or STACK_GLOBAL (protocol 4),
             REDUCEd with arguments that touch MARKER
  attr_*     allowed modules with other attributes, dotted names, lookalikes
  op_*       opcode tricks: INST/OBJ, NEWOBJ_EX, EXT*, PERSID, BINPERSID oddities, memo misuse, bad
             marks, truncation, unknown opcodes, huge length fields, deep nesting, self-containing
             lists, shared-reference explosions, stack floods
  tensor_*   the allowed tensor rebuild with hostile storages and views
  zip_*      archive-level: compressed (bomb) records, sizes past the end, odd names, not a zip
OUT_DIR/real/*.pt: real state dicts torch.save writes (dtypes, protocols, views, shared storage),
which scfm must read. Prints "hostile N real M".
"""
import collections
import io
import os
import pickle
import struct
import sys
import zipfile

import torch

out, marker = sys.argv[1], sys.argv[2]
hdir, rdir = os.path.join(out, "hostile"), os.path.join(out, "real")
os.makedirs(hdir, exist_ok=True)
os.makedirs(rdir, exist_ok=True)

# a template archive: torch.save's own layout, data.pkl to be replaced
buf = io.BytesIO()
torch.save({"w": torch.zeros(2)}, buf)
template = buf.getvalue()
with zipfile.ZipFile(io.BytesIO(template)) as z:
    names = z.namelist()
    records = {n: z.read(n) for n in names}
prefix = names[0].split("/")[0]
count = 0


def archive(name, pkl, extra=None, compress=None):
    """torch.save's records with data.pkl replaced (STORED, as torch writes)."""
    global count
    path = os.path.join(hdir, name + ".pt")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for n in names:
            data = pkl if n.endswith("/data.pkl") else records[n]
            if compress and n.endswith(compress):
                z.writestr(n, data, compress_type=zipfile.ZIP_DEFLATED)
            else:
                z.writestr(n, data)
        for n, data in (extra or {}).items():
            z.writestr(prefix + "/" + n, data,
                       compress_type=zipfile.ZIP_DEFLATED if compress and n.endswith(compress) else zipfile.ZIP_STORED)
    count += 1


def raw(name, data):
    global count
    with open(os.path.join(hdir, name + ".pt"), "wb") as f:
        f.write(data)
    count += 1


touch = "touch " + marker
pyc = "open(%r, 'w').close()" % marker


def sbytes(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b  # BINUNICODE


def g0(module, name):  # GLOBAL
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def g4(module, name):  # STACK_GLOBAL
    return sbytes(module) + sbytes(name) + b"\x93"


def call(glob, *args):  # glob(*args) via REDUCE
    body = glob + b"("
    for a in args:
        body += sbytes(a)
    return body + b"tR"


def wrap(expr):  # {"w": expr} as the checkpoint root
    return b"\x80\x02}(" + sbytes("w") + expr + b"u."


# --- global_*: dangerous callables, both GLOBAL forms ------------------------------------------
dangerous = [
    ("os", "system", (touch,)), ("posix", "system", (touch,)), ("nt", "system", (touch,)),
    ("subprocess", "Popen", (touch,)), ("subprocess", "call", (touch,)), ("subprocess", "check_output", (touch,)),
    ("subprocess", "run", (touch,)), ("builtins", "eval", (pyc,)), ("builtins", "exec", (pyc,)),
    ("__builtin__", "eval", (pyc,)), ("builtins", "__import__", ("os",)), ("builtins", "getattr", ("os", "system")),
    ("builtins", "open", (marker, "w")), ("builtins", "compile", (pyc, "x", "exec")), ("io", "open", (marker, "w")),
    ("shutil", "rmtree", (marker,)), ("pty", "spawn", (touch,)), ("runpy", "run_path", (marker,)),
    ("importlib", "import_module", ("os",)), ("pickle", "loads", ("x",)), ("torch", "load", (marker,)),
    ("numpy", "load", (marker,)), ("socket", "create_connection", ("localhost",)), ("ctypes", "CDLL", ("libc.so.6",)),
    ("webbrowser", "open", ("http://localhost",)), ("os", "popen", (touch,)), ("os", "execv", ("/bin/touch",)),
    ("code", "interact", ()), ("sys", "exit", ()), ("torch.serialization", "load", (marker,)),
]
for module, name, args in dangerous:
    for tag, g in (("g0", g0), ("g4", g4)):
        archive("global_%s_%s_%s" % (module.replace(".", "_"), name, tag), wrap(call(g(module, name), *args)))

# --- attr_*: allowed-looking names -------------------------------------------------------------
for module, name in [("collections", "Counter"), ("collections", "defaultdict"), ("collections", "OrderedDict.fromkeys"),
                     ("torch", "Tensor"), ("torch._utils", "_rebuild_tensor"), ("torch._utils", "_rebuild_qtensor"),
                     ("torch._utils", "_rebuild_device_tensor_from_numpy"), ("torch", "FloatStorage.from_file"),
                     ("torch.nn", "Module"), ("builtins", "set.__class__"), ("torch", "device.__init__"),
                     ("_codecs", "decode"), ("torch", "Size.__new__"), ("collections ", "OrderedDict"),
                     ("collections", "OrderedDict\x00os.system"), ("torch._utils", "_rebuild_tensor_v2.__globals__")]:
    archive("attr_%s_%s" % (module.strip().replace(".", "_"), name.replace(".", "_").replace("\x00", "_nul_")),
            wrap(call(g4(module, name), "x")))

# --- op_*: opcode tricks -----------------------------------------------------------------------
ops = {
    "inst": b"\x80\x02(" + sbytes(touch) + b"ios\nsystem\n.",
    "obj": b"\x80\x02(" + g0("os", "system") + sbytes(touch) + b"o.",
    "newobj_ex": b"\x80\x04" + g4("os", "system") + b")}\x92.",
    "newobj_allowed_bad": b"\x80\x02" + g0("collections", "OrderedDict") + b"(" + sbytes(touch) + b"t\x81.",
    "ext1": b"\x80\x02\x82\x01.", "ext2": b"\x80\x02\x83\x01\x00.", "ext4": b"\x80\x02\x84\x01\x00\x00\x00.",
    "persid": b"P" + touch.encode() + b"\n.",
    "binpersid_str": b"\x80\x02" + sbytes("storage") + b"Q.",
    "binpersid_short": b"\x80\x02(" + sbytes("storage") + b"tQ.",
    "binpersid_badtype": b"\x80\x02(" + sbytes("storage") + g0("os", "system") + sbytes("0") + sbytes("cpu") + b"K\x02tQ.",
    "memo_unset": b"\x80\x02h\x07.", "memo_unset_long": b"\x80\x02j\xff\xff\xff\x7f.",
    "memo_text_unset": b"g99\n.", "pop_empty": b"\x80\x020.", "pop_mark_none": b"\x80\x021.",
    "tuple_short": b"\x80\x02\x87.", "setitems_odd": b"\x80\x02}(" + sbytes("a") + b"u.",
    "append_on_dict": b"\x80\x02}K\x01a.", "setitem_on_list": b"\x80\x02]K\x01K\x02s.",
    "stop_empty": b".", "empty": b"", "proto_only": b"\x80\x02", "unknown_op": b"\x80\x02\xff.",
    "no_stop": b"\x80\x02]",
    "binunicode8_huge": b"\x80\x04\x8d" + struct.pack("<Q", 1 << 62) + b"x.",
    "binbytes8_huge": b"\x80\x04\x8e" + struct.pack("<Q", 1 << 62) + b"x.",
    "binunicode_huge": b"\x80\x02X" + struct.pack("<I", 0xFFFFFFFF) + b"x.",
    "frame_huge": b"\x80\x04\x95" + struct.pack("<Q", 1 << 62) + b"N.",
    "long4_huge": b"\x80\x02\x8b" + struct.pack("<I", 0xFFFFFFF0) + b"\x00.",
    "long1_9bytes": b"\x80\x02\x8a\x09" + b"\x01" * 9 + b".",
    "text_int_junk": b"I12abc\n.", "text_long_junk": b"L99999999999999999999999999L\n.",
    "reduce_non_global": b"\x80\x02K\x01)R.", "reduce_args_not_tuple": b"\x80\x02" + g0("collections", "OrderedDict") + b"K\x01R.",
    "build_on_list": b"\x80\x02]}b.", "build_on_int": b"\x80\x02K\x01}b.",
    "global_no_newline": b"cos\nsystem", "stack_global_nonstr": b"\x80\x04K\x01K\x02\x93.",
    # deep nesting: a million MARKs then LISTs; lists nested through the memo; a list that holds itself
    "deep_marks": b"\x80\x02" + b"(" * 200000 + b"l" * 200000 + b".",
    "deep_memo_chain": b"\x80\x02]q\x00" + b"".join(b"]h\x00aq\x00" for _ in range(100000)) + b".",
    "self_list": b"\x80\x02]q\x00h\x00a.",
    "self_dict": b"\x80\x02}q\x00K\x01h\x00s.",
    # a "billion laughs": each level a list holding the previous one twice, 80 levels
    "laughs": b"\x80\x02]q\x00" + b"".join(b"](" + b"h" + bytes([i]) + b"h" + bytes([i]) + b"eq" + bytes([i + 1]) for i in range(80)) + b".",
    "stack_flood": b"\x80\x02" + b"N" * 1000000 + b".",
    "mark_flood": b"\x80\x02" + b"(" * 1000000 + b"N.",
}
for name, data in ops.items():
    archive("op_" + name, data)
# the same pickles outside an archive (raw .pt) are not torch.save archives at all
for name in ("inst", "obj", "laughs", "deep_marks"):
    raw("op_raw_" + name, ops[name])


# --- tensor_*: the allowed rebuild with hostile storages and views ------------------------------
def tensor(storage_cls="FloatStorage", key="0", loc="cpu", numel=2, offset=0, sizes=(2,), strides=(1,)):
    def ints(v):
        return b"(" + b"".join(b"\x8a\x08" + struct.pack("<q", x) for x in v) + b"t"
    pid = b"(" + sbytes("storage") + g0("torch", storage_cls) + sbytes(key) + sbytes(loc) + b"\x8a\x08" + \
        struct.pack("<q", numel) + b"tQ"
    return wrap(g0("torch._utils", "_rebuild_tensor_v2") + b"(" + pid + b"\x8a\x08" + struct.pack("<q", offset) +
                ints(sizes) + ints(strides) + b"\x89" + g0("collections", "OrderedDict") + b")RtR")


for name, kw in {
    "missing_record": dict(key="99"), "numel_huge": dict(numel=1 << 61), "numel_overflow": dict(numel=(1 << 62) + 1),
    "numel_mismatch": dict(numel=1000), "numel_negative": dict(numel=-1),
    "view_past_end": dict(sizes=(3,)), "view_offset_past": dict(offset=5), "view_offset_negative": dict(offset=-1),
    "view_negative_size": dict(sizes=(-2,)), "view_negative_stride": dict(strides=(-1,)),
    "view_overflow": dict(sizes=(1 << 62, 1 << 62), strides=(1 << 62, 1 << 62)),
    "view_rank_mismatch": dict(sizes=(2, 1), strides=(1,)), "view_huge_stride": dict(sizes=(2,), strides=(1 << 62,)),
    "view_many_dims": dict(sizes=(1,) * 100, strides=(1,) * 100), "storage_complex": dict(storage_cls="ComplexFloatStorage"),
    "storage_untyped": dict(storage_cls="UntypedStorage"), "device_meta": dict(loc="meta"), "device_junk": dict(loc="tpu:0"),
    "key_traversal": dict(key="../../etc/passwd"),
}.items():
    archive("tensor_" + name, tensor(**kw))

# --- zip_*: archive level ----------------------------------------------------------------------
good_pkl = records[prefix + "/data.pkl"]
archive("zip_bomb_data", good_pkl, extra={"data/1": b"\0" * (64 << 20)}, compress="data/1")   # 64 MiB of zeros, deflated
archive("zip_deflated_pkl", good_pkl, compress="data.pkl")
raw("zip_truncated", template[: len(template) // 2])
raw("zip_empty", b"")
raw("zip_pk_only", b"PK\x03\x04")
raw("zip_junk", b"PK\x03\x04" + os.urandom(200))
# the first record's sizes inflated in the central directory
t = bytearray(template)
first_cd = template.find(b"PK\x01\x02")
struct.pack_into("<II", t, first_cd + 20, 0x7FFFFFFF, 0x7FFFFFFF)
raw("zip_size_past_end", bytes(t))
t = bytearray(template)
struct.pack_into("<I", t, first_cd + 42, 0x7FFFFFFF)
raw("zip_offset_past_end", bytes(t))
t = bytearray(template)
eocd = template.rfind(b"PK\x05\x06")
struct.pack_into("<I", t, eocd + 16, 0x7FFFFFF0)
raw("zip_cd_past_end", bytes(t))
t = bytearray(template)
z64 = template.rfind(b"PK\x06\x06")  # torch.save writes zip64 end records
if z64 >= 0:
    struct.pack_into("<Q", t, z64 + 48, 1 << 40)  # the zip64 directory offset, far past the end
    struct.pack_into("<H", t, eocd + 10, 0xFFFF)
    raw("zip64_offset_past_end", bytes(t))
t = bytearray(template)
struct.pack_into("<H", t, eocd + 10, 0xFFFF)
loc = template.rfind(b"PK\x06\x07")
if loc >= 0:
    t[loc:loc + 4] = b"XXXX"  # the zip64 locator destroyed
raw("zip64_without_locator", bytes(t))
legacy = io.BytesIO()
torch.save({"w": torch.zeros(2)}, legacy, _use_new_zipfile_serialization=False)
raw("zip_legacy_format", legacy.getvalue())
raw("zip_pickle_not_zip", pickle.dumps({"w": 1}))

# --- real checkpoints ---------------------------------------------------------------------------
real = 0


def save(name, obj, **kw):
    global real
    torch.save(obj, os.path.join(rdir, name + ".pt"), **kw)
    real += 1


base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
for dt in (torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.int16,
           torch.int8, torch.uint8, torch.bool):
    save("dtype_" + str(dt).split(".")[1], {"w": base.to(dt)})
save("protocol4", {"w": base}, pickle_protocol=4)
save("ordered", collections.OrderedDict([("a", base), ("b", base.t())]))
save("shared_storage", {"a": base, "b": base[1:], "c": base[:, 1]})
save("module", torch.nn.TransformerEncoderLayer(16, 2, 32).state_dict())
save("parameters", {"p": torch.nn.Parameter(base.clone())})
save("empty_and_scalar", {"e": torch.zeros(0, 3), "s": torch.tensor(3.5)})
save("large", {"w": torch.randn(300, 300)})
print("hostile", count, "real", real)
