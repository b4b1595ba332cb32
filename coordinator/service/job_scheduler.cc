#include "coordinator/service/job_scheduler.h"

#include <boost/json.hpp>

#include <chrono>
#include <cstdio>

#include "common/net/handshake.h"
#include "coordinator/infer/infer_job.h"
#include "coordinator/job_driver.h"
#include "coordinator/launch/local_mpirun_launcher.h"
#include "coordinator/service/monitor/evaluation_store.h"
#include "coordinator/service/submitted_job.h"
#include "coordinator/train_supervisor.h"

namespace aimass::service {

namespace json = boost::json;

namespace {

// Closes the job's log file however RunJob ends.
struct LogFile {
  std::FILE* file = nullptr;
  ~LogFile() {
    if (file != nullptr) std::fclose(file);
  }
};

std::optional<double> NumberAt(const json::object& object, const char* key) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr || !value->is_number()) return std::nullopt;
  return value->to_number<double>();
}

// What a resumed run must know of the job's earlier runs (STATE/jobs/ID/resume.json, written as
// a run learns it, read only when the job is resumed after the server stopped while it ran):
//  - model, version: the registered version an infer job resolved first. A resumed run scores
//    with that one even if an alias moved while the server was down: every part of one output
//    comes from one model (the output committer would refuse another's, and the job would fail).
//  - run_dir: a train job's run directory was prepared for it (TrainSupervisor::Prepare). Only
//    then does a resumed run continue the newest checkpoint there; a job stopped before that
//    starts afresh, as its first run would have, and never adopts checkpoints it did not write.
struct ResumeNotes {
  std::string model;
  std::optional<int64_t> version;
  bool run_dir = false;
};

std::string ResumeNotesPath(const std::string& job_dir) { return job_dir + "/resume.json"; }

// Missing or unreadable: nothing is known (the resumed run re-resolves, and starts afresh).
ResumeNotes ReadResumeNotes(Env& env, const std::string& job_dir) {
  ResumeNotes notes;
  auto text = env.ReadFile(ResumeNotesPath(job_dir));
  if (!text.ok()) return notes;
  boost::system::error_code error;
  json::value parsed = json::parse(*text, error);
  if (error || !parsed.is_object()) return notes;
  const json::object& object = parsed.as_object();
  if (const json::value* model = object.if_contains("model"); model && model->is_string()) {
    notes.model = std::string(model->as_string());
  }
  if (const json::value* version = object.if_contains("version"); version && version->is_int64()) {
    notes.version = version->as_int64();
  }
  if (const json::value* run_dir = object.if_contains("run_dir"); run_dir && run_dir->is_bool()) {
    notes.run_dir = run_dir->as_bool();
  }
  return notes;
}

Status WriteResumeNotes(Env& env, const std::string& job_dir, const ResumeNotes& notes) {
  json::object object{{"run_dir", notes.run_dir}};
  if (!notes.model.empty() && notes.version) {
    object["model"] = notes.model;
    object["version"] = *notes.version;
  }
  return env.WriteFileAtomically(ResumeNotesPath(job_dir), json::serialize(object) + "\n");
}

}  // namespace

JobScheduler::JobScheduler(SchedulerOptions options, SharedStore& store, const DataRoots& roots,
                           ArtifactStore& artifacts, ServiceMetrics& metrics, Env& env)
    : options_(std::move(options)), store_(store), roots_(roots), artifacts_(artifacts),
      metrics_(metrics), env_(env) {
  if (options_.max_concurrent_jobs == 0) options_.max_concurrent_jobs = 1;
}

JobScheduler::~JobScheduler() { Shutdown(); }

void JobScheduler::Start() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (dispatcher_.joinable() || stopping_) return;
  dispatcher_ = std::thread([this] { Dispatch(); });
}

void JobScheduler::Wake() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    dirty_ = true;
  }
  wake_.notify_all();
}

void JobScheduler::Dispatch() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    for (int64_t id : finished_) {
      auto thread = threads_.find(id);
      if (thread != threads_.end()) {
        thread->second.join();
        threads_.erase(thread);
      }
    }
    finished_.clear();
    if (dirty_ && running_.size() < options_.max_concurrent_jobs) {
      dirty_ = false;
      auto queued = store_.With([](StateStore& store) { return store.ListQueuedJobIds(); });
      if (queued.ok()) {
        for (int64_t id : *queued) {
          if (running_.size() >= options_.max_concurrent_jobs) {
            dirty_ = true;  // more wait: look again when one ends
            break;
          }
          if (running_.count(id) > 0) continue;
          Status started = store_.With([&](StateStore& store) {
            return store.SetJobState(id, JobState::kRunning);
          });
          if (!started.ok()) continue;  // cancelled meanwhile
          auto live = std::make_shared<LiveJob>();
          running_[id] = live;
          threads_[id] = std::thread([this, id, live] { RunJob(id, live); });
        }
      }
    }
    // A periodic look as well: a wake-up lost to a race costs at most this long.
    wake_.wait_for(lock, std::chrono::seconds(1), [this] {
      return stopping_ || !finished_.empty() ||
             (dirty_ && running_.size() < options_.max_concurrent_jobs);
    });
  }
}

Status JobScheduler::Cancel(int64_t id, const std::string& actor) {
  std::shared_ptr<LiveJob> live;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = running_.find(id);
    if (found != running_.end()) live = found->second;
  }
  if (live) {
    live->RequestCancel("cancelled by " + actor);
    return Status::Ok();
  }
  return store_.With([&](StateStore& store) -> Status {
    AIMASS_ASSIGN_OR_RETURN(JobRecord job, store.GetJob(id));
    if (job.state != JobState::kQueued) {
      return Status::FailedPrecondition("job " + std::to_string(id) + " is " +
                                        JobStateName(job.state) + ", it cannot be cancelled");
    }
    return store.SetJobState(id, JobState::kCancelled, "cancelled by " + actor + " while queued");
  });
}

std::string JobScheduler::Progress(int64_t id) {
  std::shared_ptr<LiveJob> live;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = running_.find(id);
    if (found == running_.end()) return "";
    live = found->second;
  }
  std::lock_guard<std::mutex> lock(live->mutex);
  return live->progress_json;
}

void JobScheduler::Shutdown() {
  std::map<int64_t, std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ && !dispatcher_.joinable() && threads_.empty()) return;
    stopping_ = true;
    for (auto& [id, live] : running_) live->RequestCancel("the server was stopped");
  }
  wake_.notify_all();
  if (dispatcher_.joinable()) dispatcher_.join();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    threads.swap(threads_);
  }
  for (auto& [id, thread] : threads) thread.join();
}

Result<std::string> JobScheduler::ResolveModel(const ModelReference& reference) {
  AIMASS_ASSIGN_OR_RETURN(ModelVersionRecord version, store_.With([&](StateStore& store) {
                            return ResolveModelReference(store, reference);
                          }));
  return artifacts_.PathOf(version.artifact_sha256);
}

Result<int64_t> JobScheduler::RegisterModel(int64_t job_id, const std::string& model,
                                            const std::string& actor) {
  AIMASS_ASSIGN_OR_RETURN(JobRecord job, store_.With([&](StateStore& store) { return store.GetJob(job_id); }));
  if (job.kind != "train" || job.state != JobState::kSucceeded) {
    return Status::FailedPrecondition("job " + std::to_string(job_id) + " is a " + job.kind + " job that is " +
                                      JobStateName(job.state) + ": only a succeeded train job has a model");
  }
  return RegisterRun(job, job.summary_json, model, actor);
}

Result<int64_t> JobScheduler::RegisterRun(const JobRecord& job, const std::string& summary_json,
                                          const std::string& model, const std::string& actor) {
  if (!ValidModelName(model)) {
    return Status::InvalidArgument("model name '" + model + "': use 1-64 of A-Z a-z 0-9 . _ -");
  }
  json::object summary;
  boost::system::error_code parse_error;
  json::value parsed = json::parse(summary_json, parse_error);
  if (!parse_error && parsed.is_object()) summary = parsed.as_object();
  json::object metrics;
  for (const char* key : {"test_accuracy", "test_loss", "samples_per_second", "steps", "epochs",
                          "train_records", "wall_seconds"}) {
    if (auto number = NumberAt(summary, key)) metrics[key] = *number;
  }
  NewModelVersion version;
  version.model = model;
  version.job_id = job.id;
  if (const json::value* dataset = summary.if_contains("dataset"); dataset && dataset->is_string()) {
    version.dataset = std::string(dataset->as_string());
  }
  version.config_yaml = job.config_yaml;
  version.metrics_json = json::serialize(metrics);
  version.created_by = actor;
  // The copy is made outside the store's lock: it may take a while for a large model.
  AIMASS_ASSIGN_OR_RETURN(version.artifact_sha256, artifacts_.AddRun(job.directory));
  // The training data's profile, for drift checks later: without one the version still
  // registers (a table since moved away, say), it only goes without drift checks.
  std::string profile;
  if (monitoring_ != nullptr) {
    auto stored = monitoring_->ProfileTrainJob(job, options_.state_dir + "/jobs/" + std::to_string(job.id));
    if (stored.ok()) {
      profile = *stored;
    } else {
      std::fprintf(stderr, "aimass: warning: job %lld: no data profile: %s\n", static_cast<long long>(job.id),
                   stored.status().message().c_str());
    }
  }
  auto registered = store_.With([&](StateStore& store) -> Result<int64_t> {
    AIMASS_ASSIGN_OR_RETURN(int64_t number, store.RegisterVersion(version));
    // The version's evaluation report (monitor/evaluation_store.h): a failure to compute or
    // store it leaves the version without one, which the API says, rather than unregistered.
    auto evaluated = StoreEvaluationOfJob(store, model, number, job.id);
    if (!evaluated.ok()) {
      std::fprintf(stderr, "aimass: warning: %s version %lld: no evaluation report: %s\n", model.c_str(),
                   static_cast<long long>(number), evaluated.status().message().c_str());
    }
    AIMASS_RETURN_IF_ERROR(store.Audit(actor, "model.register",
                                       model + " version " + std::to_string(number) + " from job " +
                                           std::to_string(job.id),
                                       "-"));
    return number;
  });
  if (registered.ok() && !profile.empty()) {
    Status attached = monitoring_->AttachProfile(model, *registered, profile);
    if (!attached.ok()) {
      std::fprintf(stderr, "aimass: warning: %s version %lld: data profile not recorded: %s\n", model.c_str(),
                   static_cast<long long>(*registered), attached.message().c_str());
    }
  }
  return registered;
}

void JobScheduler::RunJob(int64_t id, std::shared_ptr<LiveJob> live) {
  const auto started = std::chrono::steady_clock::now();
  auto record = store_.With([&](StateStore& store) { return store.GetJob(id); });
  const std::string job_dir = options_.state_dir + "/jobs/" + std::to_string(id);
  Status status = record.ok() ? env_.CreateDirectories(job_dir) : record.status();
  LogFile log;
  if (status.ok()) {
    // "e": close-on-exec (O_CLOEXEC, glibc): mpirun and the workers write their own copy of
    // this file; an inherited descriptor of the server's would outlive the server in them.
    log.file = std::fopen((job_dir + "/job.log").c_str(), "ae");
    if (log.file == nullptr) {
      status = Status::IOError(job_dir + "/job.log: cannot open");
    } else {
      std::setvbuf(log.file, nullptr, _IOLBF, 0);
    }
  }
  std::FILE* log_out = log.file != nullptr ? log.file : stderr;
  JobRecorder recorder(id, record.ok() ? record->kind : "train", log_out, store_, metrics_, *live);
  std::string summary_json;
  // A job the server was running when it stopped, queued again at the next start
  // (RecoverInterruptedJob): it continues where it was, as the CLI's resume does.
  const bool resumed = record.ok() && record->resumes > 0;
  ResumeNotes notes;
  if (resumed) {
    notes = ReadResumeNotes(env_, job_dir);
    recorder.OnInfo("aimass: resuming: the server stopped while the job ran (resume " +
                    std::to_string(record->resumes) + ")");
  }

  Result<PreparedJob> prepared = Status::Internal("not prepared");
  // The registered version the job scores, as resolved here: its drift check uses that
  // version's profile even if an alias moves while the job runs.
  std::optional<std::pair<std::string, int64_t>> scored_version;
  if (status.ok()) {
    // A registered model is opened into the job's own directory when it is stored sealed.
    prepared = PrepareSubmittedJob(record->kind, record->config_yaml, job_dir, roots_,
                                   [&](const ModelReference& asked) -> Result<std::string> {
                                     // A resumed run scores with the version its first run did.
                                     ModelReference reference = asked;
                                     if (resumed && notes.version && notes.model == asked.name) {
                                       reference.version = notes.version;
                                       reference.alias.clear();
                                     }
                                     AIMASS_ASSIGN_OR_RETURN(ModelVersionRecord version,
                                                             store_.With([&](StateStore& store) {
                                                               return ResolveModelReference(store, reference);
                                                             }));
                                     scored_version.emplace(reference.name, version.version);
                                     if (!notes.version) {
                                       notes.model = reference.name;
                                       notes.version = version.version;
                                       AIMASS_RETURN_IF_ERROR(WriteResumeNotes(env_, job_dir, notes));
                                     }
                                     return artifacts_.Materialize(version.artifact_sha256,
                                                                   OpenedModelDirectory(options_.state_dir, id));
                                   });
    status = prepared.ok() ? Status::Ok() : prepared.status();
  }
  std::string tag;
  if (status.ok()) {
    status = store_.With([&](StateStore& store) { return store.SetJobDirectory(id, prepared->directory); });
    auto random = net::RandomBytes(6);
    if (!random.ok()) status = random.status();
    if (status.ok()) tag = "svc" + std::to_string(id) + "-" + net::ToHex(*random);
  }
  if (status.ok()) {
    // Each launch records its process group, so that a server restarted after a crash can end
    // what this launch leaves behind (leftover_processes.h).
    coordinator::LocalLaunchOptions launch;
    launch.workers = record->workers;
    launch.mpirun_args = options_.mpirun_args;
    if (record->kind == "infer") launch.mpirun_args.push_back("--enable-recovery");
    launch.on_launched = [this, id, tag](pid_t pid) {
      (void)store_.With([&](StateStore& store) { return store.SetJobProcess(id, pid, tag); });
    };
    auto make_launcher = [launch]() -> Result<std::unique_ptr<coordinator::WorkerLauncher>> {
      return std::unique_ptr<coordinator::WorkerLauncher>(
          std::make_unique<coordinator::LocalMpirunLauncher>(launch));
    };
    coordinator::JobDriverOptions driver;
    driver.job_id = tag;
    driver.interrupted = [live] { return live->cancel.load(); };
    if (record->kind == "train") {
      coordinator::TrainSupervisorOptions supervised;
      supervised.job.config = *prepared->train;
      supervised.job.config_text = record->config_yaml;
      // Resumed: from the newest valid checkpoint of its own run directory, as --resume does
      // (from step 0 when none was written yet: the same seed gives the same run).
      supervised.job.resume = resumed && notes.run_dir;
      supervised.driver = driver;
      supervised.max_restarts = prepared->train->max_restarts.value_or(coordinator::kDefaultMaxRestarts);
      supervised.relaunch = make_launcher;
      if (options_.alerts != nullptr) {
        recorder.Monitor(prepared->train->monitor, record->register_as, *options_.alerts);
      }
      // A run that finished before the server stopped (while the model was being registered,
      // say) has nothing left to train: its summary.json, written last, is the job's summary.
      const std::string finished_summary = prepared->train->run_dir + "/summary.json";
      std::optional<json::object> finished;
      if (supervised.job.resume && env_.Exists(finished_summary)) {
        auto text = env_.ReadFile(finished_summary);
        boost::system::error_code error;
        json::value parsed = text.ok() ? json::parse(*text, error) : json::value();
        if (text.ok() && !error && parsed.is_object()) finished = parsed.as_object();
      }
      coordinator::TrainSupervisor supervisor(std::move(supervised), env_, recorder);
      if (finished) {
        recorder.OnInfo("aimass: " + prepared->train->run_dir + " holds the finished run; nothing to resume");
      } else {
        status = supervisor.Prepare(record->workers);
        if (status.ok() && !notes.run_dir) {
          notes.run_dir = true;
          status = WriteResumeNotes(env_, job_dir, notes);
        }
        if (status.ok()) {
          auto launcher = make_launcher();
          status = launcher.ok() ? supervisor.Run(**launcher) : launcher.status();
        }
      }
      if (status.ok()) {
        json::object summary = finished ? *finished : coordinator::ToJson(supervisor.summary());
        auto dataset = DatasetFingerprint(prepared->train->data.train.input.path, env_);
        summary["dataset"] = dataset.ok() ? json::value(*dataset) : json::value(nullptr);
        summary_json = json::serialize(summary);
      }
    } else {
      coordinator::InferJobOptions infer;
      infer.config = *prepared->infer;
      std::optional<InferDrift> drift;
      if (monitoring_ != nullptr && scored_version) {
        drift = monitoring_->DriftFor(id, scored_version->first, scored_version->second, *prepared->infer, recorder);
      }
      if (drift) {
        infer.drift_edges = data::ProfileEdges(drift->profile);
        infer.drift_classes = static_cast<uint32_t>(drift->profile.class_counts.size());
      }
      coordinator::InferJob job(std::move(infer), env_, recorder);
      status = job.Prepare(record->workers);
      if (status.ok() && !job.already_complete()) {
        auto launcher = make_launcher();
        if (launcher.ok()) {
          coordinator::JobDriver run(driver, **launcher, recorder);
          status = run.Run(job);
        } else {
          status = launcher.status();
        }
      }
      if (status.ok()) {
        json::object summary = coordinator::ToJson(job.summary());
        if (drift) summary["drift"] = monitoring_->FinishDrift(*drift, job.drift_counts(), recorder);
        summary_json = json::serialize(summary);
      }
    }
  }

  // The opened copy of a sealed model lives no longer than the job that needed it.
  if (env_.Exists(OpenedModelDirectory(options_.state_dir, id))) {
    Status removed = env_.RemoveTree(OpenedModelDirectory(options_.state_dir, id));
    if (!removed.ok()) recorder.OnInfo("aimass: warning: removing the opened model: " + removed.message());
  }

  JobState final_state = JobState::kSucceeded;
  std::string error;
  if (!status.ok()) {
    if (live->cancel) {
      final_state = JobState::kCancelled;
      std::lock_guard<std::mutex> lock(live->mutex);
      error = live->cancel_reason;
    } else {
      final_state = JobState::kFailed;
      error = status.message();
    }
  }
  // A job's model is registered, and every line of its log written, before its final state
  // is stored: whoever sees the state (a poll, a followed log) sees the model and the last line.
  if (status.ok() && record.ok() && !record->register_as.empty() && record->model_version) {
    // A resumed job whose earlier run registered the model before the server stopped.
    recorder.OnInfo("aimass: the model was registered as " + record->model_name + " version " +
                    std::to_string(*record->model_version) + " before the server stopped");
  } else if (status.ok() && record.ok() && !record->register_as.empty()) {
    JobRecord finished = *record;
    finished.directory = prepared->directory;
    auto version = RegisterRun(finished, summary_json, record->register_as, record->submitted_by);
    if (version.ok()) {
      recorder.OnInfo("aimass: registered the model as " + record->register_as + " version " +
                      std::to_string(*version));
    } else {
      // The training itself succeeded; the registration can be retried through the API.
      recorder.OnInfo("aimass: error: registering the model as " + record->register_as + ": " +
                      version.status().message());
    }
  }
  if (!error.empty()) recorder.OnInfo(std::string("aimass: job ") + JobStateName(final_state) + ": " + error);
  Status stored = store_.With([&](StateStore& store) {
    return store.SetJobState(id, final_state, error, summary_json);
  });
  if (!stored.ok()) recorder.OnInfo("aimass: error: recording the job's end: " + stored.message());
  (void)store_.With([&](StateStore& store) { return store.SetJobProcess(id, std::nullopt, ""); });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  metrics_.ObserveJobFinished(record.ok() ? record->kind : "unknown", JobStateName(final_state), seconds);
  metrics_.ForgetJob(id);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    running_.erase(id);
    finished_.push_back(id);
    dirty_ = true;
  }
  wake_.notify_all();
}

}  // namespace aimass::service
