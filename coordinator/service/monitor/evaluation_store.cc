#include "coordinator/service/monitor/evaluation_store.h"

#include <boost/json.hpp>

#include "coordinator/service/monitor/evaluation_report.h"

namespace aimass::service {

Status EvaluationStore::Put(const std::string& model, int64_t version, const std::string& report_json) {
  return db_.InTransaction([&]() -> Status {
    AIMASS_ASSIGN_OR_RETURN(
        Statement insert,
        db_.Prepare("INSERT INTO model_evaluations (model, version, report) VALUES (?1, ?2, ?3) "
                    "ON CONFLICT (model, version) DO UPDATE SET report = excluded.report"));
    insert.Bind(1, model).Bind(2, version).Bind(3, report_json);
    return insert.Run();
  });
}

Result<std::optional<std::string>> EvaluationStore::Get(const std::string& model, int64_t version) {
  AIMASS_ASSIGN_OR_RETURN(
      Statement select,
      db_.Prepare("SELECT report FROM model_evaluations WHERE model = ?1 AND version = ?2"));
  select.Bind(1, model).Bind(2, version);
  AIMASS_ASSIGN_OR_RETURN(bool row, select.Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(select.Text(0));
}

Result<bool> StoreEvaluationOfJob(StateStore& store, const std::string& model, int64_t version,
                                  int64_t job_id) {
  namespace json = boost::json;
  AIMASS_ASSIGN_OR_RETURN(std::vector<JobMetric> metrics, store.ListJobMetrics(job_id));
  for (auto metric = metrics.rbegin(); metric != metrics.rend(); ++metric) {
    if (metric->kind != "evaluation") continue;
    boost::system::error_code error;
    json::value body = json::parse(metric->body_json, error);
    if (error || !body.is_object()) continue;
    const json::value* cells = body.as_object().if_contains("confusion");
    if (cells == nullptr || !cells->is_array()) continue;
    std::vector<uint64_t> confusion;
    confusion.reserve(cells->as_array().size());
    for (const json::value& cell : cells->as_array()) {
      if (cell.is_uint64()) {
        confusion.push_back(cell.as_uint64());
      } else if (cell.is_int64() && cell.as_int64() >= 0) {
        confusion.push_back(static_cast<uint64_t>(cell.as_int64()));
      } else {
        return Status::Corruption("job " + std::to_string(job_id) + ": a confusion matrix holds a non-count");
      }
    }
    AIMASS_ASSIGN_OR_RETURN(EvaluationReport report, ComputeEvaluationReport(confusion));
    json::object report_json = ToJson(report);
    if (const json::value* epoch = body.as_object().if_contains("epoch")) report_json["epoch"] = *epoch;
    AIMASS_RETURN_IF_ERROR(EvaluationStore(store.database()).Put(model, version, json::serialize(report_json)));
    return true;
  }
  return false;
}

}  // namespace aimass::service
