#include "worker/collective/mpi/mpi_communicator.h"

#include <algorithm>
#include <climits>

namespace aimass::collective {
namespace {

Result<MPI_Datatype> MpiTypeOf(const torch::Tensor& tensor) {
  switch (tensor.scalar_type()) {
    case torch::kFloat32: return MPI_FLOAT;
    case torch::kFloat64: return MPI_DOUBLE;
    case torch::kInt32: return MPI_INT32_T;
    case torch::kInt64: return MPI_INT64_T;
    case torch::kUInt8: return MPI_UINT8_T;
    default:
      return Status::Error(std::string("mpi backend: unsupported dtype ") +
                           c10::toString(tensor.scalar_type()));
  }
}

Status CheckCpuContiguous(const torch::Tensor& tensor) {
  if (!tensor.device().is_cpu()) return Status::Error("mpi backend: tensor is not on the CPU");
  if (!tensor.is_contiguous()) return Status::Error("mpi backend: tensor is not contiguous");
  return Status::Ok();
}

Status CheckMpi(int code, const char* call) {
  if (code == MPI_SUCCESS) return Status::Ok();
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  return Status::Error(std::string(call) + " failed: " + std::string(text, length));
}

}  // namespace

MpiCommunicator::MpiCommunicator(MPI_Comm comm) : comm_(comm) {
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
}

Status MpiCommunicator::AllreduceSum(torch::Tensor& tensor) {
  AIMASS_RETURN_IF_ERROR(CheckCpuContiguous(tensor));
  AIMASS_ASSIGN_OR_RETURN(MPI_Datatype type, MpiTypeOf(tensor));
  if (size_ == 1) return Status::Ok();
  // MPI counts are ints: reduce tensors of more than INT_MAX elements in pieces.
  auto* bytes = static_cast<char*>(tensor.data_ptr());
  int64_t remaining = tensor.numel();
  const int64_t element_size = static_cast<int64_t>(tensor.element_size());
  while (remaining > 0) {
    int count = static_cast<int>(std::min<int64_t>(remaining, INT_MAX));
    AIMASS_RETURN_IF_ERROR(
        CheckMpi(MPI_Allreduce(MPI_IN_PLACE, bytes, count, type, MPI_SUM, comm_), "MPI_Allreduce"));
    bytes += count * element_size;
    remaining -= count;
  }
  return Status::Ok();
}

Status MpiCommunicator::Broadcast(torch::Tensor& tensor, int root) {
  AIMASS_RETURN_IF_ERROR(CheckCpuContiguous(tensor));
  if (size_ == 1) return Status::Ok();
  auto* bytes = static_cast<char*>(tensor.data_ptr());
  int64_t remaining = tensor.numel() * static_cast<int64_t>(tensor.element_size());
  while (remaining > 0) {
    int count = static_cast<int>(std::min<int64_t>(remaining, INT_MAX));
    AIMASS_RETURN_IF_ERROR(CheckMpi(MPI_Bcast(bytes, count, MPI_BYTE, root, comm_), "MPI_Bcast"));
    bytes += count;
    remaining -= count;
  }
  return Status::Ok();
}

}  // namespace aimass::collective
