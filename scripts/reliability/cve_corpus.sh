#!/usr/bin/env bash
# Runs every file of the HDF5 CVE reproducer corpus (github HDFGroup/cve_hdf5, cvefiles/) through
# `scfm info` and `scfm ingest`, supervised (the default) and in-process (--trusted-input), and
# prints the table of docs/reliability.md.
#   scripts/reliability/cve_corpus.sh CVE_DIR [SCFM_BINARY]
# Outcomes by exit status: 0 read; 1 refused with scfm's one-line error; 3 the supervisor caught an
# HDF5 crash or hang (the scfm process lives and says so in one line); 2 internal error (a crash
# outside HDF5, caught); anything else (128+n: killed by a signal, 124: the outer 120 s timeout)
# means the scfm process itself died or hung.
set -u
dir=${1:?usage: cve_corpus.sh CVE_DIR [SCFM_BINARY]}
scfm=${2:-$(dirname "$0")/../../build/scfm}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$scfm" --trusted-input vocab build "$(dirname "$0")/../../data/pbmc3k.h5ad" --out "$work/vocab.json" > /dev/null
export SCFM_HDF5_TIMEOUT=${SCFM_HDF5_TIMEOUT:-10}
declare -A count
files=("$dir"/*)
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  for mode in supervised trusted; do
    flag=""; [ $mode = trusted ] && flag="--trusted-input"
    for verb in info ingest; do
      rm -rf "$work/store"
      if [ $verb = info ]; then
        timeout -s KILL 120 "$scfm" $flag info "$f" > "$work/out" 2>&1; rc=$?
      else
        timeout -s KILL 120 "$scfm" $flag ingest "$f" --vocab "$work/vocab.json" --out "$work/store" > "$work/out" 2>&1; rc=$?
      fi
      case $rc in
        0) o=read ;; 1) o=refused ;; 3) o=caught ;; 2) o=internal ;; *) o=died ;;
      esac
      count[$mode,$verb,$o]=$(( ${count[$mode,$verb,$o]:-0} + 1 ))
      [ "${VERBOSE:-0}" = 1 ] && echo "$mode $verb $(basename "$f") rc=$rc $(tail -1 "$work/out" | cut -c1-160)"
      # nothing half-written: no store without a manifest, no temporaries
      if [ -e "$work/store" ] && [ ! -f "$work/store/manifest.json" ]; then
        echo "HALF-WRITTEN store after $mode $verb $(basename "$f") (rc=$rc)"
      fi
      if ls "$work" | grep -q '\.tmp\.'; then echo "TEMPORARY left after $mode $verb $(basename "$f")"; rm -rf "$work"/*.tmp.*; fi
    done
  done
done
echo "| run | files | read | refused cleanly | HDF5 crash/hang caught | internal error | scfm died or hung |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for mode in supervised trusted; do
  for verb in info ingest; do
    n=0; for o in read refused caught internal died; do n=$(( n + ${count[$mode,$verb,$o]:-0} )); done
    echo "| scfm $verb ($mode) | $n | ${count[$mode,$verb,read]:-0} | ${count[$mode,$verb,refused]:-0} | ${count[$mode,$verb,caught]:-0} | ${count[$mode,$verb,internal]:-0} | ${count[$mode,$verb,died]:-0} |"
  done
done
