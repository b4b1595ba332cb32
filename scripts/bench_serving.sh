#!/usr/bin/env bash
# Online prediction under concurrent clients: `aimass-coordinator serve` (POST
# /api/v1/models/bench/predict, dynamic batching on one replica) against a threaded Flask app
# (scripts/flask_serving_baseline.py: torch.jit.load, one forward call per request) serving the
# very same model file. The model is a TorchScript MLP (784 -> 256 -> 10) scripted in Python,
# trained for one short epoch on Fashion-MNIST by a train job of the service and registered
# as `bench` (alias production); Flask loads that version's stored model.pt and normalizes as
# the training run did. Both sides get the same requests (one Fashion-MNIST test record each,
# {"instances": [[784 numbers]]}, cycled from the first 64, bearer token on both) and use the
# same number of intra-op threads. Before timing, both must answer the first records with the
# same predictions and scores within 1e-4. Then wrk (--latency, a Lua script for the POST)
# runs each concurrency level (1, 8, 64 connections, -t min(N,2)) against aimass, then Flask,
# and the script prints requests/s, p50 and p99 of both and the ratio of requests/s. Any non-2xx
# answer or socket error fails the script. The target: at 64 clients at least 3x Flask's
# requests/s with a lower p99.
#
# Usage: scripts/bench_serving.sh [--seconds S] [--threads N] [--max-delay-ms D]
#   --seconds: wrk's duration per level and server (default 10)
#   --threads: the replica's intra-op threads and Flask's torch.set_num_threads (default 2)
#   --max-delay-ms: the serving config's max_delay_ms (default 0, the config's default)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bench_common.sh"

usage="usage: scripts/bench_serving.sh [--seconds S] [--threads N] [--max-delay-ms D]"
duration=10
threads=2
max_delay_ms=0
levels=(1 8 64)
while (($#)); do
  case "$1" in
    --seconds) duration="${2:?$usage}"; shift 2 ;;
    --threads) threads="${2:?$usage}"; shift 2 ;;
    --max-delay-ms) max_delay_ms="${2:?$usage}"; shift 2 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
[[ "$duration" =~ ^[1-9][0-9]*$ ]] || { echo "bench_serving: --seconds must be a positive integer" >&2; exit 2; }
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || { echo "bench_serving: --threads must be a positive integer" >&2; exit 2; }
[[ "$max_delay_ms" =~ ^[0-9]+$ ]] || { echo "bench_serving: --max-delay-ms must be an integer >= 0" >&2; exit 2; }

bench_prepare
for tool in wrk curl /usr/bin/python3; do
  command -v "$tool" > /dev/null || { echo "bench_serving: $tool missing (scripts/setup.sh installs it)" >&2; exit 1; }
done
/usr/bin/python3 -c 'import flask, torch' 2> /dev/null ||
  { echo "bench_serving: python3-flask or python3-torch missing (scripts/setup.sh)" >&2; exit 1; }
baseline_py="$root/scripts/flask_serving_baseline.py"

work=$(mktemp -d)
server_pid=""
peer_pid=""
trap bench_cleanup EXIT
mkdir -p "$work/models"

fail() {  # message [file to show]
  [[ -n "${2:-}" && -f "$2" ]] && tail -n 40 "$2" >&2
  echo "bench_serving: $1" >&2
  exit 1
}

bench_start_service bench_serving --data-root "$root/data" --data-root "$work/models"

api() {  # method path [body]: prints the answer; a non-2xx answer fails the script
  local answer code
  answer=$(curl -s -w '\n%{http_code}' -X "$1" -H "Authorization: Bearer $token" \
             -H 'Content-Type: application/json' ${3:+-d "$3"} "$url$2") || fail "$1 $2: curl failed"
  code=${answer##*$'\n'}
  answer=${answer%$'\n'*}
  [[ "$code" == 2* ]] || fail "$1 $2${3:+ $3} -> $code $answer" "$work/serve.log"
  printf '%s\n' "$answer"
}
json_get() {  # python-expression-over-j: prints it from the JSON on stdin
  /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); v='"$1"'; print("" if v is None else v)'
}

# The model: scripted in Python, trained by the service, registered as bench v1, production.
/usr/bin/python3 "$baseline_py" make-model --out "$work/models/initial.pt"
scale=0.00392156862745098 mean=0.2860 std=0.3530
yaml="model: {name: 'torchscript:$work/models/initial.pt', input_shape: [784], num_classes: 10}
data:
  train: $root/$data_dir/train
  limit: 4096
  normalize: {scale: $scale, mean: $mean, std: $std}
training: {epochs: 1, batch_size: 64, seed: 42, log_every: 16}
optimizer: {name: sgd, lr: 0.05, momentum: 0.9}
checkpoint: {every_steps: 0, every_seconds: 0}
worker: {device: cpu, threads: 1}
"
body=$(/usr/bin/python3 -c 'import json,sys; print(json.dumps({"kind": "train", "config": sys.argv[1], "workers": 1, "register_as": "bench"}))' "$yaml")
job=$(api POST /api/v1/jobs "$body" | json_get 'j["id"]')
state=""
for _ in $(seq 1200); do
  state=$(api GET "/api/v1/jobs/$job" | json_get 'j["state"]')
  [[ "$state" == queued || "$state" == running ]] || break
  sleep 0.5
done
if [[ "$state" != succeeded ]]; then
  api GET "/api/v1/jobs/$job/log" > "$work/job.log" || true
  fail "training job $job: $state ($(api GET "/api/v1/jobs/$job" | json_get 'j["error"]'))" "$work/job.log"
fi
version=""
for _ in $(seq 50); do
  version=$(api GET "/api/v1/jobs/$job" | json_get '(j.get("model") or {}).get("version")')
  [[ -n "$version" ]] && break
  sleep 0.2
done
[[ -n "$version" ]] || fail "job $job succeeded but registered no model (GET /api/v1/jobs/$job: model is null)"
api PUT /api/v1/models/bench/aliases/production "{\"version\": $version}" > /dev/null
serving="{\"replicas\": 1, \"threads\": $threads, \"max_batch_size\": 64, \"max_delay_ms\": $max_delay_ms, \"max_queue\": 8192}"
api PUT /api/v1/models/bench/serving "$serving" > /dev/null
sha=$(api GET /api/v1/models/bench |
      json_get 'next(v["sha256"] for v in j["versions"] if v["version"] == '"$version"')')
model_pt="$work/state/artifacts/sha256/${sha:0:2}/$sha/model.pt"
[[ -f "$model_pt" ]] || fail "the registered model's file is not at $model_pt (sha256 $sha)"

# The requests: the first 64 test records, one per request.
/usr/bin/python3 "$baseline_py" bodies --table "$root/$data_dir/test" --out "$work/bodies.jsonl" --count 64
first_body=$(head -n 1 "$work/bodies.jsonl")

# Wait for a ready replica: the first answered prediction.
code=""
for _ in $(seq 240); do
  code=$(curl -s -o "$work/predict.json" -w '%{http_code}' -H "Authorization: Bearer $token" \
           -H 'Content-Type: application/json' -d "$first_body" "$url/api/v1/models/bench/predict" || true)
  [[ "$code" == 200 ]] && break
  sleep 0.5
done
[[ "$code" == 200 ]] ||
  fail "POST /api/v1/models/bench/predict -> $code $(cat "$work/predict.json" 2> /dev/null); serving: $(api GET /api/v1/models/bench/serving)" "$work/serve.log"

# The peer, on a free port, with the same model file, threads and normalization.
peer_port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
AIMASS_BENCH_TOKEN="$token" /usr/bin/python3 "$baseline_py" serve --model "$model_pt" --port "$peer_port" \
  --name bench --version "$version" --threads "$threads" --scale "$scale" --mean "$mean" --std "$std" \
  > "$work/peer.log" 2>&1 &
peer_pid=$!
peer_url="http://127.0.0.1:$peer_port"
for _ in $(seq 300); do
  curl -sf -o /dev/null "$peer_url/healthz" && break
  kill -0 "$peer_pid" 2> /dev/null || fail "the Flask baseline exited" "$work/peer.log"
  sleep 0.2
done
curl -sf -o /dev/null "$peer_url/healthz" || fail "the Flask baseline did not start" "$work/peer.log"

# Same model, same answers.
/usr/bin/python3 "$baseline_py" compare --bodies "$work/bodies.jsonl" --count 8 --tolerance 1e-4 \
  --token-file "$token_file" --url "$url/api/v1/models/bench/predict" \
  --url "$peer_url/api/v1/models/bench/predict" > "$work/compare.txt" || fail "aimass and Flask disagree"

# wrk: POST with the body of the next record and the token; Lua reads both files per thread.
cat > "$work/post.lua" << 'EOF'
local requests = {}
local next_index = 0
function init(args)
  local token = io.open(args[2]):read("*l")
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}
  for line in io.lines(args[1]) do
    if #line > 0 then requests[#requests + 1] = wrk.format("POST", nil, headers, line) end
  end
  assert(#requests > 0, "no request bodies in " .. args[1])
end
function request()
  next_index = next_index % #requests + 1
  return requests[next_index]
end
EOF

# wrk's summary -> "requests/s p50_ms p99_ms errors"
run_wrk() {  # connections predict-url name
  local out connections="$1" wrk_threads=$(($1 < 2 ? $1 : 2))
  out=$(wrk -t"$wrk_threads" -c"$connections" -d"${duration}s" --timeout 10s --latency \
          -s "$work/post.lua" "$2" -- "$work/bodies.jsonl" "$token_file") || fail "wrk against $3 failed: $out"
  echo "$out" > "$work/wrk-$3-$connections.txt"
  /usr/bin/python3 - "$out" << 'EOF'
import re, sys
text = sys.argv[1]
def ms(label):
    m = re.search(r'^\s*' + label + r'%\s+([\d.]+)(us|ms|s|m|h)\s*$', text, re.M)
    if m is None:
        sys.exit('bench_serving: no %s%% latency in the output of wrk:\n%s' % (label, text))
    value, unit = float(m.group(1)), m.group(2)
    return value * {'us': 0.001, 'ms': 1, 's': 1000, 'm': 60000, 'h': 3600000}[unit]
m = re.search(r'Requests/sec:\s+([\d.]+)', text)
if m is None:
    sys.exit('bench_serving: no Requests/sec in the output of wrk:\n' + text)
rps = float(m.group(1))
errors = 0
m = re.search(r'Non-2xx or 3xx responses:\s+(\d+)', text)
if m: errors += int(m.group(1))
m = re.search(r'Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)', text)
if m: errors += sum(int(x) for x in m.groups())
print(f'{rps:.0f} {ms("50"):.2f} {ms("99"):.2f} {errors}')
EOF
}

echo "POST /api/v1/models/bench/predict (TorchScript MLP 784-256-10, one record per request), ${duration} s per run,"
echo "$threads intra-op threads per server (aimass: 1 replica, max_batch_size 64, max_delay_ms $max_delay_ms), $(nproc) cores;"
cat "$work/compare.txt"
printf '%8s | %12s %9s %9s | %12s %9s %9s | %6s\n' clients "aimass req/s" p50_ms p99_ms "Flask req/s" p50_ms p99_ms ratio
errors_seen=()
last=""
for level in "${levels[@]}"; do
  read -r a_rps a_p50 a_p99 a_errors < <(run_wrk "$level" "$url/api/v1/models/bench/predict" aimass)
  read -r b_rps b_p50 b_p99 b_errors < <(run_wrk "$level" "$peer_url/api/v1/models/bench/predict" flask)
  [[ -n "${a_errors:-}" && -n "${b_errors:-}" ]] || fail "could not read wrk's results at $level clients"
  ratio=$(/usr/bin/python3 -c 'import sys; a, b = map(float, sys.argv[1:]); print(f"{a / b:.2f}" if b else "inf")' "$a_rps" "$b_rps")
  printf '%8s | %12s %9s %9s | %12s %9s %9s | %5sx\n' "$level" "$a_rps" "$a_p50" "$a_p99" "$b_rps" "$b_p50" "$b_p99" "$ratio"
  [[ "$a_errors" == 0 ]] || errors_seen+=("aimass: $a_errors errors at $level clients (see wrk's output below)")
  [[ "$b_errors" == 0 ]] || errors_seen+=("Flask: $b_errors errors at $level clients")
  ((a_errors == 0)) || cat "$work/wrk-aimass-$level.txt" >&2
  last="$ratio $a_p99 $b_p99"
done
read -r ratio a_p99 b_p99 <<< "$last"
/usr/bin/python3 - "$ratio" "$a_p99" "$b_p99" "${levels[-1]}" << 'EOF'
import sys
ratio, ours, theirs, level = sys.argv[1:]
ratio = float(ratio)
lower = float(ours) < float(theirs)
met = ratio >= 3 and lower
print(f'{level} clients: aimass {ratio:.2f}x the baseline\'s requests/s, p99 {ours} ms vs {theirs} ms '
      f'({"lower" if lower else "not lower"}); target (>= 3x, lower p99) {"met" if met else "NOT met"}')
EOF
if ((${#errors_seen[@]})); then
  printf 'bench_serving: %s\n' "${errors_seen[@]}" >&2
  exit 1
fi
