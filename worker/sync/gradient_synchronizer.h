// GradientSynchronizer: averages gradients across workers, overlapped with backward.
//
// Gradients are laid out in buckets (bucket_plan.h). At the start of a step every parameter's
// .grad is reset, so autograd's accumulator adopts the tensor backward computed as the gradient
// (no zeroing pass, no addition into a preallocated buffer). When a parameter's gradient is final
// (a hook after its accumulation, on the step's last micro-batch), its bucket takes it: a bucket
// of one parameter reduces that very tensor in place; a bucket of several copies each gradient
// into its slot of one flat buffer and the parameter's .grad becomes that slot. A full bucket is
// handed to a communication thread and reduced while backward continues with earlier layers.
// Buckets are reduced strictly in bucket order: every worker must issue its collectives in the
// same order. Two statistics slots ([loss sum, correct count]) ride along in the first bucket,
// so global training metrics cost no extra collective.
//
// The reduction is a sum: the trainer scales its loss by 1 / (samples of the step over all
// workers), so the sum is the mean gradient and no averaging pass is needed. With a 16-bit wire
// dtype each bucket is narrowed into a staging buffer, reduced and widened back; the statistics
// then travel apart, in float32, so counts stay exact.
//
// After Finish every parameter's .grad holds the mean gradient (zeros for a parameter that got
// none this step), contiguous, on the parameters' device.
//
// Thread safety: StartStep, ArmForLastBackward, statistics and Finish are for the training
// thread; hooks run on the autograd thread; the communicator is used only by the communication
// thread while a step is in flight (MPI needs MPI_THREAD_SERIALIZED for overlap).
#pragma once

#include <torch/torch.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/status.h"
#include "worker/collective/communicator.h"
#include "worker/sync/bucket_plan.h"

namespace aimass::worker {

struct GradientSyncOptions {
  int64_t bucket_bytes = 25ll << 20;  // <= 0: one allreduce per parameter (the per-tensor path)
  int64_t first_bucket_bytes = 1ll << 20;
  bool overlap = true;  // reduce full buckets during backward, on a communication thread
  // What gradients travel as: float32, or kBFloat16 / kHalf to halve the bytes on the wire
  // (reduced in float by the transport, then widened back into the float32 gradients).
  torch::ScalarType wire_dtype = torch::kFloat32;
};

class GradientSynchronizer {
 public:
  // `parameters`: float32, all on one device, in registration order (the same on every worker).
  // `communicator` must outlive the synchronizer.
  static Result<std::unique_ptr<GradientSynchronizer>> Create(
      const std::vector<torch::Tensor>& parameters, collective::Communicator& communicator,
      const GradientSyncOptions& options);
  ~GradientSynchronizer();
  GradientSynchronizer(const GradientSynchronizer&) = delete;
  GradientSynchronizer& operator=(const GradientSynchronizer&) = delete;

  // Starts a new optimizer step: zeroes the statistics and resets every parameter's .grad.
  void StartStep();
  // Before the backward of the step's last micro-batch: from then on a filled bucket is reduced
  // at once. Earlier micro-batches only accumulate.
  void ArmForLastBackward();
  // [loss sum, correct count] of this worker's step so far; write before the last backward.
  torch::Tensor& statistics() { return statistics_; }
  // After the last backward: collects the gradients no hook took (all of them without overlap)
  // and reduces what is left (also buckets of parameters that got no gradient), waiting for
  // every bucket. Returns the seconds spent reducing and waiting here, after the collection:
  // the communication that backward did not hide.
  Result<double> Finish();

  // What the finite check of a step found.
  struct FiniteCheck {
    bool loss_finite = true;       // the step's summed loss (all workers)
    bool gradients_finite = true;  // every reduced gradient
    bool ok() const { return loss_finite && gradients_finite; }
  };
  // After Finish: whether the reduced gradients and the summed loss are finite. It reads only
  // the allreduced buffer, which is the same on every worker, and NaN or Inf in any worker's
  // input reaches every worker's sum whatever the reduction order, so every worker comes to the
  // same answer without a collective of its own. Cost: one sum over each reduced buffer (memory
  // bound, a few % of an optimizer step's own pass); only a non-finite sum takes the exact,
  // slower look (a sum of finite values that overflowed is not a non-finite gradient).
  FiniteCheck CheckFinite() const;
  // After Finish: whether the step's summed loss (all workers) is finite. One scalar read.
  bool LossFinite() const;

  size_t bucket_count() const { return plan_.buckets.size(); }
  // Buckets of this step that reduced their parameter's own gradient rather than a copy.
  size_t adopted_buckets() const { return adopted_.load(std::memory_order_relaxed); }

  // Each parameter's offset in bucket order (registration index), and the elements of all of
  // them: the layout the parameters themselves take when they are flattened
  // (optim/flat_parameters.h), so that an optimizer walks buckets in the order they complete.
  const std::vector<int64_t>& parameter_offsets() const { return plan_.parameter_offsets; }
  int64_t total_elements() const { return plan_.total; }

 private:
  class PostAccumulateHook;

  GradientSynchronizer(collective::Communicator& communicator, const GradientSyncOptions& options);
  // `accumulated`: what the accumulator was given (null when unknown).
  void OnGradientReady(size_t parameter, const torch::Tensor* accumulated);
  // Hands parameter i's final gradient to its bucket (adopted, copied, or zeros when it has
  // none). Once per parameter and step, before its bucket is marked ready.
  void Collect(size_t parameter, const torch::Tensor* accumulated);
  void MarkReady(size_t bucket);  // REQUIRES(mutex_)
  void CommunicationLoop();
  Status Reduce(size_t bucket);

  collective::Communicator& communicator_;
  const GradientSyncOptions options_;
  BucketPlan plan_;
  std::vector<torch::Tensor> parameters_;
  // [statistics (2), padding to a cache line | gradients in bucket order]: the slots of the
  // parameters whose buckets copy.
  torch::Tensor flat_;
  torch::Tensor statistics_;               // view of flat_'s first two elements
  std::vector<torch::Tensor> slots_;       // per parameter: its view of flat_, shaped like it
  std::vector<bool> adopts_;               // per bucket: reduces its one parameter's own gradient
  std::vector<torch::Tensor> bucket_views_;  // per bucket: its part of flat_ (bucket 0 with the head)
  // Per bucket, what this step reduces: bucket_views_[b], or the adopted gradient (shaped like
  // its parameter). Written by
  // Collect before the bucket is ready, read by the communication thread after.
  std::vector<torch::Tensor> buffers_;
  std::vector<bool> collected_;            // per parameter, this step; GUARDED_BY(mutex_)
  std::vector<size_t> uncollected_;        // Finish's scratch: parameters no hook collected
  std::atomic<size_t> adopted_{0};
  // CheckFinite's sum, allocated once: the check runs every step and allocates nothing.
  mutable torch::Tensor finite_probe_;
  std::vector<torch::Tensor> staging_;  // per bucket, in the wire dtype; empty for float32
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators_;  // keeps hooks alive

  std::mutex mutex_;
  std::condition_variable changed_;
  bool armed_ = false;                 // GUARDED_BY(mutex_)
  std::vector<size_t> pending_;        // GUARDED_BY(mutex_): gradients a bucket still awaits
  std::vector<bool> ready_;            // GUARDED_BY(mutex_)
  size_t next_to_launch_ = 0;          // GUARDED_BY(mutex_): buckets before it are the thread's
  size_t completed_ = 0;               // GUARDED_BY(mutex_)
  Status error_;                       // GUARDED_BY(mutex_)
  bool stopping_ = false;              // GUARDED_BY(mutex_)
  std::thread communication_thread_;
};

}  // namespace aimass::worker
