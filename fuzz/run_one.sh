#!/usr/bin/env bash
# One harness for SECONDS on its seed corpus (a copy grows in BUILD/corpus-run/NAME); prints
# libFuzzer's final stats; exits non-zero on a finding (crash-* files are kept in BUILD/findings).
#   run_one.sh HARNESS NAME SECONDS BUILD
set -uo pipefail
bin=$1 name=$2 secs=$3 build=$4
here=$(dirname "$0")
[ -d "$build/corpus/$name" ] || bash "$here/make_corpus.sh" "$build/corpus" > /dev/null
mkdir -p "$build/corpus-run/$name" "$build/findings"
cp -n "$build/corpus/$name"/* "$build/corpus-run/$name/" 2>/dev/null || true
# HDF5 harnesses: libhdf5 itself crashes on damaged files (contained by scfm's supervisor), so they
# run under -fork, which goes on after a crash, and triage.py sorts what they found afterwards.
# (hangs inside libhdf5 are its own too: a 3 s limit keeps them from eating the run). An allocation
# over 2 GiB fails (bad_alloc / NULL) as it does under the worker's memory cap.
fork=() timeout=10
case $name in h5ad) fork=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1) timeout=3 ;; esac
ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1:max_allocation_size_mb=2048 "$bin" "$build/corpus-run/$name" \
  -max_total_time="$secs" -rss_limit_mb=4096 -malloc_limit_mb=4096 -max_len="${MAX_LEN:-65536}" -timeout=$timeout \
  -print_final_stats=1 -artifact_prefix="$build/findings/$name-" \
  "${fork[@]}" > "$build/fuzz_$name.log" 2>&1
rc=$?
if [ ${#fork[@]} -gt 0 ]; then
  grep -E "^#[0-9]+: cov:" "$build/fuzz_$name.log" | tail -1
  /usr/bin/python3 "$here/triage.py" "$bin" "$build/findings" "$name"
  exit $?
fi
grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|ERROR|SUMMARY|^#[0-9]+.*DONE" "$build/fuzz_$name.log" | tail -5
exit $rc
