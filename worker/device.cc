#include "worker/device.h"

#include <torch/cuda.h>

#include <algorithm>
#include <thread>

#include "worker/collective/communicator.h"

namespace aimass::worker {

std::string DefaultDeviceName(int local_rank) {
  if (!torch::cuda::is_available()) return "cpu";
  return "cuda:" + std::to_string(local_rank % static_cast<int>(torch::cuda::device_count()));
}

Result<Placement> ChoosePlacement(DeviceKind device, BackendKind backend, uint32_t threads,
                                  int local_rank, int local_size) {
  Placement placement;
  bool cuda = torch::cuda::is_available();
  if (device == DeviceKind::kCuda && !cuda) {
    return Status::FailedPrecondition("worker.device is cuda but no GPU is visible");
  }
  if (device != DeviceKind::kCpu && cuda) {
    int index = local_rank % static_cast<int>(torch::cuda::device_count());
    placement.device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }

  if (backend == BackendKind::kAuto) {
    placement.backend = placement.device.is_cuda() && collective::NcclAvailable()
                            ? BackendKind::kNccl
                            : BackendKind::kMpi;
  } else {
    placement.backend = backend;
  }
  if (placement.backend == BackendKind::kNccl && !placement.device.is_cuda()) {
    return Status::InvalidArgument("worker.backend is nccl but the worker runs on the CPU");
  }
  if (placement.backend == BackendKind::kMpi && placement.device.is_cuda()) {
    // MPI reduces host memory: keep gradients on the GPU and let NCCL do it, or train on CPU.
    return Status::InvalidArgument("worker.backend is mpi but the worker runs on " +
                                   placement.device.str() + "; use backend nccl or device cpu");
  }

  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  placement.threads =
      threads > 0 ? threads : std::max(1u, cores / static_cast<unsigned>(std::max(1, local_size)));
  torch::set_num_threads(static_cast<int>(placement.threads));
  return placement;
}

}  // namespace aimass::worker
