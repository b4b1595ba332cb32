#include "coordinator/service/monitor/alert_store.h"

namespace aimass::service {

Result<AlertSeverity> ParseAlertSeverity(const std::string& name) {
  for (AlertSeverity severity : {AlertSeverity::kWarning, AlertSeverity::kAlert}) {
    if (name == AlertSeverityName(severity)) return severity;
  }
  return Status::InvalidArgument("unknown alert severity '" + name + "'");
}

Result<int64_t> AlertStore::Insert(const Alert& alert, int64_t at_ms) {
  int64_t id = 0;
  Status inserted = db_.InTransaction([&]() -> Status {
    AIMASS_ASSIGN_OR_RETURN(
        Statement insert,
        db_.Prepare("INSERT INTO alerts (at_ms, kind, severity, job_id, model, model_version, subject, "
                    "message, details) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"));
    insert.Bind(1, at_ms)
        .Bind(2, alert.kind)
        .Bind(3, std::string(AlertSeverityName(alert.severity)))
        .Bind(4, alert.job_id)
        .Bind(5, alert.model)
        .Bind(6, alert.model_version)
        .Bind(7, alert.subject)
        .Bind(8, alert.message)
        .Bind(9, alert.details_json);
    AIMASS_RETURN_IF_ERROR(insert.Run());
    id = db_.last_insert_rowid();
    return Status::Ok();
  });
  AIMASS_RETURN_IF_ERROR(inserted);
  return id;
}

Result<std::vector<AlertRecord>> AlertStore::List(const AlertFilter& filter) {
  // Each filter is either unset (NULL or '') or an exact match.
  AIMASS_ASSIGN_OR_RETURN(
      Statement select,
      db_.Prepare("SELECT id, at_ms, kind, severity, job_id, model, model_version, subject, message, details "
                  "FROM alerts WHERE (?1 IS NULL OR job_id = ?1) AND (?2 = '' OR model = ?2) "
                  "AND (?3 = '' OR kind = ?3) ORDER BY id DESC LIMIT ?4"));
  select.Bind(1, filter.job_id).Bind(2, filter.model).Bind(3, filter.kind).Bind(4, static_cast<int64_t>(filter.limit));
  std::vector<AlertRecord> records;
  while (true) {
    AIMASS_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    AlertRecord record;
    record.id = select.Int(0);
    record.at_ms = select.Int(1);
    record.alert.kind = select.Text(2);
    AIMASS_ASSIGN_OR_RETURN(record.alert.severity, ParseAlertSeverity(select.Text(3)));
    record.alert.job_id = select.OptionalInt(4);
    record.alert.model = select.Text(5);
    record.alert.model_version = select.OptionalInt(6);
    record.alert.subject = select.Text(7);
    record.alert.message = select.Text(8);
    record.alert.details_json = select.Text(9);
    records.push_back(std::move(record));
  }
  return records;
}

Result<int64_t> AlertStore::Count() {
  AIMASS_ASSIGN_OR_RETURN(Statement select, db_.Prepare("SELECT COUNT(*) FROM alerts"));
  AIMASS_ASSIGN_OR_RETURN(bool row, select.Step());
  return row ? select.Int(0) : 0;
}

}  // namespace aimass::service
