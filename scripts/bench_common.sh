# Shared by the benchmark scripts (sourced, not run): build, data, and reading a run's metrics.

# Builds the executables. Sets `root` (repository root) and leaves the shell there.
bench_build() {
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  cd "$root"
  AIMASS_BUILD_TARGETS="aimass-coordinator aimass-worker" scripts/setup.sh > /dev/null
}

# bench_build, and Fashion-MNIST converted into data/fashion-mnist once (sets `data_dir`).
bench_prepare() {
  bench_build
  data_dir="data/fashion-mnist"
  if [[ ! -f "$data_dir/train/_SUCCESS" ]]; then
    build/bin/aimass-coordinator data convert --output "$data_dir" > /dev/null
  fi
}

# Steady-state global samples/s of a finished run: the median metrics interval after the first
# (start-up) and before the last (partial).
bench_samples_per_second() {  # run_dir
  /usr/bin/python3 -c "
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1] + '/metrics.jsonl')][1:-1]
print(statistics.median(r['samples_per_second'] for r in rows))" "$1"
}

# Writes a training job for the benchmarks: Fashion-MNIST's first LIMIT training records,
# normalized, one epoch, on CPU. Extra YAML lines (e.g. gradient_sync, checkpoint) follow.
# Usage: bench_write_job FILE MODEL LIMIT BATCH LOG_EVERY THREADS RUN_DIR OPTIMIZER [LINE...]
bench_write_job() {
  local file="$1" model="$2" limit="$3" batch="$4" log_every="$5" threads="$6" run_dir="$7"
  local optimizer="$8"
  shift 8
  {
    echo "model: $model"
    echo "data:"
    echo "  train: $root/$data_dir/train"
    echo "  limit: $limit"
    echo "  normalize: {scale: 0.00392156862745098, mean: 0.2860, std: 0.3530}"
    echo "training: {epochs: 1, batch_size: $batch, log_every: $log_every, seed: 42}"
    echo "optimizer: $optimizer"
    echo "worker: {device: cpu, threads: $threads}"
    echo "output: {run_dir: $run_dir}"
    for line in "$@"; do echo "$line"; done
  } > "$file"
}

# Starts `aimass-coordinator serve` with a fresh state directory in $work (the caller's
# mktemp -d) on a free loopback port, with ARGs added, and waits until it listens. Sets
# server_pid, port, url, token and token_file. Usage: bench_start_service SCRIPT_NAME [ARG...]
bench_start_service() {
  local name="$1"
  shift
  port=""
  build/bin/aimass-coordinator serve --state-dir "$work/state" --listen 127.0.0.1:0 "$@" > "$work/serve.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do
    port=$(sed -n 's|.*serving http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$work/serve.log")
    [[ -n "$port" ]] && break
    sleep 0.1
  done
  [[ -n "$port" ]] || { tail -n 40 "$work/serve.log" >&2; echo "$name: the server did not start" >&2; exit 1; }
  token_file="$work/state/admin.token"
  token=$(cat "$token_file")
  url="http://127.0.0.1:$port"
}

# For `trap bench_cleanup EXIT`: stops the service and the peer (peer_pid) if they run and
# removes $work.
bench_cleanup() {
  [[ -n "${server_pid:-}" ]] && kill "$server_pid" 2> /dev/null && wait "$server_pid" 2> /dev/null || true
  [[ -n "${peer_pid:-}" ]] && kill "$peer_pid" 2> /dev/null && wait "$peer_pid" 2> /dev/null || true
  rm -rf "$work"
}

# The mean step-time split of a finished run, in ms per step: "data forward backward
# communication optimizer" (the metrics intervals after the first and before the last).
bench_step_split() {  # run_dir
  /usr/bin/python3 -c "
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1] + '/metrics.jsonl')][1:-1]
keys = ('data_wait_s', 'forward_s', 'backward_s', 'communication_s', 'optimizer_s')
print(' '.join('%.2f' % (1000 * statistics.mean(r[k] for r in rows)) for k in keys))" "$1"
}

# Single-core sgemm GFLOP/s of this machine (1024 x 1024 float32 products through the BLAS that
# python3-torch uses, one thread): the limit a worker's matrix work can reach per core.
bench_sgemm_gflops() {
  /usr/bin/python3 -c "
import time, torch
torch.set_num_threads(1)
a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
for _ in range(3): a @ b
best = float('inf')
for _ in range(5):
    start = time.perf_counter()
    for _ in range(10): a @ b
    best = min(best, time.perf_counter() - start)
print('%.1f' % (10 * 2 * 1024 ** 3 / best / 1e9))"
}
