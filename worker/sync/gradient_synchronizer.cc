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
  // `inputs`: the gradient autograd handed the accumulator. When the accumulator adopted it,
  // .grad shares its memory, and it stays alive until the hooks are done.
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list& inputs) override {
    owner_->OnGradientReady(parameter_, inputs.empty() ? nullptr : &inputs.front());
    return outputs;
  }

 private:
  GradientSynchronizer* owner_;
  size_t parameter_;
};

namespace {
// Statistics and padding before the gradients in the flat buffer: the gradients start on a
// cache line, as the optimizer's loops like them.
constexpr int64_t kHeadElements = 16;
}  // namespace

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
  sync->parameters_ = parameters;
  sync->flat_ = torch::zeros({kHeadElements + sync->plan_.total}, parameters.front().options());
  sync->statistics_ = sync->flat_.narrow(0, 0, 2);
  sync->finite_probe_ = torch::zeros({}, sync->flat_.options());
  for (size_t i = 0; i < parameters.size(); ++i) {
    sync->slots_.push_back(
        sync->flat_.narrow(0, kHeadElements + sync->plan_.parameter_offsets[i], parameters[i].numel())
            .view(parameters[i].sizes()));
  }
  const bool compress = options.wire_dtype != torch::kFloat32;
  for (size_t b = 0; b < sync->plan_.buckets.size(); ++b) {
    const Bucket& bucket = sync->plan_.buckets[b];
    // Uncompressed, the statistics ride in the first bucket (filled before the last backward
    // starts); compressed, they travel apart.
    const bool with_head = !compress && b == 0;
    sync->bucket_views_.push_back(with_head ? sync->flat_.narrow(0, 0, kHeadElements + bucket.count)
                                            : sync->flat_.narrow(0, kHeadElements + bucket.offset, bucket.count));
    sync->adopts_.push_back(bucket.parameters == 1 && !with_head);
    if (compress) {
      sync->staging_.push_back(torch::empty({sync->bucket_views_.back().numel()},
                                            sync->flat_.options().dtype(options.wire_dtype)));
    }
  }
  sync->buffers_ = sync->bucket_views_;
  sync->collected_.assign(parameters.size(), false);
  sync->uncollected_.reserve(parameters.size());
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
  statistics_.zero_();
  // Undefined: backward's own result becomes the gradient (AccumulateGrad adopts it).
  for (torch::Tensor& parameter : parameters_) parameter.mutable_grad().reset();
  std::lock_guard<std::mutex> lock(mutex_);
  armed_ = false;
  for (size_t b = 0; b < plan_.buckets.size(); ++b) {
    pending_[b] = plan_.buckets[b].parameters;
    ready_[b] = false;
    if (adopts_[b]) buffers_[b] = torch::Tensor();
  }
  collected_.assign(collected_.size(), false);
  adopted_.store(0, std::memory_order_relaxed);
  next_to_launch_ = completed_ = 0;
  error_ = Status::Ok();
}

void GradientSynchronizer::ArmForLastBackward() {
  std::lock_guard<std::mutex> lock(mutex_);
  armed_ = true;
}

void GradientSynchronizer::OnGradientReady(size_t parameter, const torch::Tensor* accumulated) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!armed_ || collected_[parameter]) return;  // collected: a gradient arriving twice
    collected_[parameter] = true;
  }
  Collect(parameter, accumulated);  // outside the lock: a copy must not hold up the communication thread
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const size_t bucket = plan_.bucket_of_parameter[parameter];
    if (--pending_[bucket] == 0) MarkReady(bucket);
  }
  changed_.notify_all();
}

void GradientSynchronizer::Collect(size_t parameter, const torch::Tensor* accumulated) {
  torch::NoGradGuard no_grad;
  torch::Tensor& gradient = parameters_[parameter].mutable_grad();
  torch::Tensor& slot = slots_[parameter];
  const size_t bucket = plan_.bucket_of_parameter[parameter];
  // Adopted only when no other tensor shares its memory: the reduction writes it in place on
  // the communication thread while backward goes on (a view of a gradient that flows on to
  // earlier layers must be copied). The accumulator's own input, when .grad is it, does not
  // count: it is released once the hooks return.
  const bool shared_with_input = gradient.defined() && accumulated != nullptr && accumulated->defined() &&
                                 accumulated->storage().is_alias_of(gradient.storage());
  const size_t own_references = shared_with_input ? 2 : 1;
  if (adopts_[bucket] && gradient.defined() && gradient.is_contiguous() &&
      gradient.scalar_type() == slot.scalar_type() && gradient.device() == slot.device() &&
      gradient.sizes() == slot.sizes() && gradient.storage().use_count() == own_references) {
    buffers_[bucket] = gradient;  // reduced in place: .grad stays this tensor
    adopted_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (!gradient.defined()) {
    slot.zero_();  // no gradient this step: a zero one, as every worker must reduce the bucket
  } else if (!gradient.is_same(slot)) {
    slot.copy_(gradient);
  }
  gradient = slot;
  if (adopts_[bucket]) buffers_[bucket] = bucket_views_[bucket];
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
  torch::Tensor& buffer = buffers_[bucket];  // any shape, contiguous
  if (staging_.empty()) return communicator_.AllreduceSum(buffer);
  torch::Tensor elements = buffer.view({-1});  // the staging buffer is flat
  staging_[bucket].copy_(elements);
  AIMASS_RETURN_IF_ERROR(communicator_.AllreduceSum(staging_[bucket]));
  elements.copy_(staging_[bucket]);
  return Status::Ok();
}

Result<double> GradientSynchronizer::Finish() {
  auto start = std::chrono::steady_clock::now();
  const size_t buckets = plan_.buckets.size();
  auto seconds_waited = [&]() -> Result<double> {
    if (!staging_.empty()) AIMASS_RETURN_IF_ERROR(communicator_.AllreduceSum(statistics_));
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  // Parameters whose gradients no hook collected: all of them without overlap, those that got
  // no gradient (unused in forward) with it. Backward is over: no hook runs any more.
  uncollected_.clear();  // reserved at Create: no allocation per step
  {
    std::lock_guard<std::mutex> lock(mutex_);
    armed_ = false;
    for (size_t i = 0; i < collected_.size(); ++i) {
      if (!collected_[i]) uncollected_.push_back(i);
      collected_[i] = true;
    }
  }
  for (size_t i : uncollected_) Collect(i, nullptr);
  // Collecting (copying into the flat buffer) is part of producing the gradients, not of
  // communicating them: the exposed time starts here.
  start = std::chrono::steady_clock::now();
  if (!options_.overlap) {
    for (size_t b = 0; b < buckets; ++b) AIMASS_RETURN_IF_ERROR(Reduce(b));
    return seconds_waited();
  }
  std::unique_lock<std::mutex> lock(mutex_);
  // Buckets still waiting for those parameters take part too: every worker must reduce every
  // bucket.
  for (size_t b = 0; b < buckets; ++b) {
    if (!ready_[b]) MarkReady(b);
  }
  changed_.notify_all();
  changed_.wait(lock, [&] { return completed_ == buckets; });
  if (!error_.ok()) return error_;
  lock.unlock();  // the communication thread is idle until the next step: MPI is ours again
  return seconds_waited();
}

bool GradientSynchronizer::LossFinite() const { return std::isfinite(statistics_[0].item<double>()); }

GradientSynchronizer::FiniteCheck GradientSynchronizer::CheckFinite() const {
  torch::NoGradGuard no_grad;
  FiniteCheck check;
  // The fast path: a NaN or Inf anywhere (gradients, loss sum, correct count) makes a sum NaN
  // or Inf. One pass over what was reduced, one scalar to the host per buffer.
  bool all_finite = true;
  for (const torch::Tensor& buffer : buffers_) {
    if (!buffer.defined()) continue;  // not reduced: called before Finish
    torch::sum_out(finite_probe_, buffer);
    all_finite = all_finite && std::isfinite(finite_probe_.item<double>());
  }
  if (!staging_.empty()) {
    torch::sum_out(finite_probe_, statistics_);
    all_finite = all_finite && std::isfinite(finite_probe_.item<double>());
  }
  if (all_finite) return check;
  for (const torch::Tensor& parameter : parameters_) {
    if (!torch::isfinite(parameter.grad()).all().item<bool>()) check.gradients_finite = false;
  }
  check.loss_finite = LossFinite();
  return check;
}

}  // namespace aimass::worker
