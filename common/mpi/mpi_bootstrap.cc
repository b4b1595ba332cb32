#include "common/mpi/mpi_bootstrap.h"

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace aimass {

bool LaunchedByMpirun() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMIX_RANK") != nullptr ||
         std::getenv("PMI_RANK") != nullptr;
}

Result<MpiWorld> JoinMpiWorld(ProcessRole role) {
  MpiWorld world;
  MPI_Comm_rank(MPI_COMM_WORLD, &world.world_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world.world_size);

  std::vector<int> roles(static_cast<size_t>(world.world_size));
  int my_role = static_cast<int>(role);
  MPI_Allgather(&my_role, 1, MPI_INT, roles.data(), 1, MPI_INT, MPI_COMM_WORLD);
  int coordinators = 0;
  for (int rank = 0; rank < world.world_size; ++rank) {
    if (roles[static_cast<size_t>(rank)] == static_cast<int>(ProcessRole::kCoordinator)) {
      ++coordinators;
      world.coordinator_world_rank = rank;
    }
  }
  if (coordinators > 1) {
    return Status::Error("mpirun started " + std::to_string(coordinators) +
                         " coordinators; use -np 1 for aimass-coordinator");
  }

  // Whether the whole world shares one node: then the coordinator can listen on loopback.
  MPI_Comm same_host;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world.world_rank, MPI_INFO_NULL,
                      &same_host);
  int same_host_size = 0;
  MPI_Comm_size(same_host, &same_host_size);
  MPI_Comm_free(&same_host);
  world.one_host = same_host_size == world.world_size;

  int color = role == ProcessRole::kWorker ? 1 : MPI_UNDEFINED;
  MPI_Comm_split(MPI_COMM_WORLD, color, world.world_rank, &world.worker_comm);
  if (role == ProcessRole::kWorker) {
    MPI_Comm_rank(world.worker_comm, &world.worker_rank);
    MPI_Comm_size(world.worker_comm, &world.worker_count);
    MPI_Comm local;
    MPI_Comm_split_type(world.worker_comm, MPI_COMM_TYPE_SHARED, world.worker_rank, MPI_INFO_NULL,
                        &local);
    MPI_Comm_rank(local, &world.local_rank);
    MPI_Comm_size(local, &world.local_size);
    MPI_Comm_free(&local);
  } else {
    world.worker_count = world.world_size - 1;
  }
  return world;
}

namespace {

// `text` from the coordinator's rank to every rank, length first.
void BroadcastString(const MpiWorld& world, std::string* text) {
  unsigned long length = text->size();
  MPI_Bcast(&length, 1, MPI_UNSIGNED_LONG, world.coordinator_world_rank, MPI_COMM_WORLD);
  text->resize(length);
  if (length > 0) {
    MPI_Bcast(text->data(), static_cast<int>(length), MPI_CHAR, world.coordinator_world_rank,
              MPI_COMM_WORLD);
  }
}

}  // namespace

Status BroadcastCoordinatorAddress(const MpiWorld& world, std::string* address, std::string* job_id,
                                   std::string* secret) {
  if (world.coordinator_world_rank < 0) {
    return Status::Error("no coordinator in this mpirun to broadcast an address");
  }
  BroadcastString(world, address);
  BroadcastString(world, job_id);
  BroadcastString(world, secret);
  return Status::Ok();
}

void FinishMpi(int exit_code) {
  if (std::getenv("OMPI_MCA_orte_enable_recovery") != nullptr) {
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(exit_code);
  }
  MPI_Finalize();
}

}  // namespace aimass
