#!/usr/bin/env bash
# Allreduce across emulated hosts at link rates: for each link rate and host count, a cluster of
# namespace "hosts" (scripts/cluster.sh, name `bench`), one worker per host on hosts 1..n started
# from host 0, `aimass-worker bench allreduce --json`, and one table of busbw against the link.
#
#   scripts/bench_allreduce_hosts.sh
#
# Environment:
#   LINKS      link rates (tc syntax), default "1gbit 10gbit 25gbit"
#   HOSTS      worker host counts, default "2 4"
#   DELAY      one-way link delay, default 50us (needs netem; see below)
#   MIN_BYTES, MAX_BYTES, BYTES_PER_SIZE   passed to bench allreduce (1K, 64M, 16M)
#   TCP_LINKS  Open MPI btl_tcp_links, TCP connections per pair of workers (default 2; see below)
#   OUT        output folder, default runs/bench-hosts: allreduce.csv (every size of every run)
#
# Every host count is also measured unshaped (`none`): on this machine all "hosts" share the same
# few cores and each byte crosses the kernel's TCP stack twice, so there is a ceiling that has
# nothing to do with the link. A row whose link rate is above the unshaped ceiling for that host
# count and size is marked "CPU-bound": it measures this machine's CPU, not the link.
#
# Shaping: cluster.sh --link/--delay (netem); on a kernel without netem, a token bucket at the
# same rate and no delay (scripts/bench_hosts_common.sh; the script says so when it happens).
#
# TCP_LINKS: Open MPI's TCP transport carries both directions between two workers on one TCP
# connection by default; measured here at 1 Gbit/s over 2 hosts that gave 48% of the link, two
# connections per pair 96% (raw TCP with one socket per direction: 84% both ways at once). Set
# TCP_LINKS=1 to see the default.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bench_common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/bench_hosts_common.sh"
bench_build
links="${LINKS:-1gbit 10gbit 25gbit}"
host_counts="${HOSTS:-2 4}"
delay="${DELAY:-50us}"
min_bytes="${MIN_BYTES:-1K}"
max_bytes="${MAX_BYTES:-64M}"
bytes_per_size="${BYTES_PER_SIZE:-16M}"
tcp_links="${TCP_LINKS:-2}"
out="${OUT:-runs/bench-hosts}"

mkdir -p "$out"
work="$(mktemp -d)"
trap 'bench_cluster_down; rm -rf "$work"' EXIT

run_bench() {  # workers: JSON rows on stdout
  scripts/cluster.sh exec 0 --name "$bench_cluster" -- timeout 600 mpirun --allow-run-as-root \
    -np "$1" --hostfile "$bench_cluster_state/hostfile" --mca btl_tcp_links "$tcp_links" \
    build/bin/aimass-worker bench allreduce --json --min-bytes "$min_bytes" \
    --max-bytes "$max_bytes" --bytes-per-size "$bytes_per_size"
}

csv="$out/allreduce.csv"
echo "link,link_gbytes_per_s,shaping,hosts,bytes,time_us,busbw_gbytes_per_s,link_fraction,mpi_time_us,mpi_busbw_gbytes_per_s,ceiling_gbytes_per_s,bound,correct" > "$csv"
for rate in none $links; do
  for hosts in $host_counts; do
    bench_cluster_up $((hosts + 1)) "$rate" "$delay"
    run_bench "$hosts" > "$work/rows.json"
    link_gb=0
    [[ "$rate" == none ]] || link_gb=$(bench_link_gbytes "$rate")
    /usr/bin/python3 - "$work/rows.json" "$rate" "$link_gb" "$bench_shaping" "$hosts" "$csv" \
        > "$work/rows.csv" <<'PY'
import csv, json, sys
path, rate, link_gb, shaping, hosts, csv_path = sys.argv[1:]
link_gb = float(link_gb)
# The unshaped run of the same host count and size: this machine's ceiling there.
ceilings = {int(r["bytes"]): float(r["busbw_gbytes_per_s"]) for r in csv.DictReader(open(csv_path))
            if r["link"] == "none" and r["hosts"] == hosts}
rows = json.loads(open(path).read().strip().splitlines()[-1])
for r in rows:
    if rate == "none":
        fraction, ceiling, bound = "", "", "cpu"
    else:
        fraction, ceiling = r["busbw_gbps"] / link_gb, ceilings.get(r["bytes"], "")
        # Where the link is faster than the same transfer ran unshaped, the link cannot be
        # what limits it.
        bound = "cpu" if ceiling != "" and link_gb > ceiling else "link"
    print(",".join(str(x) for x in (
        rate, link_gb or "", shaping, hosts, r["bytes"], r["time_us"], r["busbw_gbps"],
        fraction, r.get("mpi_time_us", ""), r.get("mpi_busbw_gbps", ""), ceiling, bound,
        r["correct"])))
PY
    cat "$work/rows.csv" >> "$csv"
  done
done

# The table: the largest size of every run, and 1 MiB (where the latency still shows).
/usr/bin/python3 - "$csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
largest = max(int(r["bytes"]) for r in rows)
print("%-7s %5s %9s %11s %8s %10s %s" % ("link", "hosts", "size", "busbw GB/s", "% link",
                                         "MPI GB/s", "note"))
for r in rows:
    size = int(r["bytes"])
    if size not in (1 << 20, largest):
        continue
    label = "%d MiB" % (size >> 20)
    pct = "%.0f%%" % (100 * float(r["link_fraction"])) if r["link_fraction"] else "-"
    if r["link"] == "none":
        note = "unshaped: this machine's ceiling"
    elif r["bound"] == "cpu":
        note = "CPU-bound, not link-bound (link %.3g GB/s > ceiling %.3g GB/s)" % (
            float(r["link_gbytes_per_s"]), float(r["ceiling_gbytes_per_s"]))
    else:
        note = r["shaping"]
    if r["correct"] != "True":
        note += " WRONG RESULT"
    print("%-7s %5s %9s %11.3f %8s %10.3f %s" % (r["link"], r["hosts"], label,
          float(r["busbw_gbytes_per_s"]), pct, float(r["mpi_busbw_gbytes_per_s"] or 0), note))
PY
echo "wrote $csv"
