#include "coordinator/job_summary.h"

#include <boost/json.hpp>

namespace aimass::coordinator {

namespace json = boost::json;

json::object ToJson(const TrainSummary& summary) {
  auto optional = [](const auto& value) { return value ? json::value(*value) : json::value(nullptr); };
  json::array restarts;
  for (const TrainRestart& restart : summary.restarts) {
    restarts.push_back(json::object{{"restart", restart.restart},
                                    {"reason", restart.reason},
                                    {"resumed_from_step", restart.resumed_from_step}});
  }
  return json::object{{"model", summary.model},
                      {"epochs", summary.epochs},
                      {"workers", summary.workers},
                      {"global_batch", summary.global_batch},
                      {"steps", summary.steps},
                      {"skipped_steps", summary.skipped_steps},
                      {"train_records", summary.train_records},
                      {"test_records", summary.test_records},
                      {"samples_per_second", summary.samples_per_second},
                      {"train_seconds", summary.train_seconds},
                      {"wall_seconds", summary.wall_seconds},
                      {"model_path", summary.model_path},
                      {"last_checkpoint", summary.last_checkpoint},
                      {"resumed_from_step", optional(summary.resumed_from_step)},
                      {"test_accuracy", optional(summary.test_accuracy)},
                      {"test_loss", optional(summary.test_loss)},
                      {"restarts", summary.restarts.size()},
                      {"restart_history", std::move(restarts)}};
}

json::object ToJson(const InferSummary& summary) {
  return json::object{{"output_path", summary.output_path},
                      {"records_in", summary.records_in},
                      {"records_out", summary.records_out},
                      {"bad_records", summary.bad_records},
                      {"splits", summary.splits},
                      {"failed_attempts", summary.failed_attempts},
                      {"resumed_splits", summary.resumed_splits},
                      {"records_per_second", summary.records_per_second},
                      {"wall_seconds", summary.wall_seconds},
                      {"already_complete", summary.already_complete}};
}

InferSummary InferSummaryFromManifest(const json::object& manifest) {
  auto number = [&](const char* key) {
    const auto* value = manifest.if_contains(key);
    return value && value->is_number() ? value->to_number<double>() : 0.0;
  };
  auto count = [&](const char* key) { return static_cast<uint64_t>(number(key)); };
  InferSummary summary;
  if (const auto* out = manifest.if_contains("output"); out && out->is_object()) {
    if (const auto* path = out->as_object().if_contains("path"); path && path->is_string()) {
      summary.output_path = std::string(path->as_string());
    }
  }
  summary.records_in = count("records_in");
  summary.records_out = count("records_out");
  summary.bad_records = count("bad_records");
  summary.splits = count("splits");
  summary.failed_attempts = count("failed_attempts");
  summary.resumed_splits = count("resumed_splits");
  summary.records_per_second = number("records_per_second");
  summary.wall_seconds = number("wall_seconds");
  return summary;
}

}  // namespace aimass::coordinator
