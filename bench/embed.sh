#!/usr/bin/env bash
# bench/embed: cells/s of scfm's embedding forward against python3-torch running the ORIGINAL
# modules (scBenchmark's scModel, scGPT's TransformerModel) on the same tokens, same threads and
# OpenBLAS core, in the same run.
#   bash bench/embed.sh [-- --threads N --reps R]
# Two models, both with random-but-fixed weights (one pretraining step; speed does not depend on
# the weights): scBenchmark's transformer at its default size (6 layers, 256 wide, 8 heads,
# 512 genes + <cls>) and an scGPT-sized TransformerModel (12 layers, 512 wide, 8 heads, d_hid 512,
# 1,200 tokens). Cells are simulated from data/pbmc3k.h5ad; only cells with enough genes for
# full-length inputs are used. The scBenchmark and scGPT sources are exported from their bare
# mirrors (SCBENCH_GIT, SCGPT_GIT) into a temporary folder, never into the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
SCBENCH_GIT=${SCBENCH_GIT:-/work/.mirror/simpleshinobu+scbenchmark/repo}
SCGPT_GIT=${SCGPT_GIT:-/work/.mirror/bowang-lab+scGPT/repo}
if [ "${1:-}" = "--" ]; then shift; fi
THREADS=2
REPS=2
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) THREADS=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    *) echo "bench/embed.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
cmake --build "$BUILD_DIR" --target bench_embed scfm_cli -j2 >/dev/null
SCFM="$BUILD_DIR/scfm"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/orig" "$T/scgpt"
git -C "$SCBENCH_GIT" archive HEAD models_utils | tar -x -C "$T/orig"
# file by file: a partial mirror may lack blobs elsewhere in the tree (git archive then fails)
mkdir -p "$T/scgpt/scgpt/model"
for f in model.py flash_attn_compat.py dsbn.py grad_reverse.py; do
  git -C "$SCGPT_GIT" show "HEAD:scgpt/model/$f" > "$T/scgpt/scgpt/model/$f"
done

"$SCFM" simulate --like data/pbmc3k.h5ad --label-col cell_type --cells 3000 --seed 11 --out "$T/cells.h5ad" >/dev/null
"$SCFM" vocab build data/pbmc3k.h5ad --out "$T/vocab.json" >/dev/null
"$SCFM" ingest data/pbmc3k.h5ad --vocab "$T/vocab.json" --out "$T/store" >/dev/null
"$SCFM" --threads "$THREADS" pretrain --store "$T/store" --out "$T/scbench" --model-structure transformer --max-steps 1 \
  --batch-size 2 --nlayers 6 --nheads 8 --embsize 256 --train-maxseq 512 --use-mvc --seed 0 >/dev/null 2>&1
"$SCFM" --threads "$THREADS" pretrain --store "$T/store" --out "$T/scgpt_size" --model-structure scgpt --max-steps 1 \
  --batch-size 2 --nlayers 12 --nheads 8 --embsize 512 --d-hid 512 --train-maxseq 64 --preprocess-mode bin \
  --seed 0 >/dev/null 2>&1

run() {  # name model max_length cells batch
  "$BUILD_DIR/bench/bench_embed" --model "$2" --in "$T/cells.h5ad" --tokens "$T/$1.pt" --max-length "$3" \
    --cells "$4" --batch "$5" --threads "$THREADS" --reps "$REPS" | tee -a "$T/out.jsonl"
  core=$(tail -n1 "$T/out.jsonl" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["blas_core"])')
  OPENBLAS_CORETYPE=$core /usr/bin/python3 -W ignore bench/embed_baseline.py "$T/orig" "$T/scgpt/scgpt/model" "$2" \
    "$T/$1.pt" --threads "$THREADS" --reps "$REPS" | tee -a "$T/out.jsonl"
}
run scbench "$T/scbench" 513 256 64
run scgpt_size "$T/scgpt_size" 1200 32 16

/usr/bin/python3 - "$T/out.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("\n| model | tokens | cells | scfm cells/s | PyTorch cells/s | ratio | scfm GFLOP/s (% of sgemm) | max abs diff |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
names = {"transformer": "scBenchmark transformer 6x256", "scgpt": "scGPT-size 12x512"}
for s, t in zip(rows[0::2], rows[1::2]):
    T, n = s["tokens"], s["cells"]
    d, L, ff = (256, 6, 256) if s["structure"] == "transformer" else (512, 12, 512)
    # per token and layer: q,k,v,out projections, the feed-forward, scores and weighted sum
    flop = n * T * L * (2 * 4 * d * d + 2 * 2 * d * ff + 2 * 2 * T * d)
    g = flop / s["seconds"] / 1e9
    print("| %s | %d | %d | %.2f | %.2f | %.2fx | %.0f (%.0f%%) | %.1e |" % (
        names.get(s["structure"], s["structure"]), T, n, s["cells_per_s"], t["cells_per_s"],
        s["cells_per_s"] / t["cells_per_s"], g, 100 * g / s["sgemm_gflops"], t["max_abs_diff_vs_scfm"]))
PY
