// The service's durable state in one SQLite file (STATE_DIR/state.db): jobs, API tokens, the
// audit log, the model registry (models, numbered versions, aliases and every alias move) and
// the schedules' tables (read and written by schedules/schedule_store.h).
// Schema versions are applied in order at Open (PRAGMA user_version).
//
// Thread safety: none inside; the service calls it from one thread or under one mutex.
// Crash safety: every method that writes is one transaction; a process killed at any point
// leaves each of them either whole or absent (tested by killing a writer mid-stream).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "coordinator/service/store/sqlite_database.h"

namespace aimass::service {

enum class JobState { kQueued, kRunning, kSucceeded, kFailed, kCancelled, kInterrupted };

const char* JobStateName(JobState state);
[[nodiscard]] Result<JobState> ParseJobState(const std::string& name);
// Succeeded, failed, cancelled and interrupted jobs never change state again.
bool IsFinal(JobState state);

struct NewJob {
  std::string kind;  // "train" or "infer"
  std::string config_yaml;
  uint32_t workers = 1;
  std::string submitted_by;  // the token's id
  std::string register_as;   // empty: none
  // The table it reads (train: data.train), resolved and confined when it was accepted: what
  // lineage is computed from, so that no request re-parses stored configs.
  std::string input_path;
  std::string model_reference;  // infer: the config's `model` as written (a path or models:/...)
};

struct JobRecord {
  int64_t id = 0;
  std::string kind;
  JobState state = JobState::kQueued;
  std::string config_yaml;
  uint32_t workers = 1;
  std::string submitted_by;
  std::string register_as;
  int64_t created_at_ms = 0;
  std::optional<int64_t> started_at_ms;
  std::optional<int64_t> finished_at_ms;
  std::string error;         // one line, for failed jobs
  std::string summary_json;  // the CLI's summary, once the job has one
  std::string directory;     // its run or output directory, once it started
  // The process group of its current launch (mpirun and the workers) and a tag that their
  // command lines carry, so that a restarted server can end what a crashed one left behind
  // without signalling a process that merely reuses the number.
  std::optional<int64_t> process_group;
  std::string process_tag;
  std::string model_name;    // the model version it registered, if any
  std::optional<int64_t> model_version;
  std::optional<int64_t> schedule_id;  // the schedule that fired it, if any
  std::string input_path;              // NewJob::input_path ('' for jobs older than schema 8)
  std::string model_reference;         // NewJob::model_reference
  // How many times a restarted server resumed it after the server stopped while it ran
  // (RecoverInterruptedJob); 0 for a job that never was.
  uint32_t resumes = 0;
};

// One of a job's step metrics, evaluations or committed splits, as JSON.
struct JobMetric {
  std::string kind;  // "step", "evaluation" or "split"
  std::string body_json;
};

enum class Role { kViewer, kOperator, kAdmin };
const char* RoleName(Role role);
[[nodiscard]] Result<Role> ParseRole(const std::string& name);

struct IssuedToken {
  int64_t id = 0;
  std::string secret;  // shown once; only its SHA-256 is stored
};

struct TokenRecord {
  int64_t id = 0;
  Role role = Role::kViewer;
  std::string description;
  int64_t created_at_ms = 0;
};

struct NewModelVersion {
  std::string model;
  std::optional<int64_t> job_id;  // the train job it came from
  std::string dataset;            // the training data's fingerprint
  std::string config_yaml;
  std::string metrics_json;
  std::string artifact_sha256;    // of the copy in the state dir's content-addressed store
  std::string created_by;
};

struct ModelVersionRecord {
  int64_t version = 0;
  std::optional<int64_t> job_id;
  std::string dataset;
  std::string config_yaml;
  std::string metrics_json;
  std::string artifact_sha256;
  std::string created_by;
  int64_t created_at_ms = 0;
};

struct ModelRecord {
  std::string name;
  std::vector<ModelVersionRecord> versions;  // by version, ascending
  std::map<std::string, int64_t> aliases;    // e.g. production -> 3
};

struct AliasMove {
  std::string alias;
  std::optional<int64_t> from_version;  // none: the alias was new
  int64_t to_version = 0;
  std::string moved_by;
  int64_t at_ms = 0;
};

struct AuditEntry {
  int64_t id = 0;
  int64_t at_ms = 0;
  std::string actor;   // token id, or "system"
  std::string action;  // e.g. "job.submit"
  std::string target;  // e.g. "job 12"
  std::string remote;  // client address
};

class StateStore {
 public:
  using Clock = std::function<int64_t()>;  // milliseconds since the Unix epoch

  // Opens or creates `state_dir`/state.db and brings its schema to the current version.
  // A database written by a newer aimass (higher schema version) is refused, not touched.
  [[nodiscard]] static Result<std::unique_ptr<StateStore>> Open(const std::string& state_dir,
                                                                Clock clock = {});

  static constexpr int kSchemaVersion = 8;

  // Jobs.
  [[nodiscard]] Result<int64_t> InsertJob(const NewJob& job);
  // InsertJob, and `also` (given the new job's id) inside the same transaction: an error from
  // `also` leaves no job behind. `also` must not start a transaction of its own.
  [[nodiscard]] Result<int64_t> InsertJob(const NewJob& job,
                                          const std::function<Status(int64_t job_id)>& also);
  [[nodiscard]] Result<JobRecord> GetJob(int64_t id);
  // Newest first, at most `limit`.
  [[nodiscard]] Result<std::vector<JobRecord>> ListJobs(uint32_t limit);
  // Moves a job on: queued -> running -> a final state (or queued -> cancelled). A job already
  // in a final state is kFailedPrecondition; an unknown id kNotFound.
  [[nodiscard]] Status SetJobState(int64_t id, JobState state, const std::string& error = "",
                                   const std::string& summary_json = "");
  // At start-up: the jobs a server that crashed left running, oldest first.
  [[nodiscard]] Result<std::vector<int64_t>> ListRunningJobIds();
  // At start-up, for one of those jobs once what its launch left behind is ended, in one
  // transaction: with `resume`, back to `queued` with one more resume counted (its error
  // cleared, its first start time kept: the one way a job goes back to the queue); without,
  // `interrupted` with `error`. Either way its launch's process group is forgotten. Queued jobs
  // are not touched. kFailedPrecondition for a job that is not running; kNotFound.
  [[nodiscard]] Status RecoverInterruptedJob(int64_t id, bool resume, const std::string& error);

  // Queued jobs, oldest first: the order they run in.
  [[nodiscard]] Result<std::vector<int64_t>> ListQueuedJobIds();
  [[nodiscard]] Result<std::map<std::string, int64_t>> CountJobsByState();
  [[nodiscard]] Status SetJobDirectory(int64_t id, const std::string& directory);
  // Records (or with nullopt forgets) the process group of the job's current launch.
  [[nodiscard]] Status SetJobProcess(int64_t id, std::optional<int64_t> process_group,
                                     const std::string& tag);
  // Appends in one transaction; a job's metrics come back in the order they were appended.
  [[nodiscard]] Status AppendJobMetrics(int64_t job_id, const std::vector<JobMetric>& metrics);
  [[nodiscard]] Result<std::vector<JobMetric>> ListJobMetrics(int64_t job_id);

  // Tokens.
  [[nodiscard]] Result<IssuedToken> IssueToken(Role role, const std::string& description);
  // The token a secret belongs to, or kNotFound (revoked and unknown secrets alike).
  [[nodiscard]] Result<TokenRecord> Authenticate(const std::string& secret);
  [[nodiscard]] Status RevokeToken(int64_t id);
  [[nodiscard]] Result<int64_t> CountTokens();
  // Tokens not revoked, by id.
  [[nodiscard]] Result<std::vector<TokenRecord>> ListTokens();

  // Audit log: append-only.
  [[nodiscard]] Status Audit(const std::string& actor, const std::string& action,
                             const std::string& target, const std::string& remote);
  // Newest first, at most `limit`.
  [[nodiscard]] Result<std::vector<AuditEntry>> ListAudit(uint32_t limit);

  // Model registry. Versions are numbered 1, 2, ... per model, in registration order; a
  // model exists once it has a version.
  [[nodiscard]] Result<int64_t> RegisterVersion(const NewModelVersion& version);
  [[nodiscard]] Result<ModelRecord> GetModel(const std::string& name);
  [[nodiscard]] Result<std::vector<std::string>> ListModels();
  // Points `alias` at `version` (promote, or roll back to an older one); every move is kept.
  [[nodiscard]] Status SetAlias(const std::string& model, const std::string& alias, int64_t version,
                                const std::string& moved_by);
  [[nodiscard]] Result<std::vector<AliasMove>> AliasHistory(const std::string& model);

  // Online serving: each model's serving config (a JSON object, serving_config.h), by model.
  [[nodiscard]] Status SetServingConfig(const std::string& model, const std::string& config_json,
                                        const std::string& updated_by);
  [[nodiscard]] Result<std::map<std::string, std::string>> ListServingConfigs();
  // kNotFound when the model has none.
  [[nodiscard]] Status DeleteServingConfig(const std::string& model);

  Database& database() { return *db_; }

 private:
  StateStore(std::unique_ptr<Database> db, Clock clock)
      : db_(std::move(db)), clock_(std::move(clock)) {}
  Status Migrate();
  Status UpdateJob(int64_t id, Statement& update);
  std::unique_ptr<Database> db_;
  Clock clock_;
};

// Model and alias names: 1-64 of [A-Za-z0-9._-], not "." or "..": they appear in URLs and paths.
bool ValidModelName(const std::string& name);

}  // namespace aimass::service
