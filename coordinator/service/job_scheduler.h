// The service's job queue: jobs wait in the store as `queued` and start oldest first while
// fewer than `max_concurrent_jobs` run. Each running job has a thread that drives it through
// the engine exactly as the CLI does (TrainSupervisor or InferJob on a JobDriver, workers
// started by a LocalMpirunLauncher), reporting to a JobRecorder, and moves it to its final
// state in the store. A cancel interrupts the driver, which aborts the job and ends its
// workers; Shutdown does that to every running job (the server's SIGTERM) and leaves queued
// jobs queued for the next start. A job a killed server left running comes back queued with
// `resumes` > 0 (the start-up's RecoverInterruptedJob, on_interrupt: resume), and RunJob
// continues it as the CLI's resume would: an infer job keeps its committed splits, a train job
// continues from its run directory's newest checkpoint (STATE/jobs/ID/resume.json says what
// the earlier run had settled: the model version scored, whether the run directory is its own).
//
// Thread safety: every public method may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/env.h"
#include "common/status.h"
#include "coordinator/service/data_monitoring.h"
#include "coordinator/service/data_roots.h"
#include "coordinator/service/job_recorder.h"
#include "coordinator/service/model_registry.h"
#include "coordinator/service/monitor/alert_sink.h"
#include "coordinator/service/service_metrics.h"
#include "coordinator/service/shared_store.h"

namespace aimass::service {

// Where a job's sealed registered model is opened while the job runs (removed when it ends;
// under OpenedCopiesDirectory, which every start wipes).
inline std::string OpenedModelDirectory(const std::string& state_dir, int64_t job_id) {
  return OpenedCopiesDirectory(state_dir) + "/job-" + std::to_string(job_id);
}

struct SchedulerOptions {
  std::string state_dir;
  uint32_t max_concurrent_jobs = 1;
  std::vector<std::string> mpirun_args;  // e.g. {"--hostfile", FILE}
  AlertSink* alerts = nullptr;           // train jobs' monitor alerts; null: not monitored
};

class JobScheduler {
 public:
  // Every reference must outlive the scheduler.
  JobScheduler(SchedulerOptions options, SharedStore& store, const DataRoots& roots,
               ArtifactStore& artifacts, ServiceMetrics& metrics, Env& env);
  ~JobScheduler();  // Shutdown()
  JobScheduler(const JobScheduler&) = delete;
  JobScheduler& operator=(const JobScheduler&) = delete;

  // Data profiles and drift (data_monitoring.h): registered versions get a training profile,
  // infer jobs of a profiled model count drift. Called before Start; `monitoring` outlives this.
  void EnableDataMonitoring(DataMonitoring* monitoring) { monitoring_ = monitoring; }

  // Starts dispatching queued jobs (those of an earlier run of the server too).
  void Start();
  // A job was queued: look at the queue now.
  void Wake();
  // A queued job is cancelled at once; a running one is interrupted (it becomes `cancelled`
  // once its workers are gone). kNotFound, or kFailedPrecondition for a job that has ended.
  [[nodiscard]] Status Cancel(int64_t id, const std::string& actor);
  // The running job's latest progress as JSON, or "" (not running, or no report yet).
  std::string Progress(int64_t id);
  // Stops dispatching, cancels every running job and waits for them to end.
  void Shutdown();

  // The artifact directory of a registered model (`models:/NAME@ALIAS` in an infer config),
  // for checking a submitted config. A running job reads a sealed artifact through
  // ArtifactStore::Materialize instead, in OpenedModelDirectory.
  [[nodiscard]] Result<std::string> ResolveModel(const ModelReference& reference);

  // Registers a succeeded train job's model as a new version of `model` (used by the API and
  // by jobs submitted with register_as). Returns the version.
  [[nodiscard]] Result<int64_t> RegisterModel(int64_t job_id, const std::string& model,
                                              const std::string& actor);

 private:
  void Dispatch();
  void RunJob(int64_t id, std::shared_ptr<LiveJob> live);
  // Registers `job`'s run directory with the figures of `summary_json`, whatever its state.
  Result<int64_t> RegisterRun(const JobRecord& job, const std::string& summary_json,
                              const std::string& model, const std::string& actor);

  SchedulerOptions options_;
  SharedStore& store_;
  const DataRoots& roots_;
  ArtifactStore& artifacts_;
  ServiceMetrics& metrics_;
  Env& env_;
  DataMonitoring* monitoring_ = nullptr;

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool dirty_ = true;  // the queue may have changed since the last look
  std::map<int64_t, std::shared_ptr<LiveJob>> running_;
  std::map<int64_t, std::thread> threads_;
  std::vector<int64_t> finished_;  // threads to join
  std::thread dispatcher_;
};

}  // namespace aimass::service
