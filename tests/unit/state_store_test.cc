// The service's state store: jobs and their states, hashed tokens, the audit log, schema
// versions, and a writer killed mid-stream leaving whole transactions only.
#include "tests/catch.h"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "coordinator/service/store/state_store.h"
#include "tests/temp_dir.h"

namespace aimass::service {
namespace {

using aimass::testing::TempDir;

std::unique_ptr<StateStore> OpenStore(const TempDir& dir, int64_t* now = nullptr) {
  StateStore::Clock clock;
  if (now != nullptr) clock = [now] { return *now; };
  auto store = StateStore::Open(dir.path() + "/state", clock);
  INFO(store.status().message());
  REQUIRE(store.ok());
  return std::move(store).value();
}

NewJob TrainJob(const std::string& by = "1") {
  return NewJob{"train", "model: mlp\n", 2, by, "fashion"};
}

TEST_CASE("a job goes from queued to running to a final state, with its times", "[state_store]") {
  TempDir dir;
  int64_t now = 1000;
  auto store = OpenStore(dir, &now);
  auto id = store->InsertJob(TrainJob());
  REQUIRE(id.ok());
  auto queued = store->GetJob(*id);
  REQUIRE(queued.ok());
  CHECK(queued->state == JobState::kQueued);
  CHECK(queued->created_at_ms == 1000);
  CHECK_FALSE(queued->started_at_ms.has_value());
  CHECK(queued->register_as == "fashion");
  CHECK(queued->workers == 2);

  now = 2000;
  REQUIRE(store->SetJobState(*id, JobState::kRunning).ok());
  now = 5000;
  REQUIRE(store->SetJobState(*id, JobState::kSucceeded, "", "{\"steps\":32}").ok());
  auto done = store->GetJob(*id);
  REQUIRE(done.ok());
  CHECK(done->state == JobState::kSucceeded);
  CHECK(done->started_at_ms == std::optional<int64_t>(2000));
  CHECK(done->finished_at_ms == std::optional<int64_t>(5000));
  CHECK(done->summary_json == "{\"steps\":32}");

  // A final state is final; unknown jobs are not found.
  Status again = store->SetJobState(*id, JobState::kRunning);
  CHECK(again.code() == StatusCode::kFailedPrecondition);
  CHECK(again.message() == "job 1 is succeeded, it cannot become running");
  CHECK(store->SetJobState(99, JobState::kRunning).code() == StatusCode::kNotFound);
  CHECK(store->GetJob(99).status().code() == StatusCode::kNotFound);
}

TEST_CASE("bad jobs are refused before they are stored", "[state_store]") {
  TempDir dir;
  auto store = OpenStore(dir);
  NewJob odd = TrainJob();
  odd.kind = "serve";
  CHECK(store->InsertJob(odd).status().code() == StatusCode::kInvalidArgument);
  NewJob none = TrainJob();
  none.workers = 0;
  CHECK(store->InsertJob(none).status().code() == StatusCode::kInvalidArgument);
  auto jobs = store->ListJobs(10);
  REQUIRE(jobs.ok());
  CHECK(jobs->empty());
}

TEST_CASE("jobs list newest first; a restart resumes or interrupts the jobs left running", "[state_store]") {
  TempDir dir;
  std::vector<int64_t> ids;
  int64_t now = 1000;
  {
    auto store = OpenStore(dir, &now);
    for (int i = 0; i < 4; ++i) ids.push_back(store->InsertJob(TrainJob()).value());
    REQUIRE(store->SetJobState(ids[0], JobState::kRunning).ok());
    REQUIRE(store->SetJobProcess(ids[0], 4242, "svc1-abcdef").ok());
    REQUIRE(store->SetJobState(ids[1], JobState::kRunning).ok());
    REQUIRE(store->SetJobState(ids[1], JobState::kFailed, "worker rank 1 lost").ok());
    REQUIRE(store->SetJobState(ids[3], JobState::kRunning).ok());
  }
  now = 9000;
  auto store = OpenStore(dir, &now);  // the next start
  auto running = store->ListRunningJobIds();
  REQUIRE(running.ok());
  CHECK(*running == std::vector<int64_t>{ids[0], ids[3]});

  // Resumed: queued again, one resume counted, its launch forgotten, its first start kept.
  REQUIRE(store->RecoverInterruptedJob(ids[0], /*resume=*/true, "").ok());
  auto resumed = store->GetJob(ids[0]);
  REQUIRE(resumed.ok());
  CHECK(resumed->state == JobState::kQueued);
  CHECK(resumed->resumes == 1);
  CHECK_FALSE(resumed->process_group.has_value());
  CHECK(resumed->process_tag.empty());
  CHECK(resumed->started_at_ms == std::optional<int64_t>(1000));
  CHECK_FALSE(resumed->finished_at_ms.has_value());
  // It runs again as any queued job does, first in the queue (the oldest), and keeps its count.
  CHECK(store->ListQueuedJobIds().value() == std::vector<int64_t>{ids[0], ids[2]});
  now = 9500;
  REQUIRE(store->SetJobState(ids[0], JobState::kRunning).ok());
  CHECK(store->GetJob(ids[0])->started_at_ms == std::optional<int64_t>(1000));
  CHECK(store->RecoverInterruptedJob(ids[0], true, "").ok());
  CHECK(store->GetJob(ids[0])->resumes == 2);

  // Not resumed: interrupted, with the reason.
  REQUIRE(store->RecoverInterruptedJob(ids[3], /*resume=*/false, "on_interrupt: fail").ok());
  auto interrupted = store->GetJob(ids[3]);
  CHECK(interrupted->state == JobState::kInterrupted);
  CHECK(interrupted->error == "on_interrupt: fail");
  CHECK(interrupted->finished_at_ms == std::optional<int64_t>(9500));
  CHECK(interrupted->resumes == 0);

  // Only a running job is recovered; queued and final ones are left as they are.
  CHECK(store->RecoverInterruptedJob(ids[2], true, "").code() == StatusCode::kFailedPrecondition);
  CHECK(store->RecoverInterruptedJob(ids[1], true, "").code() == StatusCode::kFailedPrecondition);
  CHECK(store->RecoverInterruptedJob(99, true, "").code() == StatusCode::kNotFound);
  CHECK(store->GetJob(ids[2])->state == JobState::kQueued);
  CHECK(store->GetJob(ids[2])->resumes == 0);
  // The scheduler itself never moves a job back to the queue.
  REQUIRE(store->SetJobState(ids[2], JobState::kRunning).ok());
  CHECK(store->SetJobState(ids[2], JobState::kQueued).code() == StatusCode::kFailedPrecondition);

  auto jobs = store->ListJobs(3);
  REQUIRE(jobs.ok());
  REQUIRE(jobs->size() == 3);
  CHECK((*jobs)[0].id == ids[3]);
  CHECK((*jobs)[2].state == JobState::kFailed);
  CHECK((*jobs)[2].error == "worker rank 1 lost");
}

TEST_CASE("tokens are stored hashed, carry a role, and stop working when revoked",
          "[state_store]") {
  TempDir dir;
  auto store = OpenStore(dir);
  auto admin = store->IssueToken(Role::kAdmin, "first start");
  auto viewer = store->IssueToken(Role::kViewer, "dashboard");
  REQUIRE(admin.ok());
  REQUIRE(viewer.ok());
  CHECK(admin->secret != viewer->secret);
  CHECK(admin->secret.size() == 7 + 64);

  auto who = store->Authenticate(viewer->secret);
  REQUIRE(who.ok());
  CHECK(who->id == viewer->id);
  CHECK(who->role == Role::kViewer);
  CHECK(who->description == "dashboard");
  CHECK(store->Authenticate("aimass_wrong").status().code() == StatusCode::kNotFound);
  CHECK(store->Authenticate("").status().code() == StatusCode::kNotFound);

  REQUIRE(store->RevokeToken(viewer->id).ok());
  CHECK(store->Authenticate(viewer->secret).status().code() == StatusCode::kNotFound);
  CHECK(store->RevokeToken(viewer->id).code() == StatusCode::kNotFound);
  CHECK(store->CountTokens().value() == 1);

  // Only the digest is on disk: the secret appears nowhere in the database files.
  store.reset();
  for (const char* file : {"/state/state.db", "/state/state.db-wal"}) {
    std::ifstream in(dir.path() + file, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    CHECK(bytes.find(admin->secret) == std::string::npos);
    CHECK(bytes.find(admin->secret.substr(7)) == std::string::npos);
  }
}

TEST_CASE("the audit log keeps who did what, newest first", "[state_store]") {
  TempDir dir;
  int64_t now = 10;
  auto store = OpenStore(dir, &now);
  REQUIRE(store->Audit("1", "job.submit", "job 1", "127.0.0.1").ok());
  now = 20;
  REQUIRE(store->Audit("2", "model.promote", "fashion@production=3", "10.0.0.5").ok());
  auto entries = store->ListAudit(10);
  REQUIRE(entries.ok());
  REQUIRE(entries->size() == 2);
  CHECK((*entries)[0].action == "model.promote");
  CHECK((*entries)[0].at_ms == 20);
  CHECK((*entries)[0].remote == "10.0.0.5");
  CHECK((*entries)[1].actor == "1");
  CHECK((*entries)[1].target == "job 1");
}

TEST_CASE("a database from a newer aimass is refused and left as it is", "[state_store]") {
  TempDir dir;
  { auto store = OpenStore(dir); }
  {
    auto db = Database::Open(dir.path() + "/state/state.db");
    REQUIRE(db.ok());
    REQUIRE((*db)->Execute("PRAGMA user_version = 99").ok());
  }
  auto refused = StateStore::Open(dir.path() + "/state");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == StatusCode::kFailedPrecondition);
  CHECK(refused.status().message().find("schema version 99, newer than this aimass") !=
        std::string::npos);
}

NewModelVersion Version(const std::string& model, std::optional<int64_t> job,
                        const std::string& sha) {
  return NewModelVersion{model, job, "fp-1", "model: mlp\n", "{\"test_accuracy\":0.9}", sha, "2"};
}

TEST_CASE("model versions are numbered per model; aliases promote and roll back, every move kept",
          "[state_store][registry]") {
  TempDir dir;
  int64_t now = 100;
  auto store = OpenStore(dir, &now);
  const int64_t job = store->InsertJob(TrainJob()).value();
  CHECK(store->RegisterVersion(Version("fashion", job, "aa")).value() == 1);
  CHECK(store->RegisterVersion(Version("fashion", std::nullopt, "bb")).value() == 2);
  CHECK(store->RegisterVersion(Version("other", std::nullopt, "cc")).value() == 1);
  CHECK(store->ListModels().value() == std::vector<std::string>{"fashion", "other"});

  now = 200;
  REQUIRE(store->SetAlias("fashion", "production", 2, "2").ok());  // promote
  now = 300;
  REQUIRE(store->SetAlias("fashion", "production", 1, "3").ok());  // roll back
  auto model = store->GetModel("fashion");
  REQUIRE(model.ok());
  REQUIRE(model->versions.size() == 2);
  CHECK(model->versions[0].job_id == std::optional<int64_t>(job));
  CHECK(model->versions[0].artifact_sha256 == "aa");
  CHECK(model->versions[1].metrics_json == "{\"test_accuracy\":0.9}");
  CHECK(model->aliases.at("production") == 1);
  auto moves = store->AliasHistory("fashion");
  REQUIRE(moves.ok());
  REQUIRE(moves->size() == 2);
  CHECK_FALSE((*moves)[0].from_version.has_value());
  CHECK((*moves)[0].to_version == 2);
  CHECK((*moves)[1].from_version == std::optional<int64_t>(2));
  CHECK((*moves)[1].to_version == 1);
  CHECK((*moves)[1].moved_by == "3");
  CHECK((*moves)[1].at_ms == 300);

  // An alias only points at a version that exists; names are checked.
  CHECK(store->SetAlias("fashion", "production", 7, "2").code() == StatusCode::kNotFound);
  CHECK(store->GetModel("fashion")->aliases.at("production") == 1);
  CHECK(store->SetAlias("fashion", "../prod", 1, "2").code() == StatusCode::kInvalidArgument);
  CHECK(store->RegisterVersion(Version("a/b", std::nullopt, "dd")).status().code() ==
        StatusCode::kInvalidArgument);
  CHECK(store->GetModel("missing").status().code() == StatusCode::kNotFound);
}

TEST_CASE("a version-1 database is brought to the current schema with its data",
          "[state_store]") {
  TempDir dir;
  std::filesystem::create_directories(dir.path() + "/state");
  {
    // What the first release of the schema wrote: jobs, tokens and audit only.
    auto db = Database::Open(dir.path() + "/state/state.db");
    REQUIRE(db.ok());
    REQUIRE((*db)->Execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT "
                           "NULL, state TEXT NOT NULL, config_yaml TEXT NOT NULL, workers INTEGER "
                           "NOT NULL, submitted_by TEXT NOT NULL, register_as TEXT NOT NULL DEFAULT "
                           "'', created_at_ms INTEGER NOT NULL, started_at_ms INTEGER, "
                           "finished_at_ms INTEGER, error TEXT NOT NULL DEFAULT '', summary_json "
                           "TEXT NOT NULL DEFAULT '');"
                           "CREATE TABLE tokens (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                           "secret_sha256 TEXT NOT NULL UNIQUE, role TEXT NOT NULL, description "
                           "TEXT NOT NULL DEFAULT '', created_at_ms INTEGER NOT NULL, "
                           "revoked_at_ms INTEGER);"
                           "CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER "
                           "NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT "
                           "NULL, remote TEXT NOT NULL);"
                           "INSERT INTO jobs (kind, state, config_yaml, workers, submitted_by, "
                           "created_at_ms) VALUES ('train', 'succeeded', 'model: cnn', 2, '1', 5);"
                           "PRAGMA user_version = 1;")
              .ok());
  }
  auto store = OpenStore(dir);
  CHECK(store->GetJob(1)->state == JobState::kSucceeded);
  CHECK(store->RegisterVersion(Version("fashion", 1, "aa")).value() == 1);
  auto version = store->database().Prepare("PRAGMA user_version");
  REQUIRE(version.ok());
  REQUIRE(version->Step().value());
  CHECK(version->Int(0) == StateStore::kSchemaVersion);
}

TEST_CASE("a writer killed mid-stream leaves every committed write and no partial one",
          "[state_store][crash]") {
  TempDir dir;
  { auto store = OpenStore(dir); }  // schema first, so the child only writes jobs
  int report[2];
  REQUIRE(::pipe(report) == 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(report[0]);
    auto store = StateStore::Open(dir.path() + "/state");
    if (!store.ok()) ::_exit(2);
    for (int64_t n = 1;; ++n) {
      // Each job goes in as one transaction, then its state as another.
      auto id = (*store)->InsertJob(TrainJob());
      if (!id.ok() || !(*store)->SetJobState(*id, JobState::kRunning).ok()) ::_exit(3);
      // What a running service job writes: its directory, batches of metrics, a version.
      if (!(*store)->SetJobDirectory(*id, "/runs/" + std::to_string(*id)).ok()) ::_exit(5);
      std::vector<JobMetric> batch = {{"step", "{\"step\":1}"}, {"step", "{\"step\":2}"},
                                      {"evaluation", "{\"epoch\":1}"}};
      if (!(*store)->AppendJobMetrics(*id, batch).ok()) ::_exit(6);
      auto version = (*store)->RegisterVersion(Version("crash", *id, "ab"));
      if (!version.ok() || !(*store)->SetAlias("crash", "production", *version, "t").ok()) ::_exit(7);
      if (::write(report[1], &n, sizeof(n)) != sizeof(n)) ::_exit(4);
    }
  }
  ::close(report[1]);
  int64_t reported = 0;
  int64_t n = 0;
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
  while (std::chrono::steady_clock::now() < until && ::read(report[0], &n, sizeof(n)) == sizeof(n)) {
    reported = n;
  }
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  while (::read(report[0], &n, sizeof(n)) == sizeof(n)) reported = n;  // written before the kill
  ::close(report[0]);
  REQUIRE(reported > 5);

  auto store = OpenStore(dir);
  auto check = store->database().Prepare("PRAGMA integrity_check");
  REQUIRE(check.ok());
  REQUIRE(check->Step().value());
  CHECK(check->Text(0) == "ok");
  auto jobs = store->ListJobs(1000000);
  REQUIRE(jobs.ok());
  // Every job the child reported is there and running; at most one more, queued or running,
  // whose commits finished before the kill but not its report.
  CHECK(static_cast<int64_t>(jobs->size()) >= reported);
  CHECK(static_cast<int64_t>(jobs->size()) <= reported + 1);
  for (const JobRecord& job : *jobs) {
    if (job.id <= reported) {
      CHECK(job.state == JobState::kRunning);
      CHECK(job.directory == "/runs/" + std::to_string(job.id));
      CHECK(store->ListJobMetrics(job.id)->size() == 3);
      CHECK(job.model_version.has_value());
    } else {
      const size_t metrics = store->ListJobMetrics(job.id)->size();
      CHECK((metrics == 0 || metrics == 3));  // a batch is whole or absent
    }
  }
  // Every version's alias move is there, and the alias points at a version that exists.
  auto model = store->GetModel("crash");
  REQUIRE(model.ok());
  CHECK(static_cast<int64_t>(model->versions.size()) >= reported);
  const int64_t production = model->aliases.at("production");
  CHECK(production >= static_cast<int64_t>(model->versions.size()) - 1);
  CHECK(production <= static_cast<int64_t>(model->versions.size()));
  auto moves = store->AliasHistory("crash");
  CHECK(static_cast<int64_t>(moves->size()) >= reported);
}

}  // namespace
}  // namespace aimass::service
