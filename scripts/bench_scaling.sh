#!/usr/bin/env bash
# Scaling of aimass training from 1 to N workers, in one run:
#   weak scaling    fixed per-worker batch (BATCH, 64): ideal throughput grows with the workers;
#   strong scaling  fixed global batch (GLOBAL_BATCH, 128) split across the workers.
# Efficiency = throughput(N) / (N x throughput(1)). Each worker gets THREADS (1) intra-op threads,
# so every added worker brings its own core. Writes OUT/scaling.csv and OUT/scaling.png, and
# prints the allreduce table at N workers.
# Environment: MODEL (cnn), MAX_WORKERS (cores), LIMIT (training records, 16384), OUT.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bench_common.sh"
bench_prepare
model="${MODEL:-cnn}"
max_workers="${MAX_WORKERS:-$(nproc)}"
batch="${BATCH:-64}"
global_batch="${GLOBAL_BATCH:-128}"
threads="${THREADS:-1}"
limit="${LIMIT:-16384}"
out="${OUT:-runs/bench-scaling}"

mkdir -p "$out"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT

measure() {  # workers per_worker_batch: prints samples/s
  cat > "$work/job.yaml" <<JOB
model: $model
data:
  train: $root/$data_dir/train
  limit: $limit
  normalize: {scale: 0.00392156862745098, mean: 0.2860, std: 0.3530}
training: {epochs: 1, batch_size: $2, log_every: 10, seed: 42}
optimizer: {name: sgd, lr: 0.05, momentum: 0.9, nesterov: true}
worker: {device: cpu, threads: $threads}
output: {run_dir: $work/run}
JOB
  build/bin/aimass-coordinator train --config "$work/job.yaml" --workers "$1" --overwrite \
    --quiet > /dev/null
  bench_samples_per_second "$work/run"
}

csv="$out/scaling.csv"
echo "mode,workers,per_worker_batch,global_batch,samples_per_second,efficiency" > "$csv"
printf '%-7s %7s %10s %12s %14s %10s\n' mode workers batch/worker global_batch samples/s efficiency
for mode in weak strong; do
  base=""
  for ((workers = 1; workers <= max_workers; workers++)); do
    if [[ $mode == weak ]]; then per_worker=$batch; else per_worker=$((global_batch / workers)); fi
    rate=$(measure "$workers" "$per_worker")
    [[ -n "$base" ]] || base=$rate
    efficiency=$(/usr/bin/python3 -c "import sys; print('%.3f' % (float(sys.argv[1]) / (int(sys.argv[2]) * float(sys.argv[3]))))" "$rate" "$workers" "$base")
    echo "$mode,$workers,$per_worker,$((per_worker * workers)),$rate,$efficiency" >> "$csv"
    printf '%-7s %7d %10d %12d %14.0f %10s\n' "$mode" "$workers" "$per_worker" \
      $((per_worker * workers)) "$rate" "$efficiency"
  done
done

gnuplot <<PLOT
set terminal pngcairo size 1000,420 font ",10"
set output "$out/scaling.png"
set datafile separator ","
set multiplot layout 1,2 title "aimass $model scaling, $threads thread(s) per worker"
set xlabel "workers"; set ylabel "samples/s"; set key top left; set grid
set xtics 1
set title "weak scaling (batch $batch per worker)"
plot "< grep ^weak $csv" using 2:5 with linespoints lw 2 title "measured", \
     "< grep ^weak $csv" using 2:(\$2 * $(awk -F, '$1=="weak" && $2==1 {print $5}' "$csv")) with lines dt 2 title "ideal"
set title "strong scaling (global batch $global_batch)"
plot "< grep ^strong $csv" using 2:5 with linespoints lw 2 title "measured", \
     "< grep ^strong $csv" using 2:(\$2 * $(awk -F, '$1=="strong" && $2==1 {print $5}' "$csv")) with lines dt 2 title "ideal"
unset multiplot
PLOT
echo "wrote $csv and $out/scaling.png"

echo
scripts/mpirun.sh -np "$max_workers" build/bin/aimass-worker bench allreduce --max-bytes 64M
