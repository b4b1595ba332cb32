#!/usr/bin/env bash
# Scaling of aimass training from 1 to N workers, in one run:
#   weak scaling    fixed per-worker batch (BATCH, 64): ideal throughput grows with the workers;
#   strong scaling  fixed global batch (GLOBAL_BATCH, 128) split across the workers.
# Efficiency = throughput(N) / (N x throughput(1)). Each worker gets THREADS (1) intra-op threads,
# so every added worker brings its own core. Writes OUT/scaling.csv and OUT/scaling.png, and
# prints the allreduce table at N workers.
# Environment: MODEL (cnn), MAX_WORKERS (cores), LIMIT (training records, 16384), OUT.
#
#   scripts/bench_scaling.sh --hosts
# Weak scaling across emulated hosts (scripts/cluster.sh, cluster `bench`): MODELS (mlp cnn)
# with WORKERS (1 2 4) workers, each on its own host behind a LINK (10gbit) link with DELAY
# (50us; see scripts/bench_hosts_common.sh for kernels without netem), the coordinator on host 0;
# every combination of gradient_sync.compression none|bf16 and gradient_sync.overlap
# false|true. Per-worker batch BATCH (64), THREADS (1) intra-op threads per worker, LIMIT
# training records (8192, short runs). Efficiency = throughput(N) / (N x throughput(1)) of the
# same model and settings. Writes OUT (runs/bench-scaling-hosts)/scaling-hosts.csv, with the
# median per-step compute and exposed communication of worker 0, and scaling-hosts.png.
# The "hosts" share this machine's cores: past one worker per core, weak scaling is bounded by
# the CPU (at most cores / N), whatever the link.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bench_common.sh"
bench_prepare
if [[ "${1:-}" == --hosts ]]; then
  source "$(dirname "${BASH_SOURCE[0]}")/bench_hosts_common.sh"
  models="${MODELS:-mlp cnn}"
  worker_counts="${WORKERS:-1 2 4}"
  link="${LINK:-10gbit}"
  delay="${DELAY:-50us}"
  batch="${BATCH:-64}"
  threads="${THREADS:-1}"
  limit="${LIMIT:-8192}"
  out="${OUT:-runs/bench-scaling-hosts}"
  mkdir -p "$out"
  work="$(mktemp -d)"; trap 'bench_cluster_down; rm -rf "$work"' EXIT
  csv="$out/scaling-hosts.csv"
  echo "model,link,shaping,workers,compression,overlap,per_worker_batch,samples_per_second,efficiency,compute_ms,communication_ms" > "$csv"
  printf '%-4s %7s %5s %7s %12s %10s %11s %9s\n' model workers bf16 overlap samples/s efficiency \
    "compute(ms)" "comm(ms)"
  for workers in $worker_counts; do
    bench_cluster_up $((workers + 1)) "$link" "$delay"
    for model in $models; do
      for compression in none bf16; do
        for overlap in false true; do
          bench_write_job "$work/job.yaml" "$model" "$limit" "$batch" 4 "$threads" "$work/run" \
            "{name: sgd, lr: 0.05, momentum: 0.9, nesterov: true}" \
            "gradient_sync: {compression: $compression, overlap: $overlap}"
          scripts/cluster.sh exec 0 --name "$bench_cluster" -- build/bin/aimass-coordinator train \
            --config "$work/job.yaml" --workers "$workers" --overwrite --quiet \
            --mpirun-arg --hostfile --mpirun-arg "$bench_cluster_state/hostfile" > /dev/null
          # Steady state as bench_samples_per_second: intervals after the first, before the last.
          read -r rate compute_ms communication_ms < <(/usr/bin/python3 -c "
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1] + '/metrics.jsonl')][1:-1]
median = lambda key: statistics.median(r[key] for r in rows)
print(median('samples_per_second'), 1e3 * median('compute_s'), 1e3 * median('communication_s'))" \
            "$work/run")
          base=$(awk -F, -v m="$model" -v c="$compression" -v o="$overlap" \
                 '$1==m && $4==1 && $5==c && $6==o {print $8}' "$csv")
          [[ -n "$base" || "$workers" -ne 1 ]] || base=$rate
          efficiency=""
          [[ -z "$base" ]] || efficiency=$(/usr/bin/python3 -c "import sys; print('%.3f' % (float(sys.argv[1]) / (int(sys.argv[2]) * float(sys.argv[3]))))" "$rate" "$workers" "$base")
          echo "$model,$link,$bench_shaping,$workers,$compression,$overlap,$batch,$rate,$efficiency,$compute_ms,$communication_ms" >> "$csv"
          printf '%-4s %7d %5s %7s %12.0f %10s %11.2f %9.2f\n' "$model" "$workers" \
            "$compression" "$overlap" "$rate" "${efficiency:-n/a}" "$compute_ms" "$communication_ms"
        done
      done
    done
  done
  bench_cluster_down
  plots=""
  for model in $models; do
    for compression in none bf16; do
      for overlap in false true; do
        plots+="\"< grep '^$model,.*,$compression,$overlap,' $csv\" using 4:COLUMN with linespoints lw 2 title \"$model ${compression/none/fp32}, overlap $overlap\", "
      done
    done
  done
  plots_communication="${plots%, }"
  gnuplot <<PLOT
set terminal pngcairo size 1000,420 font ",10"
set output "$out/scaling-hosts.png"
set datafile separator ","
set multiplot layout 1,2 title "aimass weak scaling across emulated hosts, $link links, batch $batch per worker, $threads thread(s) per worker"
set xlabel "workers (one per host)"; set key bottom left; set grid
set xtics 1
set title "efficiency = samples/s(N) / (N x samples/s(1))"; set ylabel "efficiency"; set yrange [0:1.1]
plot ${plots//COLUMN/9} 1 with lines dt 2 lc rgb "gray" title "ideal"
set title "exposed communication per step (worker 0, median)"; set ylabel "ms"; set yrange [0:*]
set key top left
plot ${plots_communication//COLUMN/11}
unset multiplot
PLOT
  echo "wrote $csv and $out/scaling-hosts.png"
  exit 0
fi
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
  bench_write_job "$work/job.yaml" "$model" "$limit" "$2" 10 "$threads" "$work/run" \
    "{name: sgd, lr: 0.05, momentum: 0.9, nesterov: true}"
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
