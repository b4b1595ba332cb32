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
#include "coordinator/worker_roster.h"

namespace aimass::coordinator {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(250);
constexpr auto kFinishTimeout = std::chrono::seconds(60);

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
  const uint64_t record_bytes = uint64_t{feature_count} * sizeof(float) + 2 * sizeof(int64_t);
  return std::max<uint64_t>(1024, data.cache_bytes / 2 / record_bytes);
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
};

}  // namespace

class TrainJob::Impl {
 public:
  Impl(TrainJobOptions options, Env& env, ProgressReporter& reporter)
      : options_(std::move(options)),
        config_(options_.config),
        env_(env),
        reporter_(reporter),
        run_(env, options_.config.run_dir) {}

  Status Prepare(uint32_t workers) {
    workers_count_ = workers;
    if (workers == 0) return Status::Error("a training job needs at least one worker");
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

  Result<json::object> Run(WorkerHub& hub, WorkerLauncher& launcher) {
    hub_ = &hub;
    launcher_ = &launcher;
    started_ = Clock::now();
    roster_.emplace(hub, workers_count_);
    worker_steps_.assign(workers_count_, 0);
    AIMASS_RETURN_IF_ERROR(launcher.Launch(hub.AdvertisedAddress()));
    Status status = WaitForWorkers();
    if (status.ok()) status = StartWorkers();
    if (status.ok()) status = DriveEpochs();
    if (!status.ok()) {
      roster_->Abort(status.message());
      return status;
    }
    AIMASS_RETURN_IF_ERROR(roster_->Release(kFinishTimeout));
    AIMASS_RETURN_IF_ERROR(launcher.WaitForExit(kFinishTimeout));
    json::object summary = Summary();
    AIMASS_RETURN_IF_ERROR(run_.WriteSummary(summary));
    return summary;
  }

 private:
  int64_t FeatureCount() const {
    return std::accumulate(config_.model.input_shape.begin(), config_.model.input_shape.end(),
                           int64_t{1}, std::multiplies<int64_t>());
  }

  // A dataset's `shape` must hold as many values as the model's input (a TorchScript model
  // without an input shape took the training set's).
  Status ResolveInputShape(const DatasetSourceConfig& dataset) {
    if (dataset.shape.empty()) return Status::Ok();
    const int64_t values = std::accumulate(dataset.shape.begin(), dataset.shape.end(), int64_t{1},
                                           std::multiplies<int64_t>());
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
    for (const auto& line : skipped) reporter_.Line("warning: skipping checkpoint " + line);
    if (!newest) {
      reporter_.Line("no valid checkpoint in " + run_.CheckpointDirectory() +
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
      return Status::Error(newest->path + ": the run already finished all " +
                           std::to_string(config_.epochs) + " epochs; nothing to resume");
    }
    reporter_.Line("resuming from " + newest->path + " (epoch " + std::to_string(header.epoch + 1) +
                   ", step " + std::to_string(header.step) + ")");
    resume_ = newest;
    return Status::Ok();
  }

  // Checks every reason to stop that does not come as an event.
  Status CheckLiveness() {
    if (options_.interrupted && options_.interrupted()) {
      // mpirun signals us when a worker dies; its dropped connection says which one.
      auto deadline = Clock::now() + std::chrono::milliseconds(500);
      while (Clock::now() < deadline) {
        auto event = hub_->NextEvent(std::chrono::milliseconds(50));
        if (event && event->kind == HubEvent::Kind::kDisconnected) return Handle(*event);
      }
      return Status::Error("interrupted by a signal");
    }
    if (auto ended = launcher_->CheckExited()) {
      // Let the connections report first: they name the rank that died.
      while (auto event = hub_->NextEvent(std::chrono::milliseconds(200))) {
        AIMASS_RETURN_IF_ERROR(Handle(*event));
      }
      return Status::Error("workers ended early: " + *ended);
    }
    const std::chrono::seconds silence_limit(config_.worker.heartbeat_timeout_s);
    if (auto silent = roster_->FindSilent(silence_limit)) {
      return Status::Error(roster_->Describe(*silent) + " sent nothing for " +
                           std::to_string(silence_limit.count()) + " s (hung or unreachable)");
    }
    return Status::Ok();
  }

  Status WaitForWorkers() {
    auto deadline = Clock::now() + options_.worker_start_timeout;
    while (roster_->connected() < workers_count_) {
      if (Clock::now() > deadline) return roster_->NotAllConnected(options_.worker_start_timeout);
      AIMASS_RETURN_IF_ERROR(CheckLiveness());
      if (auto event = hub_->NextEvent(kPollInterval)) AIMASS_RETURN_IF_ERROR(Handle(*event));
    }
    AIMASS_RETURN_IF_ERROR(run_.WriteWorkers(roster_->Listing()));
    reporter_.Line("aimass: " + std::to_string(workers_count_) + " workers ready (" +
                   roster_->at(0).device + "), model " + config_.model.name + ", global batch " +
                   std::to_string(GlobalBatch()) + ", " + std::to_string(steps_per_epoch_) +
                   " steps/epoch");
    return Status::Ok();
  }

  uint64_t GlobalBatch() const {
    return static_cast<uint64_t>(config_.batch_size) * config_.grad_accumulation * workers_count_;
  }

  Status StartWorkers() {
    proto::StartTraining start;
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
      AIMASS_RETURN_IF_ERROR(hub_->Send(roster_->at(rank).connection, message));
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
      AIMASS_RETURN_IF_ERROR(hub_->Send(roster_->at(rank).connection, message));
    }
    return Status::Ok();
  }

  Status DriveEpochs() {
    train_started_ = Clock::now();
    started_training_ = true;
    while (done_ < workers_count_) {
      AIMASS_RETURN_IF_ERROR(CheckLiveness());
      if (auto event = hub_->NextEvent(kPollInterval)) AIMASS_RETURN_IF_ERROR(Handle(*event));
    }
    return Status::Ok();
  }

  Status Handle(const HubEvent& event) {
    std::optional<uint32_t> rank = roster_->RankOf(event.connection);
    if (event.kind == HubEvent::Kind::kDisconnected) {
      if (!rank) return Status::Error("a worker disconnected before saying hello: " + event.reason);
      bool done = roster_->at(*rank).finished;
      roster_->OnDisconnected(*rank);
      if (done) return Status::Ok();
      if (!started_training_) {
        return Status::Error(roster_->Describe(*rank) + " disconnected before training began: " +
                             event.reason);
      }
      // Workers step in lockstep: rank 0's last report dates the loss for every rank.
      uint64_t step = std::max(global_step_, worker_steps_[*rank]);
      return Status::Error(roster_->Describe(*rank) + " disconnected during epoch " +
                           std::to_string(step / steps_per_epoch_ + 1) + " (step " +
                           std::to_string(step) + "): " + event.reason);
    }
    const proto::WorkerMessage& message = *event.message;
    if (!rank) {
      if (message.has_hello()) return roster_->OnHello(event.connection, message.hello());
      return Status::Error("a worker sent a message before saying hello");
    }
    roster_->Touch(*rank);
    switch (message.body_case()) {
      case proto::WorkerMessage::kHeartbeat:
        worker_steps_[*rank] = message.heartbeat().step();
        return Status::Ok();
      case proto::WorkerMessage::kStepMetrics:
        worker_steps_[*rank] = message.step_metrics().step();
        return OnStepMetrics(message.step_metrics());
      case proto::WorkerMessage::kEvalResult:
        return OnEvalResult(*rank, message.eval_result());
      case proto::WorkerMessage::kCheckpointSaved:
        last_checkpoint_ = message.checkpoint_saved().path();
        return Status::Ok();
      case proto::WorkerMessage::kTrainingDone:
        roster_->at(*rank).finished = true;
        ++done_;
        if (!message.training_done().model_path().empty()) {
          model_path_ = message.training_done().model_path();
        }
        return Status::Ok();
      case proto::WorkerMessage::kFailure:
        return Status::Error(roster_->Describe(*rank) + " failed: " + message.failure().message());
      default:
        break;
    }
    return Status::Error(roster_->Describe(*rank) + " sent a message out of place (" +
                         std::to_string(message.body_case()) + ")");
  }

  Status OnStepMetrics(const proto::StepMetrics& metrics) {
    global_step_ = metrics.step();
    double elapsed = SecondsBetween(started_, Clock::now());
    json::object line{{"step", metrics.step()},
                      {"epoch", metrics.epoch() + 1},
                      {"loss", metrics.loss()},
                      {"accuracy", metrics.accuracy()},
                      {"lr", metrics.lr()},
                      {"samples_per_second", metrics.samples_per_second()},
                      {"data_wait_s", metrics.data_wait_seconds()},
                      {"forward_s", metrics.forward_seconds()},
                      {"backward_s", metrics.backward_seconds()},
                      {"communication_s", metrics.communication_seconds()},
                      {"optimizer_s", metrics.optimizer_seconds()},
                      {"compute_s", metrics.compute_seconds()},
                      {"time_s", elapsed}};
    AIMASS_RETURN_IF_ERROR(run_.AppendMetrics(line));
    throughput_weighted_ += metrics.samples_per_second() * metrics.interval_steps();
    throughput_steps_ += metrics.interval_steps();

    ProgressState state;
    state.epoch = metrics.epoch();
    state.epochs = config_.epochs;
    state.step_in_epoch = metrics.step_in_epoch();
    state.steps_per_epoch = steps_per_epoch_;
    state.loss = metrics.loss();
    state.accuracy = metrics.accuracy();
    state.samples_per_second = metrics.samples_per_second();
    uint64_t remaining = steps_per_epoch_ * config_.epochs - std::min(metrics.step(),
                                                                      steps_per_epoch_ * config_.epochs);
    state.eta_seconds = metrics.samples_per_second() > 0
                            ? static_cast<double>(remaining * GlobalBatch()) / metrics.samples_per_second()
                            : -1;
    reporter_.Progress(state);
    return Status::Ok();
  }

  Status OnEvalResult(uint32_t rank, const proto::EvalResult& result) {
    EpochEval& eval = evals_[result.epoch()];
    ++eval.reports;
    eval.loss_sum += result.loss_sum();
    eval.correct += result.correct();
    eval.count += result.count();
    eval.seconds = std::max(eval.seconds, result.seconds());
    // This worker finished the epoch: give it the plan after the one it already holds.
    AIMASS_RETURN_IF_ERROR(SendPlans(result.epoch() + 2, rank));
    if (eval.reports < workers_count_) return Status::Ok();

    completed_epochs_ = result.epoch() + 1;
    std::string text = "epoch " + std::to_string(result.epoch() + 1) + "/" +
                       std::to_string(config_.epochs) + " done";
    json::object line{{"epoch", result.epoch() + 1},
                      {"step", global_step_},
                      {"time_s", SecondsBetween(started_, Clock::now())}};
    if (eval.count > 0) {
      test_loss_ = eval.loss_sum / static_cast<double>(eval.count);
      test_accuracy_ = static_cast<double>(eval.correct) / static_cast<double>(eval.count);
      char figures[128];
      std::snprintf(figures, sizeof(figures), ": test_loss %.4f  test_accuracy %.4f  (%llu records)",
                    *test_loss_, *test_accuracy_, static_cast<unsigned long long>(eval.count));
      text += figures;
      line["test_loss"] = *test_loss_;
      line["test_accuracy"] = *test_accuracy_;
      line["test_records"] = eval.count;
      line["eval_seconds"] = eval.seconds;
    }
    reporter_.Line(text);
    return run_.AppendEval(line);
  }

  json::object Summary() const {
    double wall = SecondsBetween(started_, Clock::now());
    json::object summary{
        {"model", config_.model.name},
        {"epochs", completed_epochs_},
        {"workers", workers_count_},
        {"global_batch", GlobalBatch()},
        {"steps", global_step_},
        {"samples_per_second",
         throughput_steps_ > 0 ? throughput_weighted_ / static_cast<double>(throughput_steps_) : 0.0},
        {"train_seconds", SecondsBetween(train_started_, Clock::now())},
        {"wall_seconds", wall},
        {"model_path", model_path_},
        {"last_checkpoint", last_checkpoint_},
        {"resumed_from_step", resume_ ? json::value(resume_->header.step) : json::value(nullptr)}};
    summary["test_accuracy"] = test_accuracy_ ? json::value(*test_accuracy_) : json::value(nullptr);
    summary["test_loss"] = test_loss_ ? json::value(*test_loss_) : json::value(nullptr);
    return summary;
  }

  TrainJobOptions options_;
  TrainConfig config_;
  Env& env_;
  ProgressReporter& reporter_;
  RunDirectory run_;

  uint32_t workers_count_ = 0;
  data::DatasetIndex train_index_;
  std::optional<data::DatasetIndex> test_index_;
  data::EpochPlanOptions plan_options_;
  uint64_t steps_per_epoch_ = 0;
  std::optional<CheckpointRef> resume_;

  WorkerHub* hub_ = nullptr;
  WorkerLauncher* launcher_ = nullptr;
  std::optional<WorkerRoster> roster_;
  std::vector<uint64_t> worker_steps_;  // last step each rank reported
  bool started_training_ = false;
  uint32_t done_ = 0;
  uint32_t first_epoch_ = 0;
  uint64_t first_step_ = 0;
  uint64_t global_step_ = 0;
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
};

TrainJob::TrainJob(TrainJobOptions options, Env& env, ProgressReporter& reporter)
    : impl_(std::make_unique<Impl>(std::move(options), env, reporter)) {}
TrainJob::~TrainJob() = default;

Status TrainJob::Prepare(uint32_t workers) { return impl_->Prepare(workers); }

Result<json::object> TrainJob::Run(WorkerHub& hub, WorkerLauncher& launcher) {
  return impl_->Run(hub, launcher);
}

}  // namespace aimass::coordinator
