#!/usr/bin/env bash
# Set-up, then the main job: train the `cnn` model on Fashion-MNIST with 2 local workers and
# print the test accuracy. Extra arguments go to `aimass-coordinator train` (e.g. --epochs 1).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

AIMASS_BUILD_TARGETS="aimass-coordinator aimass-worker" scripts/setup.sh

data_dir="data/fashion-mnist"
if [[ ! -f "$data_dir/train/_SUCCESS" || ! -f "$data_dir/test/_SUCCESS" ]]; then
  build/bin/aimass-coordinator data convert --output "$data_dir"
fi

# A re-run starts over unless asked to --resume the previous one.
fresh=(--overwrite)
for arg in "$@"; do [[ "$arg" == "--resume" ]] && fresh=(); done
build/bin/aimass-coordinator train --config scripts/jobs/fashion_mnist_cnn.yaml \
  --workers "${AIMASS_WORKERS:-2}" "${fresh[@]}" "$@"
