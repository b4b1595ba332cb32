#include "worker/sync/gradient_synchronizer.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <chrono>
#include <cmath>

namespace aimass::worker {

// Runs after autograd has accumulated one parameter's gradient into its .grad.
class GradientSynchronizer::PostAccumulateHook final : public torch::autograd::FunctionPostHook {
 public:
  PostAccumulateHook(GradientSynchronizer* owner, size_t parameter)
      : owner_(owner), parameter_(parameter) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list&) override {
    owner_->OnGradientReady(parameter_);
    return outputs;
  }

 private:
  GradientSynchronizer* owner_;
  size_t parameter_;
};

GradientSynchronizer::GradientSynchronizer(collective::Communicator& communicator,
                                           const GradientSyncOptions& options)
    : communicator_(communicator), options_(options) {}

Result<std::unique_ptr<GradientSynchronizer>> GradientSynchronizer::Create(
    const std::vector<torch::Tensor>& parameters, collective::Communicator& communicator,
    const GradientSyncOptions& options) {
  if (parameters.empty()) return Status::Error("the model has no trainable parameters");
  std::vector<int64_t> numels;
  for (const auto& parameter : parameters) {
    if (parameter.scalar_type() != torch::kFloat32) {
      return Status::Error("model parameters must be float32");
    }
    if (parameter.device() != parameters.front().device()) {
      return Status::Error("model parameters must all be on one device");
    }
    numels.push_back(parameter.numel());
  }
  std::unique_ptr<GradientSynchronizer> sync(new GradientSynchronizer(communicator, options));
  constexpr int64_t kFloatBytes = 4;
  sync->plan_ = PlanBuckets(numels, options.bucket_bytes / kFloatBytes,
                            options.first_bucket_bytes / kFloatBytes);
  sync->flat_ = torch::zeros({sync->plan_.total + 2}, parameters.front().options());
  sync->statistics_ = sync->flat_.narrow(0, sync->plan_.total, 2);
  sync->finite_probe_ = torch::zeros({}, sync->flat_.options());
  for (size_t i = 0; i < parameters.size(); ++i) {
    torch::Tensor parameter = parameters[i];
    parameter.mutable_grad() =
        sync->flat_.narrow(0, sync->plan_.parameter_offsets[i], parameter.numel())
            .view(parameter.sizes());
  }
  const bool compress = options.wire_dtype != torch::kFloat32;
  for (size_t b = 0; b < sync->plan_.buckets.size(); ++b) {
    const Bucket& bucket = sync->plan_.buckets[b];
    // Uncompressed, the statistics ride in the last bucket; compressed, they travel apart.
    bool with_statistics = !compress && b + 1 == sync->plan_.buckets.size();
    sync->bucket_views_.push_back(
        sync->flat_.narrow(0, bucket.offset, bucket.count + (with_statistics ? 2 : 0)));
    if (compress) {
      sync->staging_.push_back(torch::empty({bucket.count}, sync->flat_.options().dtype(
                                                                options.wire_dtype)));
    }
  }
  sync->pending_.assign(sync->plan_.buckets.size(), 0);
  sync->ready_.assign(sync->plan_.buckets.size(), false);
  if (options.overlap) {
    for (size_t i = 0; i < parameters.size(); ++i) {
      auto accumulator = torch::autograd::impl::grad_accumulator(parameters[i]);
      if (!accumulator) return Status::Error("a model parameter does not require gradients");
      accumulator->add_post_hook(std::make_unique<PostAccumulateHook>(sync.get(), i));
      sync->accumulators_.push_back(std::move(accumulator));
    }
    sync->communication_thread_ = std::thread([raw = sync.get()] { raw->CommunicationLoop(); });
  }
  return sync;
}

GradientSynchronizer::~GradientSynchronizer() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (communication_thread_.joinable()) communication_thread_.join();
}

void GradientSynchronizer::StartStep() {
  flat_.zero_();
  std::lock_guard<std::mutex> lock(mutex_);
  armed_ = false;
  for (size_t b = 0; b < plan_.buckets.size(); ++b) {
    pending_[b] = plan_.buckets[b].parameters;
    ready_[b] = false;
  }
  next_to_launch_ = completed_ = 0;
  error_ = Status::Ok();
}

void GradientSynchronizer::ArmForLastBackward() {
  std::lock_guard<std::mutex> lock(mutex_);
  armed_ = true;
}

void GradientSynchronizer::OnGradientReady(size_t parameter) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!armed_) return;
    size_t bucket = plan_.bucket_of_parameter[parameter];
    if (pending_[bucket] == 0) return;  // already launched (a gradient arriving twice)
    if (--pending_[bucket] == 0) MarkReady(bucket);
  }
  changed_.notify_all();
}

void GradientSynchronizer::MarkReady(size_t bucket) {
  ready_[bucket] = true;
  while (next_to_launch_ < ready_.size() && ready_[next_to_launch_]) ++next_to_launch_;
}

void GradientSynchronizer::CommunicationLoop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    changed_.wait(lock, [&] { return stopping_ || completed_ < next_to_launch_; });
    if (stopping_) return;
    const size_t bucket = completed_;  // buckets are reduced one after another, in order
    lock.unlock();
    Status status = Reduce(bucket);
    lock.lock();
    if (!status.ok() && error_.ok()) error_ = status;
    ++completed_;
    changed_.notify_all();
  }
}

Status GradientSynchronizer::Reduce(size_t bucket) {
  if (staging_.empty()) return communicator_.AllreduceSum(bucket_views_[bucket]);
  staging_[bucket].copy_(bucket_views_[bucket]);
  AIMASS_RETURN_IF_ERROR(communicator_.AllreduceSum(staging_[bucket]));
  bucket_views_[bucket].copy_(staging_[bucket]);
  return Status::Ok();
}

Result<double> GradientSynchronizer::Finish() {
  auto start = std::chrono::steady_clock::now();
  const size_t buckets = plan_.buckets.size();
  auto seconds_waited = [&]() -> Result<double> {
    if (!staging_.empty()) AIMASS_RETURN_IF_ERROR(communicator_.AllreduceSum(statistics_));
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  if (!options_.overlap) {
    for (size_t b = 0; b < buckets; ++b) AIMASS_RETURN_IF_ERROR(Reduce(b));
    return seconds_waited();
  }
  std::unique_lock<std::mutex> lock(mutex_);
  // Buckets whose parameters got no gradient this step (unused in forward) still take part:
  // every worker must reduce every bucket.
  for (size_t b = 0; b < buckets; ++b) {
    if (!ready_[b]) MarkReady(b);
  }
  armed_ = false;
  changed_.notify_all();
  changed_.wait(lock, [&] { return completed_ == buckets; });
  if (!error_.ok()) return error_;
  lock.unlock();  // the communication thread is idle until the next step: MPI is ours again
  return seconds_waited();
}

GradientSynchronizer::FiniteCheck GradientSynchronizer::CheckFinite() const {
  torch::NoGradGuard no_grad;
  FiniteCheck check;
  // The fast path: a NaN or Inf anywhere (gradients, loss sum, correct count) makes the sum NaN
  // or Inf. One pass, one scalar to the host.
  torch::sum_out(finite_probe_, flat_);
  if (std::isfinite(finite_probe_.item<double>())) return check;
  check.gradients_finite =
      torch::isfinite(flat_.narrow(0, 0, plan_.total)).all().item<bool>();
  check.loss_finite = std::isfinite(statistics_[0].item<double>());
  return check;
}

}  // namespace aimass::worker
