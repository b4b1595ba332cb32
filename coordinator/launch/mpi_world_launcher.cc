#include "coordinator/launch/mpi_world_launcher.h"

namespace aimass::coordinator {

Status MpiWorldLauncher::Launch(const CoordinatorContact& contact) {
  if (world_.worker_count < 1) {
    return Status::Error("mpirun started no workers: add `: -np N aimass-worker`");
  }
  std::string address = contact.address;
  std::string job_id = contact.job_id;
  address_sent_ = true;
  return BroadcastCoordinatorAddress(world_, &address, &job_id);
}

void MpiWorldLauncher::Cancel() {
  if (address_sent_) return;
  std::string nothing;  // an empty address: workers exit without a word
  std::string no_job;
  address_sent_ = true;
  (void)BroadcastCoordinatorAddress(world_, &nothing, &no_job);
}

Status MpiWorldLauncher::WaitForExit(std::chrono::seconds) {
  // Workers leave through MPI_Finalize, as the coordinator does after this.
  return Status::Ok();
}

}  // namespace aimass::coordinator
