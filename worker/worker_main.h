// The aimass-worker process: joins the MPI world, finds the coordinator, says hello, then does
// the job it is given. Started by mpirun, either beside the coordinator (MPMD) or by a
// coordinator that launched the workers itself (`--coordinator host:port`).
#pragma once

namespace aimass::worker {

int WorkerMain(int argc, char** argv);

}  // namespace aimass::worker
