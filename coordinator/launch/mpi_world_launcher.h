// The coordinator as one rank of `mpirun -np 1 aimass-coordinator ... : -np N aimass-worker`.
#pragma once

#include "common/mpi/mpi_bootstrap.h"
#include "coordinator/launch/worker_launcher.h"

namespace aimass::coordinator {

class MpiWorldLauncher final : public WorkerLauncher {
 public:
  // `world` comes from JoinMpiWorld(kCoordinator) after MPI_Init.
  explicit MpiWorldLauncher(MpiWorld world) : world_(world) {}

  uint32_t worker_count() const override { return static_cast<uint32_t>(world_.worker_count); }
  bool workers_on_this_host() const override { return world_.one_host; }
  // A descendant of this coordinator's parent (the mpirun or orted that started this rank) on
  // this host: the workers mpirun started here. Nothing on other hosts.
  bool OwnsProcess(const std::string& host, uint32_t pid) const override;
  Status Launch(const CoordinatorContact& contact) override;
  void Cancel() override;
  std::optional<std::string> CheckExited() override { return std::nullopt; }  // mpirun's job
  Status WaitForExit(std::chrono::seconds timeout) override;
  // Nothing to do here: the workers were told to abort over the control plane, and ending an
  // MPMD world for good takes MPI_Abort, which ends this process too. The CLI calls it after
  // reporting the failure (commands.cc).
  void Abort() override {}

 private:
  MpiWorld world_;
  bool address_sent_ = false;
};

}  // namespace aimass::coordinator
