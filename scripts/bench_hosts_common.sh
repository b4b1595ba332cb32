# Shared by the benchmarks across emulated hosts (sourced, not run): bringing up the cluster
# `bench` of scripts/cluster.sh with a shaped link. Needs `root` (bench_build sets it).
#
# cluster.sh shapes links with netem (rate and delay), or where the kernel has no netem qdisc
# (CONFIG_NET_SCH_NETEM off, as on the kernel these figures were taken on) with a token bucket
# (tbf) at the same rate and no delay.

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

# Brings up hosts 0..count-1 of cluster `bench` (replacing any earlier one) with every link at
# `rate` (`none`: unshaped). Sets `bench_shaping` to what was applied: cluster.sh shapes with
# netem, or with tbf at the rate and no delay on a kernel without netem (it says so on stderr).
bench_netem_missing_said=0
bench_cluster_up() {  # count rate delay
  local count="$1" rate="$2" delay="$3" errors
  "$root/scripts/cluster.sh" down --name "$bench_cluster" >/dev/null 2>&1 || true
  if [[ "$rate" == none ]]; then
    "$root/scripts/cluster.sh" up "$count" --name "$bench_cluster" >/dev/null
    bench_shaping="none"
    return
  fi
  errors="$(mktemp)"
  "$root/scripts/cluster.sh" up "$count" --name "$bench_cluster" --link "$rate" \
    --delay "$delay" >/dev/null 2>"$errors"
  if grep -q "no netem" "$errors"; then
    ((bench_netem_missing_said)) || cat "$errors" >&2
    bench_netem_missing_said=1
    bench_shaping="tbf rate $rate (no delay)"
  else
    bench_shaping="netem rate $rate delay $delay"
  fi
  rm -f "$errors"
}

bench_cluster_down() {  # safe in an EXIT trap, also before bench_build set `root`
  "${root:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}/scripts/cluster.sh" down \
    --name "$bench_cluster" >/dev/null 2>&1 || true
}
