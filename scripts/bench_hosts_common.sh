# Shared by the benchmarks across emulated hosts (sourced, not run): bringing up the cluster
# `bench` of scripts/cluster.sh with a shaped link. Needs `root` (bench_build sets it).
#
# cluster.sh shapes links with netem (rate and delay). Where the kernel has no netem qdisc
# (CONFIG_NET_SCH_NETEM off, as on the kernel these figures were taken on), the cluster is
# brought up unshaped and both directions of every host's link are shaped here with a token
# bucket (tbf, built into that kernel) at the same rate instead. tbf has no delay: the delay is
# then not applied, and bench_cluster_up says so once.

bench_cluster=bench
bench_cluster_state="${AIMASS_CLUSTER_ROOT:-/tmp/aimass-cluster}/$bench_cluster"

# A link rate in tc syntax (1gbit, 500mbit, 25gbit) in GB/s (10^9 bytes/s).
bench_link_gbytes() {  # rate
  /usr/bin/python3 -c "
import re, sys
m = re.fullmatch(r'([0-9.]+)([kmg]?)bit', sys.argv[1].lower())
if not m: sys.exit('unknown link rate ' + sys.argv[1])
print(float(m.group(1)) * {'': 1e-9, 'k': 1e-6, 'm': 1e-3, 'g': 1}[m.group(2)] / 8)" "$1"
}

# Token bucket on the host's egress (eth0) and its ingress (the bridge side of its veth).
# Burst: 1 ms at the rate, at least 64 KiB (one GSO frame must fit).
bench_shape_with_tbf() {  # rate hosts
  local rate="$1" count="$2" burst
  burst=$(/usr/bin/python3 -c "import sys; print(max(65536, int(float(sys.argv[1]) * 1e6)))" \
          "$(bench_link_gbytes "$rate")")
  for ((i = 0; i < count; i++)); do
    ip netns exec "$bench_cluster-h$i" tc qdisc replace dev eth0 root tbf rate "$rate" \
      burst "$burst" latency 50ms
    tc qdisc replace dev "$bench_cluster-v$i" root tbf rate "$rate" burst "$burst" latency 50ms
  done
}

bench_netem_missing_said=0
# Brings up hosts 0..count-1 of cluster `bench` (replacing any earlier one) with every link at
# `rate` (`none`: unshaped). Sets `bench_shaping` to a description of what was applied.
bench_cluster_up() {  # count rate delay
  local count="$1" rate="$2" delay="$3" errors
  errors="$(mktemp)"
  "$root/scripts/cluster.sh" down --name "$bench_cluster" >/dev/null 2>&1 || true
  if [[ "$rate" == none ]]; then
    "$root/scripts/cluster.sh" up "$count" --name "$bench_cluster" >/dev/null
    bench_shaping="none"
  elif "$root/scripts/cluster.sh" up "$count" --name "$bench_cluster" --link "$rate" \
       --delay "$delay" >/dev/null 2>"$errors"; then
    bench_shaping="netem rate $rate delay $delay"
  elif grep -q "qdisc kind is unknown" "$errors"; then
    if ((!bench_netem_missing_said)); then
      echo "note: this kernel has no netem qdisc; links shaped with tbf at the same rate," \
           "without the delay $delay" >&2
      bench_netem_missing_said=1
    fi
    "$root/scripts/cluster.sh" down --name "$bench_cluster" >/dev/null 2>&1 || true
    "$root/scripts/cluster.sh" up "$count" --name "$bench_cluster" >/dev/null
    bench_shape_with_tbf "$rate" "$count"
    bench_shaping="tbf rate $rate (no delay)"
  else
    cat "$errors" >&2; rm -f "$errors"; return 1
  fi
  rm -f "$errors"
}

bench_cluster_down() {  # safe in an EXIT trap, also before bench_build set `root`
  "${root:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}/scripts/cluster.sh" down \
    --name "$bench_cluster" >/dev/null 2>&1 || true
}
