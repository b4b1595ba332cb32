#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang-16 (-fsanitize=fuzzer,address,undefined)
# in build-fuzz/ and runs each for SECONDS (default 60), one after the other.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]     e.g. scripts/fuzz.sh 120 snappy avro
# Environment: AIMASS_FUZZ_BUILD_DIR (default: build-fuzz), AIMASS_FUZZ_JOBS (build jobs,
#              default: nproc), AIMASS_FUZZ_NICE (nice level for the runs, default 0).
#
# Per target: the corpus grows in build-fuzz/corpus/<target> (seeded with the valid inputs that
# tests/fuzz/make_seeds.py writes to build-fuzz/seeds/<target>, and the saved regression cases of
# tests/data/fuzz_regressions/<target>), crashing inputs land in build-fuzz/crashes/<target>,
# the log in build-fuzz/logs/<target>.log; tests/fuzz/<target>.dict, when there is one, is the
# target's libFuzzer dictionary. Prints executions, corpus size and crashes per target;
# exits 1 when any target crashed. A crashing input becomes a regression case by copying it to
# tests/data/fuzz_regressions/<target>/ (replayed by tests/unit/fuzz_regression_test.cc).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

seconds="${1:-60}"
shift || true
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "fuzz: SECONDS must be a number, not '$seconds'" >&2; exit 2; }

scripts/setup.sh --no-build --fuzz

build_dir="${AIMASS_FUZZ_BUILD_DIR:-$root/build-fuzz}"
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache); fi
cmake -S "$root" -B "$build_dir" -DAIMASS_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang-16 -DCMAKE_CXX_COMPILER=clang++-16 "${launcher[@]}" >/dev/null

targets=("$@")
if ((${#targets[@]} == 0)); then
  for source in tests/fuzz/*_fuzz.cc; do
    name="$(basename "$source" .cc)"
    targets+=("${name%_fuzz}")
  done
fi
build_targets=()
for target in "${targets[@]}"; do build_targets+=(--target "${target}_fuzz"); done
cmake --build "$build_dir" -j"${AIMASS_FUZZ_JOBS:-$(nproc)}" "${build_targets[@]}"

# Leaks are findings too; a malloc above the cap libFuzzer sets (-malloc_limit_mb) is reported as
# an out-of-memory crash, which is how an unbounded allocation shows up.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

python3 tests/fuzz/make_seeds.py "$build_dir/seeds"

printf '%-10s %12s %8s %8s\n' target executions corpus crashes
failed=0
for target in "${targets[@]}"; do
  corpus="$build_dir/corpus/$target"
  crashes="$build_dir/crashes/$target"
  log="$build_dir/logs/$target.log"
  mkdir -p "$corpus" "$crashes" "$(dirname "$log")"
  seeds=()
  for dir in "$build_dir/seeds/$target" "tests/data/fuzz_regressions/$target"; do
    [[ -d "$dir" ]] && seeds+=("$dir")
  done
  dict=()
  [[ -f "tests/fuzz/$target.dict" ]] && dict=(-dict="tests/fuzz/$target.dict")
  set +e
  nice -n "${AIMASS_FUZZ_NICE:-0}" "$build_dir/fuzz/${target}_fuzz" "$corpus" "${seeds[@]}" \
    -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$crashes/" "${dict[@]}" >"$log" 2>&1
  rc=$?
  set -e
  executions="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)"
  corpus_size="$(find "$corpus" -type f | wc -l)"
  crash_count="$(find "$crashes" -type f | wc -l)"
  printf '%-10s %12s %8s %8s\n' "$target" "${executions:-?}" "$corpus_size" "$crash_count"
  if ((rc != 0 || crash_count > 0)); then
    failed=1
    echo "fuzz: $target: exit $rc; see $log and $crashes/" >&2
  fi
done
exit "$failed"
