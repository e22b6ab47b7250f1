#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/, clang + ASan/UBSan) and runs each for SECONDS, then prints
# a table of executions and findings for docs/reliability.md.
#   scripts/reliability/fuzz.sh [SECONDS=600] [BUILD_DIR=build-fuzz]
set -euo pipefail
secs=${1:-600}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${2:-$root/build-fuzz}
command -v clang++ > /dev/null || { echo "fuzz.sh: needs clang (apt-get install clang libclang-rt-14-dev)"; exit 1; }
cmake -S "$root/fuzz" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang > /dev/null
cmake --build "$build" > /dev/null
echo "| harness | seconds | executions | execs/s | findings |"
echo "| --- | ---: | ---: | ---: | ---: |"
for h in pickle torch_zip vocab mtx manifest; do
  bash "$root/fuzz/run_one.sh" "$build/fuzz_$h" "$h" "$secs" "$build" > /dev/null || true
  execs=$(grep -E "^stat::number_of_executed_units" "$build/fuzz_$h.log" | awk '{print $2}')
  found=$(ls "$build/findings" 2>/dev/null | grep -c "^$h-" || true)
  echo "| fuzz_$h | $secs | ${execs:-0} | $(( ${execs:-0} / secs )) | $found |"
done
