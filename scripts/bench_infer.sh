#!/usr/bin/env bash
# End-to-end batch inference: `aimass-coordinator infer --workers N` against a plain PyTorch loop
# (scripts/pytorch_infer_baseline.py) on the same TorchScript model and the same export of gzip
# CSV part files, in one run. Both are timed from start to the last prediction written.
# Usage: scripts/bench_infer.sh
# Environment: RECORDS (3000000), FEATURES (32), PARTS (16), WORKERS (2), BATCH (1024).
# The export is generated once into data/bench-infer-RECORDSxFEATURES and reused.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bench_common.sh"
bench_build
records="${RECORDS:-3000000}"
features="${FEATURES:-32}"
parts="${PARTS:-16}"
workers="${WORKERS:-2}"
batch="${BATCH:-1024}"
threads=$(( $(nproc) / workers )); (( threads >= 1 )) || threads=1

export_dir="data/bench-infer-${records}x${features}"
if [[ ! -f "$export_dir/table/_SUCCESS" ]]; then
  echo "generating $records records x $features features into $export_dir ..."
  rm -rf "$export_dir"
  /usr/bin/python3 scripts/make_inference_export.py --out "$export_dir" --records "$records" \
    --features "$features" --classes 10 --parts "$parts" --hidden 64 --no-expected
fi
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
cat > "$work/infer.yaml" <<JOB
model: $root/$export_dir/model.pt
input: {path: $root/$export_dir/table, format: csv, header: true}
schema: {id: id, features: f0..f$((features - 1))}
output: {path: $work/out}
inference: {batch_size: $batch, threads: $threads}
JOB
echo "export: $(du -sh "$export_dir/table" | cut -f1) of gzip CSV in $parts part files; model $(du -h "$export_dir/model.pt" | cut -f1)"

now() { date +%s.%N; }
begin=$(now)
build/bin/aimass-coordinator infer --config "$work/infer.yaml" --workers "$workers" --quiet > "$work/aimass.log"
aimass_seconds=$(/usr/bin/python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$begin" "$(now)")
out_records=$(/usr/bin/python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['records_out'])" "$work/out/_SUCCESS")

python_json=$(/usr/bin/python3 scripts/pytorch_infer_baseline.py --model "$export_dir/model.pt" \
  --input "$export_dir/table" --output "$work/python.csv" --batch "$batch")
/usr/bin/python3 - "$records" "$out_records" "$aimass_seconds" "$python_json" "$workers" <<'PY'
import json, sys
records, out_records, aimass_seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
python = json.loads(sys.argv[4])
if out_records != records or python["records"] != records:
    sys.exit("record counts differ: aimass %d, python %d, export %d" % (out_records, python["records"], records))
aimass_rate = records / aimass_seconds
print("%-28s %12s %10s %14s" % ("", "records", "seconds", "records/s"))
print("%-28s %12d %10.1f %14.0f" % ("aimass infer, %s workers" % sys.argv[5], records, aimass_seconds, aimass_rate))
print("%-28s %12d %10.1f %14.0f" % ("PyTorch Python loop", records, python["seconds"], python["records_per_second"]))
print("ratio aimass / python: %.2fx" % (aimass_rate / python["records_per_second"]))
PY
