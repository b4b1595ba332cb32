#!/usr/bin/env bash
# A cluster of N "hosts" on this machine, made of Linux network namespaces, for running and
# measuring aimass across hosts without a second machine.
#
#   scripts/cluster.sh up N [--name NAME] [--link RATE] [--delay D]   create (idempotent)
#   scripts/cluster.sh down [--name NAME]                              remove everything
#   scripts/cluster.sh exec HOST [--name NAME] -- COMMAND...           run COMMAND on HOST
#   scripts/cluster.sh link HOST up|down [--name NAME]                 cut or restore HOST's link
#   scripts/cluster.sh status [--name NAME]
#
# Host i is the network namespace NAME-hI with its own host name NAME-hI (a UTS namespace per
# process started there), one interface eth0 at 10.213.K.(10+i)/24 and a veth peer on the bridge
# NAME-br. The filesystem is shared, as a cluster's NFS is. `up` prints the hostfile's path;
# beside it lie:
#   hosts        /etc/hosts lines for every host (also what `ip netns exec` shows as /etc/hosts)
#   hostfile     Open MPI hostfile: every host but host 0, one slot per core (the workers'
#                hosts, for `--workers N --hostfile`)
#   hostfile-all host 0 with one slot (the coordinator's), then the others (for the MPMD form)
#   rsh-agent    Open MPI launch agent (plm_rsh_agent): starts orted inside a host's namespace,
#                as ssh would on a real cluster
#   mpi.env      OMPI_MCA_* settings for the cluster; `exec` exports them, so on host 0
#                `mpirun --hostfile HOSTFILE ...` (or aimass's `--hostfile HOSTFILE`) just works
# --link RATE (e.g. 1gbit, 10gbit, 25gbit) and --delay D (e.g. 50us) shape both directions of
# every host's link with netem, like a NIC of that rate: the host's egress on eth0 and its
# ingress on the bridge side (a kernel without netem gets tbf for the rate and no delay). The coordinator is meant to run on host 0 (`exec NAME-h0`) and the
# workers on the others.
set -euo pipefail

usage() { sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "cluster.sh: $*" >&2; exit 1; }

[[ $# -ge 1 ]] || usage
command="$1"; shift
name=aimass; hosts_wanted=""; link_rate=""; link_delay=""; exec_host=""; link_state=""
exec_argv=()
case "$command" in
  up) [[ $# -ge 1 && "$1" =~ ^[0-9]+$ ]] || usage; hosts_wanted="$1"; shift ;;
  exec) [[ $# -ge 1 ]] || usage; exec_host="$1"; shift ;;
  link) [[ $# -ge 2 ]] || usage; exec_host="$1"; link_state="$2"; shift 2
        [[ "$link_state" == up || "$link_state" == down ]] || usage ;;
  down|status) ;;
  *) usage ;;
esac
while [[ $# -gt 0 ]]; do
  case "$1" in
    --name) name="$2"; shift 2 ;;
    --link) link_rate="$2"; shift 2 ;;
    --delay) link_delay="$2"; shift 2 ;;
    --) shift; exec_argv=("$@"); break ;;
    *) usage ;;
  esac
done
# Interface names are at most 15 characters: NAME-br, NAME-v12.
[[ "$name" =~ ^[a-z][a-z0-9]{0,9}$ ]] || die "--name must be 1-10 lower-case letters or digits"
[[ $(id -u) -eq 0 ]] || die "needs root (network namespaces, veth pairs, tc)"
command -v ip >/dev/null || die "ip not found: apt-get install iproute2 (scripts/setup.sh does)"

state="${AIMASS_CLUSTER_ROOT:-/tmp/aimass-cluster}/$name"
bridge="$name-br"
host_name() { echo "$name-h$1"; }

# One /24 per cluster name, so that clusters of different names can exist side by side.
subnet_of() {
  local sum; sum=$(printf '%s' "$name" | cksum | cut -d' ' -f1)
  echo "10.213.$((sum % 200 + 20))"
}

hosts_up() { ip netns list | awk '{print $1}' | grep -c "^$name-h[0-9]*$" || true; }

netem_missing_said=0
# netem rate/delay on the device's egress, or nothing when neither is asked for. Where the kernel
# has no netem (CONFIG_NET_SCH_NETEM off), the rate is shaped with a token bucket (tbf, burst
# 1 ms at the rate, at least one 64 KiB GSO frame) and the delay is left out, said once.
shape() {  # device [namespace]
  local device="$1" ns="${2:-}" run=() errors
  [[ -n "$ns" ]] && run=(ip netns exec "$ns")
  "${run[@]}" tc qdisc del dev "$device" root 2>/dev/null || true
  [[ -z "$link_rate" && -z "$link_delay" ]] && return
  local netem=(netem limit 100000)
  [[ -n "$link_delay" ]] && netem+=(delay "$link_delay")
  [[ -n "$link_rate" ]] && netem+=(rate "$link_rate")
  errors=$("${run[@]}" tc qdisc add dev "$device" root "${netem[@]}" 2>&1) && return
  grep -q "qdisc kind is unknown" <<< "$errors" || die "tc on $device: $errors"
  if ((!netem_missing_said)); then
    echo "cluster.sh: this kernel has no netem qdisc: links shaped with tbf at ${link_rate:-full rate}" \
         "${link_delay:+, without the delay $link_delay}" >&2
    netem_missing_said=1
  fi
  [[ -n "$link_rate" ]] || return 0
  local burst
  burst=$(/usr/bin/python3 -c "
import re, sys
m = re.fullmatch(r'([0-9.]+)([kmg]?)bit', sys.argv[1].lower()) or sys.exit('cluster.sh: unknown rate ' + sys.argv[1])
bytes_per_second = float(m.group(1)) * {'': 1, 'k': 1e3, 'm': 1e6, 'g': 1e9}[m.group(2)] / 8
print(max(65536, int(bytes_per_second / 1000)))" "$link_rate")
  "${run[@]}" tc qdisc add dev "$device" root tbf rate "$link_rate" burst "$burst" latency 50ms
}

write_files() {  # count
  local count="$1" prefix; prefix=$(subnet_of)
  mkdir -p "$state"
  {
    echo "127.0.0.1 localhost"
    for ((i = 0; i < count; i++)); do echo "$prefix.$((10 + i)) $(host_name "$i")"; done
  } > "$state/hosts"
  for ((i = 0; i < count; i++)); do
    mkdir -p "/etc/netns/$(host_name "$i")"
    cp "$state/hosts" "/etc/netns/$(host_name "$i")/hosts"
  done
  : > "$state/hostfile"
  echo "$(host_name 0) slots=1" > "$state/hostfile-all"
  for ((i = 1; i < count; i++)); do
    echo "$(host_name "$i") slots=$(nproc)" | tee -a "$state/hostfile" >> "$state/hostfile-all"
  done
  # Open MPI calls the agent as `AGENT [options] HOST COMMAND...`, as it would call ssh.
  cat > "$state/rsh-agent" <<AGENT
#!/usr/bin/env bash
# Generated by scripts/cluster.sh: Open MPI's launch agent for the cluster '$name'.
set -euo pipefail
while [[ \$# -gt 0 && "\$1" == -* ]]; do shift; done
host="\${1:?no host}"; shift
[[ "\$host" =~ ^$name-h[0-9]+\$ ]] || { echo "rsh-agent: \$host is not a host of cluster $name" >&2; exit 255; }
exec ip netns exec "\$host" unshare --uts /bin/bash -c 'hostname "\$0"; eval "\$*"' "\$host" "\$*"
AGENT
  chmod 755 "$state/rsh-agent"
  # Open MPI settings for every mpirun started on the cluster (`exec` sets them): the launch
  # agent; TCP only between hosts (no shared memory across them), on the cluster's interface
  # only; one process per host before a second on any. mpi_yield_when_idle: the "hosts" share
  # this machine's cores, which Open MPI cannot see; a rank busy-polling for a message takes the
  # core its peer needs to send it (measured: an 8-byte allreduce over 4 hosts on 2 cores took
  # 4.8 ms polling, 0.1 ms yielding, so a benchmark of 1000 calls per size looked hung).
  # btl_tcp_links 2: two TCP connections per pair of processes; measured at 1 Gbit/s between two
  # hosts, one connection carrying both directions of a ring reached 48-51% of the link, two
  # reached 93-96% (docs/benchmarks.md). The allreduce rules: below.
  cat > "$state/mpi.env" <<ENV
OMPI_MCA_plm_rsh_agent=$state/rsh-agent
OMPI_MCA_btl=tcp,self
OMPI_MCA_btl_tcp_if_include=eth0
OMPI_MCA_oob_tcp_if_include=eth0
OMPI_MCA_rmaps_base_mapping_policy=node
OMPI_MCA_mpi_yield_when_idle=1
OMPI_MCA_btl_tcp_links=2
OMPI_MCA_coll_tuned_use_dynamic_rules=1
OMPI_MCA_coll_tuned_dynamic_rules_filename=$state/allreduce-rules
ENV
  # Allreduce from 1 MiB up runs as a ring (Open MPI's algorithm 4), below that as Open MPI
  # decides. Its fixed decision takes Rabenseifner's algorithm for large buffers over 4
  # processes, which reached 67% of a 1 Gbit/s link on 4 hosts where the ring reached 87-94%
  # (docs/scaling.md). Format: collectives; collective id (2: allreduce); communicator sizes;
  # from size 2; message sizes; then "bytes algorithm fan-in/out segment-size" (0: default).
  printf '%s\n' 1 2 1 2 2 "0 0 0 0" "1048576 4 0 0" > "$state/allreduce-rules"
}

up() {
  local count="$1" prefix; prefix=$(subnet_of)
  [[ "$count" -ge 1 && "$count" -le 32 ]] || die "N must be 1 to 32"
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add "$bridge" type bridge
  fi
  ip link set "$bridge" up
  # Hosts beyond N from an earlier, larger `up` go.
  for ns in $(ip netns list | awk '{print $1}' | grep "^$name-h[0-9]*$" || true); do
    local index="${ns##*-h}"
    if [[ "$index" -ge "$count" ]]; then
      ip netns del "$ns"; ip link del "$name-v$index" 2>/dev/null || true
      rm -rf "/etc/netns/$ns"
    fi
  done
  for ((i = 0; i < count; i++)); do
    local ns; ns=$(host_name "$i")
    local outside="$name-v$i"
    ip netns list | awk '{print $1}' | grep -qx "$ns" || ip netns add "$ns"
    if ! ip link show "$outside" >/dev/null 2>&1; then
      ip link add "$outside" type veth peer name eth0 netns "$ns"
    fi
    ip link set "$outside" master "$bridge" up
    ip netns exec "$ns" ip link set lo up
    ip netns exec "$ns" ip addr replace "$prefix.$((10 + i))/24" dev eth0
    ip netns exec "$ns" ip link set eth0 up
    shape "$outside"
    shape eth0 "$ns"
  done
  write_files "$count"
  echo "$state/hostfile"
}

down() {
  for ns in $(ip netns list | awk '{print $1}' | grep "^$name-h[0-9]*$" || true); do
    # Processes left on the host end with it: a namespace stays alive while one runs there.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns"
    rm -rf "/etc/netns/$ns"
  done
  for link in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^$name-v[0-9]*$" || true); do
    ip link del "$link" 2>/dev/null || true
  done
  ip link del "$bridge" 2>/dev/null || true
  rm -rf "$state"
}

case "$command" in
  up) up "$hosts_wanted" ;;
  down) down ;;
  status)
    echo "cluster $name: $(hosts_up) host(s), files in $state"
    [[ -f "$state/hosts" ]] && cat "$state/hosts"
    for ns in $(ip netns list | awk '{print $1}' | grep "^$name-h[0-9]*$" || true); do
      echo "$ns: $(ip netns exec "$ns" ip -br addr show eth0 2>/dev/null)" \
           "$(ip netns exec "$ns" tc qdisc show dev eth0 2>/dev/null | head -1)"
    done ;;
  exec)
    [[ "$exec_host" =~ ^$name-h[0-9]+$ ]] || exec_host="$name-h$exec_host"
    ip netns list | awk '{print $1}' | grep -qx "$exec_host" || die "no host $exec_host (run: up)"
    [[ ${#exec_argv[@]} -gt 0 ]] || die "exec: no command (exec HOST -- COMMAND...)"
    set -a; source "$state/mpi.env"; set +a
    exec ip netns exec "$exec_host" unshare --uts /bin/bash -c 'hostname "$0"; exec "$@"' \
      "$exec_host" "${exec_argv[@]}" ;;
  link)
    [[ "$exec_host" =~ ^$name-h[0-9]+$ ]] || exec_host="$name-h$exec_host"
    ip link set "$name-v${exec_host##*-h}" "$link_state" ;;
esac
