// How the processes of one mpirun learn who is who. Under MPMD launch
// (`mpirun -np 1 aimass-coordinator ... : -np N aimass-worker`) the coordinator is one rank of
// MPI_COMM_WORLD; when the coordinator launched the workers itself, the world holds only workers.
// Both sides call JoinMpiWorld once, right after MPI_Init: it is collective over MPI_COMM_WORLD.
#pragma once

#include <mpi.h>

#include <string>

#include "common/status.h"

namespace aimass {

enum class ProcessRole : int { kCoordinator = 0, kWorker = 1 };

// True when this process was started by mpirun (OpenMPI or PMIx environment present).
bool LaunchedByMpirun();

struct MpiWorld {
  int world_rank = 0;
  int world_size = 1;
  int coordinator_world_rank = -1;       // -1: no coordinator in this world
  MPI_Comm worker_comm = MPI_COMM_NULL;  // workers only: every worker, ordered by world rank
  int worker_rank = -1;
  int worker_count = 0;
  int local_rank = 0;                    // among the workers on this host
  int local_size = 1;
  bool one_host = false;                 // every rank of MPI_COMM_WORLD shares this host
};

Result<MpiWorld> JoinMpiWorld(ProcessRole role);

// The coordinator sends where it listens ("host1,host2:port"), the id of its job and the job
// secret (raw bytes, common/net/handshake.h); every worker receives all three. MPI's own
// transport carries the secret between the ranks mpirun started, so it never touches a command
// line, an environment or a file. An empty address tells the workers that the job failed
// before it started, so they exit quietly.
// Collective over MPI_COMM_WORLD; only valid when the world has a coordinator.
Status BroadcastCoordinatorAddress(const MpiWorld& world, std::string* address, std::string* job_id,
                                   std::string* secret);

// Leaves MPI at the end of a process that is done: MPI_Finalize, except when mpirun runs with
// --enable-recovery (an inference job that outlives dead workers). There a dead peer can keep
// MPI_Finalize waiting forever, and mpirun does not require it: the process flushes its output
// and ends with `exit_code` at once. Returns only when MPI_Finalize was called.
void FinishMpi(int exit_code);

}  // namespace aimass
