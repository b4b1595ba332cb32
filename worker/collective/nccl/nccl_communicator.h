// NCCL transport for CUDA tensors. The NCCL unique id travels from worker 0 to the others over
// the MPI worker communicator. Collectives run on a stream of our own, created blocking, so it is
// ordered after LibTorch's work on the legacy default stream; each call waits for completion
// before it returns (overlap with backward comes with bucketing).
#pragma once

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <memory>

#include "worker/collective/communicator.h"

namespace aimass::collective {

class NcclCommunicator final : public Communicator {
 public:
  // Collective over `comm`. `device_index` is this worker's CUDA device.
  static Result<std::unique_ptr<Communicator>> Create(MPI_Comm comm, int device_index);
  ~NcclCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "nccl"; }
  Status AllreduceSum(torch::Tensor& tensor) override;
  Status Broadcast(torch::Tensor& tensor, int root) override;

 private:
  NcclCommunicator(ncclComm_t comm, cudaStream_t stream, int rank, int size, int device_index)
      : comm_(comm), stream_(stream), rank_(rank), size_(size), device_index_(device_index) {}
  Status UseDevice();
  Status Finish(ncclResult_t launched, const char* call);

  ncclComm_t comm_;
  cudaStream_t stream_;
  int rank_;
  int size_;
  int device_index_;
};

}  // namespace aimass::collective
