#!/usr/bin/python3
"""kill -9 campaign (issue 17): SIGKILL scfm at random moments of ingest, pretrain, embed,
finetune-annotate and map, then check what is on disk and finish the work.

For each verb the target starts as a *previous* complete artefact (an earlier run with other
settings; pretrain starts from an empty run folder). scfm is killed at a random moment, one of:
  parent  kill -9 of the pid the user started (its worker follows through PR_SET_PDEATHSIG)
  group   kill -9 of the whole process group (both die at once, as on an OOM kill of the session)
  worker  kill -9 of the worker only (the supervisor reports it and removes the temporaries)
Afterwards every artefact must be the previous complete one or the complete new one (byte or
HDF5-content equal to one of them; the cell store also passes `scfm store verify`; every
checkpoint loads in torch, every .h5ad in anndata), and re-running the command (pretrain:
`--resume`) must finish bitwise equal to an uninterrupted run with no temporary left behind.

  /usr/bin/python3 scripts/reliability/kill_campaign.py --scfm build/scfm --work /tmp/kc --points 200

Prints a markdown table; --json writes the figures. Exit status 1 when any check failed.
"""
import argparse
import re
import filecmp
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

MODES = ["parent", "group", "worker"]


def run(cmd, check=True):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if check and r.returncode != 0:
        raise RuntimeError("failed (%d): %s\n%s" % (r.returncode, " ".join(cmd), r.stdout))
    return r


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def kill_at(cmd, delay, mode):
    """Starts cmd, SIGKILLs it after `delay` s as `mode` says; True if it was still running."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        p.wait(timeout=delay)
        return False  # finished before the kill
    except subprocess.TimeoutExpired:
        pass
    if mode == "group":
        os.killpg(p.pid, signal.SIGKILL)
    elif mode == "worker":
        kids = children(p.pid)
        if not kids:  # not forked yet (or already gone): the parent instead
            p.kill()
        for k in kids:
            os.kill(k, signal.SIGKILL)
    else:
        p.kill()
    p.wait()
    # the worker of a killed parent dies by PR_SET_PDEATHSIG; wait until nothing of the group runs
    for _ in range(200):
        try:
            os.killpg(p.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.01)
    return True


# ---- comparing artefacts -------------------------------------------------------------------

def h5_equal(a, b):
    """Same groups, datasets (values, dtypes, shapes) and attributes; HDF5's own object times and
    layout are not compared (they differ between any two writes)."""
    try:
        fa, fb = h5py.File(a, "r"), h5py.File(b, "r")
    except OSError:
        return False

    def attrs_equal(x, y):
        if sorted(x.attrs.keys()) != sorted(y.attrs.keys()):
            return False
        return all(np.array_equal(np.asarray(x.attrs[k]), np.asarray(y.attrs[k])) for k in x.attrs.keys())

    def walk(x, y):
        if not attrs_equal(x, y):
            return False
        if isinstance(x, h5py.Dataset) or isinstance(y, h5py.Dataset):
            if not (isinstance(x, h5py.Dataset) and isinstance(y, h5py.Dataset)):
                return False
            if x.shape != y.shape or x.dtype != y.dtype:
                return False
            va, vb = x[()], y[()]
            if x.dtype.kind == "f":
                return np.array_equal(va, vb, equal_nan=True)
            return np.array_equal(va, vb)
        if sorted(x.keys()) != sorted(y.keys()):
            return False
        return all(walk(x[k], y[k]) for k in x.keys())

    with fa, fb:
        return walk(fa, fb)


TIMING_KEYS = {"seconds", "index_seconds", "search_seconds", "cells_per_s", "build_seconds", "query_seconds"}


def strip_timing(v):
    if isinstance(v, dict):
        return {k: strip_timing(x) for k, x in v.items() if k not in TIMING_KEYS}
    if isinstance(v, list):
        return [strip_timing(x) for x in v]
    return v


def json_lines(path):
    with open(path) as f:
        return [strip_timing(json.loads(l)) for l in f if l.strip()]


RUN_FOLDER = None  # a regex matching the campaign's run folders (slot-*, ref-*, prev-*), set in main()


def text(path, root):
    with open(path, "rb") as f:
        return RUN_FOLDER.sub(b"<RUN>", f.read())


def file_equal(a, b, ra, rb):
    """a (under the run folder ra) and b (under rb) hold the same content; paths naming the run
    folder itself and timings are not compared."""
    if not (os.path.isfile(a) and os.path.isfile(b)):
        return False
    name = os.path.basename(a)
    try:
        if name.endswith(".h5ad"):
            return h5_equal(a, b)
        if name == "metrics.jsonl":
            la = [strip_timing(json.loads(l)) for l in text(a, ra).decode().splitlines() if l.strip()]
            lb = [strip_timing(json.loads(l)) for l in text(b, rb).decode().splitlines() if l.strip()]
            return la == lb
        if name.endswith(".json"):
            return strip_timing(json.loads(text(a, ra))) == strip_timing(json.loads(text(b, rb)))
        if name.endswith(".md"):  # repeats results.json's timings: those lines aside
            keep = lambda t: [l for l in t.decode().splitlines() if "second" not in l and "cells/s" not in l]
            return keep(text(a, ra)) == keep(text(b, rb))
        if name.endswith((".csv", ".svg")):
            return text(a, ra) == text(b, rb)
    except ValueError:
        return False
    return filecmp.cmp(a, b, shallow=False)


def tree(path):
    """Relative paths of the files under path (or [''] for a file)."""
    if os.path.isfile(path):
        return [""]
    out = []
    for root, _, files in os.walk(path):
        for f in files:
            out.append(os.path.relpath(os.path.join(root, f), path))
    return sorted(out)


def same_artefact(a, b, ra, rb):
    if not os.path.exists(a) or not os.path.exists(b):
        return False
    if os.path.isfile(a) != os.path.isfile(b):
        return False
    ta, tb = tree(a), tree(b)
    if ta != tb:
        return False
    return all(file_equal(os.path.join(a, r) if r else a, os.path.join(b, r) if r else b, ra, rb) for r in ta)


def temporaries(root):
    found = []
    for r, dirs, files in os.walk(root):
        for n in dirs + files:
            if ".tmp." in n or ".part" in n or ".old." in n:
                found.append(os.path.join(r, n))
    return found


# ---- the campaign --------------------------------------------------------------------------

class Verb:
    """name; artefacts: paths (relative to the slot) that must each be previous or new; cmd(slot);
    prev_cmd(slot) (None: the slot starts empty); resume(slot) (default: cmd again)."""

    def __init__(self, name, artefacts, cmd, prev_cmd=None, resume=None, check=None):
        self.name, self.artefacts, self.cmd, self.prev_cmd = name, artefacts, cmd, prev_cmd
        self.resume = resume or cmd
        self.check = check


def make_verbs(scfm, W, cells):
    """Writes the inputs into W (simulated reference and query, vocabulary, a store, a model and
    embeddings made once, uninterrupted) and returns the five verbs under test."""
    global RUN_FOLDER
    RUN_FOLDER = re.compile(re.escape(W.encode()) + rb"/(?:slot|ref|prev|probe)-[A-Za-z]+(?:-[A-Za-z]+)*(?:-[0-9]+)?")
    data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "data", "pbmc3k.h5ad")

    def S(*args):
        return [scfm, "--threads", "2"] + [str(x) for x in args]

    # inputs
    run(S("simulate", "--like", data, "--label-col", "cell_type", "--cells", cells, "--seed", 1, "--out", W + "/ref.h5ad"))
    run(S("simulate", "--like", data, "--label-col", "cell_type", "--cells", max(100, cells // 4), "--seed", 2,
          "--out", W + "/query.h5ad"))
    run(S("vocab", "build", W + "/ref.h5ad", "--out", W + "/vocab.json"))
    ingest_args = ["--vocab", W + "/vocab.json", "--obs-cols", "cell_type", "--shard-cells", 300, "--overwrite"]
    pretrain_args = ["--model-structure", "transformer", "--epochs", 2, "--batch-size", 32, "--nlayers", 1, "--nheads", 2,
                     "--embsize", 32, "--train-maxseq", 32, "--warmup-iters", 5, "--lr", "3e-3", "--log-interval", 5,
                     "--checkpoint-every", 8, "--valid-ratio", 0.1, "--seed", 0]
    # the shared model and embeddings the later verbs read (made once, uninterrupted)
    run(S("ingest", W + "/ref.h5ad", "--out", W + "/store", *ingest_args))
    run(S("pretrain", "--store", W + "/store", "--out", W + "/model", *pretrain_args))
    run(S("embed", "--model", W + "/model", "--in", W + "/ref.h5ad", "--out", W + "/ref_emb.h5ad", "--max-length", 65))
    run(S("embed", "--model", W + "/model", "--in", W + "/query.h5ad", "--out", W + "/query_emb.h5ad", "--max-length", 65))

    def finetune(seed):
        return lambda s: S("finetune-annotate", "--model", W + "/model", "--in", W + "/ref.h5ad", "--query", W + "/query.h5ad",
                           "--label-col", "cell_type", "--out", s + "/ft", "--epochs", 2, "--lr", "1e-3", "--max-length", 33,
                           "--seed", seed)

    def map_(k):
        return lambda s: S("map", "--reference", W + "/ref_emb.h5ad", "--query", W + "/query_emb.h5ad", "--embedding", "X_scfm",
                           "--label-col", "cell_type", "--k", k, "--out", s + "/mapped.h5ad", "--report", s + "/map")

    def store_ok(s):
        return run(S("store", "verify", s + "/store"), check=False).returncode == 0

    def checkpoints_ok(s):
        return all(torch_loads(os.path.join(r, f)) for r, _, files in os.walk(s) for f in files if f.endswith(".pt"))

    def h5ad_ok(path):
        if not os.path.exists(path):
            return True
        import anndata
        try:
            anndata.read_h5ad(path)
            return True
        except Exception:
            return False

    verbs = [
        Verb("ingest", ["store"], lambda s: S("ingest", W + "/ref.h5ad", "--out", s + "/store", *ingest_args),
             prev_cmd=lambda s: S("ingest", W + "/query.h5ad", "--out", s + "/store", *ingest_args),
             check=lambda s: not os.path.exists(s + "/store") or store_ok(s)),
        Verb("pretrain", ["run/args.json", "run/vocab.json", "run/train_state.pt", "run/best_model.pt", "run/model-ep1.pt",
                          "run/model-ep2.pt"],
             lambda s: S("pretrain", "--store", W + "/store", "--out", s + "/run", *pretrain_args),
             resume=lambda s: S("pretrain", "--store", W + "/store", "--out", s + "/run", "--resume", *pretrain_args),
             check=checkpoints_ok),
        Verb("embed", ["emb.h5ad"],
             lambda s: S("embed", "--model", W + "/model", "--in", W + "/query.h5ad", "--out", s + "/emb.h5ad", "--max-length", 65),
             prev_cmd=lambda s: S("embed", "--model", W + "/model", "--in", W + "/query.h5ad", "--out", s + "/emb.h5ad",
                                  "--max-length", 33),
             check=lambda s: h5ad_ok(s + "/emb.h5ad")),
        Verb("finetune-annotate", ["ft/model", "ft/annotated.h5ad", "ft/results.json", "ft/results.md", "ft/results.csv",
                                   "ft/confusion.svg"],
             finetune(0), prev_cmd=finetune(1),
             check=lambda s: checkpoints_ok(s + "/ft") and h5ad_ok(s + "/ft/annotated.h5ad")),
        Verb("map", ["mapped.h5ad", "map/results.json", "map/results.md", "map/results.csv", "map/confusion.svg"],
             map_(10), prev_cmd=map_(5), check=lambda s: h5ad_ok(s + "/mapped.h5ad")),
    ]

    return verbs


def make_references(verbs, W):
    """An uninterrupted run (timed) and, where the verb has one, the previous artefact."""
    for v in verbs:
        ref, prev = W + "/ref-" + v.name, W + "/prev-" + v.name
        os.makedirs(ref)
        os.makedirs(prev)
        t0 = time.time()
        run(v.cmd(ref))
        v.seconds = time.time() - t0
        if v.prev_cmd:
            run(v.prev_cmd(prev))
        v.ref, v.prev = ref, prev


def fresh_slot(v, slot):
    """A folder holding the previous artefact (or nothing, for pretrain)."""
    if v.prev_cmd:
        shutil.copytree(v.prev, slot, symlinks=True)
    else:
        os.makedirs(slot)


def torch_loads(path):
    import torch
    try:
        torch.load(path, weights_only=True)
        return True
    except Exception:
        return False


def artefact_state(v, slot, art):
    """absent, new (the uninterrupted run's), previous (the one before, or for pretrain an earlier
    complete checkpoint of the same run) or mixed (neither: a failure)."""
    p = slot + "/" + art
    if not os.path.exists(p):
        return "absent"
    if same_artefact(p, v.ref + "/" + art, slot, v.ref):
        return "new"
    if v.prev_cmd and same_artefact(p, v.prev + "/" + art, slot, v.prev):
        return "previous"
    if v.name == "pretrain" and art.endswith(".pt") and torch_loads(p):
        return "previous"
    return "mixed"


def previous_intact(v, slot, art):
    """After a failed run: the artefact is the previous one, or one the run had already finished
    whole before the failure (a folder of several artefacts), or absent where there was none."""
    st = artefact_state(v, slot, art)
    return st in ("previous", "new") or (st == "absent" and not v.prev_cmd)


def equal_to_reference(v, slot):
    ok = all(same_artefact(slot + "/" + art, v.ref + "/" + art, slot, v.ref) for art in v.artefacts)
    if v.name == "pretrain":
        ok = ok and same_artefact(slot + "/run/metrics.jsonl", v.ref + "/run/metrics.jsonl", slot, v.ref)
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scfm", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--points", type=int, default=200, help="kills in all, spread over the five verbs")
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--cells", type=int, default=1500)
    ap.add_argument("--json")
    a = ap.parse_args()
    W = os.path.abspath(a.work)
    shutil.rmtree(W, ignore_errors=True)
    os.makedirs(W)
    rng = random.Random(a.seed)
    t_setup = time.time()
    verbs = make_verbs(os.path.abspath(a.scfm), W, a.cells)
    make_references(verbs, W)
    results = {}
    for v in verbs:
        results[v.name] = {"points": 0, "seconds": round(v.seconds, 2), "modes": {m: 0 for m in MODES}, "previous": 0, "new": 0,
                           "absent": 0, "mixed": 0, "check_failed": 0, "resume_equal": 0, "resume_differs": 0,
                           "temporaries_left": 0, "temporaries_after_kill": 0, "finished_before_kill": 0, "second_kill": 0,
                           "failures": []}
    setup_s = time.time() - t_setup

    share = [a.points // len(verbs) + (1 if i < a.points % len(verbs) else 0) for i in range(len(verbs))]
    t_campaign = time.time()
    for v, n in zip(verbs, share):
        r = results[v.name]
        point = 0
        while r["points"] < n:
            point += 1
            slot = "%s/slot-%s-%d" % (W, v.name, point)
            fresh_slot(v, slot)
            # half the kills anywhere, half in the last 40% of the run, where the files are written
            frac = rng.uniform(0.0, 1.0) if rng.random() < 0.5 else rng.uniform(0.6, 1.0)
            delay = frac * v.seconds
            mode = MODES[rng.randrange(len(MODES))]
            if not kill_at(v.cmd(slot), delay, mode):
                r["finished_before_kill"] += 1
                shutil.rmtree(slot)
                continue
            r["points"] += 1
            r["modes"][mode] += 1
            # what is on disk now
            states = [artefact_state(v, slot, art) for art in v.artefacts]
            for art, st in zip(v.artefacts, states):
                if st == "mixed":
                    r["failures"].append("%s: %s after a %s kill at %.2f s is neither the previous nor the new one" %
                                         (slot, art, mode, delay))
            if temporaries(slot):
                r["temporaries_after_kill"] += 1  # a kill -9 cannot be caught: the next run removes them
            for st in ("previous", "new", "absent", "mixed"):
                r[st] += states.count(st)
            if v.check and not v.check(slot):
                r["check_failed"] += 1
                r["failures"].append("%s: the readers refuse what a %s kill at %.2f s left" % (slot, mode, delay))
            # a second kill while resuming (a third of the pretrain points): the resume must survive it
            if v.name == "pretrain" and rng.random() < 1 / 3:
                if kill_at(v.resume(slot), rng.uniform(0.2, 1.0) * v.seconds, MODES[rng.randrange(len(MODES))]):
                    r["second_kill"] += 1
            rr = run(v.resume(slot), check=False)
            equal = rr.returncode == 0 and equal_to_reference(v, slot)
            if equal:
                r["resume_equal"] += 1
            else:
                r["resume_differs"] += 1
                r["failures"].append("%s: after a %s kill at %.2f s the re-run (exit %d) differs from the uninterrupted one\n%s" %
                                     (slot, mode, delay, rr.returncode, rr.stdout[-2000:]))
            left = temporaries(slot)
            if left:
                r["temporaries_left"] += 1
                r["failures"].append("%s: temporaries left: %s" % (slot, left))
            if equal and not left:
                shutil.rmtree(slot)
    campaign_s = time.time() - t_campaign

    print("| verb | run (s) | kills (parent/group/worker) | artefacts previous / new / absent / mixed | readers refused |"
          " re-run bitwise equal | temporaries after the kill / after the re-run |")
    print("| --- | ---: | --- | --- | ---: | ---: | ---: |")
    ok = True
    for v in verbs:
        r = results[v.name]
        print("| %s | %.1f | %d (%d/%d/%d)%s | %d / %d / %d / %d | %d | %d of %d | %d / %d |" % (
            v.name, r["seconds"], r["points"], r["modes"]["parent"], r["modes"]["group"], r["modes"]["worker"],
            " + %d during resume" % r["second_kill"] if r["second_kill"] else "",
            r["previous"], r["new"], r["absent"], r["mixed"], r["check_failed"], r["resume_equal"], r["points"],
            r["temporaries_after_kill"], r["temporaries_left"]))
        ok = ok and not r["failures"]
    print("\nsetup %.0f s, campaign %.0f s, %d kills" % (setup_s, campaign_s, sum(r["points"] for r in results.values())))
    for r in results.values():
        for f in r["failures"][:5]:
            print("FAIL", f)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"results": results, "setup_seconds": setup_s, "campaign_seconds": campaign_s}, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
