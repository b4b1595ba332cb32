#!/usr/bin/env bash
# One-command check of aimass on a machine with an NVIDIA GPU (docs/gpu.md). In order:
#   1. fails at once, in one line, when nvidia-smi finds no GPU or python's torch cannot use CUDA;
#   2. prints the GPU, driver, CUDA, NCCL and torch versions;
#   3. checks the build prerequisites (naming each missing one), then configures and builds into
#      build-gpu/ against python's LibTorch (torch.utils.cmake_prefix_path) with the NCCL backend;
#   4. runs the unit tests (ctest -E integration);
#   5. trains each model (default: cnn, resnet) on Fashion-MNIST with one GPU worker
#      (worker: {device: cuda, backend: nccl}), reading summary.json, metrics.jsonl, workers.json;
#   6. runs `aimass-worker bench allreduce --backend nccl` on 1 GPU, and on all when there are more;
#   7. runs PyTorch DDP (NCCL) on the same model, per-GPU batch, data, optimizer and epochs;
#   8. prints one table (samples/s, ratio, test accuracy) and exits non-zero on any failure:
#      a step that fails or times out, an accuracy under the floor, an aimass/DDP accuracy gap,
#      a training that did not run on the GPU, an allreduce row whose check is not "ok", a missing
#      figure, or the whole check taking longer than its budget (8 minutes).
# Each step runs under `timeout` and prints its elapsed time; its output goes to
# build-gpu/gpu-check/<step>.log, whose last lines are shown when it fails.
#
# Usage: scripts/gpu_check.sh
# Environment:
#   PYTHON             python whose torch is a CUDA build (default: the first of python3,
#                      /usr/bin/python3 that has one)
#   CUDA_HOME          CUDA toolkit with nvcc and cudart (default /usr/local/cuda)
#   NCCL_HOME          where include/nccl.h and lib/libnccl.so are, when not under CUDA_HOME
#                      (also searched: /usr, and the nvidia-nccl package next to torch)
#   LIBTORCH_DIR       CMake prefix of a LibTorch to build against instead of python's torch
#   GPU_CHECK_BUILD_DIR  build directory (default build-gpu)
#   GPU_CHECK_LOG_DIR  where each step's log goes (default build-gpu/gpu-check)
#   DATA_DIR           converted Fashion-MNIST shards (default data/fashion-mnist; converted
#                      there first when missing)
#   FASHION_MNIST_DIR  the raw IDX files (default /usr/share/datasets/fashion-mnist, from the
#                      Debian package dataset-fashion-mnist); read by `data convert` and by DDP
#   MODELS ("cnn resnet"), BATCH (64 per GPU), EPOCHS (1), LIMIT (training records, 0: all 60,000),
#   ACCURACY_FLOOR (0.80), ACCURACY_GAP (0.05: largest |aimass - DDP| test accuracy),
#   TIME_BUDGET_S (480), TIMEOUT_SCALE (1: multiplies every step's time limit),
#   ALLREDUCE_MAX_BYTES (256M)
#   GPU_CHECK_DEVICE=cpu  for testing this script on a machine without a GPU only: skips the GPU
#                      checks, the build and the unit tests (GPU_CHECK_BUILD_DIR must hold a build),
#                      trains on the CPU with MPI, runs DDP with gloo and the allreduce bench on MPI
#                      with 2 ranks. Everything else (data, parsing, checks, table) is the real path.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

check_start=$SECONDS
failures=()

say() { echo "gpu_check: $*"; }
die() {
  echo "gpu_check: FAIL: $*" >&2
  exit 1
}

test_mode=0
case "${GPU_CHECK_DEVICE:-cuda}" in
  cuda) ;;
  cpu) test_mode=1 ;;
  *) die "GPU_CHECK_DEVICE must be cuda or cpu (testing only), not '${GPU_CHECK_DEVICE}'" ;;
esac

build_dir="${GPU_CHECK_BUILD_DIR:-$root/build-gpu}"
[[ "$build_dir" == /* ]] || build_dir="$root/$build_dir"
data_dir="${DATA_DIR:-$root/data/fashion-mnist}"
[[ "$data_dir" == /* ]] || data_dir="$root/$data_dir"
raw_dir="${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
cuda_home="${CUDA_HOME:-/usr/local/cuda}"
read -r -a models <<< "${MODELS:-cnn resnet}"
batch="${BATCH:-64}"
epochs="${EPOCHS:-1}"
limit="${LIMIT:-0}"
accuracy_floor="${ACCURACY_FLOOR:-0.80}"
accuracy_gap="${ACCURACY_GAP:-0.05}"
time_budget="${TIME_BUDGET_S:-480}"
timeout_scale="${TIMEOUT_SCALE:-1}"
cores="$(nproc)"

# ---------------------------------------------------------------------------------------------
# 1. A GPU, and a torch that can use it.

# The first python whose torch imports (with CUDA unless testing on the CPU); when none has CUDA,
# says which one has a CPU-only torch.
python_candidates=()
for candidate in "${PYTHON:-}" python3 /usr/bin/python3; do
  [[ -n "$candidate" ]] && python_candidates+=("$candidate")
done
find_python() {
  local python cpu_only=""
  for python in "${python_candidates[@]}"; do
    command -v "$python" > /dev/null 2>&1 || continue
    "$python" -c 'import torch' > /dev/null 2>&1 || continue
    if ((test_mode)) ||
       "$python" -c 'import sys, torch; sys.exit(torch.version.cuda is None)' > /dev/null 2>&1; then
      echo "$python"
      return 0
    fi
    [[ -n "$cpu_only" ]] || cpu_only="$python has torch $("$python" -c 'import torch; print(torch.__version__)'), a CPU-only build"
  done
  echo "no python with a CUDA build of torch (tried ${python_candidates[*]}${cpu_only:+; $cpu_only}); set PYTHON"
  return 1
}

gpu_count=0
if ((test_mode)); then
  say "GPU_CHECK_DEVICE=cpu: testing this script on the CPU; no GPU is checked, built for or used"
  python="$(find_python)" || die "no python with torch (tried ${python_candidates[*]})"
else
  command -v nvidia-smi > /dev/null 2>&1 ||
    die "no GPU: nvidia-smi is not installed (no NVIDIA driver on this machine)"
  gpu_list="$(nvidia-smi -L 2>&1)" || die "no GPU: nvidia-smi -L failed: $(head -n 1 <<< "$gpu_list")"
  gpu_count=$(grep -c '^GPU [0-9]' <<< "$gpu_list" || true)
  ((gpu_count > 0)) || die "no GPU: nvidia-smi lists none ($(head -n 1 <<< "$gpu_list"))"
  python="$(find_python)" || die "$python"
  cuda_state="$("$python" -c '
import torch
if not torch.cuda.is_available():
    print("torch %s (CUDA %s) cannot use the GPU: torch.cuda.is_available() is False" %
          (torch.__version__, torch.version.cuda))
elif torch.cuda.device_count() < 1:
    print("torch %s sees no CUDA device" % torch.__version__)
else:
    print("ok")' 2>&1 | tail -n 1)"
  [[ "$cuda_state" == ok ]] || die "$cuda_state"
fi

# ---------------------------------------------------------------------------------------------
# 2. Versions.

torch_info="$("$python" -c '
import torch
def fact(name, compute):
    try:
        value = compute()
    except Exception:
        value = None
    if value is not None:
        print("%s=%s" % (name, value))
fact("torch_version", lambda: torch.__version__)
fact("torch_cuda", lambda: torch.version.cuda or "none")
fact("torch_cxx11_abi", lambda: int(getattr(torch._C, "_GLIBCXX_USE_CXX11_ABI", True)))
fact("torch_prefix", lambda: torch.utils.cmake_prefix_path)
if torch.version.cuda and torch.cuda.is_available():
    fact("torch_gpus", torch.cuda.device_count)
    fact("torch_arch", lambda: "%d%d" % torch.cuda.get_device_capability(0))
    fact("torch_arch_list", lambda: "%d.%d" % torch.cuda.get_device_capability(0))
    fact("torch_cudnn", torch.backends.cudnn.version)
    nccl = lambda: torch.cuda.nccl.version()
    fact("torch_nccl", lambda: ".".join(map(str, nccl())) if isinstance(nccl(), tuple) else nccl())
' 2>&1)" || die "python's torch failed to report its versions: $(tail -n 1 <<< "$torch_info")"

torch_version="" torch_cuda="" torch_cxx11_abi=1 torch_prefix="" torch_gpus=0 torch_arch=""
torch_arch_list="" torch_cudnn="" torch_nccl=""
while IFS='=' read -r key value; do
  if [[ "$key" == torch_* ]]; then printf -v "$key" '%s' "$value"; fi
done <<< "$torch_info"

if ((!test_mode)); then
  say "GPUs ($gpu_count):"
  nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader |
    sed 's/^/    /' || true
  driver_cuda="$(nvidia-smi | grep -o 'CUDA Version: [0-9.]*' | head -n 1 | cut -d' ' -f3 || true)"
  say "driver supports CUDA ${driver_cuda:-?}; torch $torch_version built for CUDA $torch_cuda" \
      "(cuDNN ${torch_cudnn:-?}, NCCL ${torch_nccl:-?}), compute capability ${torch_arch_list:-?}"
else
  say "torch $torch_version (CUDA $torch_cuda) at $python"
fi
say "python: $python; cores: $cores; repository: $root; build: $build_dir"

# ---------------------------------------------------------------------------------------------
# 3. Prerequisites, configure, build.

log_dir="${GPU_CHECK_LOG_DIR:-$build_dir/gpu-check}"
mkdir -p "$log_dir"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Runs one step under `timeout`, output to its log; prints the elapsed time, or the failure with
# the log's last lines (and records it). Usage: run_step NAME LIMIT_S LOG COMMAND...
run_step() {
  local name="$1" limit_s="$2" log="$3"
  shift 3
  limit_s=$(awk -v s="$limit_s" -v k="$timeout_scale" 'BEGIN { printf "%d", s * k }')
  local start=$SECONDS rc=0 reason
  say "[$name] (limit ${limit_s}s) ..."
  timeout --kill-after=15 "$limit_s" "$@" > "$log" 2>&1 || rc=$?
  local took=$((SECONDS - start))
  if ((rc == 0)); then
    say "[$name] ok in ${took}s"
    return 0
  fi
  if ((rc == 124 || rc == 137)); then reason="timed out after ${limit_s}s"; else reason="exit code $rc"; fi
  say "[$name] FAILED ($reason, ${took}s); last lines of $log:"
  tail -n 30 "$log" | sed 's/^/    | /'
  failures+=("$name: $reason (log: $log)")
  return 1
}

# The build prerequisites scripts/setup.sh installs from Debian packages; every missing one is
# named at once, so that a machine without them fails here rather than deep in cmake.
cxx="${CXX:-c++}"
missing=()
need_tool() {  # program package
  command -v "$1" > /dev/null 2>&1 || missing+=("program $1 (Debian package $2)")
}
need_header() {  # header package [compiler flags...]
  local header="$1" package="$2"
  shift 2
  printf '#include <%s>\n' "$header" |
    "$cxx" -std=c++17 "$@" -E -x c++ - -o /dev/null > /dev/null 2>&1 ||
    missing+=("header <$header> (Debian package $package)")
}
need_tool cmake cmake
need_tool "$cxx" "g++ (build-essential)"
need_tool pkg-config pkg-config
need_tool protoc protobuf-compiler
need_tool mpicxx libopenmpi-dev
need_tool mpirun openmpi-bin
command -v ninja > /dev/null 2>&1 || need_tool make make
if command -v cmake > /dev/null 2>&1; then
  cmake_version="$(cmake --version | head -n 1 | awk '{print $3}')"
  if [[ "$(printf '%s\n3.20\n' "$cmake_version" | sort -V | head -n 1)" != 3.20 ]]; then
    missing+=("cmake >= 3.20 (found $cmake_version)")
  fi
fi
if command -v "$cxx" > /dev/null 2>&1; then
  need_header google/protobuf/message.h libprotobuf-dev
  need_header boost/json.hpp "libboost1.81-dev (Boost >= 1.75, for Boost.JSON)"
  need_header boost/asio.hpp libboost1.81-dev
  need_header yaml-cpp/yaml.h libyaml-cpp-dev
  need_header zlib.h zlib1g-dev
  need_header zstd.h libzstd-dev
  need_header bzlib.h libbz2-dev
  need_header snappy-c.h libsnappy-dev
  need_header openssl/evp.h libssl-dev
  need_header sqlite3.h libsqlite3-dev
  need_header prometheus/registry.h "prometheus-cpp-dev (the service's /metrics)"
  need_header avro.h libavro-dev
  need_header lzma.h liblzma-dev
  need_header catch2/catch.hpp "catch2 (version 2)"
  if command -v mpicxx > /dev/null 2>&1; then
    read -r -a mpi_flags <<< "$(mpicxx --showme:compile 2> /dev/null || true)"
    need_header mpi.h libopenmpi-dev "${mpi_flags[@]}"
  fi
fi
if command -v pkg-config > /dev/null 2>&1; then
  pkg-config --exists libzstd || missing+=("pkg-config module libzstd (Debian package libzstd-dev)")
  pkg-config --exists avro-c || missing+=("pkg-config module avro-c (Debian package libavro-dev)")
  pkg-config --exists liblzma || missing+=("pkg-config module liblzma (Debian package liblzma-dev)")
fi
"$python" -c 'import numpy' > /dev/null 2>&1 || missing+=("numpy for $python (pip numpy or python3-numpy)")

if ((!test_mode)); then
  [[ -x "$cuda_home/bin/nvcc" ]] ||
    missing+=("nvcc at $cuda_home/bin/nvcc (the CUDA toolkit, which LibTorch's CMake config needs; set CUDA_HOME)")
  [[ -f "$cuda_home/include/cuda_runtime_api.h" ]] || missing+=("CUDA runtime headers under $cuda_home/include")
  # NCCL: under CUDA_HOME as cmake/FindNccl.cmake expects, else in the other usual places, whose
  # paths are then handed to cmake directly.
  nccl_include="" nccl_library=""
  torch_nccl_home="$("$python" -c '
import os
try:
    import nvidia.nccl
    print(os.path.dirname(nvidia.nccl.__file__) if nvidia.nccl.__file__ else list(nvidia.nccl.__path__)[0])
except Exception:
    pass' 2> /dev/null || true)"
  for home in "${NCCL_HOME:-}" "$cuda_home" /usr "$torch_nccl_home"; do
    [[ -n "$home" && -f "$home/include/nccl.h" ]] || continue
    for lib in "$home"/lib/libnccl.so "$home"/lib64/libnccl.so "$home"/lib/x86_64-linux-gnu/libnccl.so \
               "$home"/lib/libnccl.so.2 "$home"/lib64/libnccl.so.2; do
      if [[ -f "$lib" ]]; then nccl_include="$home/include" nccl_library="$lib"; break 2; fi
    done
  done
  if [[ -z "$nccl_library" ]]; then
    missing+=("NCCL: include/nccl.h and lib/libnccl.so under ${NCCL_HOME:+$NCCL_HOME, }$cuda_home, /usr or torch's nvidia-nccl (Debian/NVIDIA package libnccl-dev; or set NCCL_HOME)")
  else
    nccl_header_version="$(awk '/#define NCCL_(MAJOR|MINOR|PATCH) /{v = v (v ? "." : "") $3} END {print v}' \
                           "$nccl_include/nccl.h")"
    say "NCCL to build against: $nccl_library (nccl.h $nccl_header_version; torch uses ${torch_nccl:-?})"
  fi
  # Debian's Catch2, Boost, protobuf and yaml-cpp use the C++11 ABI; a pre-C++11-ABI LibTorch (pip
  # wheels before torch 2.7) cannot link with them: say so now, not after a failed link.
  if [[ -z "${LIBTORCH_DIR:-}" && "$torch_cxx11_abi" != 1 ]]; then
    missing+=("a LibTorch built with the C++11 ABI: python's torch $torch_version has _GLIBCXX_USE_CXX11_ABI=0 (pip wheels before 2.7); install torch >= 2.7, or set LIBTORCH_DIR to a cxx11-abi LibTorch of the same version")
  fi
fi
if ((${#missing[@]})); then
  echo "gpu_check: FAIL: missing build prerequisites:" >&2
  printf '    %s\n' "${missing[@]}" >&2
  exit 1
fi
say "build prerequisites present"

if ((test_mode)); then
  [[ -x "$build_dir/bin/aimass-coordinator" && -x "$build_dir/bin/aimass-worker" ]] ||
    die "GPU_CHECK_DEVICE=cpu needs an existing build in GPU_CHECK_BUILD_DIR ($build_dir)"
  say "[configure, build, unit tests] skipped (GPU_CHECK_DEVICE=cpu)"
else
  torch_prefix="${LIBTORCH_DIR:-$torch_prefix}"
  torch_home="$("$python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')"
  torch_home="${LIBTORCH_DIR:-$torch_home}"  # include/ and lib/ in both layouts
  torch_include="$torch_home/include"
  # LibTorch 2.13 and later refuse to compile below C++20 (an #error in their headers): found by
  # that check in the headers, or by python's torch version.
  cxx_standard=17
  if grep -rqsE --include='*.h' 'C\+\+20 or later|__cplusplus < 202002L' \
       "$torch_include/ATen" "$torch_include/c10/macros" "$torch_include/torch/headeronly" 2> /dev/null ||
     [[ "$(printf '%s\n2.13\n' "${torch_version%%+*}" | sort -V | head -n 1)" == 2.13 ]]; then
    cxx_standard=20
  fi
  export CUDA_HOME="$cuda_home" CUDACXX="$cuda_home/bin/nvcc" PATH="$cuda_home/bin:$PATH"
  # Only this GPU's architecture: LibTorch's CMake config otherwise probes or lists them all.
  export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-${torch_arch_list:-9.0}}"
  configure=(cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release
             -DCMAKE_PREFIX_PATH="$torch_prefix" -DAIMASS_WITH_NCCL=ON
             -DCMAKE_CXX_STANDARD="$cxx_standard"
             -DCUDA_TOOLKIT_ROOT_DIR="$cuda_home" -DCUDAToolkit_ROOT="$cuda_home"
             -DCMAKE_CUDA_COMPILER="$cuda_home/bin/nvcc"
             -DCMAKE_CUDA_ARCHITECTURES="${torch_arch:-90}"
             -DAIMASS_NCCL_INCLUDE_DIR="$nccl_include" -DAIMASS_NCCL_LIBRARY="$nccl_library"
             -DAIMASS_WITH_UI=OFF)  # the web UI's JavaScript packages are not a GPU matter
  # NVTX 3 is header-only and ships with CUDA 12+; pointing LibTorch's config at it keeps it from
  # falling back to libnvToolsExt, which CUDA 12.9 and later no longer have.
  [[ -d "$cuda_home/include/nvtx3" ]] && configure+=(-Dnvtx3_dir="$cuda_home/include")
  command -v ninja > /dev/null 2>&1 && [[ ! -f "$build_dir/Makefile" ]] && configure+=(-G Ninja)
  command -v ccache > /dev/null 2>&1 && configure+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  say "LibTorch: $torch_prefix (C++$cxx_standard)"
  run_step configure 240 "$log_dir/configure.log" "${configure[@]}" ||
    die "cmake configure failed (log: $log_dir/configure.log)"
  grep -q 'aimass: NCCL backend enabled' "$log_dir/configure.log" ||
    die "cmake left the NCCL backend out ($(grep -m1 'aimass: CUDA/NCCL' "$log_dir/configure.log" || echo 'see configure.log'))"

  # The executables and the unit-test executables; the integration tests are neither run nor built.
  mapfile -t unit_targets < <(sed -n 's/^aimass_test(\([A-Za-z0-9_]*\).*/\1/p' "$root/tests/unit/CMakeLists.txt")
  targets=()
  for target in aimass-coordinator aimass-worker "${unit_targets[@]}"; do targets+=(--target "$target"); done
  run_step build 330 "$log_dir/build.log" cmake --build "$build_dir" -j"$cores" "${targets[@]}" ||
    die "build failed (log: $log_dir/build.log)"

  # Every library must resolve where the programs will run (mpirun passes this environment on).
  unresolved="$(ldd "$build_dir/bin/aimass-worker" | grep 'not found' || true)"
  if [[ -n "$unresolved" ]]; then
    extra_paths="$(dirname "$nccl_library"):$cuda_home/lib64:$cuda_home/lib:$torch_home/lib"
    export LD_LIBRARY_PATH="$extra_paths${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    unresolved="$(ldd "$build_dir/bin/aimass-worker" | grep 'not found' || true)"
    [[ -z "$unresolved" ]] || die "aimass-worker has unresolved libraries: $(tr -s ' \t\n' ' ' <<< "$unresolved")"
    say "libraries resolved with LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  fi
  say "aimass-worker loads: $(ldd "$build_dir/bin/aimass-worker" |
        awk '/libnccl|libcudart|libtorch_cuda/ {printf "%s ", $3}')"

  run_step "unit tests" 150 "$log_dir/unit-tests.log" \
    ctest --test-dir "$build_dir" -E integration -j"$cores" --timeout 120 --output-on-failure || true
  grep -E '^[0-9]+% tests passed|tests failed out of' "$log_dir/unit-tests.log" | sed 's/^/    /' || true
fi
bin="$build_dir/bin"

# ---------------------------------------------------------------------------------------------
# 4. Fashion-MNIST, converted once.

have_raw=0
if [[ -f "$raw_dir/train-images-idx3-ubyte.gz" && -f "$raw_dir/train-labels-idx1-ubyte.gz" &&
      -f "$raw_dir/t10k-images-idx3-ubyte.gz" && -f "$raw_dir/t10k-labels-idx1-ubyte.gz" ]]; then
  have_raw=1
fi
have_data=0
if [[ -f "$data_dir/train/_SUCCESS" && -f "$data_dir/test/_SUCCESS" ]]; then
  have_data=1
elif ((have_raw)); then
  run_step "convert data" 120 "$log_dir/convert.log" \
    "$bin/aimass-coordinator" data convert --output "$data_dir" --input "$raw_dir" && have_data=1
else
  failures+=("data: no converted Fashion-MNIST at $data_dir and no raw IDX files at $raw_dir (install the Debian package dataset-fashion-mnist, or set FASHION_MNIST_DIR)")
  say "FAILED: Fashion-MNIST is not on this machine (neither $data_dir nor $raw_dir): training is skipped"
fi
((have_raw)) || [[ $have_data == 0 ]] ||
  failures+=("ddp: no raw Fashion-MNIST IDX files at $raw_dir for the DDP baseline (set FASHION_MNIST_DIR)")

# ---------------------------------------------------------------------------------------------
# 5. aimass training, one GPU worker.

if ((test_mode)); then
  device=cpu backend=mpi ddp_device=cpu threads=1 bench_backend=mpi bench_ranks=2
else
  # The GPUs torch sees (CUDA_VISIBLE_DEVICES may hide some that nvidia-smi lists).
  device=cuda backend=nccl ddp_device=cuda threads="$cores" bench_backend=nccl bench_ranks="$torch_gpus"
fi
results="$work/results.jsonl"
: > "$results"

if ((have_data)); then
  for model in "${models[@]}"; do
    run_dir="$log_dir/run-$model"
    cat > "$log_dir/$model.yaml" << JOB
model: $model
data:
  train: $data_dir/train
  test: $data_dir/test
  limit: $limit
  loader_threads: 4
  normalize: {scale: 0.00392156862745098, mean: 0.2860, std: 0.3530}
training: {epochs: $epochs, batch_size: $batch, log_every: 20, seed: 42, max_restarts: 0}
optimizer: {name: sgd, lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 0.0005}
checkpoint: {every_steps: 0, every_seconds: 0, keep: 1}
worker: {device: $device, backend: $backend, threads: $threads}
output: {run_dir: $run_dir}
JOB
    if run_step "train $model" 150 "$log_dir/train-$model.log" \
         "$bin/aimass-coordinator" train --config "$log_dir/$model.yaml" --workers 1 --overwrite --quiet; then
      # Whole-run samples/s and accuracy from summary.json; the steady-state samples/s (median
      # metrics interval after the first and before the last, as scripts/bench_common.sh) is the
      # one set beside DDP's, which is also measured after its warm-up.
      "$python" - "$run_dir" "$model" >> "$results" << 'PY' || failures+=("train $model: unreadable run directory $run_dir")
import json, statistics, sys
run_dir, model = sys.argv[1], sys.argv[2]
summary = json.load(open(run_dir + "/summary.json"))
workers = json.load(open(run_dir + "/workers.json"))
rows = [json.loads(line) for line in open(run_dir + "/metrics.jsonl")]
rows = [r for r in rows if "samples_per_second" in r]
steady = rows[1:-1] or rows
print(json.dumps({"model": model, "framework": "aimass",
                  "run_samples_per_second": summary.get("samples_per_second"),
                  "samples_per_second": statistics.median(r["samples_per_second"] for r in steady)
                                        if steady else None,
                  "test_accuracy": summary.get("test_accuracy"),
                  "workers": summary.get("workers"),
                  "devices": [w.get("device") for w in workers] if isinstance(workers, list)
                             else workers}))
PY
    fi
  done
fi

# ---------------------------------------------------------------------------------------------
# 6. Allreduce on NCCL: one GPU (the busbw of 1 rank is 0 by definition: this checks the path and
# the results), then every GPU of the machine when there are several.

bench_counts=(1)
((bench_ranks > 1)) && bench_counts+=("$bench_ranks")
for ranks in "${bench_counts[@]}"; do
  log="$log_dir/allreduce-$ranks.log"
  if run_step "allreduce $bench_backend x$ranks" 90 "$log" \
       "$root/scripts/mpirun.sh" -np "$ranks" "$bin/aimass-worker" bench allreduce \
       --backend "$bench_backend" --max-bytes "${ALLREDUCE_MAX_BYTES:-256M}"; then
    sed 's/^/    /' "$log" | grep -v '^    $' || true
    # Every row's last column is the check: "ok", or "WRONG" for a wrong sum.
    awk -v ranks="$ranks" -v backend="$bench_backend" '
      /^# aimass allreduce/ { header = ($0 ~ ("backend " backend ",")) && ($0 ~ (": " ranks " workers")) }
      $1 ~ /^[0-9]+$/ { rows++; if ($NF != "ok") bad++ }
      END {
        if (!header) { print "no \"" ranks " workers, backend " backend "\" header"; exit 1 }
        if (!rows) { print "no result rows"; exit 1 }
        if (bad) { print bad " of " rows " rows with a check other than ok"; exit 1 }
      }' "$log" > "$work/allreduce-check" ||
      failures+=("allreduce $bench_backend x$ranks: $(cat "$work/allreduce-check")")
  fi
done

# ---------------------------------------------------------------------------------------------
# 7. PyTorch DDP on the same model, per-GPU batch, data, optimizer and epochs.

if ((have_data && have_raw)); then
  for model in "${models[@]}"; do
    if run_step "ddp $model" 150 "$log_dir/ddp-$model.log" \
         "$python" "$root/scripts/pytorch_ddp_baseline.py" --model "$model" --workers 1 \
         --device "$ddp_device" --batch "$batch" --threads "$threads" --limit "$limit" \
         --passes "$epochs" --eval --data "$raw_dir"; then
      grep '^{"framework": "pytorch-ddp"' "$log_dir/ddp-$model.log" | tail -n 1 >> "$results" || true
    fi
  done
fi

# ---------------------------------------------------------------------------------------------
# 8. The table, and every check that needs the figures.

total=$((SECONDS - check_start))
echo
"$python" - "$results" "$accuracy_floor" "$accuracy_gap" "$device" "${models[@]}" \
  > "$work/table" 2> "$work/table-failures" << 'PY' || true
import json, sys
path, floor, gap, device, models = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5:]
runs = {}
for line in open(path):
    line = line.strip()
    if line.startswith("{"):
        row = json.loads(line)
        runs[(row["model"], row["framework"])] = row
problems = []
def figure(value):
    return value if isinstance(value, (int, float)) else None
print("%-7s %14s %14s %14s %7s %11s %11s" % ("model", "aimass samp/s", "(whole run)", "ddp samp/s",
                                             "ratio", "aimass acc", "ddp acc"))
for model in models:
    ours, ddp = runs.get((model, "aimass")), runs.get((model, "pytorch-ddp"))
    speed = figure(ours and ours.get("samples_per_second"))
    run_speed = figure(ours and ours.get("run_samples_per_second"))
    accuracy = figure(ours and ours.get("test_accuracy"))
    ddp_speed = figure(ddp and ddp.get("samples_per_second"))
    ddp_accuracy = figure(ddp and ddp.get("test_accuracy"))
    show = lambda v, f: f % v if v is not None else "-"
    print("%-7s %14s %14s %14s %7s %11s %11s" % (
        model, show(speed, "%.0f"), show(run_speed, "%.0f"), show(ddp_speed, "%.0f"),
        show(speed / ddp_speed if speed and ddp_speed else None, "%.2fx"),
        show(accuracy, "%.4f"), show(ddp_accuracy, "%.4f")))
    for name, value in (("aimass samples/s", speed), ("aimass test accuracy", accuracy),
                        ("DDP samples/s", ddp_speed), ("DDP test accuracy", ddp_accuracy)):
        if value is None:
            problems.append("%s: no %s" % (model, name))
    if ours:
        devices = ours.get("devices") or []
        if ours.get("workers") != 1 or not devices or not all(
                str(d).startswith(device) for d in devices):
            problems.append("%s: aimass ran on %s with %s workers, expected 1 worker on %s" % (
                model, devices, ours.get("workers"), device))
    if ddp and ddp.get("device", "").split(":")[0] != device:
        problems.append("%s: DDP ran on %s, expected %s" % (model, ddp.get("device"), device))
    for name, value in (("aimass", accuracy), ("DDP", ddp_accuracy)):
        if value is not None and value < floor:
            problems.append("%s: %s test accuracy %.4f is under the floor %.2f" % (model, name, value, floor))
    if accuracy is not None and ddp_accuracy is not None and abs(accuracy - ddp_accuracy) > gap:
        problems.append("%s: aimass and DDP test accuracies differ by %.4f (more than %.2f)" % (
            model, abs(accuracy - ddp_accuracy), gap))
for problem in problems:
    print(problem, file=sys.stderr)
PY
cat "$work/table"
while IFS= read -r problem; do
  [[ -n "$problem" ]] && failures+=("$problem")
done < "$work/table-failures"
[[ -s "$work/table" ]] || failures+=("table: the figures could not be read")
if ((total > time_budget)); then
  failures+=("time: the check took ${total}s, over its budget of ${time_budget}s")
fi

echo
say "samples/s: aimass steady state (median metrics.jsonl interval) and whole run (summary.json)," \
    "DDP after its warm-up steps; ratio = aimass steady / DDP; batch $batch per GPU," \
    "$epochs epoch(s), limit $limit (0: all), 1 worker, device $device"
if ((${#failures[@]})); then
  echo "gpu_check: FAIL: ${#failures[@]} problem(s) in ${total}s:" >&2
  printf '    %s\n' "${failures[@]}" >&2
  exit 1
fi
say "all checks passed in ${total}s (budget ${time_budget}s); logs in $log_dir"
