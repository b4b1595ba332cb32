#include "worker/trainer.h"

#include <chrono>
#include <functional>
#include <memory>
#include <numeric>
#include <optional>

#include "common/aimass.pb.h"
#include "common/checkpoint/checkpoint_file.h"
#include "common/config/train_spec_codec.h"
#include "common/data/plan_wire.h"
#include "common/env.h"
#include "common/log.h"
#include "models/model.h"
#include "worker/checkpoint_state.h"
#include "worker/data/batch_loader.h"
#include "worker/optim/flat_parameters.h"
#include "worker/optim/fused_optimizers.h"
#include "worker/optim/optimizer_factory.h"
#include "worker/sync/gradient_synchronizer.h"
#include "worker/torch_errors.h"

namespace aimass::worker {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

constexpr auto kPlanTimeout = std::chrono::minutes(10);
constexpr uint32_t kEvalBatchSize = 512;
// The confusion matrix of the evaluation is sent up to this many classes (1000^2 counts, 8 MB);
// beyond, the evaluation report is left out rather than the control message grown without bound.
constexpr int64_t kMaxConfusionClasses = 1000;

std::vector<data::SampleRange> RangesOf(
    const google::protobuf::RepeatedPtrField<proto::SampleRange>& ranges) {
  std::vector<data::SampleRange> out;
  out.reserve(static_cast<size_t>(ranges.size()));
  for (const auto& range : ranges) out.push_back({range.split(), range.begin(), range.count()});
  return out;
}

// Per-step time split, summed over the current logging interval.
struct IntervalTimes {
  Clock::time_point start = Clock::now();
  double data_wait = 0;
  double forward = 0;
  double backward = 0;
  double communication = 0;
  double optimizer = 0;
  uint64_t steps = 0;
  uint64_t local_samples = 0;
  uint64_t counted_samples = 0;  // of the steps whose update was applied: loss and accuracy
};

// "training step 57 (epoch 2)": steps count from 1 over the whole job, epochs from 1, as in
// metrics.jsonl.
std::string StepName(uint64_t step, uint32_t epoch) {
  return "training step " + std::to_string(step) + " (epoch " + std::to_string(epoch + 1) + ")";
}

class TrainingRun {
 public:
  TrainingRun(const proto::StartTraining& start, const TrainJobSpec& job,
              const Placement& placement, collective::Communicator& communicator,
              ControlClient& control)
      : spec_(start.spec()),
        job_(job),
        config_(job_.config),
        eval_ranges_(RangesOf(start.eval_ranges())),
        placement_(placement),
        communicator_(communicator),
        control_(control),
        is_leader_(communicator.rank() == 0) {}

  Status Run() {
    AIMASS_RETURN_IF_ERROR(Guarded("set-up", [&] { return Setup(); }));
    while (true) {
      auto plan = control_.Receive(kPlanTimeout);
      if (!plan.ok()) return plan.status();
      if ((*plan)->has_shutdown()) return Status::Error("coordinator stopped the job early");
      if (!(*plan)->has_epoch_plan()) continue;
      const proto::EpochPlan& epoch = (*plan)->epoch_plan();
      AIMASS_RETURN_IF_ERROR(TrainEpoch(epoch));
      AIMASS_RETURN_IF_ERROR(SaveCheckpoint(epoch.epoch() + 1, 0));
      AIMASS_RETURN_IF_ERROR(Guarded("evaluation of epoch " + std::to_string(epoch.epoch()),
                                     [&] { return Evaluate(epoch.epoch()); }));
      if (epoch.epoch() + 1 >= config_.epochs) break;
    }
    return Finish();
  }

 private:
  Status Setup() {
    AIMASS_ASSIGN_OR_RETURN(model_, models::CreateModel(config_.model, config_.seed));
    model_->MoveTo(placement_.device);
    model_->SetTraining(true);
    parameters_ = model_->Parameters();
    AIMASS_ASSIGN_OR_RETURN(sync_, GradientSynchronizer::Create(parameters_, communicator_,
                                                                SyncOptions()));
    interval_stats_ = torch::zeros({2}, sync_->statistics().options());
    AIMASS_ASSIGN_OR_RETURN(optimizer_, CreateOptimizer(config_.optimizer, parameters_));
    AIMASS_RETURN_IF_ERROR(ValidateSchedule(config_.schedule));

    if (!spec_.resume_checkpoint().empty()) {
      AIMASS_ASSIGN_OR_RETURN(Checkpoint checkpoint,
                              ReadCheckpoint(Env::Default(), spec_.resume_checkpoint()));
      AIMASS_RETURN_IF_ERROR(RestoreTrainingState(checkpoint.payload, *model_, *optimizer_)
                                 .WithContext(spec_.resume_checkpoint()));
      global_step_ = spec_.resume_step();
    } else {
      // Seeded construction already agrees; the broadcast makes it a guarantee (and covers
      // TorchScript modules whose initial weights came from elsewhere).
      std::vector<torch::Tensor> state = parameters_;
      for (const auto& buffer : model_->Buffers()) state.push_back(buffer);
      AIMASS_RETURN_IF_ERROR(collective::BroadcastTensors(communicator_, state, 0));
    }
    // The parameters become views of one buffer in the gradient buckets' order, so that the
    // optimizer updates all of them in one pass (optim/fused_optimizers.h). After the restore:
    // a module's load replaces its parameters' storage.
    AIMASS_ASSIGN_OR_RETURN(FlatLayout layout, FlattenParameters(parameters_, sync_->parameter_offsets(),
                                                                 sync_->total_elements()));
    flat_optimizer_ = dynamic_cast<FlatOptimizer*>(optimizer_.get());
    if (flat_optimizer_ != nullptr) AIMASS_RETURN_IF_ERROR(flat_optimizer_->Bind(layout));

    BatchLoaderOptions loader_options;
    data::DatasetIndex train_data = data::DecodeDataset(spec_.train_data());
    train_split_records_ = train_data.split_records();
    loader_options.feature_count = train_data.feature_count;
    loader_options.loader_threads = config_.data.loader_threads;
    loader_options.prefetch_batches = config_.data.prefetch_batches;
    loader_options.cache_bytes = config_.data.cache_bytes;
    loader_options.normalize = config_.data.normalize;
    train_loader_ = std::make_unique<BatchLoader>(std::move(train_data), loader_options);
    if (!eval_ranges_.empty() || spec_.test_data().splits_size() > 0) {
      data::DatasetIndex test_data = data::DecodeDataset(spec_.test_data());
      loader_options.feature_count = test_data.feature_count;
      loader_options.loader_threads = 1;
      test_loader_ = std::make_unique<BatchLoader>(std::move(test_data), loader_options);
    }
    total_steps_ = spec_.steps_per_epoch() * config_.epochs;
    input_shape_ = {0};
    for (int64_t dim : config_.model.input_shape) input_shape_.push_back(dim);
    last_checkpoint_ = Clock::now();  // every_seconds counts training, not the set-up
    return Status::Ok();
  }

  // Runs one unit of work so that a LibTorch exception becomes this rank's error.
  Status Guarded(const std::string& what, const std::function<Status()>& body) const {
    return GuardTorchErrors(communicator_.rank(), what, body);
  }
  Status Guarded(const std::function<std::string()>& what,
                 const std::function<Status()>& body) const {
    return GuardTorchErrors(communicator_.rank(), what, body);
  }

  GradientSyncOptions SyncOptions() const {
    GradientSyncOptions options;
    options.bucket_bytes = static_cast<int64_t>(config_.gradient_sync.bucket_mb * (1 << 20));
    options.first_bucket_bytes =
        static_cast<int64_t>(config_.gradient_sync.first_bucket_mb * (1 << 20));
    switch (job_.compression) {
      case GradientCompression::kNone: options.wire_dtype = torch::kFloat32; break;
      case GradientCompression::kFp16: options.wire_dtype = torch::kFloat16; break;
      case GradientCompression::kBf16: options.wire_dtype = torch::kBFloat16; break;
    }
    const bool overlap_wanted =
        job_.overlap == OverlapMode::kOn ||
        (job_.overlap == OverlapMode::kAuto && placement_.backend == BackendKind::kNccl);
    options.overlap = options.bucket_bytes > 0 && overlap_wanted;
    if (options.overlap && placement_.backend == BackendKind::kMpi) {
      // The communication thread calls MPI while the training thread does not.
      int level = MPI_THREAD_SINGLE;
      MPI_Query_thread(&level);
      options.overlap = level >= MPI_THREAD_SERIALIZED;
    }
    return options;
  }

  Status TrainEpoch(const proto::EpochPlan& plan) {
    const uint64_t per_step = plan.samples_per_step();
    if (plan.workers() != static_cast<uint32_t>(communicator_.size())) {
      return Status::Error("epoch plan for " + std::to_string(plan.workers()) + " workers, but " +
                           std::to_string(communicator_.size()) + " take part");
    }
    times_ = IntervalTimes();  // throughput measures training only, not evaluation or start-up
    train_loader_->Start(std::make_unique<data::EpochStream>(data::DecodeEpochPlan(plan),
                                                             train_split_records_,
                                                             static_cast<uint32_t>(communicator_.rank())),
                         plan.start_step() * per_step, config_.batch_size);
    for (uint64_t step = plan.start_step(); step < plan.steps(); ++step) {
      uint64_t step_samples = std::min<uint64_t>(per_step, plan.samples() - step * per_step);
      AIMASS_RETURN_IF_ERROR(
          Guarded([&] { return "training step " + std::to_string(global_step_ + 1); },
                  [&] { return TrainStep(step_samples, plan.epoch()); }));
      control_.SetProgress(global_step_);
      bool last_of_epoch = step + 1 == plan.steps();
      if (global_step_ % config_.log_every == 0 || last_of_epoch) {
        AIMASS_RETURN_IF_ERROR(ReportMetrics(plan.epoch(), step + 1));
      }
      if (CheckpointDue() && !last_of_epoch) {
        AIMASS_RETURN_IF_ERROR(SaveCheckpoint(plan.epoch(), step + 1));
      }
    }
    return Status::Ok();
  }

  Status TrainStep(uint64_t step_samples, uint32_t epoch) {
    sync_->StartStep();
    uint64_t consumed = 0;
    // The allreduce sums over workers: scaling by every worker's samples makes the sum the mean.
    const double loss_scale =
        1.0 / (static_cast<double>(step_samples) * static_cast<double>(communicator_.size()));
    while (consumed < step_samples) {
      auto wait_start = Clock::now();
      AIMASS_ASSIGN_OR_RETURN(std::optional<Batch> batch, train_loader_->Next());
      times_.data_wait += SecondsSince(wait_start);
      if (!batch) return Status::Error("data stream ended before the planned step was complete");

      auto forward_start = Clock::now();
      const int64_t rows = batch->features.size(0);
      input_shape_[0] = rows;
      torch::Tensor input = batch->features.to(placement_.device, true).view(input_shape_);
      torch::Tensor labels = batch->labels.to(placement_.device, true);
      torch::Tensor logits = model_->Forward(input);
      torch::Tensor loss_sum = torch::nn::functional::cross_entropy(
          logits, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
      {
        torch::NoGradGuard no_grad;
        torch::Tensor& statistics = sync_->statistics();
        statistics[0].add_(loss_sum.detach());
        statistics[1].add_(logits.argmax(1).eq(labels).sum());
      }
      auto backward_start = Clock::now();
      times_.forward += std::chrono::duration<double>(backward_start - forward_start).count();
      consumed += static_cast<uint64_t>(rows);
      if (consumed >= step_samples) sync_->ArmForLastBackward();
      (loss_sum * loss_scale).backward();
      times_.backward += SecondsSince(backward_start);
    }

    const auto finish_start = Clock::now();
    AIMASS_ASSIGN_OR_RETURN(double exposed, sync_->Finish());
    times_.communication += exposed;
    times_.backward += SecondsSince(finish_start) - exposed;  // collecting the gradients

    auto optimizer_start = Clock::now();
    AIMASS_ASSIGN_OR_RETURN(const bool applied, ApplyUpdate(epoch));
    if (applied) {
      interval_stats_.add_(sync_->statistics());
      times_.counted_samples += step_samples;
    }
    times_.optimizer += SecondsSince(optimizer_start);

    ++global_step_;
    ++times_.steps;
    times_.local_samples += step_samples;
    return Status::Ok();
  }

  // The optimizer step on the reduced gradients, unless they or the loss are NaN or Inf: then
  // on_nonfinite decides (OnNonFiniteStep). Returns whether the update was applied. The
  // verdict is reached from the allreduced buffer, the same on every worker, so every worker
  // applies, skips or fails alike.
  Result<bool> ApplyUpdate(uint32_t epoch) {
    SetLearningRate(*optimizer_, LearningRateAt(config_.schedule, config_.optimizer.lr,
                                                global_step_, total_steps_));
    if (config_.on_nonfinite == "skip_step") {
      // A skipped update must leave no trace: check before stepping.
      const GradientSynchronizer::FiniteCheck finite = sync_->CheckFinite();
      if (!finite.ok()) {
        AIMASS_RETURN_IF_ERROR(OnNonFiniteStep(finite, epoch));
        return false;
      }
      optimizer_->step();
      return true;
    }
    // fail: a non-finite step ends the job, so the update need not wait for a check of its
    // own. The fused step checks each gradient as it reads it; any other step is checked after
    // (it leaves the gradients as they were).
    GradientSynchronizer::FiniteCheck finite;
    finite.loss_finite = sync_->LossFinite();
    if (finite.loss_finite) {
      optimizer_->step();
      const auto check = flat_optimizer_ != nullptr ? flat_optimizer_->last_gradient_check()
                                                    : FlatOptimizer::GradientCheck::kUnchecked;
      finite.gradients_finite = check == FlatOptimizer::GradientCheck::kUnchecked
                                    ? sync_->CheckFinite().gradients_finite
                                    : check == FlatOptimizer::GradientCheck::kFinite;
    }
    if (!finite.ok()) {
      AIMASS_RETURN_IF_ERROR(OnNonFiniteStep(finite, epoch));
      return false;
    }
    return true;
  }

  // A step whose loss or reduced gradients are NaN or Inf. Under on_nonfinite: fail the job ends
  // here, before any checkpoint of it; under skip_step its update is dropped (the optimizer's
  // state too), unless the parameters themselves are already non-finite: then every later step
  // would be skipped as well, and the job fails instead.
  Status OnNonFiniteStep(const GradientSynchronizer::FiniteCheck& finite, uint32_t epoch) {
    const std::string what = std::string(!finite.loss_finite ? "loss" : "gradient") +
                             (!finite.loss_finite && !finite.gradients_finite ? " and gradient" : "");
    const std::string step = StepName(global_step_ + 1, epoch);
    if (config_.on_nonfinite != "skip_step") {
      return Status::NonFinite("rank " + std::to_string(communicator_.rank()) + ": " + step +
                               ": non-finite " + what +
                               " (NaN or Inf); training.on_nonfinite is fail (lower optimizer.lr, "
                               "or set skip_step to drop such steps)");
    }
    AIMASS_RETURN_IF_ERROR(CheckParametersFinite(step + ": after a non-finite " + what));
    ++skipped_steps_;
    // Every rank skips alike; one says so, and a long run of skips does not flood the log.
    if (is_leader_ && (skipped_steps_ <= 10 || skipped_steps_ % 1000 == 0)) {
      LogWarning(step + ": non-finite " + what + ", update skipped on every worker (" +
                 std::to_string(skipped_steps_) + " so far)");
    }
    return Status::Ok();
  }

  // NaN or Inf in the model's parameters or buffers (an update that overflowed) is an error:
  // such weights are never checkpointed, exported or trained on.
  Status CheckParametersFinite(const std::string& when) const {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> state = parameters_;
    for (const auto& buffer : model_->Buffers()) state.push_back(buffer);
    for (const torch::Tensor& tensor : state) {
      if (!tensor.is_floating_point()) continue;
      if (!torch::isfinite(tensor).all().item<bool>()) {
        return Status::NonFinite("rank " + std::to_string(communicator_.rank()) + ": " + when +
                                 ": the model's parameters are non-finite (NaN or Inf); "
                                 "nothing of them is written (lower optimizer.lr)");
      }
    }
    return Status::Ok();
  }

  Status ReportMetrics(uint32_t epoch, uint64_t step_in_epoch) {
    Status sent = is_leader_ ? SendMetrics(epoch, step_in_epoch) : Status::Ok();
    interval_stats_.zero_();
    times_ = IntervalTimes();
    return sent;
  }

  Status SendMetrics(uint32_t epoch, uint64_t step_in_epoch) {
    // interval_stats_ holds sums over every worker; each worker had as many samples as this one.
    torch::Tensor stats = interval_stats_.cpu();
    double samples = static_cast<double>(times_.local_samples);
    double global_samples = samples * communicator_.size();
    // Skipped steps' figures are not in interval_stats_; with every step skipped, 0 / 0 is NaN,
    // which metrics.jsonl writes as null.
    double counted_samples = static_cast<double>(times_.counted_samples) * communicator_.size();
    double elapsed = SecondsSince(times_.start);
    double steps = static_cast<double>(std::max<uint64_t>(1, times_.steps));
    proto::WorkerMessage message;
    auto* metrics = message.mutable_step_metrics();
    metrics->set_step(global_step_);
    metrics->set_epoch(epoch);
    metrics->set_step_in_epoch(step_in_epoch);
    metrics->set_loss(stats[0].item<double>() / counted_samples);
    metrics->set_accuracy(stats[1].item<double>() / counted_samples);
    metrics->set_skipped_steps(skipped_steps_);
    metrics->set_lr(LearningRateAt(config_.schedule, config_.optimizer.lr, global_step_ - 1,
                                   total_steps_));
    metrics->set_samples_per_second(global_samples / std::max(elapsed, 1e-9));
    metrics->set_data_wait_seconds(times_.data_wait / steps);
    metrics->set_forward_seconds(times_.forward / steps);
    metrics->set_backward_seconds(times_.backward / steps);
    metrics->set_optimizer_seconds(times_.optimizer / steps);
    metrics->set_compute_seconds((times_.forward + times_.backward + times_.optimizer) / steps);
    metrics->set_communication_seconds(times_.communication / steps);
    metrics->set_interval_steps(times_.steps);
    return control_.Send(message);
  }

  // Every checkpoint.every_steps steps, or once checkpoint.every_seconds passed since the last
  // checkpoint (worker 0's clock: only worker 0 writes, and where it writes one does not change
  // the weights, so the run stays the same run).
  bool CheckpointDue() const {
    const CheckpointConfig& checkpoint = config_.checkpoint;
    if (checkpoint.every_steps > 0 && global_step_ % checkpoint.every_steps == 0) return true;
    return is_leader_ && checkpoint.every_seconds > 0 &&
           SecondsSince(last_checkpoint_) >= checkpoint.every_seconds;
  }

  // Worker 0 alone writes: every replica holds the same state after the allreduce.
  Status SaveCheckpoint(uint32_t epoch, uint64_t step_in_epoch) {
    if (!is_leader_) return Status::Ok();
    last_checkpoint_ = Clock::now();
    return Guarded("checkpoint at step " + std::to_string(global_step_),
                   [&] { return WriteCheckpointNow(epoch, step_in_epoch); });
  }

  Status WriteCheckpointNow(uint32_t epoch, uint64_t step_in_epoch) {
    // Never a checkpoint of non-finite weights: it would replace (and prune) finite ones. An
    // epoch-end checkpoint (step_in_epoch 0) names the next epoch: the step was in the one before.
    const uint32_t step_epoch = step_in_epoch == 0 && epoch > 0 ? epoch - 1 : epoch;
    AIMASS_RETURN_IF_ERROR(
        CheckParametersFinite("checkpoint after " + StepName(global_step_, step_epoch)));
    AIMASS_ASSIGN_OR_RETURN(std::string payload, SerializeTrainingState(*model_, *optimizer_));
    Checkpoint checkpoint;
    checkpoint.header.step = global_step_;
    checkpoint.header.epoch = epoch;
    checkpoint.header.step_in_epoch = step_in_epoch;
    checkpoint.header.world_size = static_cast<uint32_t>(communicator_.size());
    checkpoint.header.model = config_.model.name;
    checkpoint.payload = std::move(payload);
    std::string directory = JoinPath(config_.run_dir, "checkpoints");
    std::string path = JoinPath(directory, CheckpointFileName(global_step_));
    Env& env = Env::Default();
    AIMASS_RETURN_IF_ERROR(env.CreateDirectories(directory));
    AIMASS_RETURN_IF_ERROR(WriteCheckpoint(env, path, checkpoint));
    AIMASS_RETURN_IF_ERROR(PruneCheckpoints(env, directory, config_.checkpoint.keep));
    proto::WorkerMessage message;
    auto* saved = message.mutable_checkpoint_saved();
    saved->set_path(path);
    saved->set_step(global_step_);
    saved->set_epoch(epoch);
    return control_.Send(message);
  }

  Status Evaluate(uint32_t epoch) {
    auto start = Clock::now();
    double loss_sum = 0;
    uint64_t correct = 0;
    uint64_t count = 0;
    torch::Tensor confusion;  // int64, num_classes^2 on the device; counted with the loss
    if (test_loader_ && !eval_ranges_.empty()) {
      torch::NoGradGuard no_grad;
      model_->SetTraining(false);
      test_loader_->Start(std::make_unique<data::RangeSequence>(eval_ranges_), 0, kEvalBatchSize);
      torch::Tensor sums = torch::zeros({2}, interval_stats_.options().dtype(torch::kFloat64));
      while (true) {
        AIMASS_ASSIGN_OR_RETURN(std::optional<Batch> batch, test_loader_->Next());
        if (!batch) break;
        input_shape_[0] = batch->features.size(0);
        torch::Tensor input = batch->features.to(placement_.device, true).view(input_shape_);
        torch::Tensor labels = batch->labels.to(placement_.device, true);
        torch::Tensor logits = model_->Forward(input);
        sums[0] += torch::nn::functional::cross_entropy(
            logits, labels,
            torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
        torch::Tensor predicted = logits.argmax(1);
        sums[1] += predicted.eq(labels).sum();
        const int64_t classes = logits.size(1);
        if (classes <= kMaxConfusionClasses) {
          torch::Tensor cells = labels.to(torch::kInt64) * classes + predicted;
          torch::Tensor counts = torch::bincount(cells, /*weights=*/{}, classes * classes);
          confusion = confusion.defined() ? confusion + counts : counts;
        }
        count += static_cast<uint64_t>(input_shape_[0]);
      }
      model_->SetTraining(true);
      torch::Tensor host = sums.cpu();
      loss_sum = host[0].item<double>();
      correct = static_cast<uint64_t>(host[1].item<double>());
    }
    proto::WorkerMessage message;
    auto* result = message.mutable_eval_result();
    result->set_epoch(epoch);
    result->set_loss_sum(loss_sum);
    result->set_correct(correct);
    result->set_count(count);
    result->set_seconds(SecondsSince(start));
    if (confusion.defined()) {
      torch::Tensor host = confusion.to(torch::kCPU, torch::kInt64).contiguous();
      const int64_t* cells = host.data_ptr<int64_t>();
      for (int64_t i = 0; i < host.numel(); ++i) result->add_confusion(static_cast<uint64_t>(cells[i]));
    }
    return control_.Send(message);
  }

  Status Finish() {
    proto::WorkerMessage message;
    auto* done = message.mutable_training_done();
    done->set_steps(global_step_);
    if (is_leader_) {
      std::string path = JoinPath(config_.run_dir, "model.pt");
      AIMASS_RETURN_IF_ERROR(CheckParametersFinite("export of " + path));
      AIMASS_RETURN_IF_ERROR(
          Guarded("export of " + path, [&] { return model_->Export(path); }));
      done->set_model_path(path);
    }
    AIMASS_RETURN_IF_ERROR(control_.Send(message));
    // Stay until the coordinator has heard from everyone and lets us go.
    while (true) {
      auto reply = control_.Receive(std::chrono::minutes(2));
      if (!reply.ok()) return reply.status();
      if ((*reply)->has_shutdown()) return Status::Ok();
    }
  }

  const proto::TrainSpec& spec_;
  const TrainJobSpec job_;
  const TrainConfig& config_;  // job_.config
  const std::vector<data::SampleRange> eval_ranges_;
  const Placement placement_;
  collective::Communicator& communicator_;
  ControlClient& control_;
  const bool is_leader_;

  std::unique_ptr<models::Model> model_;
  std::vector<torch::Tensor> parameters_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  FlatOptimizer* flat_optimizer_ = nullptr;  // optimizer_, when it is a fused one
  std::unique_ptr<BatchLoader> train_loader_;
  std::unique_ptr<BatchLoader> test_loader_;
  std::vector<uint64_t> train_split_records_;  // what every worker's EpochStream derives from

  std::unique_ptr<GradientSynchronizer> sync_;
  torch::Tensor interval_stats_;  // the synchronizer's statistics summed since the last report
  std::vector<int64_t> input_shape_;
  uint64_t global_step_ = 0;
  uint64_t total_steps_ = 0;
  uint64_t skipped_steps_ = 0;  // updates on_nonfinite: skip_step dropped in this process
  IntervalTimes times_;
  Clock::time_point last_checkpoint_;  // worker 0's last checkpoint, or the end of Setup
};

}  // namespace

Status RunTraining(const proto::StartTraining& start, const TrainJobSpec& job,
                   const Placement& placement, collective::Communicator& communicator,
                   ControlClient& control) {
  TrainingRun run(start, job, placement, communicator, control);
  return run.Run();
}

}  // namespace aimass::worker
