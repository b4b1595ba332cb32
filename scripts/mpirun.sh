#!/usr/bin/env bash
# mpirun with what this kind of machine needs: running as root, more processes than cores, and
# no cross-memory attach inside containers. Use it for the MPMD form:
#   scripts/mpirun.sh -np 1 build/bin/aimass-coordinator train --config JOB.yaml : -np 2 build/bin/aimass-worker
# For `infer` it adds --enable-recovery: an inference job goes on when a worker dies, and mpirun
# must not end the other processes for it. (Training stops on a lost worker either way.)
set -euo pipefail
extra=(--oversubscribe --bind-to none)
if [[ $(id -u) -eq 0 ]]; then extra+=(--allow-run-as-root); fi
for arg in "$@"; do
  if [[ "$arg" == infer ]]; then extra+=(--enable-recovery); break; fi
done
export OMPI_MCA_btl_vader_single_copy_mechanism="${OMPI_MCA_btl_vader_single_copy_mechanism:-none}"
exec mpirun "${extra[@]}" "$@"
