#include "coordinator/service/data_monitoring.h"

#include <boost/json.hpp>

#include "common/config/infer_config.h"
#include "common/strict_json.h"
#include "coordinator/service/model_registry.h"
#include "coordinator/service/monitor/training_profile.h"
#include "coordinator/service/store/data_catalog_store.h"
#include "coordinator/service/submitted_job.h"

namespace aimass::service {

namespace json = boost::json;

namespace {

// Writes every alert as a line of the job's log, then hands it on to the service's sink.
class JobLogAlertSink final : public AlertSink {
 public:
  JobLogAlertSink(coordinator::JobObserver& log, AlertSink* next) : log_(log), next_(next) {}
  void Raise(const Alert& alert) override {
    log_.OnInfo(std::string("aimass: alert: ") + AlertSeverityName(alert.severity) + " " + alert.kind + ": " +
                alert.message);
    if (next_ != nullptr) next_->Raise(alert);
  }

 private:
  coordinator::JobObserver& log_;
  AlertSink* next_;
};

}  // namespace

Result<std::string> DataMonitoring::ProfileTrainJob(const JobRecord& job, const std::string& job_dir) {
  // Models are not needed to profile training data: a resolver that is never asked.
  AIMASS_ASSIGN_OR_RETURN(PreparedJob prepared,
                          PrepareSubmittedJob("train", job.config_yaml, job_dir, roots_,
                                              [](const ModelReference&) -> Result<std::string> {
                                                return Status::InvalidArgument("a train job names no registered model");
                                              }));
  AIMASS_ASSIGN_OR_RETURN(data::DataProfile profile, ProfileTrainingData(*prepared.train, env_));
  return profiles_.Put(SerializeStrictJson(data::ProfileToJson(profile)));
}

Status DataMonitoring::AttachProfile(const std::string& model, int64_t version, const std::string& reference) {
  return store_.With([&](StateStore& store) {
    return DataCatalogStore(store.database()).SetModelProfile(model, version, reference);
  });
}

Result<data::DataProfile> DataMonitoring::ModelProfile(const std::string& model, int64_t version) {
  AIMASS_ASSIGN_OR_RETURN(std::string reference, store_.With([&](StateStore& store) {
                            return DataCatalogStore(store.database()).GetModelProfile(model, version);
                          }));
  AIMASS_ASSIGN_OR_RETURN(std::string text, profiles_.Get(reference));
  boost::system::error_code error;
  json::value parsed = json::parse(text, error);
  if (error) return Status::Corruption("profile " + reference + ": not JSON");
  return data::ProfileFromJson(parsed);
}

std::optional<InferDrift> DataMonitoring::DriftFor(int64_t job_id, const std::string& model, int64_t version,
                                                   const InferConfig& config, coordinator::JobObserver& log) {
  auto profile = ModelProfile(model, version);
  if (!profile.ok()) {
    if (profile.status().code() != StatusCode::kNotFound) {
      log.OnInfo("aimass: warning: no drift check: " + profile.status().message());
    }
    return std::nullopt;
  }
  InferDrift drift;
  drift.profile = std::move(profile).value();
  drift.thresholds.warn = config.drift_warn;
  drift.thresholds.alert = config.drift_alert;
  drift.thresholds.feature_share = config.drift_feature_share;
  drift.subject.job_id = job_id;
  drift.subject.model = model;
  drift.subject.model_version = version;
  drift.subject.source = "job " + std::to_string(job_id) + "'s input";
  return drift;
}

json::value DataMonitoring::FinishDrift(const InferDrift& drift, const std::optional<data::DriftCounts>& counts,
                                        coordinator::JobObserver& log) {
  if (!counts) return nullptr;
  auto report = data::ComputeDrift(drift.profile, *counts);
  if (!report.ok()) {
    log.OnInfo("aimass: warning: no drift figures: " + report.status().message());
    return nullptr;
  }
  JobLogAlertSink sink(log, alerts_);
  RaiseDriftAlerts(*report, drift.thresholds, drift.subject, sink);
  json::value figures = data::DriftToJson(*report, drift.thresholds);
  figures.as_object()["model"] = drift.subject.model;
  figures.as_object()["model_version"] = drift.subject.model_version.value_or(0);
  return figures;
}

}  // namespace aimass::service
