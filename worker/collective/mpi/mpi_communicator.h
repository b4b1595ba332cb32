// MPI transport for CPU tensors over the worker communicator.
#pragma once

#include "worker/collective/communicator.h"

namespace aimass::collective {

class MpiCommunicator final : public Communicator {
 public:
  // Does not take ownership of `comm`.
  explicit MpiCommunicator(MPI_Comm comm);

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }
  Status AllreduceSum(torch::Tensor& tensor) override;
  Status Broadcast(torch::Tensor& tensor, int root) override;

 private:
  MPI_Comm comm_;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace aimass::collective
