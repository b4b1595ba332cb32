#include "coordinator/launch/mpi_world_launcher.h"

#include <cstdio>

namespace aimass::coordinator {

Status MpiWorldLauncher::Launch(const std::string& coordinator_address) {
  if (world_.worker_count < 1) {
    return Status::Error("mpirun started no workers: add `: -np N aimass-worker`");
  }
  std::string address = coordinator_address;
  address_sent_ = true;
  return BroadcastCoordinatorAddress(world_, &address);
}

void MpiWorldLauncher::Cancel() {
  if (address_sent_) return;
  std::string nothing;  // an empty address: workers exit without a word
  address_sent_ = true;
  (void)BroadcastCoordinatorAddress(world_, &nothing);
}

Status MpiWorldLauncher::WaitForExit(std::chrono::seconds) {
  // Workers leave through MPI_Finalize, as the coordinator does after this.
  return Status::Ok();
}

void MpiWorldLauncher::Abort() {
  std::fflush(stdout);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
}

}  // namespace aimass::coordinator
