#include "coordinator/service/monitor/alerts_api.h"

#include <boost/json.hpp>

#include "coordinator/service/monitor/alert_store.h"
#include "coordinator/service/monitor/evaluation_store.h"

namespace aimass::service {

namespace json = boost::json;

namespace {

constexpr int64_t kDefaultAlerts = 100;
constexpr int64_t kMostAlerts = 1000;
constexpr size_t kMostKindLength = 64;

json::value OptionalInt(const std::optional<int64_t>& value) {
  return value ? json::value(*value) : json::value(nullptr);
}

json::object AlertJson(const AlertRecord& record) {
  const Alert& alert = record.alert;
  return json::object{{"id", record.id},
                      {"at", IsoTime(record.at_ms)},
                      {"kind", alert.kind},
                      {"severity", AlertSeverityName(alert.severity)},
                      {"job", OptionalInt(alert.job_id)},
                      {"model", alert.model.empty() ? json::value(nullptr) : json::value(alert.model)},
                      {"version", OptionalInt(alert.model_version)},
                      {"subject", alert.subject},
                      {"message", alert.message},
                      {"details", ParseStored(alert.details_json)}};
}

Result<AlertFilter> ParseFilter(const http::Request& request) {
  for (const auto& [key, value] : request.query) {
    if (key != "job" && key != "model" && key != "kind" && key != "limit") {
      return Status::InvalidArgument("unknown query parameter '" + key + "' (job, model, kind or limit)");
    }
  }
  AlertFilter filter;
  AIMASS_ASSIGN_OR_RETURN(int64_t limit, QueryLimit(request, kDefaultAlerts, kMostAlerts));
  filter.limit = static_cast<uint32_t>(limit);
  if (auto job = request.query.find("job"); job != request.query.end()) {
    auto id = ParseId(job->second, "job");
    if (!id.ok()) return Status::InvalidArgument("job: must be a job id (a number)");
    filter.job_id = *id;
  }
  if (auto model = request.query.find("model"); model != request.query.end()) {
    if (!ValidModelName(model->second)) {
      return Status::InvalidArgument("model: use 1-64 of A-Z a-z 0-9 . _ -");
    }
    filter.model = model->second;
  }
  if (auto kind = request.query.find("kind"); kind != request.query.end()) {
    if (kind->second.empty() || kind->second.size() > kMostKindLength) {
      return Status::InvalidArgument("kind: must be 1 to 64 characters");
    }
    filter.kind = kind->second;
  }
  return filter;
}

http::Response ListAlerts(SharedStore& store, const ApiCall& call) {
  AIMASS_ASSIGN_OR_RETURN_RESPONSE(AlertFilter filter, ParseFilter(call.request));
  auto listed = store.With([&](StateStore& state) -> Result<json::object> {
    AlertStore alerts(state.database());
    AIMASS_ASSIGN_OR_RETURN(std::vector<AlertRecord> records, alerts.List(filter));
    AIMASS_ASSIGN_OR_RETURN(int64_t total, alerts.Count());
    json::array items;
    for (const AlertRecord& record : records) items.push_back(AlertJson(record));
    return json::object{{"alerts", std::move(items)}, {"total", total}};
  });
  if (!listed.ok()) return FromStatus(listed.status());
  return JsonResponse(*listed);
}

http::Response GetEvaluation(SharedStore& store, const ApiCall& call) {
  const std::string& name = call.params[0];
  if (!ValidModelName(name)) return ErrorResponse(404, "not_found", "no model '" + name + "'");
  AIMASS_ASSIGN_OR_RETURN_RESPONSE(int64_t version, ParseId(call.params[1], "version"));
  struct Found {
    std::optional<int64_t> job;
    std::optional<std::string> report;
  };
  auto found = store.With([&](StateStore& state) -> Result<Found> {
    AIMASS_ASSIGN_OR_RETURN(ModelRecord model, state.GetModel(name));
    Found result;
    bool exists = false;
    for (const ModelVersionRecord& record : model.versions) {
      if (record.version == version) {
        exists = true;
        result.job = record.job_id;
      }
    }
    if (!exists) return Status::NotFound("model '" + name + "' has no version " + std::to_string(version));
    AIMASS_ASSIGN_OR_RETURN(result.report, EvaluationStore(state.database()).Get(name, version));
    return result;
  });
  if (!found.ok()) return FromStatus(found.status());
  if (!found->report) {
    return ErrorResponse(404, "no_evaluation",
                         "model '" + name + "' version " + std::to_string(version) +
                             " has no evaluation report: its train job had no test split");
  }
  return JsonResponse(json::object{{"model", name},
                                   {"version", version},
                                   {"job", OptionalInt(found->job)},
                                   {"report", ParseStored(*found->report)}});
}

}  // namespace

void AddAlertRoutes(RouteTable& routes, SharedStore& store) {
  routes.Add("GET", "/api/v1/alerts", Access::kViewer,
             [&store](ApiCall& call) { return ListAlerts(store, call); });
  routes.Add("GET", "/api/v1/models/{name}/versions/{version}/evaluation", Access::kViewer,
             [&store](ApiCall& call) { return GetEvaluation(store, call); });
}

}  // namespace aimass::service
