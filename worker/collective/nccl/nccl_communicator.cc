#include "worker/collective/nccl/nccl_communicator.h"

namespace aimass::collective {
namespace {

Status CheckCuda(cudaError_t code, const char* call) {
  if (code == cudaSuccess) return Status::Ok();
  return Status::Error(std::string(call) + " failed: " + cudaGetErrorString(code));
}

Status CheckNccl(ncclResult_t code, const char* call) {
  if (code == ncclSuccess) return Status::Ok();
  return Status::Error(std::string(call) + " failed: " + ncclGetErrorString(code));
}

Result<ncclDataType_t> NcclTypeOf(const torch::Tensor& tensor) {
  switch (tensor.scalar_type()) {
    case torch::kFloat32: return ncclFloat32;
    case torch::kFloat64: return ncclFloat64;
    case torch::kFloat16: return ncclFloat16;
    case torch::kBFloat16: return ncclBfloat16;
    case torch::kInt32: return ncclInt32;
    case torch::kInt64: return ncclInt64;
    case torch::kUInt8: return ncclUint8;
    default:
      return Status::Error(std::string("nccl backend: unsupported dtype ") +
                           c10::toString(tensor.scalar_type()));
  }
}

Status CheckCudaContiguous(const torch::Tensor& tensor) {
  if (!tensor.device().is_cuda()) return Status::Error("nccl backend: tensor is not on a GPU");
  if (!tensor.is_contiguous()) return Status::Error("nccl backend: tensor is not contiguous");
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Communicator>> NcclCommunicator::Create(MPI_Comm comm, int device_index) {
  int rank = 0;
  int size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  AIMASS_RETURN_IF_ERROR(CheckCuda(cudaSetDevice(device_index), "cudaSetDevice"));

  ncclUniqueId id;
  if (rank == 0) AIMASS_RETURN_IF_ERROR(CheckNccl(ncclGetUniqueId(&id), "ncclGetUniqueId"));
  MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, comm);

  ncclComm_t nccl_comm;
  AIMASS_RETURN_IF_ERROR(CheckNccl(ncclCommInitRank(&nccl_comm, size, id, rank), "ncclCommInitRank"));
  cudaStream_t stream;
  Status created = CheckCuda(cudaStreamCreate(&stream), "cudaStreamCreate");
  if (!created.ok()) {
    ncclCommDestroy(nccl_comm);
    return created;
  }
  return std::unique_ptr<Communicator>(
      new NcclCommunicator(nccl_comm, stream, rank, size, device_index));
}

NcclCommunicator::~NcclCommunicator() {
  ncclCommDestroy(comm_);
  cudaStreamDestroy(stream_);
}

Status NcclCommunicator::UseDevice() {
  // Calls may come from a communication thread, whose current device is not ours by default.
  return CheckCuda(cudaSetDevice(device_index_), "cudaSetDevice");
}

Status NcclCommunicator::Finish(ncclResult_t launched, const char* call) {
  AIMASS_RETURN_IF_ERROR(CheckNccl(launched, call));
  return CheckCuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
}

Status NcclCommunicator::AllreduceSum(torch::Tensor& tensor) {
  AIMASS_RETURN_IF_ERROR(CheckCudaContiguous(tensor));
  AIMASS_RETURN_IF_ERROR(UseDevice());
  AIMASS_ASSIGN_OR_RETURN(ncclDataType_t type, NcclTypeOf(tensor));
  void* data = tensor.data_ptr();
  return Finish(ncclAllReduce(data, data, static_cast<size_t>(tensor.numel()), type, ncclSum, comm_,
                              stream_),
                "ncclAllReduce");
}

Status NcclCommunicator::Broadcast(torch::Tensor& tensor, int root) {
  AIMASS_RETURN_IF_ERROR(CheckCudaContiguous(tensor));
  AIMASS_RETURN_IF_ERROR(UseDevice());
  AIMASS_ASSIGN_OR_RETURN(ncclDataType_t type, NcclTypeOf(tensor));
  void* data = tensor.data_ptr();
  return Finish(ncclBroadcast(data, data, static_cast<size_t>(tensor.numel()), type, root, comm_,
                              stream_),
                "ncclBroadcast");
}

}  // namespace aimass::collective
