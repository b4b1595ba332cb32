#!/usr/bin/env bash
# Training throughput of aimass against PyTorch DDP (gloo, CPU) on the same models, per-worker
# batch, data, optimizer and threads per process, measured in one run; prints both and the ratio.
# Then time to accuracy: seconds from start until `cnn` reaches TARGET (0.90) test accuracy after
# an epoch, on the full training set with the quickstart's schedule, aimass against DDP.
# Usage: scripts/bench_train.sh [models...]   (default: mlp cnn)
# Environment: WORKERS (2), BATCH (64), LIMIT (training records, 16384), TARGET (0.90),
#              TTA=0 skips the time-to-accuracy runs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bench_common.sh"
bench_prepare
workers="${WORKERS:-2}"
batch="${BATCH:-64}"
limit="${LIMIT:-16384}"
threads=$(( $(nproc) / workers )); (( threads >= 1 )) || threads=1
models=("$@"); (( ${#models[@]} )) || models=(mlp cnn)

work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT

printf '%-6s %8s %16s %16s %8s\n' model workers "aimass samp/s" "ddp samp/s" ratio
for model in "${models[@]}"; do
  bench_write_job "$work/$model.yaml" "$model" "$limit" "$batch" 10 "$threads" "$work/run-$model" \
    "{name: sgd, lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 0.0005}" \
    "checkpoint: {every_steps: 0, keep: 1}"
  build/bin/aimass-coordinator train --config "$work/$model.yaml" --workers "$workers" --overwrite --quiet > /dev/null
  aimass=$(bench_samples_per_second "$work/run-$model")
  ddp=$(/usr/bin/python3 scripts/pytorch_ddp_baseline.py --model "$model" --workers "$workers" \
          --batch "$batch" --threads "$threads" --limit "$limit" |
        /usr/bin/python3 -c "import json, sys; print(json.loads(sys.stdin.read())['samples_per_second'])")
  /usr/bin/python3 -c "import sys; a, d = float(sys.argv[2]), float(sys.argv[3]);
print('%-6s %8s %16.0f %16.0f %7.2fx' % (sys.argv[1], sys.argv[4], a, d, a / d))" "$model" "$aimass" "$ddp" "$workers"
done

[[ "${TTA:-1}" == 0 ]] && exit 0
target="${TARGET:-0.90}"
echo
printf '%-24s %16s %16s %8s\n' "time to $target (cnn)" "aimass s (epoch)" "ddp s (epoch)" ratio
sed -e "s|run_dir: .*|run_dir: $work/tta}|" -e "s|threads: 0|threads: $threads|" \
  -e "s|data/fashion-mnist|$root/data/fashion-mnist|g" scripts/jobs/fashion_mnist_cnn.yaml > "$work/tta.yaml"
build/bin/aimass-coordinator train --config "$work/tta.yaml" --workers "$workers" --overwrite \
  --quiet > /dev/null
aimass=$(/usr/bin/python3 -c "
import json, sys
for line in open(sys.argv[1]):
    row = json.loads(line)
    if row.get('test_accuracy', 0) >= float(sys.argv[2]):
        print(row['time_s'], row['epoch']); break
else:
    print('nan -')" "$work/tta/evals.jsonl" "$target")
ddp=$(/usr/bin/python3 scripts/pytorch_ddp_baseline.py --model cnn --workers "$workers" \
        --batch "$batch" --threads "$threads" --target "$target" |
      /usr/bin/python3 -c "import json, sys; r = json.loads(sys.stdin.read()); print(r['seconds'] or 'nan', r['epoch'] or '-')")
/usr/bin/python3 -c "
import sys
a, ae, d, de = float(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]
print('%-24s %10.1f (%s) %10.1f (%s) %7.2fx' % ('', a, ae, d, de, d / a))" $aimass $ddp
