#!/usr/bin/env bash
# Training throughput of aimass against PyTorch DDP (gloo, CPU) on the same models, per-worker
# batch, data, optimizer and threads per process, measured in one run; prints both and the ratio.
# Then time to accuracy: seconds from start until `cnn` reaches TARGET (0.90) test accuracy after
# an epoch, on the full training set with the quickstart's schedule, aimass against DDP.
# For each model it also prints the step-time split (data wait, forward, backward, exposed
# communication, optimizer) and the achieved GFLOP/s per worker against the machine's measured
# single-core sgemm rate. With BASELINE_BIN (the bin/ of another build, e.g. an older commit)
# that build trains the same jobs in the same run, for a before/after ratio.
# Usage: scripts/bench_train.sh [models...]   (default: mlp cnn)
# Environment: WORKERS (2), BATCH (64), LIMIT (training records, 16384), TARGET (0.90),
#              BASELINE_BIN (unset), TTA=0 skips the time-to-accuracy runs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bench_common.sh"
bench_prepare
workers="${WORKERS:-2}"
batch="${BATCH:-64}"
limit="${LIMIT:-16384}"
threads=$(( $(nproc) / workers )); (( threads >= 1 )) || threads=1
models=("$@"); (( ${#models[@]} )) || models=(mlp cnn)
baseline_bin="${BASELINE_BIN:-}"
[[ -z "$baseline_bin" || -x "$baseline_bin/aimass-coordinator" ]] ||
  { echo "bench_train: BASELINE_BIN=$baseline_bin has no aimass-coordinator" >&2; exit 2; }

work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT

sgemm=$(bench_sgemm_gflops)
run_aimass() {  # bin_dir model run_dir: trains, prints samples/s
  bench_write_job "$work/$2.yaml" "$2" "$limit" "$batch" 10 "$threads" "$3" \
    "{name: sgd, lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 0.0005}" \
    "checkpoint: {every_steps: 0, keep: 1}"
  "$1/aimass-coordinator" train --config "$work/$2.yaml" --workers "$workers" --overwrite --quiet > /dev/null
  bench_samples_per_second "$3"
}

baseline_note=""
[[ -n "$baseline_bin" ]] && baseline_note=" (base: $baseline_bin)"
echo "$workers workers x $threads thread(s), batch $batch per worker, $limit records, SGD with momentum," \
     "Nesterov and weight decay; single-core sgemm: $sgemm GFLOP/s$baseline_note"
printf '%-6s %12s %12s %12s %9s %9s\n' model "aimass s/s" "base s/s" "ddp s/s" "vs base" "vs ddp"
# Achieved GFLOP/s per worker and its share of the sgemm limit: training FLOPs (3x forward)
# x samples/s per worker.
gflops() {  # forward_flops samples_per_second
  /usr/bin/python3 -c "import sys; f, r, w, t, s = map(float, sys.argv[1:]);
g = 3 * f * r / w / 1e9; print('%.2f %.0f%%' % (g, 100 * g / (s * t)))" "$1" "$2" "$workers" "$threads" "$sgemm"
}
splits=()
for model in "${models[@]}"; do
  flops=$(/usr/bin/python3 scripts/pytorch_ddp_baseline.py --flops --model "$model")
  aimass=$(run_aimass build/bin "$model" "$work/run-$model")
  splits+=("$model aimass $(bench_step_split "$work/run-$model") $(gflops "$flops" "$aimass")")
  base=nan
  if [[ -n "$baseline_bin" ]]; then
    base=$(run_aimass "$baseline_bin" "$model" "$work/base-$model")
    splits+=("$model base $(bench_step_split "$work/base-$model") $(gflops "$flops" "$base")")
  fi
  ddp=$(/usr/bin/python3 scripts/pytorch_ddp_baseline.py --model "$model" --workers "$workers" \
          --batch "$batch" --threads "$threads" --limit "$limit" |
        /usr/bin/python3 -c "import json, sys; print(json.loads(sys.stdin.read())['samples_per_second'])")
  /usr/bin/python3 -c "import sys; a, b, d = map(float, sys.argv[2:5]);
print('%-6s %12.0f %12s %12.0f %9s %8.2fx' % (sys.argv[1], a, '-' if b != b else '%.0f' % b, d,
      '-' if b != b else '%.2fx' % (a / b), a / d))" "$model" "$aimass" "$base" "$ddp"
done
echo
echo "step-time split, ms per step (mean over the run's metrics intervals); GFLOP/s per worker"
echo "(3 x the model's forward FLOPs per sample x samples/s per worker) against $threads x $sgemm (sgemm limit)"
printf '%-6s %-7s %7s %8s %9s %7s %10s %12s %8s\n' model build data forward backward comm optimizer "GFLOP/s/wkr" "of limit"
for row in "${splits[@]}"; do
  read -r m b data fwd bwd comm opt gflops share <<< "$row"
  printf '%-6s %-7s %7s %8s %9s %7s %10s %12s %8s\n' "$m" "$b" "$data" "$fwd" "$bwd" "$comm" "$opt" "$gflops" "$share"
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
