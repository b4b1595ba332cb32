#!/usr/bin/env bash
# Installs AI Mass's dependencies from Debian packages and builds the project.
# Idempotent: packages already present are skipped by apt, the build is incremental.
# Usage: scripts/setup.sh [--no-build] [--fuzz]
#   --fuzz: also clang-16 and its libFuzzer and sanitizer runtimes, which scripts/fuzz.sh and
#           scripts/sanitize.sh need (not installed otherwise: CI's tests do not use them).
# Environment: AIMASS_BUILD_TARGETS (default: all), AIMASS_BUILD_DIR (default: build),
#              CMAKE_BUILD_TYPE (default: Release).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

build=1
fuzz=0
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    --fuzz) fuzz=1 ;;
    *) echo "setup: unknown option $arg (usage: scripts/setup.sh [--no-build] [--fuzz])" >&2; exit 2 ;;
  esac
done

packages=(
  build-essential cmake pkg-config
  libtorch-dev libopenblas0-openmp
  libopenmpi-dev openmpi-bin
  libboost1.81-dev
  libprotobuf-dev protobuf-compiler
  catch2
  libyaml-cpp-dev
  libsqlite3-dev libssl-dev
  zlib1g-dev libzstd-dev libbz2-dev libsnappy-dev
  libavro-dev liblzma-dev
  prometheus-cpp-dev
  python3-torch
  dataset-fashion-mnist
  gnuplot-nox
  iproute2
  libjs-vue libjs-chart.js libjs-bootstrap5
  chromium chromium-driver python3-selenium
  wrk python3-flask
)
if ((fuzz)); then packages+=(clang-16 libfuzzer-16-dev libclang-rt-16-dev); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi

# LibTorch must use OpenBLAS: the reference BLAS is ~14x slower on GEMM.
if ! update-alternatives --query libblas.so.3-x86_64-linux-gnu 2>/dev/null | grep -q '^Value:.*openblas'; then
  blas=$(update-alternatives --list libblas.so.3-x86_64-linux-gnu 2>/dev/null | grep openblas | head -n1 || true)
  lapack=$(update-alternatives --list liblapack.so.3-x86_64-linux-gnu 2>/dev/null | grep openblas | head -n1 || true)
  [[ -n "$blas" ]] && update-alternatives --set libblas.so.3-x86_64-linux-gnu "$blas"
  [[ -n "$lapack" ]] && update-alternatives --set liblapack.so.3-x86_64-linux-gnu "$lapack"
fi

if ((!build)); then exit 0; fi

build_dir="${AIMASS_BUILD_DIR:-$repo_root/build}"
cmake -S "$repo_root" -B "$build_dir" -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-Release}"
targets=()
for target in ${AIMASS_BUILD_TARGETS:-}; do targets+=(--target "$target"); done
cmake --build "$build_dir" -j"$(nproc)" "${targets[@]}"
