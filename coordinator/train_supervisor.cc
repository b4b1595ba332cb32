#include "coordinator/train_supervisor.h"

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

#include "coordinator/run_directory.h"

namespace aimass::coordinator {

namespace json = boost::json;

namespace {

std::string Plural(uint32_t count, const char* noun) {
  return std::to_string(count) + " " + noun + (count == 1 ? "" : "s");
}

// Passes everything on but an attempt's OnFailed: whether the job failed is the supervisor's to
// say, once, after it decided not to restart.
class AttemptObserver final : public JobObserver {
 public:
  explicit AttemptObserver(JobObserver& target) : target_(target) {}

  void OnWorkerJoined(const WorkerJoined& worker) override { target_.OnWorkerJoined(worker); }
  void OnWorkerLost(const WorkerLost& worker) override { target_.OnWorkerLost(worker); }
  void OnStepMetrics(const StepReport& report) override { target_.OnStepMetrics(report); }
  void OnProgress(const TrainProgress& progress) override { target_.OnProgress(progress); }
  void OnProgress(const InferProgress& progress) override { target_.OnProgress(progress); }
  void OnEvaluation(const EpochEvaluation& evaluation) override { target_.OnEvaluation(evaluation); }
  void OnSplitCommitted(const SplitCommitted& split) override { target_.OnSplitCommitted(split); }
  void OnInfo(const std::string& line) override { target_.OnInfo(line); }
  void OnFinished(const TrainSummary& summary) override { target_.OnFinished(summary); }
  void OnFinished(const InferSummary& summary) override { target_.OnFinished(summary); }
  void OnFailed(const Status&) override {}

 private:
  JobObserver& target_;
};

}  // namespace

bool IsRestartable(const Status& failure) {
  return !failure.ok() && failure.code() == StatusCode::kUnavailable;
}

class TrainSupervisor::Impl {
 public:
  Impl(TrainSupervisorOptions options, Env& env, JobObserver& observer)
      : options_(std::move(options)), env_(env), observer_(observer), attempt_observer_(observer) {}

  Status Prepare(uint32_t workers) {
    workers_ = workers;
    if (options_.max_restarts > 0 && !options_.relaunch) {
      return Status::InvalidArgument("training.max_restarts needs a launcher that can relaunch");
    }
    // Before TrainJob::Prepare, which may clear the directory (--overwrite).
    const std::string& run_dir = options_.job.config.run_dir;
    const bool existed = env_.Exists(run_dir);
    AIMASS_ASSIGN_OR_RETURN(lock_, LockRunDirectory(env_, run_dir));
    job_ = std::make_unique<TrainJob>(options_.job, env_, attempt_observer_);
    Status prepared = job_->Prepare(workers);
    if (!prepared.ok() && !existed) {
      // Bad input leaves nothing behind: the directory is ours alone (locked) and holds only
      // what this call made.
      (void)env_.RemoveTree(run_dir);
      lock_.reset();
    }
    return prepared;
  }

  Status Run(WorkerLauncher& first_launcher) {
    if (!job_) return Status::FailedPrecondition("TrainSupervisor::Run before a successful Prepare");
    WorkerLauncher* launcher = &first_launcher;
    std::unique_ptr<WorkerLauncher> relaunched;
    while (true) {
      JobDriverOptions driver_options = options_.driver;
      if (!driver_options.job_id.empty() && !restarts_.empty()) {
        driver_options.job_id += "-restart-" + std::to_string(restarts_.size());
      }
      Status status;
      {
        JobDriver driver(std::move(driver_options), *launcher, attempt_observer_);
        status = driver.Run(*job_);
      }
      if (status.ok()) return Status::Ok();
      if (!ShouldRestart(status)) return Fail(FinalError(status));

      const uint32_t restart = static_cast<uint32_t>(restarts_.size()) + 1;
      observer_.OnInfo("aimass: restart " + std::to_string(restart) + " of " +
                       std::to_string(options_.max_restarts) + " after: " + status.message());
      if (!WaitBeforeRestart(restart)) return Fail(FinalError(status));
      auto next_launcher = options_.relaunch();
      if (!next_launcher.ok()) return Fail(AfterRestarts(next_launcher.status()));
      relaunched = std::move(next_launcher).value();  // the previous one has ended its processes
      launcher = relaunched.get();

      TrainJobOptions job_options = options_.job;
      job_options.resume = true;  // the newest valid checkpoint, or step 0 when there is none
      job_options.overwrite = false;
      job_ = std::make_unique<TrainJob>(std::move(job_options), env_, attempt_observer_);
      Status prepared = job_->Prepare(workers_);
      if (!prepared.ok()) return Fail(AfterRestarts(prepared));

      TrainRestart record{restart, status.message(), job_->resume_step().value_or(0)};
      restarts_.push_back(record);
      job_->RecordRestarts(restarts_);
      Status logged = RunDirectory(env_, options_.job.config.run_dir)
                          .AppendMetrics(json::object{{"event", "restart"},
                                                      {"restart", record.restart},
                                                      {"reason", record.reason},
                                                      {"resumed_from_step", record.resumed_from_step}});
      if (!logged.ok()) return Fail(AfterRestarts(logged));
    }
  }

  const TrainSummary& summary() const { return job_->summary(); }
  const std::vector<TrainRestart>& restarts() const { return restarts_; }

  // Sleeps the backoff before restart `restart` (1-based); false when interrupted meanwhile.
  bool WaitBeforeRestart(uint32_t restart) {
    constexpr std::chrono::milliseconds kLongest(30000);
    constexpr std::chrono::milliseconds kSlice(100);
    std::chrono::milliseconds delay = options_.restart_backoff;
    for (uint32_t k = 1; k < restart && delay < kLongest; ++k) delay *= 2;
    delay = std::min(delay, kLongest);
    const auto until = std::chrono::steady_clock::now() + delay;
    while (std::chrono::steady_clock::now() < until) {
      if (options_.driver.interrupted && options_.driver.interrupted()) return false;
      std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(
          kSlice, until - std::chrono::steady_clock::now()));
    }
    return !(options_.driver.interrupted && options_.driver.interrupted());
  }

 private:
  bool ShouldRestart(const Status& failure) const {
    if (!IsRestartable(failure)) return false;
    if (options_.driver.interrupted && options_.driver.interrupted()) return false;
    return restarts_.size() < options_.max_restarts;
  }

  // The last error, with how many restarts came before it.
  Status FinalError(const Status& failure) const {
    if (IsRestartable(failure) && options_.max_restarts > 0 &&
        restarts_.size() >= options_.max_restarts &&
        !(options_.driver.interrupted && options_.driver.interrupted())) {
      return Status::FromCode(failure.code(),
                              failure.message() + " (gave up after " +
                                  Plural(options_.max_restarts, "restart") +
                                  ": training.max_restarts is " +
                                  std::to_string(options_.max_restarts) + ")");
    }
    return AfterRestarts(failure);
  }

  Status AfterRestarts(const Status& failure) const {
    if (restarts_.empty()) return failure;
    return Status::FromCode(failure.code(),
                            failure.message() + " (after " +
                                Plural(static_cast<uint32_t>(restarts_.size()), "restart") + ")");
  }

  Status Fail(Status failure) {
    observer_.OnFailed(failure);
    return failure;
  }

  TrainSupervisorOptions options_;
  Env& env_;
  JobObserver& observer_;
  AttemptObserver attempt_observer_;
  uint32_t workers_ = 0;
  std::unique_ptr<FileLock> lock_;  // the run directory's, for the whole job
  std::unique_ptr<TrainJob> job_;   // the current attempt's
  std::vector<TrainRestart> restarts_;
};

TrainSupervisor::TrainSupervisor(TrainSupervisorOptions options, Env& env, JobObserver& observer)
    : impl_(std::make_unique<Impl>(std::move(options), env, observer)) {}
TrainSupervisor::~TrainSupervisor() = default;

Status TrainSupervisor::Prepare(uint32_t workers) { return impl_->Prepare(workers); }
Status TrainSupervisor::Run(WorkerLauncher& launcher) { return impl_->Run(launcher); }
const TrainSummary& TrainSupervisor::summary() const { return impl_->summary(); }
const std::vector<TrainRestart>& TrainSupervisor::restarts() const { return impl_->restarts(); }

}  // namespace aimass::coordinator
