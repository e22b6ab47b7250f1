#!/usr/bin/python3
"""Sorts what a harness run under libFuzzer's -fork left (crash-*, timeout-*, oom-*, leak-* files
in FINDINGS with the harness's prefix) by where it happened: each input is run again alone and the
first stack frame outside the C/C++ runtime and the sanitizers decides.
  inside libhdf5 (or the compression libraries it calls): contained by scfm's supervised worker in
      production (docs/reliability.md): counted, not a finding;
  anywhere else (scfm's code, the harness): a finding: exit status 1.
  triage.py HARNESS_BINARY FINDINGS NAME
"""
import collections
import os
import re
import subprocess
import sys

RUNTIME = re.compile(r"libasan|libubsan|libclang_rt|libc\.so|libc-|libstdc\+\+|libgcc_s|ld-linux|"
                     r"libpthread|/compiler-rt/|sanitizer_common|__asan|__ubsan|__sanitizer::|libFuzzer|fuzzer::|"
                     r"in (raise|abort|malloc|calloc|realloc|free|__libc_|malloc_printerr|_int_|__GI_|operator new|__cxa_|std::terminate|"
                     r"__sanitizer|__interceptor_|__interception::)")
HDF5 = re.compile(r"libhdf5|libsz|libaec|libz\.so|/hdf5/|\bH5[A-Z_]")
# as run_one.sh: an allocation over 2 GiB fails (bad_alloc / NULL) as under the worker's memory cap
ASAN_OPTIONS = "detect_leaks=0:allocator_may_return_null=1:max_allocation_size_mb=2048:symbolize=1"
FRAME = re.compile(r"^\s*#\d+ 0x[0-9a-f]+ (.*)$")


def where(report):
    """'libhdf5', 'scfm' or 'unknown' from a sanitizer / libFuzzer report, and the deciding frame."""
    for line in report.splitlines():
        m = FRAME.match(line)
        if not m:
            continue
        frame = m.group(1)
        if RUNTIME.search(frame):
            continue
        return ("libhdf5" if HDF5.search(frame) else "scfm"), frame.strip()
    return "unknown", ""


def main():
    binary, findings, name = sys.argv[1:4]
    kinds = collections.Counter()
    scfm_frames = collections.Counter()
    files = sorted(f for f in os.listdir(findings) if f.startswith(name + "-"))
    for f in files:
        path = os.path.join(findings, f)
        env = dict(os.environ, ASAN_OPTIONS=ASAN_OPTIONS)
        try:
            r = subprocess.run([binary, "-timeout=10", "-rss_limit_mb=4096", "-malloc_limit_mb=4096", path], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, errors="replace", env=env, timeout=120)
            out = r.stdout
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        if "ERROR" not in out and "timeout" not in out and "out-of-memory" not in out:
            kinds["not reproduced"] += 1
            continue
        w, frame = where(out)
        kinds[w] += 1
        if w != "libhdf5":
            scfm_frames[frame] += 1
            print(f"{name}: FINDING {f}: {frame}")
    print(f"{name}: {len(files)} inputs left by the run: " + ", ".join(f"{v} {k}" for k, v in sorted(kinds.items())))
    for frame, n in scfm_frames.most_common():
        print(f"  {n} x {frame}")
    sys.exit(1 if scfm_frames else 0)


if __name__ == "__main__":
    main()
