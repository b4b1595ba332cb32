#!/usr/bin/env bash
# mpirun with what this kind of machine needs: running as root, more processes than cores, and
# no cross-memory attach inside containers. Use it for the MPMD form:
#   scripts/mpirun.sh -np 1 build/bin/aimass-coordinator train --config JOB.yaml : -np 2 build/bin/aimass-worker
set -euo pipefail
extra=(--oversubscribe --bind-to none)
if [[ $(id -u) -eq 0 ]]; then extra+=(--allow-run-as-root); fi
export OMPI_MCA_btl_vader_single_copy_mechanism="${OMPI_MCA_btl_vader_single_copy_mechanism:-none}"
exec mpirun "${extra[@]}" "$@"
