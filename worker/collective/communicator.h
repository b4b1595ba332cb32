// The data plane: collectives among the workers only (a communicator split from MPI_COMM_WORLD,
// the coordinator excluded). One abstract transport, one implementation per backend:
//   mpi/   CPU tensors, MPI_Allreduce over the worker communicator;
//   nccl/  CUDA tensors, an NCCL communicator bootstrapped over MPI.
// Helpers over a transport are free functions (BroadcastTensors).
//
// Failure model: a backend call blocks until every worker joins. A worker that dies leaves the
// others blocked here; the coordinator sees its control connection drop and tears the job down
// (see coordinator/train_job.h), so no timeout is needed at this layer.
// Thread safety: one thread at a time per Communicator.
#pragma once

#include <mpi.h>
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "worker/job_spec.h"

namespace aimass::collective {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend() const = 0;

  // In-place elementwise sum over every rank. `tensor` must be contiguous and on the backend's
  // device (CPU for mpi, CUDA for nccl).
  virtual Status AllreduceSum(torch::Tensor& tensor) = 0;

  // In place: every rank receives `root`'s values.
  virtual Status Broadcast(torch::Tensor& tensor, int root) = 0;
};

// Makes every rank's tensors equal to root's (e.g. initial weights), tensor by tensor.
Status BroadcastTensors(Communicator& communicator, const std::vector<torch::Tensor>& tensors,
                        int root);

// `backend` is kMpi or kNccl (resolve kAuto before, see ChoosePlacement: nccl for CUDA devices
// when compiled in). Collective over `comm`: every worker calls it with the same backend.
Result<std::unique_ptr<Communicator>> CreateCommunicator(worker::BackendKind backend,
                                                         MPI_Comm comm,
                                                         const torch::Device& device);

// Whether this build has the NCCL backend.
bool NcclAvailable();

}  // namespace aimass::collective
