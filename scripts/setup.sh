#!/usr/bin/env bash
# Installs every Debian 12 package scfm needs. Idempotent: when everything is already
# present it only runs dpkg queries and returns within a second.
set -euo pipefail

PKGS=(
  # build tools
  build-essential cmake ninja-build ccache pkg-config git
  # LibTorch (CPU) and a fast BLAS: Debian's reference BLAS is ~25x slower
  libtorch-dev libopenblas0-openmp
  # file formats
  libhdf5-dev zlib1g-dev
  # h5py's lzf compression (anndata 0.7 wrote it; HDF5 filter 32000)
  liblzf-dev
  # Parquet pages (scBenchmark / scBank cell tables): snappy and zstd
  libsnappy-dev libzstd-dev
  # C++ libraries
  nlohmann-json3-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev
  libfaiss-dev libigraph-dev libarpack2-dev libglpk-dev libplfit-dev
  # c10d's Gloo backend
  libgloo-dev
  # the Python module (`import scfm`, python/): pybind11's headers and CMake config
  pybind11-dev python3-dev
  # the real clients the tests compare against
  python3 python3-numpy python3-scipy python3-anndata python3-h5py python3-torch
  # the libraries scib's metrics and Harmony come from (tests/eval compare against them)
  python3-sklearn python3-harmonypy python3-pandas
  # umap-learn: the reference scfm umap is compared against (tests/eval/umap_check.py, bench/umap.sh)
  umap-learn
  # the browser the HTML report is checked in (tests/tasks/report_browser_check.py)
  chromium
)

missing=()
for p in "${PKGS[@]}"; do
  # "install ok installed" is the only state that counts as present
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

# LibTorch parallelises with OpenMP; the OpenMP build of OpenBLAS shares its thread pool instead of
# fighting it, so it must be the libblas.so.3 that LibTorch loads (the pthread build, if some other
# package pulled it in, has a higher alternatives priority).
use_openmp_blas() {
  local alt=libblas.so.3-x86_64-linux-gnu
  local want=/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3
  if [ -e "$want" ] && [ "$(readlink -f /etc/alternatives/$alt 2>/dev/null)" != "$want" ]; then
    $SUDO update-alternatives --set "$alt" "$want" >/dev/null
  fi
  # the libopenblas.so.0 that the front end loads, too
  alt=libopenblas.so.0-x86_64-linux-gnu
  want=/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0
  if [ -e "$want" ] && [ "$(readlink -f /etc/alternatives/$alt 2>/dev/null)" != "$want" ]; then
    $SUDO update-alternatives --set "$alt" "$want" >/dev/null
  fi
  alt=liblapack.so.3-x86_64-linux-gnu
  want=/usr/lib/x86_64-linux-gnu/openblas-openmp/liblapack.so.3
  if [ -e "$want" ] && [ "$(readlink -f /etc/alternatives/$alt 2>/dev/null)" != "$want" ]; then
    $SUDO update-alternatives --set "$alt" "$want" >/dev/null
  fi
}

if [ ${#missing[@]} -eq 0 ]; then
  use_openmp_blas
  exit 0
fi

echo "setup: installing ${#missing[@]} package(s): ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
use_openmp_blas
