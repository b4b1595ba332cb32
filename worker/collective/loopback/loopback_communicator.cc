#include "worker/collective/loopback/loopback_communicator.h"

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

namespace aimass::collective {
namespace {

enum class Operation { kAllreduceSum, kBroadcast };

const char* OperationName(Operation operation) {
  return operation == Operation::kAllreduceSum ? "allreduce" : "broadcast";
}

// What every rank of one round must agree on.
struct RoundSignature {
  Operation operation;
  torch::ScalarType dtype;
  int64_t numel;
  int root;  // broadcast only; -1 for allreduce

  bool operator==(const RoundSignature& other) const {
    return operation == other.operation && dtype == other.dtype && numel == other.numel &&
           root == other.root;
  }
  std::string Describe() const {
    std::string text = std::string(OperationName(operation)) + " of " + std::to_string(numel) +
                       " " + c10::toString(dtype);
    if (operation == Operation::kBroadcast) text += " from root " + std::to_string(root);
    return text;
  }
};

bool SupportedDtype(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kFloat32:
    case torch::kFloat64:
    case torch::kBFloat16:
    case torch::kFloat16:
    case torch::kInt32:
    case torch::kInt64:
    case torch::kUInt8:
      return true;
    default:
      return false;
  }
}

// The rank-order sum of `inputs` (all of one dtype and size), as a new tensor of that dtype.
torch::Tensor SumInRankOrder(const std::vector<torch::Tensor*>& inputs) {
  const torch::ScalarType dtype = inputs.front()->scalar_type();
  const bool half_precision = dtype == torch::kBFloat16 || dtype == torch::kFloat16;
  torch::Tensor sum = inputs.front()->clone();
  for (size_t r = 1; r < inputs.size(); ++r) {
    if (half_precision) {
      // As the MPI backend's SumInFloat: widen both operands, add in float, round back.
      sum = (sum.to(torch::kFloat32) + inputs[r]->to(torch::kFloat32)).to(dtype);
    } else {
      sum.add_(*inputs[r]);
    }
  }
  return sum;
}

}  // namespace

// The state the ranks of one group share. All fields GUARDED_BY(mutex).
class LoopbackRendezvous {
 public:
  LoopbackRendezvous(int size, const LoopbackOptions& options)
      : size_(size), options_(options), slots_(static_cast<size_t>(size), nullptr) {}

  int size() const { return size_; }

  // Blocks until every rank has joined this round (or the round fails); see the header.
  Status Join(int rank, torch::Tensor& tensor, const RoundSignature& signature) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!broken_.ok()) return broken_;
    if (arrived_ == 0) {
      signature_ = signature;
    } else if (!(signature == *signature_)) {
      Break(Status::InvalidArgument("loopback: rank " + std::to_string(rank) + " called " +
                                    signature.Describe() + " while other ranks called " +
                                    signature_->Describe()));
      return broken_;
    }
    slots_[static_cast<size_t>(rank)] = &tensor;
    const uint64_t my_generation = generation_;
    if (++arrived_ == size_) {
      Complete();
      return Status::Ok();
    }
    auto round_over = [&] { return generation_ != my_generation || !broken_.ok(); };
    if (options_.timeout.count() <= 0) {
      done_.wait(lock, round_over);
    } else if (!done_.wait_for(lock, options_.timeout, round_over)) {
      const int missing = size_ - arrived_;  // before Break resets the round
      Break(Status::Unavailable("loopback: a rank timed out waiting for its peers (" +
                                signature.Describe() + "); the group is broken"));
      return Status::DeadlineExceeded(
          "loopback: rank " + std::to_string(rank) + " waited more than " +
          std::to_string(options_.timeout.count()) + " ms for " + std::to_string(missing) +
          " of " + std::to_string(size_) + " ranks to join (" + signature.Describe() + ")");
    }
    if (generation_ != my_generation) return Status::Ok();
    return broken_;
  }

 private:
  // Last rank of the round: every other rank is parked in Join, so their tensors are stable.
  void Complete() {  // REQUIRES(mutex_)
    if (signature_->operation == Operation::kAllreduceSum) {
      torch::Tensor sum = SumInRankOrder(slots_);
      for (torch::Tensor* slot : slots_) slot->copy_(sum);
    } else {
      const torch::Tensor& source = *slots_[static_cast<size_t>(signature_->root)];
      for (int r = 0; r < size_; ++r) {
        if (r != signature_->root) slots_[static_cast<size_t>(r)]->copy_(source);
      }
    }
    ResetRound();
    ++generation_;
    done_.notify_all();
  }

  // Fails this round and every later one, for every rank.
  void Break(Status why) {  // REQUIRES(mutex_)
    if (broken_.ok()) broken_ = std::move(why);
    ResetRound();
    done_.notify_all();
  }

  void ResetRound() {  // REQUIRES(mutex_)
    std::fill(slots_.begin(), slots_.end(), nullptr);
    arrived_ = 0;
    signature_.reset();
  }

  const int size_;
  const LoopbackOptions options_;
  std::mutex mutex_;
  std::condition_variable done_;
  std::vector<torch::Tensor*> slots_;  // this round's tensor of each rank
  std::optional<RoundSignature> signature_;
  int arrived_ = 0;
  uint64_t generation_ = 0;  // rounds completed
  Status broken_;            // OK until a round times out or mismatches
};

namespace {

class LoopbackCommunicator final : public Communicator {
 public:
  LoopbackCommunicator(std::shared_ptr<LoopbackRendezvous> rendezvous, int rank)
      : rendezvous_(std::move(rendezvous)), rank_(rank) {}

  int rank() const override { return rank_; }
  int size() const override { return rendezvous_->size(); }
  std::string backend() const override { return "loopback"; }

  Status AllreduceSum(torch::Tensor& tensor) override {
    AIMASS_RETURN_IF_ERROR(CheckTensor(tensor));
    return rendezvous_->Join(rank_, tensor,
                             {Operation::kAllreduceSum, tensor.scalar_type(), tensor.numel(), -1});
  }

  Status Broadcast(torch::Tensor& tensor, int root) override {
    AIMASS_RETURN_IF_ERROR(CheckTensor(tensor));
    if (root < 0 || root >= size()) {
      return Status::InvalidArgument("loopback: broadcast root " + std::to_string(root) +
                                     " is not a rank of a group of " + std::to_string(size()));
    }
    return rendezvous_->Join(rank_, tensor,
                             {Operation::kBroadcast, tensor.scalar_type(), tensor.numel(), root});
  }

 private:
  static Status CheckTensor(const torch::Tensor& tensor) {
    if (!tensor.is_contiguous()) {
      return Status::InvalidArgument("loopback backend: tensor is not contiguous");
    }
    if (!SupportedDtype(tensor.scalar_type())) {
      return Status::InvalidArgument(std::string("loopback backend: unsupported dtype ") +
                                     c10::toString(tensor.scalar_type()));
    }
    return Status::Ok();
  }

  std::shared_ptr<LoopbackRendezvous> rendezvous_;
  int rank_;
};

}  // namespace

Result<std::vector<std::unique_ptr<Communicator>>> CreateLoopbackGroup(
    int size, const LoopbackOptions& options) {
  if (size < 1) {
    return Status::InvalidArgument("a loopback group needs at least one rank, got " +
                                   std::to_string(size));
  }
  auto rendezvous = std::make_shared<LoopbackRendezvous>(size, options);
  std::vector<std::unique_ptr<Communicator>> communicators;
  for (int rank = 0; rank < size; ++rank) {
    communicators.push_back(std::make_unique<LoopbackCommunicator>(rendezvous, rank));
  }
  return communicators;
}

}  // namespace aimass::collective
