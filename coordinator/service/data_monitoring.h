// What the job scheduler does for data profiles and drift (docs/service.md, "Data profiles,
// drift and datasets"), kept out of the scheduler's own logic:
//  - when a train job's model is registered, its training features are profiled
//    (monitor/training_profile.h), stored in ProfileFiles (sealed under the master key) and
//    referenced from the version;
//  - when an infer job scores a registered model (`models:/...`) that has a profile, the job
//    gets the profile's bin edges (coordinator/infer/infer_job.h), and once it succeeded the
//    committed attempts' counts become PSI figures in the job's summary ("drift") and, past the
//    config's `drift:` thresholds, alerts. Every alert is written to the job's log as a line
//    "aimass: alert: ..." and passed to the service's AlertSink, when it has one.
//
// Thread safety: every method may be called from any thread (the store is locked per call).
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "common/config/infer_config.h"
#include "common/data/data_profile.h"
#include "common/env.h"
#include "common/status.h"
#include "coordinator/job_observer.h"
#include "coordinator/service/data_roots.h"
#include "coordinator/service/monitor/alert_sink.h"
#include "coordinator/service/monitor/drift_alerts.h"
#include "coordinator/service/profile_files.h"
#include "coordinator/service/shared_store.h"

namespace aimass::service {

// The drift check of one infer job.
struct InferDrift {
  data::DataProfile profile;
  data::DriftThresholds thresholds;
  DriftSubject subject;
};

class DataMonitoring {
 public:
  // References must outlive this; `alerts` may be null (alerts then go to job logs only).
  DataMonitoring(SharedStore& store, const DataRoots& roots, ProfileFiles& profiles, Env& env,
                 AlertSink* alerts)
      : store_(store), roots_(roots), profiles_(profiles), env_(env), alerts_(alerts) {}

  ProfileFiles& profiles() { return profiles_; }

  // Profiles the training data of train job `job` (its config as submitted, confined again
  // here) and stores the profile; returns its reference.
  [[nodiscard]] Result<std::string> ProfileTrainJob(const JobRecord& job, const std::string& job_dir);
  // Refers model version `model`/`version` to a stored profile.
  [[nodiscard]] Status AttachProfile(const std::string& model, int64_t version, const std::string& reference);
  // The stored profile of a model version (kNotFound when it has none).
  [[nodiscard]] Result<data::DataProfile> ModelProfile(const std::string& model, int64_t version);

  // The drift check for infer job `job_id` scoring registered `model` version `version` with
  // `config`'s thresholds: nullopt when the version has no profile (said in `log` when one
  // cannot be read).
  std::optional<InferDrift> DriftFor(int64_t job_id, const std::string& model, int64_t version,
                                     const InferConfig& config, coordinator::JobObserver& log);
  // PSI figures for the summary (null when `counts` is nullopt) and the alerts they call for.
  boost::json::value FinishDrift(const InferDrift& drift, const std::optional<data::DriftCounts>& counts,
                                 coordinator::JobObserver& log);

 private:
  SharedStore& store_;
  const DataRoots& roots_;
  ProfileFiles& profiles_;
  Env& env_;
  AlertSink* alerts_;
};

}  // namespace aimass::service
