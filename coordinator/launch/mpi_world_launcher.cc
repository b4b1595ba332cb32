#include "coordinator/launch/mpi_world_launcher.h"

#include <unistd.h>

#include "common/env.h"
#include "coordinator/launch/process_tree.h"

namespace aimass::coordinator {

Status MpiWorldLauncher::Launch(const CoordinatorContact& contact) {
  if (world_.worker_count < 1) {
    return Status::Error("mpirun started no workers: add `: -np N aimass-worker`");
  }
  std::string address = contact.address;
  std::string job_id = contact.job_id;
  std::string secret = contact.secret;
  address_sent_ = true;
  return BroadcastCoordinatorAddress(world_, &address, &job_id, &secret);
}

void MpiWorldLauncher::Cancel() {
  if (address_sent_) return;
  std::string nothing;  // an empty address: workers exit without a word
  std::string no_job;
  std::string no_secret;
  address_sent_ = true;
  (void)BroadcastCoordinatorAddress(world_, &nothing, &no_job, &no_secret);
}

bool MpiWorldLauncher::OwnsProcess(const std::string& host, uint32_t pid) const {
  if (pid == 0 || host != LocalHostName()) return false;
  pid_t self = ::getpid();
  if (static_cast<pid_t>(pid) == self) return false;
  return IsDescendantOf(static_cast<pid_t>(pid), ::getppid());
}

Status MpiWorldLauncher::WaitForExit(std::chrono::seconds) {
  // Workers leave through MPI_Finalize, as the coordinator does after this.
  return Status::Ok();
}

}  // namespace aimass::coordinator
