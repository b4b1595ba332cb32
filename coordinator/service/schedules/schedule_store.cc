#include "coordinator/service/schedules/schedule_store.h"

namespace aimass::service {
namespace {

constexpr const char* kScheduleColumns =
    "id, name, model, config_yaml, workers, cron, data_path, data_partition, misfire, paused, "
    "cron_cursor_ms, created_by, created_at_ms";

Result<ScheduleRecord> ReadSchedule(const Statement& row) {
  ScheduleRecord schedule;
  schedule.id = row.Int(0);
  schedule.name = row.Text(1);
  schedule.model = row.Text(2);
  schedule.config_yaml = row.Text(3);
  schedule.workers = static_cast<uint32_t>(row.Int(4));
  schedule.cron = row.Text(5);
  schedule.data_path = row.Text(6);
  schedule.data_partition = row.Text(7);
  AIMASS_ASSIGN_OR_RETURN(schedule.misfire, ParseMisfire(row.Text(8)));
  schedule.paused = row.Int(9) != 0;
  schedule.cron_cursor_ms = row.Int(10);
  schedule.created_by = row.Text(11);
  schedule.created_at_ms = row.Int(12);
  return schedule;
}

// A fire that is already there (or a schedule paused or deleted meanwhile): Fire's `also`
// reports it with this, and Fire turns it into nullopt after the rollback.
constexpr const char kAlreadyFired[] = "already fired";

}  // namespace

const char* MisfireName(Misfire misfire) {
  return misfire == Misfire::kSkip ? "skip" : "run_once";
}

Result<Misfire> ParseMisfire(const std::string& name) {
  if (name == "run_once") return Misfire::kRunOnce;
  if (name == "skip") return Misfire::kSkip;
  return Status::InvalidArgument("misfire: must be run_once or skip, not '" + name + "'");
}

bool ValidScheduleName(const std::string& name) { return ValidModelName(name); }

Result<int64_t> ScheduleStore::Create(const NewSchedule& schedule, int64_t now_ms) {
  if (!ValidScheduleName(schedule.name)) {
    return Status::InvalidArgument("name: '" + schedule.name + "' is not a schedule name (1-64 of A-Z a-z 0-9 . _ -)");
  }
  if (schedule.cron.empty() == schedule.data_path.empty()) {
    return Status::InvalidArgument("a schedule needs exactly one of cron and on_data");
  }
  if (schedule.workers == 0) return Status::InvalidArgument("workers: must be at least 1");
  int64_t id = 0;
  Status created = db_.InTransaction([&]() -> Status {
    AIMASS_ASSIGN_OR_RETURN(
        Statement taken, db_.Prepare("SELECT 1 FROM schedules WHERE name = ?1 AND deleted_at_ms IS NULL"));
    taken.Bind(1, schedule.name);
    AIMASS_ASSIGN_OR_RETURN(bool exists, taken.Step());
    if (exists) return Status::AlreadyExists("a schedule named '" + schedule.name + "' exists");
    AIMASS_ASSIGN_OR_RETURN(
        Statement insert,
        db_.Prepare("INSERT INTO schedules (name, model, config_yaml, workers, cron, data_path, "
                    "data_partition, misfire, cron_cursor_ms, created_by, created_at_ms) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?9)"));
    insert.Bind(1, schedule.name)
        .Bind(2, schedule.model)
        .Bind(3, schedule.config_yaml)
        .Bind(4, static_cast<int64_t>(schedule.workers))
        .Bind(5, schedule.cron)
        .Bind(6, schedule.data_path)
        .Bind(7, schedule.data_partition)
        .Bind(8, std::string(MisfireName(schedule.misfire)))
        .Bind(9, now_ms)
        .Bind(10, schedule.created_by);
    AIMASS_RETURN_IF_ERROR(insert.Run());
    id = db_.last_insert_rowid();
    return Status::Ok();
  });
  AIMASS_RETURN_IF_ERROR(created);
  return id;
}

Result<ScheduleRecord> ScheduleStore::Get(int64_t id) {
  AIMASS_ASSIGN_OR_RETURN(
      Statement select,
      db_.Prepare(std::string("SELECT ") + kScheduleColumns +
                  " FROM schedules WHERE id = ?1 AND deleted_at_ms IS NULL"));
  select.Bind(1, id);
  AIMASS_ASSIGN_OR_RETURN(bool found, select.Step());
  if (!found) return Status::NotFound("no schedule " + std::to_string(id));
  return ReadSchedule(select);
}

Result<std::vector<ScheduleRecord>> ScheduleStore::List() {
  AIMASS_ASSIGN_OR_RETURN(
      Statement select,
      db_.Prepare(std::string("SELECT ") + kScheduleColumns +
                  " FROM schedules WHERE deleted_at_ms IS NULL ORDER BY id"));
  std::vector<ScheduleRecord> schedules;
  while (true) {
    AIMASS_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    AIMASS_ASSIGN_OR_RETURN(ScheduleRecord schedule, ReadSchedule(select));
    schedules.push_back(std::move(schedule));
  }
  return schedules;
}

Status ScheduleStore::SetPaused(int64_t id, bool paused, int64_t now_ms) {
  AIMASS_ASSIGN_OR_RETURN(
      Statement update,
      db_.Prepare("UPDATE schedules SET paused = ?2, "
                  "cron_cursor_ms = CASE WHEN ?2 = 0 AND paused = 1 THEN MAX(cron_cursor_ms, ?3) "
                  "ELSE cron_cursor_ms END "
                  "WHERE id = ?1 AND deleted_at_ms IS NULL"));
  update.Bind(1, id).Bind(2, static_cast<int64_t>(paused ? 1 : 0)).Bind(3, now_ms);
  return db_.InTransaction([&]() -> Status {
    AIMASS_RETURN_IF_ERROR(update.Run());
    if (db_.changes() == 0) return Status::NotFound("no schedule " + std::to_string(id));
    return Status::Ok();
  });
}

Status ScheduleStore::Delete(int64_t id, int64_t now_ms) {
  AIMASS_ASSIGN_OR_RETURN(
      Statement update,
      db_.Prepare("UPDATE schedules SET deleted_at_ms = ?2 WHERE id = ?1 AND deleted_at_ms IS NULL"));
  update.Bind(1, id).Bind(2, now_ms);
  return db_.InTransaction([&]() -> Status {
    AIMASS_RETURN_IF_ERROR(update.Run());
    if (db_.changes() == 0) return Status::NotFound("no schedule " + std::to_string(id));
    return Status::Ok();
  });
}

Status ScheduleStore::SetCronCursor(int64_t id, int64_t cursor_ms) {
  AIMASS_ASSIGN_OR_RETURN(
      Statement update,
      db_.Prepare("UPDATE schedules SET cron_cursor_ms = MAX(cron_cursor_ms, ?2) WHERE id = ?1"));
  update.Bind(1, id).Bind(2, cursor_ms);
  return db_.InTransaction([&] { return update.Run(); });
}

Result<std::set<std::string>> ScheduleStore::FiredKeys(int64_t id) {
  AIMASS_ASSIGN_OR_RETURN(Statement select,
                          db_.Prepare("SELECT fire_key FROM schedule_fires WHERE schedule_id = ?1"));
  select.Bind(1, id);
  std::set<std::string> keys;
  while (true) {
    AIMASS_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    keys.insert(select.Text(0));
  }
  return keys;
}

Result<std::vector<ScheduleFire>> ScheduleStore::RecentFires(int64_t id, uint32_t limit) {
  AIMASS_ASSIGN_OR_RETURN(
      Statement select,
      db_.Prepare("SELECT f.fire_key, f.job_id, j.state, f.fired_at_ms FROM schedule_fires f "
                  "JOIN jobs j ON j.id = f.job_id WHERE f.schedule_id = ?1 "
                  "ORDER BY f.id DESC LIMIT ?2"));
  select.Bind(1, id).Bind(2, static_cast<int64_t>(limit));
  std::vector<ScheduleFire> fires;
  while (true) {
    AIMASS_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    ScheduleFire fire;
    fire.key = select.Text(0);
    fire.job_id = select.Int(1);
    AIMASS_ASSIGN_OR_RETURN(fire.job_state, ParseJobState(select.Text(2)));
    fire.fired_at_ms = select.Int(3);
    fires.push_back(std::move(fire));
  }
  return fires;
}

Result<std::optional<int64_t>> ScheduleStore::Fire(int64_t id, const std::string& key, const NewJob& job,
                                                   std::optional<int64_t> cron_cursor_ms,
                                                   int64_t now_ms) {
  bool already_fired = false;  // or not to fire at all
  auto queued = store_.InsertJob(job, [&](int64_t job_id) -> Status {
    // Paused or deleted since the runner read it: the pause or the delete wins.
    AIMASS_ASSIGN_OR_RETURN(
        Statement live,
        db_.Prepare("SELECT 1 FROM schedules WHERE id = ?1 AND paused = 0 AND deleted_at_ms IS NULL"));
    live.Bind(1, id);
    AIMASS_ASSIGN_OR_RETURN(bool active, live.Step());
    if (!active) {
      already_fired = true;
      return Status::FailedPrecondition(kAlreadyFired);
    }
    AIMASS_ASSIGN_OR_RETURN(
        Statement insert,
        db_.Prepare("INSERT INTO schedule_fires (schedule_id, fire_key, job_id, fired_at_ms) "
                    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (schedule_id, fire_key) DO NOTHING"));
    insert.Bind(1, id).Bind(2, key).Bind(3, job_id).Bind(4, now_ms);
    AIMASS_RETURN_IF_ERROR(insert.Run());
    if (db_.changes() == 0) {
      already_fired = true;
      return Status::AlreadyExists(kAlreadyFired);
    }
    AIMASS_ASSIGN_OR_RETURN(Statement link,
                            db_.Prepare("UPDATE jobs SET schedule_id = ?1 WHERE id = ?2"));
    link.Bind(1, id).Bind(2, job_id);
    AIMASS_RETURN_IF_ERROR(link.Run());
    if (!cron_cursor_ms) return Status::Ok();
    AIMASS_ASSIGN_OR_RETURN(
        Statement cursor,
        db_.Prepare("UPDATE schedules SET cron_cursor_ms = MAX(cron_cursor_ms, ?2) WHERE id = ?1"));
    cursor.Bind(1, id).Bind(2, *cron_cursor_ms);
    return cursor.Run();
  });
  if (already_fired) return std::optional<int64_t>();
  AIMASS_RETURN_IF_ERROR(queued.status());
  return std::optional<int64_t>(*queued);
}

}  // namespace aimass::service
