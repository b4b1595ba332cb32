// The model_evaluations table (schema: store/state_store.cc, migration "alerts"): the
// evaluation report (evaluation_report.h, as JSON) of each model version whose train job had
// a test split. A version without a row has no report.
//
// Thread safety: none; use it inside SharedStore::With (the Database's one connection).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/status.h"
#include "coordinator/service/store/sqlite_database.h"
#include "coordinator/service/store/state_store.h"

namespace aimass::service {

class EvaluationStore {
 public:
  explicit EvaluationStore(Database& db) : db_(db) {}
  // One transaction; the version must exist (the foreign key refuses another),
  // and a report already stored for it is replaced.
  [[nodiscard]] Status Put(const std::string& model, int64_t version, const std::string& report_json);
  // nullopt: the version has no report.
  [[nodiscard]] Result<std::optional<std::string>> Get(const std::string& model, int64_t version);

 private:
  Database& db_;
};

// At registration: the report of `job_id`'s last evaluation that carries a confusion matrix
// (job_recorder.cc stores it with the evaluation), stored for `model` `version`. Returns
// whether there was one (false: the job had no test split, or more than 1000 classes).
[[nodiscard]] Result<bool> StoreEvaluationOfJob(StateStore& store, const std::string& model,
                                                int64_t version, int64_t job_id);

}  // namespace aimass::service
