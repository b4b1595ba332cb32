#!/usr/bin/env bash
# The service's API under concurrent clients: wrk against GET /api/v1/jobs?limit=100 (a page of
# 100 jobs, authenticated), on `aimass-coordinator serve` and, as the peer in the same command,
# a Flask app (MLflow's tracking server is Flask) that answers the same route from the same
# SQLite file with the same token check. Prints requests/s, p50/p99 latency and errors of
# both, and the ratio. Any non-2xx answer or socket error fails the script.
#
# Usage: scripts/bench_service.sh [--connections N] [--seconds S] [--jobs N]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bench_common.sh"

connections=32
duration=10
jobs=120
while (($#)); do
  case "$1" in
    --connections) connections="$2"; shift 2 ;;
    --seconds) duration="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    *) echo "usage: scripts/bench_service.sh [--connections N] [--seconds S] [--jobs N]" >&2; exit 2 ;;
  esac
done

bench_build
for tool in wrk /usr/bin/python3; do
  command -v "$tool" > /dev/null || { echo "bench_service: $tool missing (scripts/setup.sh installs it)" >&2; exit 1; }
done
/usr/bin/python3 -c 'import flask' 2> /dev/null || { echo "bench_service: python3-flask missing (scripts/setup.sh)" >&2; exit 1; }

work=$(mktemp -d)
server_pid=""
peer_pid=""
trap bench_cleanup EXIT
mkdir -p "$work/data"

bench_start_service bench_service --data-root "$work/data"

# A store with history: jobs whose data is missing fail at once (no workers needed), each with
# its config, error line and timestamps, like a busy service's list.
yaml=$'model: mlp\ndata: {train: missing/train}\ntraining: {epochs: 1}\n'
body=$(/usr/bin/python3 -c 'import json,sys; print(json.dumps({"kind": "train", "config": sys.argv[1], "workers": 1}))' "$yaml")
for _ in $(seq "$jobs"); do
  curl -sf -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d "$body" "$url/api/v1/jobs"
done
for _ in $(seq 300); do
  queued=$(curl -sf -H "Authorization: Bearer $token" "$url/metrics" |
           awk '/^aimass_jobs\{state="(queued|running)"\}/ {n += $2} END {print n + 0}')
  [[ "${queued:-0}" == 0 ]] && break
  sleep 0.2
done

# The peer: Flask on the same state.db, the same token check (SHA-256 lookup) and the same page.
cat > "$work/peer.py" << 'EOF'
import hashlib, json, sqlite3, sys
from flask import Flask, request, Response
db_path, port = sys.argv[1], int(sys.argv[2])
app = Flask(__name__)
def iso(ms):
    import datetime
    return None if ms is None else datetime.datetime.utcfromtimestamp(ms / 1000).strftime('%Y-%m-%dT%H:%M:%S.') + '%03dZ' % (ms % 1000)
@app.get('/api/v1/jobs')
def jobs():
    db = sqlite3.connect(db_path)
    auth = request.headers.get('Authorization', '')
    if not auth.startswith('Bearer '):
        return Response('{"error":"unauthenticated"}', 401, mimetype='application/json')
    digest = hashlib.sha256(auth[7:].encode()).hexdigest()
    if db.execute('SELECT id FROM tokens WHERE secret_sha256 = ? AND revoked_at_ms IS NULL', (digest,)).fetchone() is None:
        return Response('{"error":"unauthenticated"}', 401, mimetype='application/json')
    limit = int(request.args.get('limit', 100))
    rows = db.execute('SELECT id, kind, state, workers, submitted_by, register_as, created_at_ms, started_at_ms, '
                      'finished_at_ms, error, summary_json, directory FROM jobs ORDER BY id DESC LIMIT ?', (limit,))
    out = [{'id': r[0], 'kind': r[1], 'state': r[2], 'workers': r[3], 'submitted_by': r[4],
            'register_as': r[5] or None, 'created_at': iso(r[6]), 'started_at': iso(r[7]),
            'finished_at': iso(r[8]), 'progress': None, 'summary': json.loads(r[10]) if r[10] else None,
            'error': r[9] or None, 'model': None, 'directory': r[11] or None} for r in rows]
    db.close()
    return Response(json.dumps({'jobs': out}), 200, mimetype='application/json')
app.run(host='127.0.0.1', port=port, threaded=True)
EOF
peer_port=$((port + 1))
/usr/bin/python3 "$work/peer.py" "$work/state/state.db" "$peer_port" > "$work/peer.log" 2>&1 &
peer_pid=$!
for _ in $(seq 100); do
  curl -sf -o /dev/null -H "Authorization: Bearer $token" "http://127.0.0.1:$peer_port/api/v1/jobs?limit=1" && break
  sleep 0.1
done

# Both must give the same page (the peer lacks only the live progress, null for ended jobs).
ours=$(curl -sf -H "Authorization: Bearer $token" "$url/api/v1/jobs?limit=100" | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)["jobs"]))')
theirs=$(curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$peer_port/api/v1/jobs?limit=100" | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)["jobs"]))')
[[ "$ours" == "$theirs" && "$ours" -gt 0 ]] || { echo "bench_service: pages differ ($ours vs $theirs jobs)" >&2; exit 1; }

# wrk's summary -> "requests/s p50_ms p99_ms errors"
run_wrk() {  # url
  local out
  out=$(wrk -t2 -c"$connections" -d"${duration}s" --latency -H "Authorization: Bearer $token" "$1")
  echo "$out" > "$work/wrk-last.txt"
  /usr/bin/python3 - "$out" << 'EOF'
import re, sys
text = sys.argv[1]
def ms(label):
    m = re.search(r'^\s*' + label + r'%\s+([\d.]+)(us|ms|s)\s*$', text, re.M)
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == 'us' else value * 1000 if unit == 's' else value
rps = float(re.search(r'Requests/sec:\s+([\d.]+)', text).group(1))
errors = 0
m = re.search(r'Non-2xx or 3xx responses:\s+(\d+)', text)
if m: errors += int(m.group(1))
m = re.search(r'Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)', text)
if m: errors += sum(int(x) for x in m.groups())
print(f'{rps:.0f} {ms("50"):.2f} {ms("99"):.2f} {errors}')
EOF
}

echo "GET /api/v1/jobs?limit=100 ($ours jobs per page), $connections connections, ${duration} s, wrk -t2, $(nproc) cores"
read -r ours_rps ours_p50 ours_p99 ours_errors < <(run_wrk "$url/api/v1/jobs?limit=100")
read -r peer_rps peer_p50 peer_p99 peer_errors < <(run_wrk "http://127.0.0.1:$peer_port/api/v1/jobs?limit=100")
printf '%-28s %10s %10s %10s %8s\n' server requests/s p50_ms p99_ms errors
printf '%-28s %10s %10s %10s %8s\n' "aimass-coordinator serve" "$ours_rps" "$ours_p50" "$ours_p99" "$ours_errors"
printf '%-28s %10s %10s %10s %8s\n' "Flask peer (threaded)" "$peer_rps" "$peer_p50" "$peer_p99" "$peer_errors"
/usr/bin/python3 -c "import sys; a,b,c,d=map(float,sys.argv[1:]); print(f'ratio: {a/b:.1f}x the requests/s, p99 {c/d:.2f}x the peer\'s')" \
  "$ours_rps" "$peer_rps" "$ours_p99" "$peer_p99"
if [[ "$ours_errors" != 0 ]]; then
  echo "bench_service: $ours_errors errors from aimass-coordinator serve" >&2
  exit 1
fi
