#!/usr/bin/env bash
# Builds the unit tests with AddressSanitizer and UndefinedBehaviorSanitizer (gcc; build-sanitize/)
# and runs them through ctest (integration tests excluded: they start mpirun jobs of several
# processes, which under ASan are too slow for this machine).
# Usage: scripts/sanitize.sh [ctest arguments...]      e.g. scripts/sanitize.sh -R tables
# Environment: AIMASS_SANITIZE_BUILD_DIR (default: build-sanitize), AIMASS_SANITIZE_JOBS (default:
#              nproc), AIMASS_SANITIZE_TESTS (unit test executables to build and run, default: all
#              of tests/unit/CMakeLists.txt, e.g. "io_tests tables_tests").
#
# LibTorch, OpenMPI and OpenBLAS are not built with ASan; scripts/sanitize.supp and the options
# below keep their own behaviour from being reported as ours (see the comments there).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

scripts/setup.sh --no-build

build_dir="${AIMASS_SANITIZE_BUILD_DIR:-$root/build-sanitize}"
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache); fi
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" "${launcher[@]}" >/dev/null

# Only what ctest -E integration runs: the unit test executables.
tests="${AIMASS_SANITIZE_TESTS:-$(sed -n 's/^aimass_test(\([a-z_]*\).*/\1/p' tests/unit/CMakeLists.txt)}"
test_targets=()
for name in $tests; do test_targets+=(--target "$name"); done
cmake --build "$build_dir" -j"${AIMASS_SANITIZE_JOBS:-$(nproc)}" "${test_targets[@]}"
# ctest names each test case "<executable>:<case>".
only="^($(echo $tests | tr ' ' '|')):"

# detect_odr_violation=0: LibTorch's libraries define the same globals more than once (a known
#   false positive of uninstrumented shared libraries, not our code).
# new_delete_type_mismatch=0 / alloc_dealloc_mismatch=0: objects that LibTorch allocates in its
#   uninstrumented code and we free, or the reverse, look mismatched to ASan.
# Leaks: scripts/sanitize.supp lists the libraries whose one-time allocations at exit are theirs.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_odr_violation=0:new_delete_type_mismatch=0:alloc_dealloc_mismatch=0:abort_on_error=1:detect_leaks=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$root/scripts/sanitize.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_vader_single_copy_mechanism=none

cd "$build_dir"
ctest --output-on-failure --timeout 900 -E integration -R "$only" "$@"
