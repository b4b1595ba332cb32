#include "worker/collective/communicator.h"

#include "worker/collective/mpi/mpi_communicator.h"
#ifdef AIMASS_HAVE_NCCL
#include "worker/collective/nccl/nccl_communicator.h"
#endif

namespace aimass::collective {

Status BroadcastTensors(Communicator& communicator, const std::vector<torch::Tensor>& tensors,
                        int root) {
  torch::NoGradGuard no_grad;
  for (torch::Tensor tensor : tensors) {
    if (tensor.is_contiguous()) {
      AIMASS_RETURN_IF_ERROR(communicator.Broadcast(tensor, root));
    } else {
      torch::Tensor staging = tensor.contiguous();
      AIMASS_RETURN_IF_ERROR(communicator.Broadcast(staging, root));
      tensor.copy_(staging);
    }
  }
  return Status::Ok();
}

bool NcclAvailable() {
#ifdef AIMASS_HAVE_NCCL
  return true;
#else
  return false;
#endif
}

Result<std::unique_ptr<Communicator>> CreateCommunicator(worker::BackendKind backend,
                                                         MPI_Comm comm,
                                                         const torch::Device& device) {
  switch (backend) {
    case worker::BackendKind::kMpi:
      if (!device.is_cpu()) {
        return Status::InvalidArgument(
            "the mpi backend reduces CPU tensors; use backend nccl for " + device.str());
      }
      return std::unique_ptr<Communicator>(new MpiCommunicator(comm));
    case worker::BackendKind::kNccl:
#ifdef AIMASS_HAVE_NCCL
      if (!device.is_cuda()) {
        return Status::InvalidArgument("the nccl backend needs a CUDA device");
      }
      return NcclCommunicator::Create(comm, device.index());
#else
      return Status::FailedPrecondition(
          "this build of aimass has no NCCL backend (CUDA/NCCL not found at build)");
#endif
    case worker::BackendKind::kAuto:
      break;
  }
  return Status::InvalidArgument("collective backend 'auto' must be resolved first (to mpi or "
                                 "nccl, see ChoosePlacement)");
}

}  // namespace aimass::collective
