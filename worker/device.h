// Where a worker computes and how it talks to its peers: one GPU per worker when CUDA is there
// (the local rank picks it), else the CPU with a share of the host's cores.
#pragma once

#include <torch/torch.h>

#include <string>

#include "common/status.h"

namespace aimass::worker {

struct Placement {
  torch::Device device = torch::kCPU;
  std::string backend;  // mpi | nccl
  uint32_t threads = 1; // intra-op threads (CPU)
};

// `device` auto|cpu|cuda, `backend` auto|mpi|nccl, `threads` 0 = cores / local_size.
// Applies the thread count to LibTorch. Errors: cuda asked for but absent, nccl without CUDA.
Result<Placement> ChoosePlacement(const std::string& device, const std::string& backend,
                                  uint32_t threads, int local_rank, int local_size);

// What `device: auto` would pick, for the Hello message ("cpu", "cuda:1").
std::string DefaultDeviceName(int local_rank);

}  // namespace aimass::worker
