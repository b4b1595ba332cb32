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
