#!/usr/bin/env bash
# The communication experiment of the training step: whether overlapping the optimizer update
# of already reduced gradients with the allreduce of the rest pays on CPU workers (see
# scripts/experiments/update_overlap.cc for the three ways it compares). Builds the program
# with mpicxx into a temporary directory and runs it on WORKERS (2) local ranks.
# Usage: scripts/bench_update_overlap.sh [iterations (500)]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
mpicxx -std=c++17 -O3 -o "$work/update_overlap" scripts/experiments/update_overlap.cc -lpthread
echo "${WORKERS:-2} ranks; the mlp's gradient buckets (134,410 + 401,408 floats), SGD with momentum, Nesterov and weight decay"
scripts/mpirun.sh -np "${WORKERS:-2}" "$work/update_overlap" "${1:-500}"
