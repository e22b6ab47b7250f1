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
ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 "$bin" "$build/corpus-run/$name" -max_total_time="$secs" \
  -rss_limit_mb=2048 -max_len="${MAX_LEN:-65536}" -timeout=10 -print_final_stats=1 -artifact_prefix="$build/findings/$name-" \
  > "$build/fuzz_$name.log" 2>&1
rc=$?
grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|ERROR|SUMMARY|^#[0-9]+.*DONE" "$build/fuzz_$name.log" | tail -5
exit $rc
