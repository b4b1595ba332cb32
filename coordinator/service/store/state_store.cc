#include "coordinator/service/store/state_store.h"

#include <array>
#include <chrono>
#include <filesystem>

#include "common/net/handshake.h"
#include "common/sha256.h"

namespace aimass::service {
namespace {

// Schema versions, applied in order inside one transaction each; PRAGMA user_version records
// the last one applied. Never edit a released step: add the next one.
const char* const kMigrations[] = {
    // 1: jobs, tokens, audit.
    R"sql(
    CREATE TABLE jobs (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      kind TEXT NOT NULL CHECK (kind IN ('train', 'infer')),
      state TEXT NOT NULL,
      config_yaml TEXT NOT NULL,
      workers INTEGER NOT NULL CHECK (workers > 0),
      submitted_by TEXT NOT NULL,
      register_as TEXT NOT NULL DEFAULT '',
      created_at_ms INTEGER NOT NULL,
      started_at_ms INTEGER,
      finished_at_ms INTEGER,
      error TEXT NOT NULL DEFAULT '',
      summary_json TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX jobs_by_state ON jobs (state);
    CREATE TABLE tokens (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      secret_sha256 TEXT NOT NULL UNIQUE,
      role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
      description TEXT NOT NULL DEFAULT '',
      created_at_ms INTEGER NOT NULL,
      revoked_at_ms INTEGER
    );
    CREATE TABLE audit (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      at_ms INTEGER NOT NULL,
      actor TEXT NOT NULL,
      action TEXT NOT NULL,
      target TEXT NOT NULL,
      remote TEXT NOT NULL
    );
    )sql",
    // 2: the model registry: models, their numbered versions, aliases and every alias move.
    R"sql(
    CREATE TABLE models (
      name TEXT PRIMARY KEY,
      created_at_ms INTEGER NOT NULL
    );
    CREATE TABLE model_versions (
      model TEXT NOT NULL REFERENCES models (name),
      version INTEGER NOT NULL CHECK (version > 0),
      job_id INTEGER REFERENCES jobs (id),
      dataset TEXT NOT NULL,
      config_yaml TEXT NOT NULL,
      metrics_json TEXT NOT NULL,
      artifact_sha256 TEXT NOT NULL,
      created_by TEXT NOT NULL,
      created_at_ms INTEGER NOT NULL,
      PRIMARY KEY (model, version)
    );
    CREATE TABLE model_aliases (
      model TEXT NOT NULL,
      alias TEXT NOT NULL,
      version INTEGER NOT NULL,
      PRIMARY KEY (model, alias),
      FOREIGN KEY (model, version) REFERENCES model_versions (model, version)
    );
    CREATE TABLE alias_moves (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      model TEXT NOT NULL,
      alias TEXT NOT NULL,
      from_version INTEGER,
      to_version INTEGER NOT NULL,
      moved_by TEXT NOT NULL,
      at_ms INTEGER NOT NULL
    );
    )sql",
    // 3: what the service needs to run jobs: each job's directory, the process group of its
    // current launch (to clean up after a crash), and its step metrics and evaluations.
    R"sql(
    ALTER TABLE jobs ADD COLUMN directory TEXT NOT NULL DEFAULT '';
    ALTER TABLE jobs ADD COLUMN process_group INTEGER;
    ALTER TABLE jobs ADD COLUMN process_tag TEXT NOT NULL DEFAULT '';
    CREATE TABLE job_metrics (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      job_id INTEGER NOT NULL REFERENCES jobs (id),
      kind TEXT NOT NULL CHECK (kind IN ('step', 'evaluation', 'split')),
      body TEXT NOT NULL
    );
    CREATE INDEX job_metrics_by_job ON job_metrics (job_id, id);
    CREATE INDEX model_versions_by_job ON model_versions (job_id);
    )sql",
    // 4: schedules (cron or data-triggered infer jobs) and their fires. A fire (a cron time or
    // a partition's name) is inserted in the transaction that queues its job, and UNIQUE
    // (schedule_id, fire_key) makes a second fire of the same key fail as a whole: the rule
    // that runs a schedule at most once per key, across restarts and crashes. A deleted
    // schedule keeps its row (its jobs still name it); only live names must be unique.
    R"sql(
    CREATE TABLE schedules (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      name TEXT NOT NULL,
      model TEXT NOT NULL,
      config_yaml TEXT NOT NULL,
      workers INTEGER NOT NULL CHECK (workers > 0),
      cron TEXT NOT NULL DEFAULT '',
      data_path TEXT NOT NULL DEFAULT '',
      data_partition TEXT NOT NULL DEFAULT '',
      misfire TEXT NOT NULL CHECK (misfire IN ('run_once', 'skip')),
      paused INTEGER NOT NULL DEFAULT 0,
      cron_cursor_ms INTEGER NOT NULL,
      created_by TEXT NOT NULL,
      created_at_ms INTEGER NOT NULL,
      deleted_at_ms INTEGER,
      CHECK ((cron = '') <> (data_path = ''))
    );
    CREATE UNIQUE INDEX schedules_live_names ON schedules (name) WHERE deleted_at_ms IS NULL;
    CREATE TABLE schedule_fires (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      schedule_id INTEGER NOT NULL REFERENCES schedules (id),
      fire_key TEXT NOT NULL,
      job_id INTEGER NOT NULL REFERENCES jobs (id),
      fired_at_ms INTEGER NOT NULL,
      UNIQUE (schedule_id, fire_key)
    );
    ALTER TABLE jobs ADD COLUMN schedule_id INTEGER REFERENCES schedules (id);
    CREATE INDEX jobs_by_schedule ON jobs (schedule_id);
    )sql",
    // 5: how each model is served online (coordinator/service/serving/).
    R"sql(
    CREATE TABLE serving_configs (
      model TEXT PRIMARY KEY,
      config TEXT NOT NULL,
      updated_by TEXT NOT NULL,
      updated_at_ms INTEGER NOT NULL
    );
    )sql",
    // 6: alerts the platform's watchers raised (monitor/alert_store.h), and the evaluation
    // report of each model version that had a test split (monitor/evaluation_store.h).
    R"sql(
    CREATE TABLE alerts (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      at_ms INTEGER NOT NULL,
      kind TEXT NOT NULL,
      severity TEXT NOT NULL CHECK (severity IN ('warning', 'alert')),
      job_id INTEGER,
      model TEXT NOT NULL DEFAULT '',
      model_version INTEGER,
      subject TEXT NOT NULL DEFAULT '',
      message TEXT NOT NULL,
      details TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX alerts_by_job ON alerts (job_id, id);
    CREATE INDEX alerts_by_model ON alerts (model, id);
    CREATE TABLE model_evaluations (
      model TEXT NOT NULL,
      version INTEGER NOT NULL,
      report TEXT NOT NULL,
      PRIMARY KEY (model, version),
      FOREIGN KEY (model, version) REFERENCES model_versions (model, version)
    );
    )sql",
    // 7: data profiles and the dataset catalogue (data_catalog_store.h): a model version's
    // training profile, and the registered datasets with their profiling outcome.
    R"sql(
    CREATE TABLE model_profiles (
      model TEXT NOT NULL,
      version INTEGER NOT NULL,
      profile TEXT NOT NULL,
      PRIMARY KEY (model, version),
      FOREIGN KEY (model, version) REFERENCES model_versions (model, version)
    );
    CREATE TABLE datasets (
      name TEXT PRIMARY KEY,
      description TEXT NOT NULL,
      owner TEXT NOT NULL,
      input_yaml TEXT NOT NULL,
      input_path TEXT NOT NULL,
      created_by TEXT NOT NULL,
      created_at_ms INTEGER NOT NULL,
      state TEXT NOT NULL CHECK (state IN ('profiling', 'ready', 'failed')),
      error TEXT NOT NULL DEFAULT '',
      profile TEXT NOT NULL DEFAULT '',
      schema_json TEXT NOT NULL DEFAULT '',
      records INTEGER
    );
    )sql",
    // 8: facts fixed when a job is accepted, so that nothing re-parses stored configs later:
    // the input path it reads, resolved and confined, and the model an infer job scores with, as
    // written (lineage: which jobs and versions used a dataset); and how many times a restarted
    // server resumed it after an interruption.
    R"sql(
    ALTER TABLE jobs ADD COLUMN input_path TEXT NOT NULL DEFAULT '';
    ALTER TABLE jobs ADD COLUMN resumes INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN model_reference TEXT NOT NULL DEFAULT '';
    CREATE INDEX jobs_by_input_path ON jobs (input_path);
    ALTER TABLE model_versions ADD COLUMN input_path TEXT NOT NULL DEFAULT '';
    CREATE INDEX model_versions_by_input_path ON model_versions (input_path);
    )sql",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == StateStore::kSchemaVersion,
              "one migration per schema version");

constexpr std::array<JobState, 6> kJobStates = {JobState::kQueued,    JobState::kRunning,
                                                JobState::kSucceeded, JobState::kFailed,
                                                JobState::kCancelled, JobState::kInterrupted};
constexpr std::array<Role, 3> kRoles = {Role::kViewer, Role::kOperator, Role::kAdmin};

int64_t SystemMilliseconds() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The model version a job registered is read from the registry (model_versions.job_id), so
// the two can never disagree.
constexpr const char* kJobColumns =
    "id, kind, state, config_yaml, workers, submitted_by, register_as, created_at_ms, "
    "started_at_ms, finished_at_ms, error, summary_json, directory, process_group, process_tag, "
    "(SELECT model FROM model_versions v WHERE v.job_id = jobs.id ORDER BY v.created_at_ms DESC, "
    "v.version DESC LIMIT 1), "
    "(SELECT version FROM model_versions v WHERE v.job_id = jobs.id ORDER BY v.created_at_ms DESC, "
    "v.version DESC LIMIT 1), schedule_id, input_path, model_reference, resumes";

Result<JobRecord> ReadJob(const Statement& row) {
  JobRecord job;
  job.id = row.Int(0);
  job.kind = row.Text(1);
  AIMASS_ASSIGN_OR_RETURN(job.state, ParseJobState(row.Text(2)));
  job.config_yaml = row.Text(3);
  job.workers = static_cast<uint32_t>(row.Int(4));
  job.submitted_by = row.Text(5);
  job.register_as = row.Text(6);
  job.created_at_ms = row.Int(7);
  job.started_at_ms = row.OptionalInt(8);
  job.finished_at_ms = row.OptionalInt(9);
  job.error = row.Text(10);
  job.summary_json = row.Text(11);
  job.directory = row.Text(12);
  job.process_group = row.OptionalInt(13);
  job.process_tag = row.Text(14);
  if (!row.IsNull(15)) {
    job.model_name = row.Text(15);
    job.model_version = row.OptionalInt(16);
  }
  job.schedule_id = row.OptionalInt(17);
  job.input_path = row.Text(18);
  job.model_reference = row.Text(19);
  job.resumes = static_cast<uint32_t>(row.Int(20));
  return job;
}

bool AllowedTransition(JobState from, JobState to) {
  if (IsFinal(from)) return false;
  if (from == JobState::kQueued) return to == JobState::kRunning || to == JobState::kCancelled;
  return to != JobState::kQueued && to != JobState::kRunning;  // running -> a final state
}

}  // namespace

const char* JobStateName(JobState state) {
  switch (state) {
    case JobState::kQueued: return "queued";
    case JobState::kRunning: return "running";
    case JobState::kSucceeded: return "succeeded";
    case JobState::kFailed: return "failed";
    case JobState::kCancelled: return "cancelled";
    case JobState::kInterrupted: return "interrupted";
  }
  return "unknown";
}

Result<JobState> ParseJobState(const std::string& name) {
  for (JobState state : kJobStates) {
    if (name == JobStateName(state)) return state;
  }
  return Status::InvalidArgument("unknown job state '" + name + "'");
}

bool IsFinal(JobState state) {
  return state != JobState::kQueued && state != JobState::kRunning;
}

const char* RoleName(Role role) {
  switch (role) {
    case Role::kViewer: return "viewer";
    case Role::kOperator: return "operator";
    case Role::kAdmin: return "admin";
  }
  return "unknown";
}

Result<Role> ParseRole(const std::string& name) {
  for (Role role : kRoles) {
    if (name == RoleName(role)) return role;
  }
  return Status::InvalidArgument("unknown role '" + name + "' (viewer, operator or admin)");
}

Result<std::unique_ptr<StateStore>> StateStore::Open(const std::string& state_dir, Clock clock) {
  std::error_code error;
  std::filesystem::create_directories(state_dir, error);
  if (error) return Status::Error("state directory " + state_dir + ": " + error.message());
  AIMASS_ASSIGN_OR_RETURN(auto db, Database::Open(state_dir + "/state.db"));
  std::unique_ptr<StateStore> store(
      new StateStore(std::move(db), clock ? std::move(clock) : Clock(SystemMilliseconds)));
  AIMASS_RETURN_IF_ERROR(store->Migrate());
  return store;
}

Status StateStore::Migrate() {
  AIMASS_ASSIGN_OR_RETURN(Statement version_query, db_->Prepare("PRAGMA user_version"));
  AIMASS_ASSIGN_OR_RETURN(bool has_row, version_query.Step());
  const int64_t version = has_row ? version_query.Int(0) : 0;
  if (version > kSchemaVersion) {
    return Status::FailedPrecondition(
        db_->path() + " has schema version " + std::to_string(version) + ", newer than this " +
        "aimass understands (" + std::to_string(kSchemaVersion) + "): use a newer aimass");
  }
  for (int64_t next = version + 1; next <= kSchemaVersion; ++next) {
    Status migrated = db_->InTransaction([&]() -> Status {
      AIMASS_RETURN_IF_ERROR(db_->Execute(kMigrations[next - 1]));
      return db_->Execute("PRAGMA user_version = " + std::to_string(next));
    });
    AIMASS_RETURN_IF_ERROR(migrated);
  }
  return Status::Ok();
}

Result<int64_t> StateStore::InsertJob(const NewJob& job) { return InsertJob(job, {}); }

Result<int64_t> StateStore::InsertJob(const NewJob& job,
                                      const std::function<Status(int64_t job_id)>& also) {
  if (job.kind != "train" && job.kind != "infer") {
    return Status::InvalidArgument("job kind must be train or infer, not '" + job.kind + "'");
  }
  if (job.workers == 0) return Status::InvalidArgument("a job needs at least one worker");
  AIMASS_ASSIGN_OR_RETURN(
      Statement insert,
      db_->Prepare("INSERT INTO jobs (kind, state, config_yaml, workers, submitted_by, "
                   "register_as, created_at_ms, input_path, model_reference) "
                   "VALUES (?1, 'queued', ?2, ?3, ?4, ?5, ?6, ?7, ?8)"));
  insert.Bind(1, job.kind)
      .Bind(2, job.config_yaml)
      .Bind(3, static_cast<int64_t>(job.workers))
      .Bind(4, job.submitted_by)
      .Bind(5, job.register_as)
      .Bind(6, clock_())
      .Bind(7, job.input_path)
      .Bind(8, job.model_reference);
  int64_t id = 0;
  Status inserted = db_->InTransaction([&]() -> Status {
    AIMASS_RETURN_IF_ERROR(insert.Run());
    id = db_->last_insert_rowid();
    return also ? also(id) : Status::Ok();
  });
  AIMASS_RETURN_IF_ERROR(inserted);
  return id;
}

Result<JobRecord> StateStore::GetJob(int64_t id) {
  AIMASS_ASSIGN_OR_RETURN(
      Statement select, db_->Prepare(std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id = ?1"));
  select.Bind(1, id);
  AIMASS_ASSIGN_OR_RETURN(bool found, select.Step());
  if (!found) return Status::NotFound("no job " + std::to_string(id));
  return ReadJob(select);
}

Result<std::vector<JobRecord>> StateStore::ListJobs(uint32_t limit) {
  AIMASS_ASSIGN_OR_RETURN(
      Statement select,
      db_->Prepare(std::string("SELECT ") + kJobColumns + " FROM jobs ORDER BY id DESC LIMIT ?1"));
  select.Bind(1, static_cast<int64_t>(limit));
  std::vector<JobRecord> jobs;
  while (true) {
    AIMASS_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    AIMASS_ASSIGN_OR_RETURN(JobRecord job, ReadJob(select));
    jobs.push_back(std::move(job));
  }
  return jobs;
}

Status StateStore::SetJobState(int64_t id, JobState state, const std::string& error,
                               const std::string& summary_json) {
  return db_->InTransaction([&]() -> Status {
    AIMASS_ASSIGN_OR_RETURN(JobRecord job, GetJob(id));
    if (!AllowedTransition(job.state, state)) {
      return Status::FailedPrecondition("job " + std::to_string(id) + " is " +
                                        JobStateName(job.state) + ", it cannot become " +
                                        JobStateName(state));
    }
    const int64_t now = clock_();
    AIMASS_ASSIGN_OR_RETURN(
        Statement update,
        db_->Prepare("UPDATE jobs SET state = ?2, error = ?3, "
                     "summary_json = CASE WHEN ?4 = '' THEN summary_json ELSE ?4 END, "
                     "started_at_ms = CASE WHEN ?2 = 'running' THEN COALESCE(started_at_ms, ?5) "
                     "ELSE started_at_ms END, "
                     "finished_at_ms = CASE WHEN ?6 THEN ?5 ELSE finished_at_ms END "
                     "WHERE id = ?1"));
    update.Bind(1, id)
        .Bind(2, std::string(JobStateName(state)))
        .Bind(3, error)
        .Bind(4, summary_json)
        .Bind(5, now)
        .Bind(6, static_cast<int64_t>(IsFinal(state) ? 1 : 0));
    return update.Run();
  });
}

Result<std::vector<int64_t>> StateStore::ListRunningJobIds() {
  AIMASS_ASSIGN_OR_RETURN(Statement select,
                          db_->Prepare("SELECT id FROM jobs WHERE state = 'running' ORDER BY id"));
  std::vector<int64_t> ids;
  while (true) {
    AIMASS_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    ids.push_back(select.Int(0));
  }
  return ids;
}

Status StateStore::RecoverInterruptedJob(int64_t id, bool resume, const std::string& error) {
  return db_->InTransaction([&]() -> Status {
    AIMASS_ASSIGN_OR_RETURN(JobRecord job, GetJob(id));
    if (job.state != JobState::kRunning) {
      return Status::FailedPrecondition("job " + std::to_string(id) + " is " + JobStateName(job.state) +
                                        ", not running: there is nothing to recover");
    }
    // Not through SetJobState: running -> queued is no move the scheduler may make, only this
    // start-up step.
    AIMASS_ASSIGN_OR_RETURN(
        Statement update,
        db_->Prepare(resume ? "UPDATE jobs SET state = 'queued', resumes = resumes + 1, error = '', "
                              "process_group = NULL, process_tag = '' WHERE id = ?1"
                            : "UPDATE jobs SET state = 'interrupted', finished_at_ms = ?2, error = ?3, "
                              "process_group = NULL, process_tag = '' WHERE id = ?1"));
    update.Bind(1, id);
    if (!resume) update.Bind(2, clock_()).Bind(3, error);
    return update.Run();
  });
}

Result<std::vector<int64_t>> StateStore::ListQueuedJobIds() {
  AIMASS_ASSIGN_OR_RETURN(Statement select,
                          db_->Prepare("SELECT id FROM jobs WHERE state = 'queued' ORDER BY id"));
  std::vector<int64_t> ids;
  while (true) {
    AIMASS_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    ids.push_back(select.Int(0));
  }
  return ids;
}

Result<std::map<std::string, int64_t>> StateStore::CountJobsByState() {
  std::map<std::string, int64_t> counts;
  for (JobState state : kJobStates) counts[JobStateName(state)] = 0;
  AIMASS_ASSIGN_OR_RETURN(Statement select,
                          db_->Prepare("SELECT state, COUNT(*) FROM jobs GROUP BY state"));
  while (true) {
    AIMASS_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    counts[select.Text(0)] = select.Int(1);
  }
  return counts;
}

// Runs `update` (whose ?1 is the job id) in a transaction; kNotFound when no job has that id.
Status StateStore::UpdateJob(int64_t id, Statement& update) {
  return db_->InTransaction([&]() -> Status {
    AIMASS_RETURN_IF_ERROR(update.Run());
    if (db_->changes() == 0) return Status::NotFound("no job " + std::to_string(id));
    return Status::Ok();
  });
}

Status StateStore::SetJobDirectory(int64_t id, const std::string& directory) {
  AIMASS_ASSIGN_OR_RETURN(Statement update,
                          db_->Prepare("UPDATE jobs SET directory = ?2 WHERE id = ?1"));
  update.Bind(1, id).Bind(2, directory);
  return UpdateJob(id, update);
}

Status StateStore::SetJobProcess(int64_t id, std::optional<int64_t> process_group,
                                 const std::string& tag) {
  AIMASS_ASSIGN_OR_RETURN(
      Statement update,
      db_->Prepare("UPDATE jobs SET process_group = ?2, process_tag = ?3 WHERE id = ?1"));
  update.Bind(1, id).Bind(2, process_group).Bind(3, tag);
  return UpdateJob(id, update);
}

Status StateStore::AppendJobMetrics(int64_t job_id, const std::vector<JobMetric>& metrics) {
  if (metrics.empty()) return Status::Ok();
  AIMASS_ASSIGN_OR_RETURN(
      Statement insert,
      db_->Prepare("INSERT INTO job_metrics (job_id, kind, body) VALUES (?1, ?2, ?3)"));
  return db_->InTransaction([&]() -> Status {
    for (const JobMetric& metric : metrics) {
      insert.Reset();
      insert.Bind(1, job_id).Bind(2, metric.kind).Bind(3, metric.body_json);
      AIMASS_RETURN_IF_ERROR(insert.Run());
    }
    return Status::Ok();
  });
}

Result<std::vector<JobMetric>> StateStore::ListJobMetrics(int64_t job_id) {
  AIMASS_ASSIGN_OR_RETURN(
      Statement select,
      db_->Prepare("SELECT kind, body FROM job_metrics WHERE job_id = ?1 ORDER BY id"));
  select.Bind(1, job_id);
  std::vector<JobMetric> metrics;
  while (true) {
    AIMASS_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    metrics.push_back(JobMetric{select.Text(0), select.Text(1)});
  }
  return metrics;
}

Result<IssuedToken> StateStore::IssueToken(Role role, const std::string& description) {
  IssuedToken issued;
  AIMASS_ASSIGN_OR_RETURN(std::string random, net::RandomBytes(32));
  issued.secret = "aimass_" + net::ToHex(random);
  AIMASS_ASSIGN_OR_RETURN(
      Statement insert,
      db_->Prepare("INSERT INTO tokens (secret_sha256, role, description, created_at_ms) "
                   "VALUES (?1, ?2, ?3, ?4)"));
  const std::string digest = Sha256Hex(issued.secret);
  if (digest.empty()) return Status::Internal("cannot compute SHA-256 (OpenSSL failed)");
  insert.Bind(1, digest)
      .Bind(2, std::string(RoleName(role)))
      .Bind(3, description)
      .Bind(4, clock_());
  AIMASS_RETURN_IF_ERROR(db_->InTransaction([&] { return insert.Run(); }));
  issued.id = db_->last_insert_rowid();
  return issued;
}

Result<TokenRecord> StateStore::Authenticate(const std::string& secret) {
  // Looked up by the secret's hash: the comparison is on a digest the caller cannot steer, so
  // it leaks nothing useful about stored secrets through timing.
  AIMASS_ASSIGN_OR_RETURN(
      Statement select,
      db_->Prepare("SELECT id, role, description, created_at_ms FROM tokens "
                   "WHERE secret_sha256 = ?1 AND revoked_at_ms IS NULL"));
  const std::string digest = Sha256Hex(secret);
  if (digest.empty()) return Status::Internal("cannot compute SHA-256 (OpenSSL failed)");
  select.Bind(1, digest);
  AIMASS_ASSIGN_OR_RETURN(bool found, select.Step());
  if (!found) return Status::NotFound("unknown or revoked token");
  TokenRecord token;
  token.id = select.Int(0);
  AIMASS_ASSIGN_OR_RETURN(token.role, ParseRole(select.Text(1)));
  token.description = select.Text(2);
  token.created_at_ms = select.Int(3);
  return token;
}

Status StateStore::RevokeToken(int64_t id) {
  AIMASS_ASSIGN_OR_RETURN(
      Statement update,
      db_->Prepare("UPDATE tokens SET revoked_at_ms = ?2 WHERE id = ?1 AND revoked_at_ms IS NULL"));
  update.Bind(1, id).Bind(2, clock_());
  AIMASS_RETURN_IF_ERROR(db_->InTransaction([&] { return update.Run(); }));
  if (db_->changes() == 0) return Status::NotFound("no active token " + std::to_string(id));
  return Status::Ok();
}

Result<int64_t> StateStore::CountTokens() {
  AIMASS_ASSIGN_OR_RETURN(Statement count,
                          db_->Prepare("SELECT COUNT(*) FROM tokens WHERE revoked_at_ms IS NULL"));
  AIMASS_ASSIGN_OR_RETURN(bool row, count.Step());
  return row ? count.Int(0) : 0;
}

Result<std::vector<TokenRecord>> StateStore::ListTokens() {
  AIMASS_ASSIGN_OR_RETURN(
      Statement select,
      db_->Prepare("SELECT id, role, description, created_at_ms FROM tokens "
                   "WHERE revoked_at_ms IS NULL ORDER BY id"));
  std::vector<TokenRecord> tokens;
  while (true) {
    AIMASS_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    TokenRecord token;
    token.id = select.Int(0);
    AIMASS_ASSIGN_OR_RETURN(token.role, ParseRole(select.Text(1)));
    token.description = select.Text(2);
    token.created_at_ms = select.Int(3);
    tokens.push_back(std::move(token));
  }
  return tokens;
}

Status StateStore::Audit(const std::string& actor, const std::string& action,
                         const std::string& target, const std::string& remote) {
  AIMASS_ASSIGN_OR_RETURN(
      Statement insert,
      db_->Prepare("INSERT INTO audit (at_ms, actor, action, target, remote) "
                   "VALUES (?1, ?2, ?3, ?4, ?5)"));
  insert.Bind(1, clock_()).Bind(2, actor).Bind(3, action).Bind(4, target).Bind(5, remote);
  return db_->InTransaction([&] { return insert.Run(); });
}

Result<std::vector<AuditEntry>> StateStore::ListAudit(uint32_t limit) {
  AIMASS_ASSIGN_OR_RETURN(
      Statement select,
      db_->Prepare("SELECT id, at_ms, actor, action, target, remote FROM audit "
                   "ORDER BY id DESC LIMIT ?1"));
  select.Bind(1, static_cast<int64_t>(limit));
  std::vector<AuditEntry> entries;
  while (true) {
    AIMASS_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    entries.push_back(AuditEntry{select.Int(0), select.Int(1), select.Text(2), select.Text(3),
                                 select.Text(4), select.Text(5)});
  }
  return entries;
}

}  // namespace aimass::service

namespace aimass::service {

Result<int64_t> StateStore::RegisterVersion(const NewModelVersion& version) {
  if (!ValidModelName(version.model)) {
    return Status::InvalidArgument("model name '" + version.model +
                                   "': use 1-64 letters, digits, '-', '_' or '.'");
  }
  int64_t number = 0;
  Status registered = db_->InTransaction([&]() -> Status {
    const int64_t now = clock_();
    AIMASS_ASSIGN_OR_RETURN(
        Statement model,
        db_->Prepare("INSERT INTO models (name, created_at_ms) VALUES (?1, ?2) "
                     "ON CONFLICT (name) DO NOTHING"));
    model.Bind(1, version.model).Bind(2, now);
    AIMASS_RETURN_IF_ERROR(model.Run());
    AIMASS_ASSIGN_OR_RETURN(
        Statement next,
        db_->Prepare("SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE model = ?1"));
    next.Bind(1, version.model);
    AIMASS_ASSIGN_OR_RETURN(bool row, next.Step());
    number = row ? next.Int(0) : 1;
    AIMASS_ASSIGN_OR_RETURN(
        Statement insert,
        db_->Prepare("INSERT INTO model_versions (model, version, job_id, dataset, config_yaml, "
                     "metrics_json, artifact_sha256, created_by, created_at_ms, input_path) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
                     "COALESCE((SELECT input_path FROM jobs WHERE id = ?3), ''))"));
    insert.Bind(1, version.model)
        .Bind(2, number)
        .Bind(3, version.job_id)
        .Bind(4, version.dataset)
        .Bind(5, version.config_yaml)
        .Bind(6, version.metrics_json)
        .Bind(7, version.artifact_sha256)
        .Bind(8, version.created_by)
        .Bind(9, now);
    return insert.Run();
  });
  AIMASS_RETURN_IF_ERROR(registered);
  return number;
}

Result<ModelRecord> StateStore::GetModel(const std::string& name) {
  ModelRecord model;
  model.name = name;
  AIMASS_ASSIGN_OR_RETURN(
      Statement versions,
      db_->Prepare("SELECT version, job_id, dataset, config_yaml, metrics_json, artifact_sha256, "
                   "created_by, created_at_ms FROM model_versions WHERE model = ?1 "
                   "ORDER BY version"));
  versions.Bind(1, name);
  while (true) {
    AIMASS_ASSIGN_OR_RETURN(bool row, versions.Step());
    if (!row) break;
    model.versions.push_back(ModelVersionRecord{versions.Int(0), versions.OptionalInt(1),
                                                versions.Text(2), versions.Text(3),
                                                versions.Text(4), versions.Text(5),
                                                versions.Text(6), versions.Int(7)});
  }
  if (model.versions.empty()) return Status::NotFound("no model '" + name + "'");
  AIMASS_ASSIGN_OR_RETURN(
      Statement aliases,
      db_->Prepare("SELECT alias, version FROM model_aliases WHERE model = ?1 ORDER BY alias"));
  aliases.Bind(1, name);
  while (true) {
    AIMASS_ASSIGN_OR_RETURN(bool row, aliases.Step());
    if (!row) break;
    model.aliases[aliases.Text(0)] = aliases.Int(1);
  }
  return model;
}

Result<std::vector<std::string>> StateStore::ListModels() {
  AIMASS_ASSIGN_OR_RETURN(Statement select, db_->Prepare("SELECT name FROM models ORDER BY name"));
  std::vector<std::string> names;
  while (true) {
    AIMASS_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    names.push_back(select.Text(0));
  }
  return names;
}

Status StateStore::SetAlias(const std::string& model, const std::string& alias, int64_t version,
                            const std::string& moved_by) {
  if (!ValidModelName(alias)) {
    return Status::InvalidArgument("alias '" + alias +
                                   "': use 1-64 letters, digits, '-', '_' or '.'");
  }
  return db_->InTransaction([&]() -> Status {
    AIMASS_ASSIGN_OR_RETURN(
        Statement exists,
        db_->Prepare("SELECT 1 FROM model_versions WHERE model = ?1 AND version = ?2"));
    exists.Bind(1, model).Bind(2, version);
    AIMASS_ASSIGN_OR_RETURN(bool found, exists.Step());
    if (!found) {
      return Status::NotFound("model '" + model + "' has no version " + std::to_string(version));
    }
    AIMASS_ASSIGN_OR_RETURN(
        Statement current,
        db_->Prepare("SELECT version FROM model_aliases WHERE model = ?1 AND alias = ?2"));
    current.Bind(1, model).Bind(2, alias);
    AIMASS_ASSIGN_OR_RETURN(bool had, current.Step());
    std::optional<int64_t> from;
    if (had) from = current.Int(0);
    AIMASS_ASSIGN_OR_RETURN(
        Statement upsert,
        db_->Prepare("INSERT INTO model_aliases (model, alias, version) VALUES (?1, ?2, ?3) "
                     "ON CONFLICT (model, alias) DO UPDATE SET version = excluded.version"));
    upsert.Bind(1, model).Bind(2, alias).Bind(3, version);
    AIMASS_RETURN_IF_ERROR(upsert.Run());
    AIMASS_ASSIGN_OR_RETURN(
        Statement move,
        db_->Prepare("INSERT INTO alias_moves (model, alias, from_version, to_version, moved_by, "
                     "at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
    move.Bind(1, model).Bind(2, alias).Bind(3, from).Bind(4, version).Bind(5, moved_by).Bind(6,
                                                                                         clock_());
    return move.Run();
  });
}

Result<std::vector<AliasMove>> StateStore::AliasHistory(const std::string& model) {
  AIMASS_ASSIGN_OR_RETURN(
      Statement select,
      db_->Prepare("SELECT alias, from_version, to_version, moved_by, at_ms FROM alias_moves "
                   "WHERE model = ?1 ORDER BY id"));
  select.Bind(1, model);
  std::vector<AliasMove> moves;
  while (true) {
    AIMASS_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    moves.push_back(AliasMove{select.Text(0), select.OptionalInt(1), select.Int(2),
                              select.Text(3), select.Int(4)});
  }
  return moves;
}

// ---------------------------------------------------------------- serving configs

Status StateStore::SetServingConfig(const std::string& model, const std::string& config_json,
                                    const std::string& updated_by) {
  AIMASS_ASSIGN_OR_RETURN(
      Statement upsert,
      db_->Prepare("INSERT INTO serving_configs (model, config, updated_by, updated_at_ms) "
                   "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (model) DO UPDATE SET "
                   "config = excluded.config, updated_by = excluded.updated_by, "
                   "updated_at_ms = excluded.updated_at_ms"));
  upsert.Bind(1, model).Bind(2, config_json).Bind(3, updated_by).Bind(4, clock_());
  return upsert.Run();
}

Result<std::map<std::string, std::string>> StateStore::ListServingConfigs() {
  AIMASS_ASSIGN_OR_RETURN(Statement select, db_->Prepare("SELECT model, config FROM serving_configs ORDER BY model"));
  std::map<std::string, std::string> configs;
  while (true) {
    AIMASS_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    configs[select.Text(0)] = select.Text(1);
  }
  return configs;
}

Status StateStore::DeleteServingConfig(const std::string& model) {
  AIMASS_ASSIGN_OR_RETURN(Statement remove, db_->Prepare("DELETE FROM serving_configs WHERE model = ?1"));
  remove.Bind(1, model);
  AIMASS_RETURN_IF_ERROR(remove.Run());
  if (db_->changes() == 0) return Status::NotFound("model '" + model + "' is not configured for serving");
  return Status::Ok();
}

bool ValidModelName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return name != "." && name != "..";
}

}  // namespace aimass::service
