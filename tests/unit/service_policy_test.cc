// What the service decides without a server: which paths a submitted job may name, how a
// config is placed under the state dir, registered-model references, the content-addressed
// artifact store, finding a crashed server's leftover processes, and the store's job records.
#include "tests/catch.h"
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/env.h"
#include "common/sha256.h"
#include "coordinator/service/data_roots.h"
#include "coordinator/service/leftover_processes.h"
#include "coordinator/service/model_registry.h"
#include "coordinator/service/store/state_store.h"
#include "coordinator/service/submitted_job.h"
#include "tests/temp_dir.h"

extern char** environ;

namespace aimass::service {
namespace {

namespace fs = std::filesystem;

void Write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

const char kTrainYaml[] =
    "model: mlp\n"
    "data: {train: data/train, test: /ROOT/data/test}\n"
    "training: {epochs: 1}\n";

std::string WithRoot(std::string text, const std::string& root) {
  const std::string placeholder = "/ROOT";
  for (size_t at = text.find(placeholder); at != std::string::npos; at = text.find(placeholder)) {
    text.replace(at, placeholder.size(), root);
  }
  return text;
}

std::string ReadAll(const std::string& path) {
  std::ifstream file(path);
  return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
}

ModelResolver NoModels() {
  return [](const ModelReference& reference) -> Result<std::string> {
    return Status::NotFound("no model '" + reference.name + "'");
  };
}

}  // namespace

TEST_CASE("data roots: inside is allowed, outside refused, symlinks and .. resolved first") {
  testing::TempDir dir;
  fs::create_directories(dir.Path("root/data"));
  fs::create_directories(dir.Path("outside"));
  fs::create_directory_symlink(dir.Path("outside"), dir.Path("root/escape"));
  auto roots = DataRoots::Create({dir.Path("root")});
  REQUIRE(roots.ok());
  const std::string root = fs::canonical(dir.Path("root")).string();

  CHECK(*roots->Confine("k", "data") == root + "/data");
  CHECK(*roots->Confine("k", root + "/data/new/file") == root + "/data/new/file");  // need not exist
  CHECK(*roots->Confine("k", root) == root);
  auto outside = roots->Confine("data.train", "/etc/passwd");
  REQUIRE_FALSE(outside.ok());
  CHECK(outside.status().code() == StatusCode::kPermissionDenied);
  CHECK(outside.status().message().find("data.train") == 0);
  CHECK_FALSE(roots->Confine("k", "../outside").ok());
  CHECK_FALSE(roots->Confine("k", "data/../../outside").ok());
  CHECK_FALSE(roots->Confine("k", "escape/file").ok());
  CHECK_FALSE(roots->Confine("k", "escape/new/../x").ok());
  CHECK_FALSE(roots->Confine("k", root + "-sibling").ok());  // a prefix is not a parent

  CHECK_FALSE(DataRoots::Create({dir.Path("missing")}).ok());
  auto none = DataRoots::Create({});
  REQUIRE(none.ok());
  CHECK(none->Confine("k", "anything").status().code() == StatusCode::kPermissionDenied);
  CHECK(IsInside("/a/b", "/"));
}

TEST_CASE("submitted jobs: the CLI's validation, paths confined, outputs under the job's directory") {
  testing::TempDir dir;
  fs::create_directories(dir.Path("root"));
  auto roots = DataRoots::Create({dir.Path("root")});
  REQUIRE(roots.ok());
  const std::string root = fs::canonical(dir.Path("root")).string();

  auto train = PrepareSubmittedJob("train", WithRoot(kTrainYaml, root), "/state/jobs/4", *roots, NoModels());
  REQUIRE(train.ok());
  CHECK(train->train->data.train.input.path == root + "/data/train");
  CHECK(train->train->data.test.input.path == root + "/data/test");
  CHECK(train->train->run_dir == "/state/jobs/4/run");  // the default run_dir is relative
  CHECK(train->directory == "/state/jobs/4/run");

  auto named = PrepareSubmittedJob("train", WithRoot(std::string(kTrainYaml) + "output: {run_dir: /ROOT/runs/a}\n", root),
                                   "/state/jobs/4", *roots, NoModels());
  REQUIRE(named.ok());
  CHECK(named->directory == root + "/runs/a");

  auto escaping = PrepareSubmittedJob("train", std::string(kTrainYaml) + "output: {run_dir: /tmp/x}\n",
                                      "/state/jobs/4", *roots, NoModels());
  CHECK(escaping.status().code() == StatusCode::kPermissionDenied);
  auto bad = PrepareSubmittedJob("train", "model: mlp\ndata: {train: d}\ntraining: {epochs: zero}\n",
                                 "/j", *roots, NoModels());
  CHECK(bad.status().code() == StatusCode::kInvalidArgument);
  CHECK(bad.status().message().find("training.epochs") != std::string::npos);
  CHECK(PrepareSubmittedJob("dance", kTrainYaml, "/j", *roots, NoModels()).status().code() ==
        StatusCode::kInvalidArgument);

  const std::string infer_yaml =
      "model: models:/fmnist@production\n"
      "input: {path: exports/t, format: csv, header: true}\n"
      "schema: {features: [f0..f3]}\n"
      "output: {path: scores}\n";
  auto infer = PrepareSubmittedJob("infer", infer_yaml, "/state/jobs/5", *roots,
                                   [](const ModelReference& reference) -> Result<std::string> {
                                     CHECK(reference.name == "fmnist");
                                     CHECK(reference.alias == "production");
                                     return std::string("/state/artifacts/sha256/ab/abc");
                                   });
  REQUIRE(infer.ok());
  CHECK(infer->infer->model == "/state/artifacts/sha256/ab/abc");
  CHECK(infer->infer->input.path == root + "/exports/t");
  CHECK(infer->directory == "/state/jobs/5/output");
  auto unknown = PrepareSubmittedJob("infer", infer_yaml, "/j", *roots, NoModels());
  CHECK(unknown.status().code() == StatusCode::kNotFound);
}

TEST_CASE("submitted jobs: tables carry the roots to every open, links out of the roots are refused without their target") {
  testing::TempDir dir;
  fs::create_directories(dir.Path("root/runs/a"));
  fs::create_directories(dir.Path("outside"));
  Write(dir.Path("outside/model.pt"), "secret");
  fs::create_directory_symlink(dir.Path("outside"), dir.Path("root/escape"));
  auto roots = DataRoots::Create({dir.Path("root")});
  REQUIRE(roots.ok());
  const std::string root = fs::canonical(dir.Path("root")).string();
  const std::string outside = fs::canonical(dir.Path("outside")).string();

  auto train = PrepareSubmittedJob("train", WithRoot(kTrainYaml, root), "/state/jobs/4", *roots, NoModels());
  REQUIRE(train.ok());
  CHECK(train->train->data.train.input.confine_to == std::vector<std::string>{root});
  CHECK(train->train->data.test.input.confine_to == std::vector<std::string>{root});

  // A named path through a link out of the roots: 403 naming the path as given, not its target.
  auto escaping = roots->Confine("input.path", "escape/t");
  REQUIRE_FALSE(escaping.ok());
  CHECK(escaping.status().message().find("escape/t") != std::string::npos);
  CHECK(escaping.status().message().find(outside) == std::string::npos);

  // A training run's directory named as the model, its model.pt a link out of the roots.
  Write(dir.Path("root/runs/a/config.yaml"), "model: mlp\n");
  fs::create_symlink(outside + "/model.pt", dir.Path("root/runs/a/model.pt"));
  const std::string infer_yaml =
      "model: runs/a\n"
      "input: {path: exports/t, format: csv, header: true}\n"
      "schema: {features: [f0..f3]}\n";
  auto linked = PrepareSubmittedJob("infer", infer_yaml, "/state/jobs/5", *roots, NoModels());
  REQUIRE_FALSE(linked.ok());
  CHECK(linked.status().code() == StatusCode::kPermissionDenied);
  CHECK(linked.status().message().find("model.pt") != std::string::npos);
  CHECK(linked.status().message().find(outside) == std::string::npos);
  fs::remove(dir.Path("root/runs/a/model.pt"));
  Write(dir.Path("root/runs/a/model.pt"), "weights");
  auto inside = PrepareSubmittedJob("infer", infer_yaml, "/state/jobs/5", *roots, NoModels());
  REQUIRE(inside.ok());
  CHECK(inside->infer->input.confine_to == std::vector<std::string>{root});
}

TEST_CASE("model references: models:/NAME/VERSION and models:/NAME@ALIAS") {
  auto plain = ParseModelReference("/data/model.pt");
  REQUIRE(plain.ok());
  CHECK_FALSE(plain->has_value());
  auto versioned = ParseModelReference("models:/fmnist/12");
  REQUIRE(versioned.ok());
  CHECK((*versioned)->name == "fmnist");
  CHECK((*versioned)->version == 12);
  auto aliased = ParseModelReference("models:/fmnist@production");
  REQUIRE(aliased.ok());
  CHECK((*aliased)->alias == "production");
  for (const char* bad : {"models:/", "models:/a/b/c", "models:/a@", "models:/a/x", "models:/../1",
                          "models:/a@b/1", "models:/a/99999999999"}) {
    INFO(bad);
    CHECK_FALSE(ParseModelReference(bad).ok());
  }
}

TEST_CASE("artifact store: content-addressed copies survive the run directory") {
  testing::TempDir dir;
  Write(dir.Path("run/model.pt"), "weights");
  Write(dir.Path("run/config.yaml"), "model: mlp\n");
  ArtifactStore artifacts(dir.Path("artifacts"), Env::Default());
  auto digest = artifacts.AddRun(dir.Path("run"));
  REQUIRE(digest.ok());
  CHECK(*digest == Sha256Hex("weights"));
  const std::string stored = artifacts.PathOf(*digest);
  CHECK(stored == dir.Path("artifacts") + "/sha256/" + digest->substr(0, 2) + "/" + *digest);
  fs::remove_all(dir.Path("run"));
  CHECK(ReadAll(stored + "/model.pt") == "weights");
  CHECK(ReadAll(stored + "/config.yaml") == "model: mlp\n");
  // The same weights again: the same artifact, no second copy, no temporary left.
  Write(dir.Path("run2/model.pt"), "weights");
  Write(dir.Path("run2/config.yaml"), "model: mlp\n");
  CHECK(*artifacts.AddRun(dir.Path("run2")) == *digest);
  int entries = 0;
  for (const auto& entry : fs::directory_iterator(dir.Path("artifacts"))) {
    (void)entry;
    ++entries;
  }
  CHECK(entries == 1);  // sha256/ only
  CHECK_FALSE(artifacts.AddRun(dir.Path("missing")).ok());

  auto fingerprint = DatasetFingerprint(stored, Env::Default());
  REQUIRE(fingerprint.ok());
  CHECK(fingerprint->rfind("sha256:", 0) == 0);
  CHECK(*DatasetFingerprint(stored, Env::Default()) == *fingerprint);
}

TEST_CASE("leftover processes: found by the tag on their command line, and only those") {
  const std::string tag = "svc42-0123456789ab";
  // A shell keeps its extra arguments on its command line (as $0), as mpirun keeps --job-id.
  std::vector<std::string> shell = {"/bin/sh", "-c", "sleep 5", tag + "-restart-1"};
  std::vector<char*> shell_argv;
  for (auto& arg : shell) shell_argv.push_back(arg.data());
  shell_argv.push_back(nullptr);
  pid_t pid = -1;
  // Its `sleep` outlives the shell: it must not hold the test's output open.
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  for (int fd : {0, 1, 2}) posix_spawn_file_actions_addopen(&files, fd, "/dev/null", O_RDWR, 0);
  REQUIRE(::posix_spawn(&pid, "/bin/sh", &files, nullptr, shell_argv.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&files);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto found = FindTaggedProcesses(tag);
  CHECK(std::find(found.begin(), found.end(), pid) != found.end());
  CHECK(FindTaggedProcesses("svc42-0123456789ac").empty());
  CHECK(FindTaggedProcesses("").empty());
  CHECK(KillTaggedProcesses(tag) >= 1);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
}

TEST_CASE("state store: job directories, launch processes, metrics, the queue and counts") {
  testing::TempDir dir;
  auto opened = StateStore::Open(dir.path());
  REQUIRE(opened.ok());
  StateStore& store = **opened;
  NewJob job{"train", "model: mlp\n", 2, "token:1", ""};
  int64_t first = *store.InsertJob(job);
  int64_t second = *store.InsertJob(job);
  CHECK(*store.ListQueuedJobIds() == std::vector<int64_t>{first, second});
  REQUIRE(store.SetJobState(first, JobState::kRunning).ok());
  CHECK(*store.ListQueuedJobIds() == std::vector<int64_t>{second});
  REQUIRE(store.SetJobDirectory(first, "/runs/1").ok());
  REQUIRE(store.SetJobProcess(first, 4242, "svc1-abc").ok());
  auto record = store.GetJob(first);
  CHECK(record->directory == "/runs/1");
  CHECK(record->process_group == 4242);
  CHECK(record->process_tag == "svc1-abc");
  CHECK(record->model_name.empty());
  CHECK(store.SetJobDirectory(99, "/x").code() == StatusCode::kNotFound);

  REQUIRE(store.AppendJobMetrics(first, {{"step", R"({"step":1})"}, {"evaluation", R"({"epoch":1})"}}).ok());
  REQUIRE(store.AppendJobMetrics(first, {{"step", R"({"step":2})"}}).ok());
  auto metrics = store.ListJobMetrics(first);
  REQUIRE(metrics->size() == 3);
  CHECK((*metrics)[2].body_json == R"({"step":2})");
  CHECK_FALSE(store.AppendJobMetrics(first, {{"nonsense", "{}"}}).ok());
  CHECK(store.ListJobMetrics(first)->size() == 3);  // the failed append left nothing

  auto counts = store.CountJobsByState();
  CHECK(counts->at("running") == 1);
  CHECK(counts->at("queued") == 1);
  CHECK(counts->at("failed") == 0);

  // The registry tells which model a job produced.
  REQUIRE(store.SetJobState(first, JobState::kSucceeded).ok());
  NewModelVersion version;
  version.model = "m";
  version.job_id = first;
  version.artifact_sha256 = std::string(64, 'a');
  REQUIRE(store.RegisterVersion(version).ok());
  record = store.GetJob(first);
  CHECK(record->model_name == "m");
  CHECK(record->model_version == 1);

  auto tokens = store.ListTokens();
  CHECK(tokens->empty());
  auto issued = store.IssueToken(Role::kOperator, "ci");
  REQUIRE(store.ListTokens()->size() == 1);
  REQUIRE(store.RevokeToken(issued->id).ok());
  CHECK(store.ListTokens()->empty());
}

TEST_CASE("interrupted jobs: resumed by default, up to on_interrupt.max_resumes; on_interrupt: fail does not") {
  JobRecord job;
  job.kind = "train";
  job.config_yaml = kTrainYaml;
  InterruptDecision decision = DecideOnInterrupt(job);
  CHECK(decision.resume);
  CHECK(decision.error.empty());
  // The default bound: three resumes, then the job stays interrupted, saying why.
  job.resumes = 2;
  CHECK(DecideOnInterrupt(job).resume);
  job.resumes = 3;
  decision = DecideOnInterrupt(job);
  CHECK_FALSE(decision.resume);
  CHECK(decision.error == "the server stopped while the job ran; not resumed again: it was resumed 3 times "
                          "already (on_interrupt.max_resumes: 3)");

  job.config_yaml = std::string(kTrainYaml) + "on_interrupt: {max_resumes: 5}\n";
  CHECK(DecideOnInterrupt(job).resume);
  job.resumes = 5;
  CHECK_FALSE(DecideOnInterrupt(job).resume);

  job.resumes = 0;
  job.config_yaml = std::string(kTrainYaml) + "on_interrupt: fail\n";
  decision = DecideOnInterrupt(job);
  CHECK_FALSE(decision.resume);
  CHECK(decision.error == "the server stopped while the job ran (on_interrupt: fail)");

  // Infer jobs read the same key.
  job.kind = "infer";
  job.config_yaml = "model: models:/m@production\ninput: {path: data/in}\n";
  CHECK(DecideOnInterrupt(job).resume);
  job.config_yaml += "on_interrupt: {action: fail}\n";
  CHECK_FALSE(DecideOnInterrupt(job).resume);
  job.config_yaml = "model: models:/m/1\non_interrupt: {action: resume, max_resumes: 1}\n";
  job.resumes = 1;
  decision = DecideOnInterrupt(job);
  CHECK_FALSE(decision.resume);
  CHECK(decision.error.find("resumed 1 time already (on_interrupt.max_resumes: 1)") != std::string::npos);

  // A stored config that no longer parses is not resumed: it would fail at its start anyway.
  job.config_yaml = "model: models:/m/1\nno_such_key: 1\n";
  job.resumes = 0;
  decision = DecideOnInterrupt(job);
  CHECK_FALSE(decision.resume);
  CHECK(decision.error.find("no_such_key") != std::string::npos);
}

}  // namespace aimass::service
