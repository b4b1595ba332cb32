#include "coordinator/service/monitor/drift_alerts.h"

#include <boost/json.hpp>

#include <cstdio>

namespace aimass::service {

namespace json = boost::json;

namespace {

std::string Fixed(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.3f", value);
  return text;
}

std::optional<AlertSeverity> SeverityOf(double psi, const data::DriftThresholds& thresholds) {
  if (psi >= thresholds.alert) return AlertSeverity::kAlert;
  if (psi >= thresholds.warn) return AlertSeverity::kWarning;
  return std::nullopt;
}

Alert Base(const DriftSubject& subject, const char* kind, AlertSeverity severity) {
  Alert alert;
  alert.kind = kind;
  alert.severity = severity;
  alert.job_id = subject.job_id;
  alert.model = subject.model;
  alert.model_version = subject.model_version;
  return alert;
}

std::string ModelName(const DriftSubject& subject) {
  if (subject.model.empty()) return "the model";
  return subject.model + (subject.model_version ? " version " + std::to_string(*subject.model_version) : "");
}

}  // namespace

int RaiseDriftAlerts(const data::DriftReport& report, const data::DriftThresholds& thresholds,
                     const DriftSubject& subject, AlertSink& sink) {
  if (report.records == 0) return 0;
  int raised = 0;
  const double worst_psi = report.max_feature_psi();
  const size_t needed = thresholds.FeaturesNeeded(report.features.size());
  std::optional<AlertSeverity> feature_severity;
  if (report.FeaturesAtLeast(thresholds.alert) >= needed) {
    feature_severity = AlertSeverity::kAlert;
  } else if (report.FeaturesAtLeast(thresholds.warn) >= needed) {
    feature_severity = AlertSeverity::kWarning;
  }
  if (auto severity = feature_severity) {
    Alert alert = Base(subject, "drift", *severity);
    const auto worst = report.Worst(thresholds.warn);
    json::array figures;
    std::string named;
    for (const data::FeatureDrift& feature : worst) {
      figures.push_back(json::object{{"feature", feature.name}, {"psi", feature.psi}});
      named += (named.empty() ? "" : ", ") + feature.name + " " + Fixed(feature.psi);
    }
    const size_t drifting = report.FeaturesAtLeast(thresholds.warn);
    alert.subject = worst.empty() ? "" : worst.front().name;
    alert.message = subject.source + " drifted from " + ModelName(subject) + "'s training data: " +
                    std::to_string(drifting) + " of " + std::to_string(report.features.size()) +
                    " features at PSI >= " + Fixed(thresholds.warn) + " (worst: " + named + ")";
    alert.details_json = json::serialize(json::object{{"records", report.records},
                                                      {"max_psi", worst_psi},
                                                      {"drifting_features", drifting},
                                                      {"warn", thresholds.warn},
                                                      {"alert", thresholds.alert},
                                                      {"feature_share", thresholds.feature_share},
                                                      {"worst", std::move(figures)}});
    sink.Raise(alert);
    ++raised;
  }
  if (report.has_prediction) {
    if (auto severity = SeverityOf(report.prediction_psi, thresholds)) {
      Alert alert = Base(subject, "prediction_drift", *severity);
      alert.subject = "predicted class";
      alert.message = subject.source + ": the predicted classes of " + ModelName(subject) +
                      " drifted from the training labels (PSI " + Fixed(report.prediction_psi) + ")";
      alert.details_json = json::serialize(json::object{{"records", report.records},
                                                        {"psi", report.prediction_psi},
                                                        {"warn", thresholds.warn},
                                                        {"alert", thresholds.alert}});
      sink.Raise(alert);
      ++raised;
    }
  }
  return raised;
}

}  // namespace aimass::service
