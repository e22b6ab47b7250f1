# Sourced by bench/model.sh and bench/pretrain.sh: where the ORIGINAL scBenchmark models_utils come from.
# scbench_models SRC DEST sets ORIG: SRC itself when it is a checkout (has models_utils/), else
# SRC's models_utils exported from the bare git mirror SRC into DEST (never into this repository).
scbench_models() {
  if [ -d "$1/models_utils" ]; then
    ORIG=$1
    return
  fi
  ORIG=$2
  rm -rf "$ORIG" && mkdir -p "$ORIG"
  git -C "$1" archive HEAD models_utils | tar -x -C "$ORIG"
  echo "scBenchmark models_utils at $(git -C "$1" rev-parse --short HEAD) -> $ORIG" >&2
}
