#include "coordinator/infer/infer_job.h"

#include <boost/json.hpp>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <numeric>
#include <optional>
#include <vector>

#include "common/aimass.pb.h"
#include "common/config/job_config.h"
#include "common/data/drift_wire.h"
#include "common/io/output_file.h"
#include "common/tables/record_reader.h"
#include "common/tables/split_planner.h"
#include "common/tables/table.h"
#include "common/tables/table_config.h"
#include "common/tables/table_listing.h"
#include "common/tables/table_wire.h"
#include "coordinator/infer/output_committer.h"
#include "coordinator/infer/split_scheduler.h"
#include "models/model_catalog.h"

namespace aimass::coordinator {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(100);
constexpr auto kReleaseTimeout = std::chrono::seconds(60);

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string UtcText(std::time_t now) {
  std::tm parts{};
  gmtime_r(&now, &parts);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

std::string UtcNow() { return UtcText(std::time(nullptr)); }

// The wall-clock time of a steady-clock point in the past.
std::string UtcAt(Clock::time_point then) {
  auto ago = std::chrono::duration_cast<std::chrono::system_clock::duration>(Clock::now() - then);
  return UtcText(std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() - ago));
}

// FNV-1a over the listing (paths, sizes, modification times): enough to notice that the input
// was changed or exported again between runs.
std::string Fingerprint(const std::vector<tables::InputFile>& files) {
  uint64_t hash = 1469598103934665603ull;
  auto mix = [&](const std::string& text) {
    for (unsigned char c : text) hash = (hash ^ c) * 1099511628211ull;
  };
  for (const auto& file : files) {
    mix(file.relative_path + "\t" + std::to_string(file.size) + "\t" + std::to_string(file.mtime_ns) + "\n");
  }
  char text[20];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(hash));
  return text;
}

bool IsInside(const std::string& path, const std::string& dir) {
  auto relative = std::filesystem::path(path).lexically_relative(dir);
  return !relative.empty() && *relative.begin() != "..";
}

}  // namespace

class InferJob::Impl {
 public:
  Impl(InferJobOptions options, Env& env, JobObserver& observer)
      : options_(std::move(options)),
        config_(options_.config),
        env_(env),
        observer_(observer),
        committer_(env, config_.output.path, PartSuffix(config_.output)) {}

  Status Prepare(uint32_t workers) {
    workers_count_ = workers;
    if (workers == 0) return Status::Error("an inference job needs at least one worker");
    worker_records_.assign(workers, 0);
    last_progress_.assign(workers, Clock::now());
    if (config_.input.path.empty()) return Status::Error("no input: set input.path or pass --input");
    if (config_.output.path.empty()) return Status::Error("no output: set output.path or pass --output");
    if (config_.output.path == config_.input.path || IsInside(config_.input.path, config_.output.path) ||
        IsInside(config_.output.path, config_.input.path)) {
      return Status::Error("output " + config_.output.path + " and input " + config_.input.path +
                           " must not contain each other");
    }
    AIMASS_RETURN_IF_ERROR(ResolveModel());
    AIMASS_RETURN_IF_ERROR(ResolveTable());
    PrepareDrift();
    AIMASS_ASSIGN_OR_RETURN(OutputState state, committer_.Open(Identity(), options_.overwrite));
    if (state.finished_manifest) {
      finished_manifest_ = std::move(state.finished_manifest);
      return Status::Ok();
    }
    scheduler_.emplace(static_cast<uint32_t>(splits_.size()), workers, config_.max_attempts);
    for (CommittedPart& part : state.committed) {
      if (part.split >= splits_.size()) continue;
      scheduler_->SkipCommitted(part.split);
      parts_[part.split] = std::move(part);
    }
    resumed_splits_ = static_cast<uint32_t>(parts_.size());
    return Status::Ok();
  }

  bool already_complete() const { return finished_manifest_.has_value(); }

  const std::optional<data::DriftCounts>& drift_counts() const { return drift_; }

  json::object manifest() const {
    if (finished_manifest_) return *finished_manifest_;
    return manifest_;
  }

  InferSummary summary() const {
    if (!finished_manifest_) return summary_;
    InferSummary existing = InferSummaryFromManifest(*finished_manifest_);
    existing.already_complete = true;
    return existing;
  }

  JobTraits traits() const {
    JobTraits traits;
    traits.poll_interval = kPollInterval;
    traits.heartbeat_timeout = std::chrono::seconds(config_.heartbeat_timeout_s);
    traits.survives_worker_loss = true;  // its splits go to the others
    traits.final_before_release = true;  // the output is committed before the workers go
    traits.release_timeout = std::min(kReleaseTimeout, traits.heartbeat_timeout);
    return traits;
  }

  // Every worker said hello: the ready line and the start messages; dispatch follows in Poll.
  Status Start(JobContext& context) {
    context_ = &context;
    started_ = context.run_started();
    started_utc_ = UtcAt(started_);
    last_progress_.assign(workers_count_, Clock::now());
    observer_.OnInfo("aimass: " + std::to_string(workers_count_) + " workers ready (" +
                     context.roster().at(0).device + "), model " + model_.name + " (sha256 " +
                     model_sha256_.substr(0, 12) + "), " + std::to_string(files_.size()) +
                     " files in " + std::to_string(splits_.size()) + " splits" +
                     (resumed_splits_ > 0 ? ", " + std::to_string(resumed_splits_) +
                                                " already committed by an earlier run"
                                          : ""));
    return StartWorkers();
  }

  bool finished() const { return scheduler_->finished(); }

  Status Poll() {
    AIMASS_RETURN_IF_ERROR(CheckProgress());
    AIMASS_RETURN_IF_ERROR(Dispatch());
    ReportProgress();
    return Status::Ok();
  }

  // Every split is committed: the manifest makes the output final.
  Status Complete() {
    summary_ = Summarize();
    manifest_ = Manifest(summary_);
    AIMASS_RETURN_IF_ERROR(committer_.CommitJob(manifest_));
    Status removed = committer_.RemoveTemporary();
    if (!removed.ok()) observer_.OnInfo("warning: output committed, but " + removed.message());
    return Status::Ok();
  }

  Status Finish() {
    observer_.OnFinished(summary_);
    return Status::Ok();
  }

 private:
  static std::string PartSuffix(const InferOutputConfig& output) {
    return "." + output.format + (output.compression == "gzip" ? ".gz" : "");
  }

  Status ResolveModel() {
    const std::string& path = config_.model;
    auto info = env_.Stat(path);
    if (!info.ok()) return Status::Error("model: " + path + ": not found");
    if (info->is_directory) {
      // A run directory of `aimass-coordinator train`: its config names the model.
      AIMASS_ASSIGN_OR_RETURN(TrainConfig trained, LoadTrainConfig(JoinPath(path, "config.yaml"), env_));
      model_ = trained.model;
      model_file_ = JoinPath(path, "model.pt");
      if (!env_.Exists(model_file_)) {
        return Status::Error("model: " + path + " has no model.pt: that training run did not finish");
      }
      if (!config_.schema.has_normalize) normalize_ = trained.data.normalize;
    } else {
      model_file_ = path;
      model_.name = "torchscript:" + path;
      model_.input_shape = config_.schema.shape;
      if (model_.input_shape.empty() && !config_.schema.features.empty()) {
        model_.input_shape = {static_cast<int64_t>(config_.schema.features.size())};
      }
      if (model_.input_shape.empty()) {
        return Status::Error("schema.shape: needed for a TorchScript model when schema.features "
                             "does not list the columns one by one");
      }
    }
    AIMASS_RETURN_IF_ERROR(models::ResolveModelConfig(model_));
    if (config_.schema.has_normalize) normalize_ = config_.schema.normalize;
    input_shape_ = config_.schema.shape.empty() ? model_.input_shape : config_.schema.shape;
    if (models::ValuesPerSample(input_shape_) != models::ValuesPerSample(model_.input_shape)) {
      return Status::Error("schema.shape: " + std::to_string(models::ValuesPerSample(input_shape_)) +
                           " values per record, but model '" + model_.name + "' takes " +
                           std::to_string(models::ValuesPerSample(model_.input_shape)));
    }
    AIMASS_ASSIGN_OR_RETURN(model_sha256_, io::Sha256OfFile(model_file_));
    return Status::Ok();
  }

  // Drift is counted only when the profile describes this job's input value for value.
  void PrepareDrift() {
    const auto& edges = options_.drift_edges;
    if (edges.empty()) return;
    if (edges.size() != table_.feature_count) {
      observer_.OnInfo("aimass: warning: no drift check: the model's training profile has " +
                       std::to_string(edges.size()) + " features, this job's input " +
                       std::to_string(table_.feature_count));
      return;
    }
    drift_ = data::DriftCounts::Shaped(edges, options_.drift_classes);
  }

  Status ResolveTable() {
    AIMASS_ASSIGN_OR_RETURN(table_, tables::TableOptionsFromInput(config_.input));
    table_.id_column = config_.schema.id;
    table_.feature_columns = config_.schema.features;
    table_.feature_count = static_cast<uint32_t>(models::ValuesPerSample(input_shape_));
    if (table_.feature_columns.empty() && table_.format != tables::TableFormat::kIdx) {
      return Status::Error("schema.features: missing (the columns that make up the model input)");
    }
    AIMASS_ASSIGN_OR_RETURN(files_, tables::ListTable(config_.input.path,
                                                      tables::ListOptionsFromInput(config_.input), env_));
    splits_ = tables::PlanSplits(files_, table_.format, config_.input.split_bytes);
    for (const auto& file : files_) input_bytes_ += file.size;
    return CheckFirstRecord();
  }

  // Reads the first record of the first split here, so that a schema that does not fit the
  // table (a column the header lacks, a feature count the model does not take) is one error
  // before any worker starts, not the same failure on every attempt of every split.
  Status CheckFirstRecord() {
    if (splits_.empty()) return Status::Ok();
    const tables::Split& first = splits_.front();
    AIMASS_ASSIGN_OR_RETURN(auto reader, tables::OpenRecordReader(files_[first.file], first, table_));
    tables::TableRecord record;
    tables::BadRecord bad;
    AIMASS_ASSIGN_OR_RETURN(auto outcome, reader->Next(&record, &bad));
    (void)outcome;  // a bad first record is data, for on_bad_record to judge
    return Status::Ok();
  }

  // Everything that decides the content of the output: a resumed run must agree on all of it.
  json::object Identity() const {
    json::array features(config_.schema.features.begin(), config_.schema.features.end());
    json::array shape(input_shape_.begin(), input_shape_.end());
    json::array columns(config_.input.columns.begin(), config_.input.columns.end());
    return json::object{
        {"model_sha256", model_sha256_},
        {"model", model_.name},
        {"input", config_.input.path},
        {"input_fingerprint", Fingerprint(files_)},
        {"format", config_.input.format},
        {"delimiter", std::string(1, table_.delimiter)},
        {"header", config_.input.header},
        {"columns", columns},
        {"split_bytes", config_.input.split_bytes},
        {"id", config_.schema.id},
        {"features", features},
        {"shape", shape},
        {"dtype", config_.schema.dtype},
        {"normalize", json::array{normalize_.scale, normalize_.mean, normalize_.std}},
        {"output_format", config_.output.format},
        {"compression", config_.output.compression},
        {"scores", config_.output.scores},
        {"on_bad_record", config_.on_bad_record}};
  }

  // Heartbeats come from a thread of their own: a worker stuck in a read or a forward pass
  // still sends them, but its count of records read stops moving.
  Status CheckProgress() {
    const std::chrono::seconds silence_limit(config_.heartbeat_timeout_s);
    auto now = Clock::now();
    for (uint32_t rank = 0; rank < workers_count_; ++rank) {
      if (context_->roster().at(rank).lost || scheduler_->AttemptsOf(rank).empty()) continue;
      if (now - last_progress_[rank] > silence_limit) {
        return context_->LoseWorker(
            rank, WorkerLoss{WorkerLoss::Cause::kStuck,
                             "made no progress for " + std::to_string(silence_limit.count()) +
                                 " s with splits to run (stuck)"});
      }
    }
    return Status::Ok();
  }

  Status StartWorkers() {
    proto::CoordinatorMessage message;
    message.mutable_start_inference()->set_job_id(context_->job_id());
    proto::InferSpec* spec = message.mutable_start_inference()->mutable_spec();
    tables::EncodeTable(table_, files_, spec->mutable_table());
    spec->set_model_path(model_file_);
    spec->set_model_name(model_.name);
    for (int64_t dim : input_shape_) spec->add_input_shape(dim);
    spec->set_num_classes(model_.num_classes);
    spec->mutable_normalize()->set_scale(normalize_.scale);
    spec->mutable_normalize()->set_mean(normalize_.mean);
    spec->mutable_normalize()->set_std(normalize_.std);
    spec->set_dtype(config_.schema.dtype);
    spec->set_batch_size(config_.batch_size);
    spec->set_device(config_.device);
    spec->set_threads(config_.threads);
    spec->set_output_format(config_.output.format);
    spec->set_gzip_level(config_.output.compression == "gzip" ? 6 : 0);
    spec->set_scores(config_.output.scores);
    spec->set_on_bad_record(config_.on_bad_record);
    spec->set_attempts_dir(committer_.attempts_dir());
    spec->set_prefetch_splits(config_.prefetch_splits);
    if (drift_) data::EncodeDriftSpec(options_.drift_edges, options_.drift_classes, spec->mutable_drift());
    for (uint32_t rank = 0; rank < workers_count_; ++rank) {
      AIMASS_RETURN_IF_ERROR(context_->Send(rank, message));
    }
    dispatch_started_ = Clock::now();
    return Status::Ok();
  }

  Status Dispatch() {
    while (auto assignment = scheduler_->Next()) {
      // An idle worker's clock of progress starts with its first split.
      if (scheduler_->AttemptsOf(assignment->rank).size() == 1) last_progress_[assignment->rank] = Clock::now();
      const tables::Split& split = splits_[assignment->split];
      proto::CoordinatorMessage message;
      proto::SplitAssignment* out = message.mutable_split_assignment();
      out->set_attempt_id(assignment->attempt_id);
      out->set_split(split.index);
      out->set_file(split.file);
      out->set_begin(split.begin);
      out->set_end(split.end);
      out->set_whole_file(split.whole_file);
      out->set_attempt_directory(committer_.AttemptDirectory(assignment->attempt_id));
      AIMASS_RETURN_IF_ERROR(context_->Send(assignment->rank, message));
    }
    return Status::Ok();
  }

 public:
  Status OnMessage(JobContext& context, uint32_t rank, const proto::WorkerMessage& message) {
    context_ = &context;  // a message may come before Start
    switch (message.body_case()) {
      case proto::WorkerMessage::kHeartbeat:
        if (message.heartbeat().step() != worker_records_[rank]) last_progress_[rank] = Clock::now();
        worker_records_[rank] = message.heartbeat().step();
        return Status::Ok();
      case proto::WorkerMessage::kWorkRequest:
        scheduler_->AddRoom(rank, message.work_request().splits());
        return Status::Ok();
      case proto::WorkerMessage::kSplitDone:
        last_progress_[rank] = Clock::now();
        return OnSplitDone(message.split_done());
      case proto::WorkerMessage::kSplitFailed:
        last_progress_[rank] = Clock::now();
        return OnSplitFailed(rank, message.split_failed());
      default:
        break;
    }
    return context_->OutOfPlace(rank, message);
  }

 private:
  Status OnSplitDone(const proto::SplitDone& done) {
    uint64_t attempt = done.attempt_id();
    if (!scheduler_->ShouldCommit(attempt)) {
      scheduler_->OnDiscarded(attempt);
      committer_.Discard(attempt);
      return Status::Ok();
    }
    // The scheduler, not the report, says which split this attempt was for.
    const uint32_t split = *scheduler_->SplitOf(attempt);
    CommittedPart part;
    part.split = split;
    part.attempt_id = attempt;
    part.file = committer_.PartName(split);
    if (!done.bad_records_file().empty()) {
      char name[40];
      std::snprintf(name, sizeof(name), "_bad_records/part-%05u.jsonl", split);
      part.bad_records_file = name;
    }
    part.records_in = done.records_in();
    part.records_out = done.records_out();
    part.bad_records = done.bad_records();
    part.bytes = done.output_bytes();
    part.sha256 = done.output_sha256();
    part.bad_records_bytes = done.bad_records_bytes();
    part.bad_records_sha256 = done.bad_records_sha256();
    // Only files directly in this attempt's directory may be moved into the output.
    const std::string attempt_dir = committer_.AttemptDirectory(attempt) + "/";
    auto in_attempt = [&](const std::string& path) {
      return path.rfind(attempt_dir, 0) == 0 && path.find('/', attempt_dir.size()) == std::string::npos &&
             path.size() > attempt_dir.size();
    };
    Status committed = Status::Ok();
    if (done.split() != split) {
      committed = Status::Error("attempt " + std::to_string(attempt) + " reported split " +
                                std::to_string(done.split()) + ", it was given split " + std::to_string(split));
    } else if (!in_attempt(done.output_file()) ||
               (!done.bad_records_file().empty() && !in_attempt(done.bad_records_file()))) {
      committed = Status::Error("reported files outside " + attempt_dir);
    } else {
      committed = committer_.Commit(part, done.output_file(), done.bad_records_file());
    }
    if (!committed.ok()) {
      committer_.Discard(attempt);
      observer_.OnInfo("aimass: split " + std::to_string(split) + " attempt " +
                       std::to_string(attempt) + " not committed: " + committed.message() +
                       "; retrying");
      return scheduler_->OnFailed(attempt, "commit failed: " + committed.message());
    }
    scheduler_->OnCommitted(attempt);
    AddDrift(split, done);
    committed_this_run_ += 1;
    records_this_run_ += part.records_in;
    observer_.OnSplitCommitted(SplitCommitted{split, attempt, part.records_in, part.records_out,
                                              part.bad_records, scheduler_->committed(),
                                              scheduler_->total()});
    parts_[part.split] = std::move(part);
    return Status::Ok();
  }

  // A committed attempt's drift counts, added once: only the attempt that was committed gets
  // here, so a retried or duplicate attempt's records are never counted twice.
  void AddDrift(uint32_t split, const proto::SplitDone& done) {
    if (!drift_) return;
    auto counts = data::DecodeDriftCounts(done.drift(), *drift_);
    Status merged = counts.ok() ? drift_->Merge(*counts) : counts.status();
    if (!merged.ok()) {
      observer_.OnInfo("aimass: warning: split " + std::to_string(split) +
                       ": drift counts not used: " + merged.message());
    }
  }

  Status OnSplitFailed(uint32_t rank, const proto::SplitFailed& failed) {
    committer_.Discard(failed.attempt_id());
    if (!failed.retryable()) return Status::Error(failed.message());
    const std::string worker = context_->roster().Describe(rank);
    observer_.OnInfo("aimass: split " + std::to_string(failed.split()) + " attempt " +
                     std::to_string(failed.attempt_id()) + " failed on " + worker + ": " +
                     failed.message() + "; retrying");
    return scheduler_->OnFailed(failed.attempt_id(), worker + ": " + failed.message());
  }

 public:
  // A worker that is gone or hung: its attempts go back to the queue; the job goes on with the
  // others (the driver tells it to stop and ends it if it may still run).
  Status OnWorkerLost(const JobContext& context, uint32_t rank, const WorkerLoss& loss) {
    const std::string worker = context.roster().Describe(rank);
    std::set<uint64_t> attempts = scheduler_->AttemptsOf(rank);
    observer_.OnInfo("aimass: " + worker + " lost (" + loss.Reason() + "); " +
                     std::to_string(attempts.size()) + " running split(s) go to other workers");
    for (uint64_t attempt : attempts) committer_.Discard(attempt);
    return scheduler_->OnWorkerLost(rank, worker + " lost: " + loss.Reason());
  }

 private:
  void ReportProgress() {
    double elapsed = SecondsSince(dispatch_started_);
    uint64_t records = std::accumulate(worker_records_.begin(), worker_records_.end(), uint64_t{0});
    records = std::max(records, records_this_run_);
    if (records == 0) return;  // nothing to say yet
    double rate = elapsed > 0 ? static_cast<double>(records) / elapsed : 0;
    uint32_t remaining = scheduler_->total() - scheduler_->committed();
    double eta = committed_this_run_ > 0 ? elapsed / committed_this_run_ * remaining : -1;
    observer_.OnProgress(InferProgress{scheduler_->committed(), scheduler_->total(), records, rate, eta});
  }

  // The job's figures, from the committed parts (earlier runs' included).
  InferSummary Summarize() const {
    InferSummary summary;
    summary.output_path = config_.output.path;
    for (const auto& [split, part] : parts_) {
      summary.records_in += part.records_in;
      summary.records_out += part.records_out;
      summary.bad_records += part.bad_records;
    }
    summary.splits = splits_.size();
    summary.failed_attempts = scheduler_->failed_attempts();
    summary.resumed_splits = resumed_splits_;
    summary.wall_seconds = SecondsSince(started_);
    summary.records_per_second =
        summary.wall_seconds > 0 ? static_cast<double>(records_this_run_) / summary.wall_seconds : 0.0;
    return summary;
  }

  json::object Manifest(const InferSummary& summary) const {
    json::array parts;
    for (const auto& [split, part] : parts_) {
      json::object entry = part.ToJson();
      const tables::Split& source = splits_[split];
      entry["input"] = files_[source.file].relative_path;
      entry["input_begin"] = source.begin;
      entry["input_end"] = source.end;
      parts.push_back(std::move(entry));
    }
    return json::object{
        {"job", OutputCommitter::kManifestJob},
        {"identity", Identity()},
        {"model", json::object{{"path", model_file_}, {"name", model_.name}, {"sha256", model_sha256_}}},
        {"input", json::object{{"path", config_.input.path},
                               {"format", config_.input.format},
                               {"files", files_.size()},
                               {"bytes", input_bytes_}}},
        {"output", json::object{{"path", config_.output.path},
                                {"format", config_.output.format},
                                {"compression", config_.output.compression}}},
        {"splits", splits_.size()},
        {"records_in", summary.records_in},
        {"records_out", summary.records_out},
        {"bad_records", summary.bad_records},
        {"on_bad_record", config_.on_bad_record},
        {"workers", workers_count_},
        {"failed_attempts", summary.failed_attempts},
        {"resumed_splits", resumed_splits_},
        {"started", started_utc_},
        {"finished", UtcNow()},
        {"wall_seconds", summary.wall_seconds},
        {"records_per_second", summary.records_per_second},
        {"parts", parts}};
  }

  InferJobOptions options_;
  InferConfig config_;
  Env& env_;
  JobObserver& observer_;
  OutputCommitter committer_;

  uint32_t workers_count_ = 0;
  ModelConfig model_;
  std::string model_file_;
  std::string model_sha256_;
  NormalizeConfig normalize_{1.0f, 0.0f, 1.0f};
  std::vector<int64_t> input_shape_;
  tables::TableOptions table_;
  std::vector<tables::InputFile> files_;
  std::vector<tables::Split> splits_;
  uint64_t input_bytes_ = 0;
  std::optional<json::object> finished_manifest_;
  std::optional<SplitScheduler> scheduler_;
  std::map<uint32_t, CommittedPart> parts_;
  uint32_t resumed_splits_ = 0;
  std::optional<data::DriftCounts> drift_;  // committed attempts' counts, when drift is on

  JobContext* context_ = nullptr;  // set by Start, valid while the driver runs the job
  std::vector<uint64_t> worker_records_;  // records each worker has read, from its heartbeats
  std::vector<Clock::time_point> last_progress_;  // when each worker's records last moved
  uint32_t committed_this_run_ = 0;
  uint64_t records_this_run_ = 0;
  Clock::time_point started_;
  Clock::time_point dispatch_started_;
  std::string started_utc_;
  InferSummary summary_;
  json::object manifest_;
};

InferJob::InferJob(InferJobOptions options, Env& env, JobObserver& observer)
    : impl_(std::make_unique<Impl>(std::move(options), env, observer)) {}
InferJob::~InferJob() = default;

Status InferJob::Prepare(uint32_t workers) { return impl_->Prepare(workers); }
bool InferJob::already_complete() const { return impl_->already_complete(); }
json::object InferJob::manifest() const { return impl_->manifest(); }
InferSummary InferJob::summary() const { return impl_->summary(); }
std::optional<data::DriftCounts> InferJob::drift_counts() const { return impl_->drift_counts(); }
JobTraits InferJob::traits() const { return impl_->traits(); }
Status InferJob::Start(JobContext& context) { return impl_->Start(context); }
Status InferJob::OnMessage(JobContext& context, uint32_t rank, const proto::WorkerMessage& message) {
  return impl_->OnMessage(context, rank, message);
}
Status InferJob::OnWorkerLost(JobContext& context, uint32_t rank, const WorkerLoss& loss) {
  return impl_->OnWorkerLost(context, rank, loss);
}
Status InferJob::Poll(JobContext&) { return impl_->Poll(); }
bool InferJob::finished() const { return impl_->finished(); }
Status InferJob::Complete(JobContext&) { return impl_->Complete(); }
Status InferJob::Finish(JobContext&) { return impl_->Finish(); }

}  // namespace aimass::coordinator
