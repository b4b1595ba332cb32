// Where a worker computes and how it talks to its peers: one GPU per worker when CUDA is there
// (the local rank picks it), else the CPU with a share of the host's cores.
#pragma once

#include <torch/torch.h>

#include <string>

#include "common/status.h"
#include "worker/job_spec.h"

namespace aimass::worker {

struct Placement {
  torch::Device device = torch::kCPU;
  BackendKind backend = BackendKind::kMpi;  // resolved: kMpi or kNccl, never kAuto
  uint32_t threads = 1;                     // intra-op threads (CPU)
};

// Resolves the job's choices for this process; `threads` 0 = cores / local_size. Applies the
// thread count to LibTorch. Errors: cuda asked for but absent (FailedPrecondition); nccl without
// CUDA or mpi with CUDA (InvalidArgument).
Result<Placement> ChoosePlacement(DeviceKind device, BackendKind backend, uint32_t threads,
                                  int local_rank, int local_size);

// What `device: auto` would pick, for the Hello message ("cpu", "cuda:1").
std::string DefaultDeviceName(int local_rank);

}  // namespace aimass::worker
