#include "coordinator/train_job.h"

#include <boost/json.hpp>

#include <map>
#include <numeric>
#include <optional>
#include <vector>

#include "common/aimass.pb.h"
#include "common/checkpoint/checkpoint_file.h"
#include "common/config/train_spec_codec.h"
#include "common/data/dataset_index.h"
#include "common/data/epoch_planner.h"
#include "common/data/plan_wire.h"
#include "models/model_catalog.h"
#include "coordinator/run_directory.h"

namespace aimass::coordinator {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(250);
constexpr auto kReleaseTimeout = std::chrono::seconds(60);

double SecondsBetween(Clock::time_point start, Clock::time_point end) {
  return std::chrono::duration<double>(end - start).count();
}

void FillRanges(const std::vector<data::SampleRange>& ranges,
                google::protobuf::RepeatedPtrField<proto::SampleRange>* out) {
  out->Reserve(static_cast<int>(ranges.size()));
  for (const auto& range : ranges) {
    auto* item = out->Add();
    item->set_split(range.split);
    item->set_begin(range.begin);
    item->set_count(range.count);
  }
}

// Records shuffled together when the config leaves it to us: as many as half the loader's cache
// holds once decoded, so that a window's splits stay decoded while it is trained on.
uint64_t DefaultShuffleWindow(const DataConfig& data, uint32_t feature_count) {
  return std::max<uint64_t>(1024, data.cache_bytes / 2 / data::DecodedRecordBytes(feature_count));
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string text;
  for (int64_t dim : shape) text += (text.empty() ? "" : "x") + std::to_string(dim);
  return text;
}

// Test-split results of one epoch, summed as the workers report them.
struct EpochEval {
  uint32_t reports = 0;
  double loss_sum = 0;
  uint64_t correct = 0;
  uint64_t count = 0;
  double seconds = 0;
  // The workers' confusion matrices summed; dropped when a worker that evaluated records sends
  // none or one of another size, since a partial matrix would misstate every class.
  std::vector<uint64_t> confusion;
  bool confusion_valid = true;
};

}  // namespace

class TrainJob::Impl {
 public:
  Impl(TrainJobOptions options, Env& env, JobObserver& observer)
      : options_(std::move(options)),
        config_(options_.config),
        env_(env),
        observer_(observer),
        run_(env, options_.config.run_dir) {}

  Status Prepare(uint32_t workers) {
    workers_count_ = workers;
    if (workers == 0) return Status::Error("a training job needs at least one worker");
    worker_steps_.assign(workers, 0);
    if (config_.model.input_shape.empty()) config_.model.input_shape = config_.data.train.shape;
    AIMASS_RETURN_IF_ERROR(models::ResolveModelConfig(config_.model));

    AIMASS_RETURN_IF_ERROR(ResolveInputShape(config_.data.train));
    data::IndexOptions index_options;
    index_options.feature_count = static_cast<uint32_t>(FeatureCount());
    index_options.num_classes = config_.model.num_classes;
    index_options.model = "model '" + config_.model.name + "' (input shape " +
                          ShapeText(config_.model.input_shape) + ")";
    AIMASS_ASSIGN_OR_RETURN(train_index_, data::IndexDataset(config_.data.train, index_options, env_));
    data::LimitRecords(config_.data.limit, &train_index_);
    if (!config_.data.test.empty()) {
      AIMASS_RETURN_IF_ERROR(ResolveInputShape(config_.data.test));
      AIMASS_ASSIGN_OR_RETURN(data::DatasetIndex test, data::IndexDataset(config_.data.test, index_options, env_));
      test_index_ = std::move(test);
    }

    plan_options_.seed = config_.seed;
    plan_options_.workers = workers;
    plan_options_.samples_per_step =
        static_cast<uint64_t>(config_.batch_size) * config_.grad_accumulation;
    plan_options_.shuffle = config_.data.shuffle;
    plan_options_.remainder = config_.data.remainder;
    plan_options_.shuffle_window = config_.data.shuffle_window > 0
                                       ? config_.data.shuffle_window
                                       : DefaultShuffleWindow(config_.data, train_index_.feature_count);
    const uint64_t records = train_index_.total_records();
    steps_per_epoch_ = data::StepsPerEpoch(records, plan_options_);
    if (steps_per_epoch_ == 0) {
      return Status::Error(config_.data.train.input.path + ": " + std::to_string(records) +
                           " records are too few for " + std::to_string(workers) + " workers");
    }
    AIMASS_RETURN_IF_ERROR(FindResumePoint());
    return run_.Prepare(options_.config_text, resume_.has_value(), options_.overwrite);
  }

  JobTraits traits() const {
    JobTraits traits;
    traits.poll_interval = kPollInterval;
    traits.heartbeat_timeout = std::chrono::seconds(config_.worker.heartbeat_timeout_s);
    traits.survives_worker_loss = false;  // the others wait for it in every allreduce
    traits.final_before_release = false;  // the model and summary come after the release
    traits.release_timeout = kReleaseTimeout;
    return traits;
  }

  // Every worker said hello: workers.json, the ready line, the start messages and the first plans.
  Status Start(JobContext& context) {
    context_ = &context;
    started_ = context.run_started();
    AIMASS_RETURN_IF_ERROR(run_.WriteWorkers(context.roster().Listing()));
    observer_.OnInfo("aimass: " + std::to_string(workers_count_) + " workers ready (" +
                     context.roster().at(0).device + "), model " + config_.model.name +
                     ", global batch " + std::to_string(GlobalBatch()) + ", " +
                     std::to_string(steps_per_epoch_) + " steps/epoch");
    AIMASS_RETURN_IF_ERROR(StartWorkers());
    train_started_ = Clock::now();
    started_training_ = true;
    return Status::Ok();
  }

  bool finished() const { return done_ >= workers_count_; }

  Status Finish() {
    summary_ = Summary();
    AIMASS_RETURN_IF_ERROR(run_.WriteSummary(ToJson(summary_)));
    observer_.OnFinished(summary_);
    return Status::Ok();
  }

  const TrainSummary& summary() const { return summary_; }

  // Training cannot go on without a worker: every loss is the job's end, told with its rank.
  // The code tells a supervisor whether a relaunch may help (train_job.h).
  Status OnWorkerLost(const JobContext& context, uint32_t rank, const WorkerLoss& loss) {
    const std::string worker = context.roster().Describe(rank);
    switch (loss.cause) {
      case WorkerLoss::Cause::kDisconnected: {
        if (!started_training_) {
          return Status::Unavailable(worker + " disconnected before training began: " + loss.detail);
        }
        // Workers step in lockstep: rank 0's last report dates the loss for every rank.
        uint64_t step = std::max(global_step_, worker_steps_[rank]);
        return Status::Unavailable(worker + " disconnected during epoch " +
                                   std::to_string(step / steps_per_epoch_ + 1) + " (step " +
                                   std::to_string(step) + "): " + loss.detail);
      }
      case WorkerLoss::Cause::kFailed:
        // Permanent: the same data and weights would fail the same way after a restart.
        return Status::FromCode(loss.permanent ? StatusCode::kFailedPrecondition
                                               : StatusCode::kUnavailable,
                                worker + " failed: " + loss.detail);
      case WorkerLoss::Cause::kSilent:
      case WorkerLoss::Cause::kStuck:
        break;
    }
    return Status::Unavailable(worker + " " + loss.detail);
  }

  std::optional<uint64_t> resume_step() const {
    if (!resume_) return std::nullopt;
    return resume_->header.step;
  }

  void RecordRestarts(std::vector<TrainRestart> restarts) { restarts_ = std::move(restarts); }

  Status OnMessage(JobContext& context, uint32_t rank, const proto::WorkerMessage& message) {
    context_ = &context;  // a message may come before Start
    switch (message.body_case()) {
      case proto::WorkerMessage::kHeartbeat:
        worker_steps_[rank] = message.heartbeat().step();
        return Status::Ok();
      case proto::WorkerMessage::kStepMetrics:
        worker_steps_[rank] = message.step_metrics().step();
        return OnStepMetrics(message.step_metrics());
      case proto::WorkerMessage::kEvalResult:
        return OnEvalResult(rank, message.eval_result());
      case proto::WorkerMessage::kCheckpointSaved:
        last_checkpoint_ = message.checkpoint_saved().path();
        return Status::Ok();
      case proto::WorkerMessage::kTrainingDone:
        context_->MarkFinished(rank);
        ++done_;
        if (!message.training_done().model_path().empty()) {
          model_path_ = message.training_done().model_path();
        }
        return Status::Ok();
      default:
        break;
    }
    return context_->OutOfPlace(rank, message);
  }

 private:
  int64_t FeatureCount() const { return models::ValuesPerSample(config_.model.input_shape); }

  // A dataset's `shape` must hold as many values as the model's input (a TorchScript model
  // without an input shape took the training set's).
  Status ResolveInputShape(const DatasetSourceConfig& dataset) {
    if (dataset.shape.empty()) return Status::Ok();
    const int64_t values = models::ValuesPerSample(dataset.shape);
    if (values != FeatureCount()) {
      return Status::Error(dataset.input.path + ": shape " + ShapeText(dataset.shape) + " holds " +
                           std::to_string(values) + " values, but model '" + config_.model.name +
                           "' takes " + std::to_string(FeatureCount()) + " (input shape " +
                           ShapeText(config_.model.input_shape) + ")");
    }
    return Status::Ok();
  }

  Status FindResumePoint() {
    if (!options_.resume) return Status::Ok();
    std::vector<std::string> skipped;
    AIMASS_ASSIGN_OR_RETURN(auto newest,
                            FindNewestValidCheckpoint(env_, run_.CheckpointDirectory(), &skipped));
    for (const auto& problem : skipped) observer_.OnInfo("warning: skipping checkpoint " + problem);
    if (!newest) {
      observer_.OnInfo("no valid checkpoint in " + run_.CheckpointDirectory() +
                     ": starting from the beginning");
      return Status::Ok();
    }
    const CheckpointHeader& header = newest->header;
    if (header.world_size != workers_count_) {
      return Status::Error(newest->path + ": written by " + std::to_string(header.world_size) +
                           " workers; resume with the same number (not " +
                           std::to_string(workers_count_) + ") to continue the same run");
    }
    if (header.model != config_.model.name) {
      return Status::Error(newest->path + ": holds model '" + header.model + "', the config says '" +
                           config_.model.name + "'");
    }
    if (header.epoch >= config_.epochs) {
      // The last epoch's checkpoint comes before that epoch's evaluation and the model's export,
      // and summary.json after both: without it the run stopped in between, and the newest
      // checkpoint from before the last epoch's end finishes it (the same steps again, to the
      // same weights).
      if (env_.Exists(JoinPath(run_.path(), "summary.json"))) {
        return Status::Error(newest->path + ": the run already finished all " +
                             std::to_string(config_.epochs) + " epochs; nothing to resume");
      }
      AIMASS_ASSIGN_OR_RETURN(auto earlier, FindNewestValidCheckpoint(env_, run_.CheckpointDirectory(),
                                                                       nullptr, config_.epochs));
      if (!earlier) {
        return Status::Error(newest->path + ": the run trained all " + std::to_string(config_.epochs) +
                             " epochs but stopped before it exported the model, and no earlier checkpoint "
                             "is left to finish it from (checkpoint.keep); run it again with --overwrite");
      }
      observer_.OnInfo("the run trained all " + std::to_string(config_.epochs) +
                       " epochs but stopped before it exported the model: finishing it from an earlier "
                       "checkpoint");
      newest = std::move(earlier);
    }
    observer_.OnInfo("resuming from " + newest->path + " (epoch " + std::to_string(newest->header.epoch + 1) +
                   ", step " + std::to_string(newest->header.step) + ")");
    resume_ = newest;
    return Status::Ok();
  }

  uint64_t GlobalBatch() const {
    return static_cast<uint64_t>(config_.batch_size) * config_.grad_accumulation * workers_count_;
  }

  Status StartWorkers() {
    proto::StartTraining start;
    start.set_job_id(context_->job_id());
    auto* spec = start.mutable_spec();
    EncodeTrainConfig(config_, spec);
    data::EncodeDataset(train_index_, spec->mutable_train_data());
    if (test_index_) data::EncodeDataset(*test_index_, spec->mutable_test_data());
    spec->set_steps_per_epoch(steps_per_epoch_);
    if (resume_) {
      spec->set_resume_checkpoint(resume_->path);
      spec->set_resume_step(resume_->header.step);
    }
    std::vector<std::vector<data::SampleRange>> eval_parts;
    if (test_index_) eval_parts = data::PlanEvaluation(test_index_->split_records(), workers_count_);
    for (uint32_t rank = 0; rank < workers_count_; ++rank) {
      start.clear_eval_ranges();
      if (test_index_) FillRanges(eval_parts[rank], start.mutable_eval_ranges());
      proto::CoordinatorMessage message;
      *message.mutable_start_training() = start;
      AIMASS_RETURN_IF_ERROR(context_->Send(rank, message));
    }
    first_epoch_ = resume_ ? resume_->header.epoch : 0;
    first_step_ = resume_ ? resume_->header.step_in_epoch : 0;
    global_step_ = resume_ ? resume_->header.step : 0;
    for (uint32_t epoch = first_epoch_; epoch < config_.epochs && epoch <= first_epoch_ + 1; ++epoch) {
      AIMASS_RETURN_IF_ERROR(SendPlans(epoch, std::nullopt));
    }
    return Status::Ok();
  }

  // Sends `epoch`'s plan to every worker (only to `only_rank` when given). The plan is the same
  // for every worker and costs O(splits) to make, so it is made anew for each request.
  Status SendPlans(uint32_t epoch, std::optional<uint32_t> only_rank) {
    if (epoch >= config_.epochs) return Status::Ok();
    data::EpochPlanOptions options = plan_options_;
    options.epoch = epoch;
    proto::CoordinatorMessage message;
    data::EncodeEpochPlan(data::PlanEpoch(train_index_.split_records(), options),
                          epoch == first_epoch_ ? first_step_ : 0, message.mutable_epoch_plan());
    for (uint32_t rank = 0; rank < workers_count_; ++rank) {
      if (only_rank && *only_rank != rank) continue;
      AIMASS_RETURN_IF_ERROR(context_->Send(rank, message));
    }
    return Status::Ok();
  }

  Status OnStepMetrics(const proto::StepMetrics& metrics) {
    global_step_ = metrics.step();
    StepReport report;
    report.step = metrics.step();
    report.epoch = metrics.epoch();
    report.step_in_epoch = metrics.step_in_epoch();
    report.loss = metrics.loss();
    report.accuracy = metrics.accuracy();
    report.lr = metrics.lr();
    report.samples_per_second = metrics.samples_per_second();
    report.data_wait_seconds = metrics.data_wait_seconds();
    report.forward_seconds = metrics.forward_seconds();
    report.backward_seconds = metrics.backward_seconds();
    report.communication_seconds = metrics.communication_seconds();
    report.optimizer_seconds = metrics.optimizer_seconds();
    report.compute_seconds = metrics.compute_seconds();
    report.elapsed_seconds = SecondsBetween(started_, Clock::now());
    report.skipped_steps = metrics.skipped_steps();
    skipped_steps_ = metrics.skipped_steps();
    AIMASS_RETURN_IF_ERROR(run_.AppendMetrics(MetricsLine(report)));
    throughput_weighted_ += metrics.samples_per_second() * metrics.interval_steps();
    throughput_steps_ += metrics.interval_steps();
    observer_.OnStepMetrics(report);

    TrainProgress progress;
    progress.epoch = metrics.epoch();
    progress.epochs = config_.epochs;
    progress.step_in_epoch = metrics.step_in_epoch();
    progress.steps_per_epoch = steps_per_epoch_;
    progress.loss = metrics.loss();
    progress.accuracy = metrics.accuracy();
    progress.samples_per_second = metrics.samples_per_second();
    uint64_t remaining = steps_per_epoch_ * config_.epochs - std::min(metrics.step(),
                                                                      steps_per_epoch_ * config_.epochs);
    // The ETA comes from the wall-clock pace since the first report of this run, which counts
    // evaluations, checkpoints and data waits; one interval's samples/s (the first report's
    // only estimate) swings with every pause and overstates or hides them.
    const auto now = Clock::now();
    if (!eta_base_) eta_base_ = std::make_pair(metrics.step(), now);
    const double base_seconds = SecondsBetween(eta_base_->second, now);
    const uint64_t base_steps = metrics.step() - std::min(metrics.step(), eta_base_->first);
    if (base_steps > 0 && base_seconds > 0) {
      progress.eta_seconds = static_cast<double>(remaining) * base_seconds / static_cast<double>(base_steps);
    } else {
      progress.eta_seconds = metrics.samples_per_second() > 0
                                 ? static_cast<double>(remaining * GlobalBatch()) / metrics.samples_per_second()
                                 : -1;
    }
    observer_.OnProgress(progress);
    return Status::Ok();
  }

  // A line of metrics.jsonl.
  static json::object MetricsLine(const StepReport& report) {
    return json::object{{"step", report.step},
                        {"epoch", report.epoch + 1},
                        {"loss", report.loss},
                        {"accuracy", report.accuracy},
                        {"lr", report.lr},
                        {"samples_per_second", report.samples_per_second},
                        {"data_wait_s", report.data_wait_seconds},
                        {"forward_s", report.forward_seconds},
                        {"backward_s", report.backward_seconds},
                        {"communication_s", report.communication_seconds},
                        {"optimizer_s", report.optimizer_seconds},
                        {"compute_s", report.compute_seconds},
                        {"time_s", report.elapsed_seconds},
                        {"skipped_steps", report.skipped_steps}};
  }

  Status OnEvalResult(uint32_t rank, const proto::EvalResult& result) {
    EpochEval& eval = evals_[result.epoch()];
    ++eval.reports;
    eval.loss_sum += result.loss_sum();
    eval.correct += result.correct();
    eval.count += result.count();
    eval.seconds = std::max(eval.seconds, result.seconds());
    // A worker whose share of the test split was empty adds nothing (and sends no matrix).
    if (result.count() > 0 || result.confusion_size() > 0) {
      const auto cells = static_cast<size_t>(result.confusion_size());
      if (cells == 0) {
        eval.confusion_valid = false;  // above 1000 classes: no worker sends one
      } else if (eval.confusion.empty()) {
        eval.confusion.assign(result.confusion().begin(), result.confusion().end());
      } else if (cells == eval.confusion.size()) {
        for (size_t i = 0; i < cells; ++i) eval.confusion[i] += result.confusion(static_cast<int>(i));
      } else {
        eval.confusion_valid = false;
      }
    }
    // This worker finished the epoch: give it the plan after the one it already holds.
    AIMASS_RETURN_IF_ERROR(SendPlans(result.epoch() + 2, rank));
    if (eval.reports < workers_count_) return Status::Ok();

    completed_epochs_ = result.epoch() + 1;
    EpochEvaluation evaluation;
    evaluation.epoch = result.epoch() + 1;
    evaluation.epochs = config_.epochs;
    evaluation.step = global_step_;
    evaluation.elapsed_seconds = SecondsBetween(started_, Clock::now());
    json::object line{{"epoch", evaluation.epoch},
                      {"step", evaluation.step},
                      {"time_s", evaluation.elapsed_seconds}};
    if (eval.count > 0) {
      test_loss_ = eval.loss_sum / static_cast<double>(eval.count);
      test_accuracy_ = static_cast<double>(eval.correct) / static_cast<double>(eval.count);
      evaluation.test_loss = test_loss_;
      evaluation.test_accuracy = test_accuracy_;
      evaluation.test_records = eval.count;
      evaluation.eval_seconds = eval.seconds;
      line["test_loss"] = *test_loss_;
      line["test_accuracy"] = *test_accuracy_;
      line["test_records"] = eval.count;
      line["eval_seconds"] = eval.seconds;
      if (eval.confusion_valid && !eval.confusion.empty()) evaluation.confusion = std::move(eval.confusion);
    }
    observer_.OnEvaluation(evaluation);
    return run_.AppendEval(line);
  }

  TrainSummary Summary() const {
    TrainSummary summary;
    summary.run_dir = config_.run_dir;
    summary.model = config_.model.name;
    summary.epochs = completed_epochs_;
    summary.workers = workers_count_;
    summary.global_batch = GlobalBatch();
    summary.steps = global_step_;
    summary.skipped_steps = skipped_steps_;
    summary.train_records = train_index_.total_records();
    summary.test_records = test_index_ ? test_index_->total_records() : 0;
    summary.samples_per_second =
        throughput_steps_ > 0 ? throughput_weighted_ / static_cast<double>(throughput_steps_) : 0.0;
    summary.train_seconds = SecondsBetween(train_started_, Clock::now());
    summary.wall_seconds = SecondsBetween(started_, Clock::now());
    summary.model_path = model_path_;
    summary.last_checkpoint = last_checkpoint_;
    if (resume_) summary.resumed_from_step = resume_->header.step;
    summary.restarts = restarts_;
    summary.test_accuracy = test_accuracy_;
    summary.test_loss = test_loss_;
    return summary;
  }

  TrainJobOptions options_;
  TrainConfig config_;
  Env& env_;
  JobObserver& observer_;
  RunDirectory run_;

  uint32_t workers_count_ = 0;
  data::DatasetIndex train_index_;
  std::optional<data::DatasetIndex> test_index_;
  data::EpochPlanOptions plan_options_;
  uint64_t steps_per_epoch_ = 0;
  std::optional<CheckpointRef> resume_;

  JobContext* context_ = nullptr;  // set by Start, valid while the driver runs the job
  std::vector<uint64_t> worker_steps_;  // last step each rank reported
  bool started_training_ = false;
  uint32_t done_ = 0;
  uint32_t first_epoch_ = 0;
  uint64_t first_step_ = 0;
  uint64_t global_step_ = 0;
  uint64_t skipped_steps_ = 0;  // the latest StepMetrics.skipped_steps (on_nonfinite: skip_step)
  uint32_t completed_epochs_ = 0;
  std::map<uint32_t, EpochEval> evals_;
  std::optional<double> test_loss_;
  std::optional<double> test_accuracy_;
  double throughput_weighted_ = 0;
  uint64_t throughput_steps_ = 0;
  std::string model_path_;
  std::string last_checkpoint_;
  Clock::time_point started_;
  Clock::time_point train_started_;
  // The step and time of this run's first step report: the ETA's base.
  std::optional<std::pair<uint64_t, Clock::time_point>> eta_base_;
  TrainSummary summary_;
  std::vector<TrainRestart> restarts_;
};

TrainJob::TrainJob(TrainJobOptions options, Env& env, JobObserver& observer)
    : impl_(std::make_unique<Impl>(std::move(options), env, observer)) {}
TrainJob::~TrainJob() = default;

Status TrainJob::Prepare(uint32_t workers) { return impl_->Prepare(workers); }
const TrainSummary& TrainJob::summary() const { return impl_->summary(); }
std::optional<uint64_t> TrainJob::resume_step() const { return impl_->resume_step(); }
void TrainJob::RecordRestarts(std::vector<TrainRestart> restarts) {
  impl_->RecordRestarts(std::move(restarts));
}
JobTraits TrainJob::traits() const { return impl_->traits(); }
Status TrainJob::Start(JobContext& context) { return impl_->Start(context); }
Status TrainJob::OnMessage(JobContext& context, uint32_t rank, const proto::WorkerMessage& message) {
  return impl_->OnMessage(context, rank, message);
}
Status TrainJob::OnWorkerLost(JobContext& context, uint32_t rank, const WorkerLoss& loss) {
  return impl_->OnWorkerLost(context, rank, loss);
}
bool TrainJob::finished() const { return impl_->finished(); }
Status TrainJob::Finish(JobContext&) { return impl_->Finish(); }

}  // namespace aimass::coordinator
