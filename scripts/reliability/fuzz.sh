#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/, clang + ASan/UBSan) and runs each for SECONDS, then prints
# a table of executions and findings for docs/reliability.md.
#   scripts/reliability/fuzz.sh [SECONDS=600] [BUILD_DIR=build-fuzz]
#   HARNESSES="vocab manifest" scripts/reliability/fuzz.sh 1500        some of them
# The HDF5 harness (h5ad) runs under -fork; its findings column says how many of the crashes its run
# left are inside libhdf5 (contained by the supervisor) and how many in scfm's code (fuzz/triage.py).
set -euo pipefail
secs=${1:-600}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${2:-$root/build-fuzz}
command -v clang++ > /dev/null || { echo "fuzz.sh: needs clang (apt-get install clang libclang-rt-14-dev)"; exit 1; }
cmake -S "$root/fuzz" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang > /dev/null
cmake --build "$build" > /dev/null
echo "| harness | seconds | executions | execs/s | findings |"
echo "| --- | ---: | ---: | ---: | ---: |"
for h in ${HARNESSES:-pickle torch_zip vocab mtx manifest shard h5ad parquet}; do
  out=$(bash "$root/fuzz/run_one.sh" "$build/fuzz_$h" "$h" "$secs" "$build" 2>&1 || true)
  if [ "$h" = h5ad ]; then
    execs=$(grep -E "^#[0-9]+: cov:" "$build/fuzz_$h.log" | tail -1 | sed -E 's/^#([0-9]+):.*/\1/')
    found=$(echo "$out" | grep "inputs left by the run" | sed 's/.*run: //')
  else
    execs=$(grep -E "^stat::number_of_executed_units" "$build/fuzz_$h.log" | awk '{print $2}')
    found=$(ls "$build/findings" 2>/dev/null | grep -c "^$h-" || true)
  fi
  echo "| fuzz_$h | $secs | ${execs:-0} | $(( ${execs:-0} / secs )) | ${found:-0} |"
done
