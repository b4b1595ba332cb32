#include "worker/collective/mpi/mpi_communicator.h"

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <climits>

namespace aimass::collective {
namespace {

// fp16 and bf16 have no MPI type: they travel as 2-byte units, summed by our own operation
// (accumulating in float), so compressed gradients need half the bandwidth.
template <class Half>
void SumInFloat(void* in, void* inout, int* length, MPI_Datatype*) {
  const auto* from = static_cast<const Half*>(in);
  auto* into = static_cast<Half*>(inout);
  for (int i = 0; i < *length; ++i) {
    into[i] = static_cast<Half>(static_cast<float>(from[i]) + static_cast<float>(into[i]));
  }
}

struct HalfPrecisionSupport {
  MPI_Datatype two_bytes;
  MPI_Op bfloat16_sum;
  MPI_Op float16_sum;
};

// Created on first use, after MPI_Init; lives until the process ends.
const HalfPrecisionSupport& HalfPrecision() {
  static const HalfPrecisionSupport support = [] {
    HalfPrecisionSupport made;
    MPI_Type_contiguous(2, MPI_BYTE, &made.two_bytes);
    MPI_Type_commit(&made.two_bytes);
    MPI_Op_create(&SumInFloat<c10::BFloat16>, /*commute=*/1, &made.bfloat16_sum);
    MPI_Op_create(&SumInFloat<c10::Half>, /*commute=*/1, &made.float16_sum);
    return made;
  }();
  return support;
}

struct MpiReduction {
  MPI_Datatype type;
  MPI_Op sum;
};

Result<MpiReduction> MpiReductionOf(const torch::Tensor& tensor) {
  switch (tensor.scalar_type()) {
    case torch::kFloat32: return MpiReduction{MPI_FLOAT, MPI_SUM};
    case torch::kFloat64: return MpiReduction{MPI_DOUBLE, MPI_SUM};
    case torch::kInt32: return MpiReduction{MPI_INT32_T, MPI_SUM};
    case torch::kInt64: return MpiReduction{MPI_INT64_T, MPI_SUM};
    case torch::kUInt8: return MpiReduction{MPI_UINT8_T, MPI_SUM};
    case torch::kBFloat16:
      return MpiReduction{HalfPrecision().two_bytes, HalfPrecision().bfloat16_sum};
    case torch::kFloat16:
      return MpiReduction{HalfPrecision().two_bytes, HalfPrecision().float16_sum};
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
  AIMASS_ASSIGN_OR_RETURN(MpiReduction reduction, MpiReductionOf(tensor));
  if (size_ == 1) return Status::Ok();
  // MPI counts are ints: reduce tensors of more than INT_MAX elements in pieces.
  auto* bytes = static_cast<char*>(tensor.data_ptr());
  int64_t remaining = tensor.numel();
  const int64_t element_size = static_cast<int64_t>(tensor.element_size());
  while (remaining > 0) {
    int count = static_cast<int>(std::min<int64_t>(remaining, INT_MAX));
    AIMASS_RETURN_IF_ERROR(
        CheckMpi(MPI_Allreduce(MPI_IN_PLACE, bytes, count, reduction.type, reduction.sum, comm_),
                 "MPI_Allreduce"));
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
