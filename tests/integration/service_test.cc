// The platform service over real HTTP: a real `aimass-coordinator serve` process, real jobs
// with real workers (mpirun), and a client that only speaks HTTP. Each test asserts what a user
// of the API sees: status codes and JSON, jobs reaching their states, the registry, the audit
// log, the Prometheus text, and that no worker process outlives a cancelled or interrupted job.
#include <boost/json.hpp>
#include "tests/catch.h"
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <atomic>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/http_client.h"
#include "tests/integration/service_fixture.h"
#include "tests/integration/job_fixture.h"
#include "tests/integration/process_runner.h"
#include "tests/temp_dir.h"

namespace aimass::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using std::chrono::seconds;

// Pids of processes whose command line names the service job `id`'s launch (svc<id>-...).
std::vector<uint32_t> JobProcesses(int64_t id) {
  std::vector<uint32_t> pids;
  const std::string tag = "svc" + std::to_string(id) + "-";
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    std::string cmdline = ReadText(entry.path().string() + "/cmdline");
    if (cmdline.find(tag) != std::string::npos && !ProcessEnded(static_cast<uint32_t>(std::stoul(name)))) {
      pids.push_back(static_cast<uint32_t>(std::stoul(name)));
    }
  }
  return pids;
}

}  // namespace

TEST_CASE("service: tokens are required and roles are enforced", "[service]") {
  TempDir dir;
  Service service(dir.Path("state"));
  struct stat info {};
  REQUIRE(::stat(dir.Path("state/admin.token").c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0600);
  CHECK(service.Output().find(service.admin()) == std::string::npos);  // the path, never the token

  CHECK(service.Json("GET", "/healthz", 200, "", std::string()).at("status") == "ok");
  HttpReply anonymous = service.Call("GET", "/api/v1/jobs", "", std::string());
  CHECK(anonymous.status == 401);
  CHECK(ParseJson(anonymous).at("code") == "unauthenticated");
  CHECK(service.Call("GET", "/api/v1/jobs", "", std::string("aimass_not_a_token")).status == 401);
  CHECK(service.Call("GET", "/metrics", "", std::string()).status == 401);

  json::value viewer = service.Json("POST", "/api/v1/tokens", 201,
                                    R"({"role": "viewer", "description": "dashboards"})");
  const std::string viewer_token(viewer.at("token").as_string());
  CHECK(service.Json("GET", "/api/v1/whoami", 200, "", viewer_token).at("role") == "viewer");
  CHECK(service.Json("GET", "/api/v1/jobs", 200, "", viewer_token).at("jobs").as_array().empty());
  HttpReply refused = service.Call("POST", "/api/v1/jobs", JobBody("train", TrainYaml(1), 2), viewer_token);
  CHECK(refused.status == 403);
  CHECK(ParseJson(refused).at("code") == "forbidden");
  CHECK(service.Call("GET", "/api/v1/audit", "", viewer_token).status == 403);
  CHECK(service.Call("POST", "/api/v1/tokens", R"({"role": "admin"})", viewer_token).status == 403);

  // Every refusal of a known token is in the audit log, with where it came from.
  json::array audit = service.Json("GET", "/api/v1/audit", 200).at("entries").as_array();
  int denied = 0;
  for (const auto& entry : audit) {
    if (entry.at("action") == "denied") {
      ++denied;
      CHECK(entry.at("actor").as_string().find("dashboards") != json::string::npos);
      CHECK(entry.at("remote") == "127.0.0.1");
    }
  }
  CHECK(denied == 3);

  // A revoked token is refused from then on.
  const int64_t viewer_id = viewer.at("id").as_int64();
  service.Json("DELETE", "/api/v1/tokens/" + std::to_string(viewer_id), 200);
  CHECK(service.Call("GET", "/api/v1/jobs", "", viewer_token).status == 401);
  CHECK(service.Call("GET", "/api/v1/nothing-here").status == 404);
}

TEST_CASE("service: a train job registers its model; aliases promote and roll back; an infer "
          "job scores with the production model", "[service]") {
  TempDir dir;
  Service service(dir.Path("state"));
  const int64_t first = service.Submit("train", TrainYaml(1), 2, "fmnist");

  // The followed log streams until the job has ended.
  HttpReply log = HttpCall(service.port(), "GET", "/api/v1/jobs/" + std::to_string(first) + "/log?follow=1",
                           "", service.admin(), seconds(240));
  REQUIRE(log.status == 200);
  CHECK(log.content_type.find("text/plain") == 0);
  CHECK(log.body.find("registered the model as fmnist version 1") != std::string::npos);

  json::object job = service.WaitForState(first, "succeeded");
  CHECK(job.at("kind") == "train");
  CHECK(job.at("workers") == 2);
  CHECK(job.at("submitted_by").as_string().find("token:1") == 0);
  CHECK(job.at("started_at").is_string());
  CHECK(job.at("finished_at").is_string());
  CHECK(job.at("error").is_null());
  const double accuracy = job.at("summary").at("test_accuracy").as_double();
  CHECK(accuracy > 0.1);
  CHECK(job.at("model").at("name") == "fmnist");
  CHECK(job.at("model").at("version") == 1);
  const std::string run_dir(job.at("directory").as_string());
  CHECK(run_dir == fs::canonical(dir.Path("state")).string() + "/jobs/" + std::to_string(first) + "/run");

  json::object metrics = service.Json("GET", "/api/v1/jobs/" + std::to_string(first) + "/metrics", 200).as_object();
  CHECK(metrics.at("steps").as_array().size() >= 8);  // 256 records, global batch 32, log_every 1
  CHECK(metrics.at("steps").as_array()[0].at("loss").as_double() > 0);
  REQUIRE(metrics.at("evaluations").as_array().size() == 1);
  CHECK(metrics.at("evaluations").as_array()[0].at("test_accuracy").as_double() == accuracy);

  // The registry has the version with the job's test accuracy, its dataset and its digest.
  json::object model = service.Json("GET", "/api/v1/models/fmnist", 200).as_object();
  REQUIRE(model.at("versions").as_array().size() == 1);
  json::object version = model.at("versions").as_array()[0].as_object();
  CHECK(version.at("version") == 1);
  CHECK(version.at("job") == first);
  CHECK(version.at("metrics").at("test_accuracy").as_double() == accuracy);
  CHECK(version.at("dataset").as_string().find("sha256:") == 0);
  CHECK(version.at("config").as_string() == TrainYaml(1));
  const std::string digest(version.at("sha256").as_string());
  REQUIRE(digest.size() == 64);
  const std::string artifact = dir.Path("state/artifacts/sha256/" + digest.substr(0, 2) + "/" + digest + "/model.pt");
  CHECK(fs::exists(artifact));

  // Deleting the run directory does not break the registry.
  fs::remove_all(run_dir);
  CHECK(fs::exists(artifact));

  // A second run, registered by hand: version 2.
  const int64_t second = service.Submit("train", TrainYaml(2), 2);
  service.WaitForState(second, "succeeded");
  CHECK(service.Json("POST", "/api/v1/models/fmnist/versions", 201,
                     R"({"job": )" + std::to_string(second) + "}").at("version") == 2);
  // An infer job has no model to register; a running or missing job neither.
  CHECK(service.Call("POST", "/api/v1/models/fmnist/versions", R"({"job": 999})").status == 404);

  // Promote 1, promote 2, roll back to 1: every move is recorded.
  CHECK(service.Json("PUT", "/api/v1/models/fmnist/aliases/production", 200, R"({"version": 1})")
            .at("previous").is_null());
  CHECK(service.Json("PUT", "/api/v1/models/fmnist/aliases/production", 200, R"({"version": 2})")
            .at("previous") == 1);
  CHECK(service.Json("PUT", "/api/v1/models/fmnist/aliases/production", 200, R"({"version": 1})")
            .at("previous") == 2);
  CHECK(service.Call("PUT", "/api/v1/models/fmnist/aliases/production", R"({"version": 9})").status == 404);
  model = service.Json("GET", "/api/v1/models/fmnist", 200).as_object();
  CHECK(model.at("aliases").at("production") == 1);
  json::array moves = model.at("alias_history").as_array();
  REQUIRE(moves.size() == 3);
  CHECK(moves[0].at("to") == 1);
  CHECK(moves[1].at("from") == 1);
  CHECK(moves[2].at("to") == 1);
  json::array models = service.Json("GET", "/api/v1/models", 200).at("models").as_array();
  REQUIRE(models.size() == 1);
  CHECK(models[0].at("latest_version") == 2);

  // Inference with the production model, by name: every test record scored once.
  const std::string infer_yaml =
      "model: models:/fmnist@production\n"
      "input: {path: fashion-mnist/test, format: csv, header: true}\n"
      "schema: {id: id, features: [pixel0..pixel783], shape: [1, 28, 28]}\n"
      "output: {path: scores}\n"
      "inference: {device: cpu, threads: 1}\n";
  const int64_t scoring = service.Submit("infer", infer_yaml, 2);
  json::object scored = service.WaitForState(scoring, "succeeded");
  CHECK(scored.at("summary").at("records_out").as_int64() == 512);
  CHECK(fs::exists(std::string(scored.at("directory").as_string()) + "/_SUCCESS"));

  json::array audit = service.Json("GET", "/api/v1/audit", 200).at("entries").as_array();
  std::multiset<std::string> actions;
  for (const auto& entry : audit) actions.insert(std::string(entry.at("action").as_string()));
  CHECK(actions.count("job.submit") == 3);
  CHECK(actions.count("model.register") == 2);
  CHECK(actions.count("model.alias") == 3);
}

TEST_CASE("service: the queue honours --max-concurrent-jobs and cancel leaves no worker behind",
          "[service]") {
  TempDir dir;
  Service service(dir.Path("state"), {"--max-concurrent-jobs", "1"});
  const int64_t running = service.Submit("train", TrainYaml(1000), 2);
  const int64_t waiting = service.Submit("train", TrainYaml(1), 2);
  service.WaitUntilTraining(running);
  CHECK(service.Json("GET", "/api/v1/jobs/" + std::to_string(waiting), 200).at("state") == "queued");
  const std::vector<uint32_t> workers = JobProcesses(running);
  CHECK(workers.size() >= 3);  // mpirun and two workers

  // A queued job is cancelled at once; a running one once its workers are gone.
  CHECK(service.Json("POST", "/api/v1/jobs/" + std::to_string(waiting) + "/cancel", 200).at("state") == "cancelled");
  service.Json("POST", "/api/v1/jobs/" + std::to_string(running) + "/cancel", 200);
  json::object cancelled = service.WaitForState(running, "cancelled", seconds(90));
  CHECK(cancelled.at("error").as_string().find("cancelled by token:1") == 0);
  for (uint32_t pid : workers) {
    CHECK(ProcessEnded(pid));
  }
  CHECK(JobProcesses(running).empty());
  // An ended job cannot be cancelled again.
  CHECK(service.Call("POST", "/api/v1/jobs/" + std::to_string(running) + "/cancel").status == 409);
}

TEST_CASE("service: paths outside the data roots, bad configs and oversized bodies are refused",
          "[service]") {
  TempDir dir;
  Service service(dir.Path("state"));
  auto submit = [&](const std::string& yaml) {
    return service.Call("POST", "/api/v1/jobs", JobBody("train", yaml, 1));
  };
  auto replace = [](std::string text, const std::string& from, const std::string& to) {
    return text.replace(text.find(from), from.size(), to);
  };
  const std::string yaml = TrainYaml(1);

  HttpReply absolute = submit(replace(yaml, "fashion-mnist/train", "/etc"));
  CHECK(absolute.status == 403);
  CHECK(ParseJson(absolute).at("error").as_string().find("data.train") != json::string::npos);
  CHECK(submit(replace(yaml, "fashion-mnist/train", "../../../../../../etc")).status == 403);
  // A symlink inside a root that leads outside it is followed, then refused.
  const std::string link = DataRoot() + "/service-test-link-" + std::to_string(::getpid());
  fs::create_directory_symlink("/etc", link);
  HttpReply through_link = submit(replace(yaml, "fashion-mnist/train", link));
  fs::remove(link);
  CHECK(through_link.status == 403);
  CHECK(submit(yaml + "output: {run_dir: /tmp/elsewhere}\n").status == 403);
  CHECK(submit(replace(yaml, "model: mlp", "model: torchscript:/etc/passwd")).status == 403);

  // A bad config gets the CLI's message with its dotted key, before anything is queued.
  HttpReply bad = submit(replace(yaml, "epochs: 1", "epochs: -3"));
  CHECK(bad.status == 400);
  CHECK(ParseJson(bad).at("error").as_string().find("training.epochs") != json::string::npos);
  CHECK(submit(yaml + "surprise: 1\n").status == 400);
  CHECK(service.Call("POST", "/api/v1/jobs", JobBody("sing", yaml, 1)).status == 400);
  CHECK(service.Call("POST", "/api/v1/jobs", JobBody("train", yaml, 0)).status == 400);
  CHECK(service.Call("POST", "/api/v1/jobs", "{not json").status == 400);
  CHECK(service.Call("POST", "/api/v1/jobs", R"({"kind": "train", "config": 5})").status == 400);
  CHECK(service.Call("POST", "/api/v1/jobs", JobBody("infer", yaml, 1, "x")).status == 400);
  CHECK(service.Json("GET", "/api/v1/jobs", 200).at("jobs").as_array().empty());

  // Bodies over the cap (1 MiB) are refused from their Content-Length, before they are read.
  HttpReply huge = HttpRaw(service.port(),
                           "POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                               service.admin() + "\r\nContent-Length: 2097152\r\n\r\n");
  CHECK(huge.status == 413);
  CHECK(huge.body.find("payload_too_large") != std::string::npos);
  // A whole oversized body too, and the server is still there afterwards.
  HttpReply whole = service.Call("POST", "/api/v1/jobs", std::string(1100000, 'x'));
  CHECK((whole.status == 413 || whole.status == 0));
  CHECK(service.Json("GET", "/healthz", 200, "", std::string()).at("status") == "ok");
  // Garbage instead of HTTP gets a 400, not a crash.
  CHECK(HttpRaw(service.port(), "\x01\x02 nonsense\r\n\r\n").status == 400);
  // A static path that climbs out of the UI directory is not served.
  CHECK(service.Call("GET", "/static/../state.db", "", std::string()).status == 404);
}

TEST_CASE("service: after SIGKILL a restart marks the running on_interrupt: fail job interrupted, ends its "
          "processes and keeps everything else; SIGTERM cancels cleanly", "[service]") {
  TempDir dir;
  const std::string state = dir.Path("state");
  int64_t finished = 0, killed = 0;
  std::vector<uint32_t> orphans;
  std::string admin;
  {
    Service service(state);
    admin = service.admin();
    finished = service.Submit("train", TrainYaml(1), 2, "kept");
    service.WaitForState(finished, "succeeded");
    // on_interrupt: fail: stays interrupted (a job that resumes is service_resume_test.cc's).
    killed = service.Submit("train", TrainYaml(1000) + "on_interrupt: fail\n", 2);
    service.WaitUntilTraining(killed);
    orphans = JobProcesses(killed);
    REQUIRE(orphans.size() >= 3);
    service.Signal(SIGKILL);
    service.WaitForExit(seconds(30));
  }
  {
    Service service(state);
    CHECK(service.admin() == admin);  // the same token file, the same admin
    CHECK(service.Output().find("job " + std::to_string(killed) + " was running when the server stopped") !=
          std::string::npos);
    json::object job = service.Json("GET", "/api/v1/jobs/" + std::to_string(killed), 200).as_object();
    CHECK(job.at("state") == "interrupted");
    // A second server on the same state directory is refused: it would end this one's jobs.
    ProcessResult second = Run({CoordinatorBinary(), "serve", "--state-dir", state, "--listen", "127.0.0.1:0"},
                               dir.path(), seconds(30));
    CHECK(second.exit_code == 1);
    CHECK(second.err.find("is in use by another aimass-coordinator serve") != std::string::npos);
    for (uint32_t pid : orphans) CHECK(ProcessEnded(pid));
    CHECK(JobProcesses(killed).empty());
    // What was finished, registered and audited is all still there.
    CHECK(service.Json("GET", "/api/v1/jobs/" + std::to_string(finished), 200).at("state") == "succeeded");
    CHECK(service.Json("GET", "/api/v1/models/kept", 200).at("versions").as_array().size() == 1);
    CHECK(service.Json("GET", "/api/v1/audit", 200).at("entries").as_array().size() >= 3);

    // SIGTERM: the running job is cancelled, its workers end, the server exits 0.
    const int64_t stopped = service.Submit("train", TrainYaml(1000), 2);
    service.WaitUntilTraining(stopped);
    std::vector<uint32_t> workers = JobProcesses(stopped);
    service.Signal(SIGTERM);
    ProcessResult exit = service.WaitForExit(seconds(90));
    CHECK(exit.exit_code == 0);
    for (uint32_t pid : workers) CHECK(ProcessEnded(pid));
    Service again(state);
    json::object cancelled = again.Json("GET", "/api/v1/jobs/" + std::to_string(stopped), 200).as_object();
    CHECK(cancelled.at("state") == "cancelled");
    CHECK(cancelled.at("error") == "the server was stopped");
  }
}

TEST_CASE("service: /metrics is Prometheus text with jobs and requests", "[service]") {
  TempDir dir;
  Service service(dir.Path("state"));
  const int64_t id = service.Submit("train", TrainYaml(1), 1);
  service.WaitForState(id, "succeeded");
  service.Call("GET", "/api/v1/jobs");
  HttpReply metrics = service.Call("GET", "/metrics");
  REQUIRE(metrics.status == 200);
  CHECK(metrics.content_type.find("text/plain") == 0);
  // Every line is a comment (# HELP / # TYPE) or a sample: name{labels} value.
  const std::regex comment(R"(# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*)");
  const std::regex sample(
      R"([a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? -?([0-9.eE+-]+|Inf|NaN))");
  std::istringstream lines(metrics.body);
  std::string line;
  int samples = 0;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    INFO(line);
    CHECK((std::regex_match(line, comment) || std::regex_match(line, sample)));
    if (line[0] != '#') ++samples;
  }
  CHECK(samples > 10);
  CHECK(metrics.body.find("aimass_jobs{state=\"succeeded\"} 1") != std::string::npos);
  CHECK(metrics.body.find("aimass_http_requests_total{") != std::string::npos);
  CHECK(metrics.body.find("route=\"/api/v1/jobs\"") != std::string::npos);
  CHECK(metrics.body.find("aimass_job_duration_seconds_count{kind=\"train\",state=\"succeeded\"} 1") !=
        std::string::npos);
}


// A state directory sealed with one key: the serve command's one-line refusal for `extra`.
ProcessResult RefusedStart(const TempDir& dir, const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {CoordinatorBinary(), "serve", "--state-dir", dir.Path("state"),
                                   "--data-root", DataRoot(), "--listen", "127.0.0.1:0"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return Run(argv, dir.path(), seconds(30));
}

TEST_CASE("service: with --master-key-file registered models are sealed at rest, still score, "
          "and only the right key opens the state directory", "[service]") {
  TempDir dir;
  const std::string key = dir.Path("master.key");
  WriteRaw(key, std::string(32, '\x11'));
  REQUIRE(::chmod(key.c_str(), 0600) == 0);
  const std::string other_key = dir.Path("other.key");
  WriteRaw(other_key, std::string(64, 'e') + "\n");
  REQUIRE(::chmod(other_key.c_str(), 0600) == 0);
  const std::string infer_yaml =
      "model: models:/sealed@production\n"
      "input: {path: fashion-mnist/test, format: csv, header: true}\n"
      "schema: {id: id, features: [pixel0..pixel783], shape: [1, 28, 28]}\n"
      "output: {path: scores}\n"
      "inference: {device: cpu, threads: 1}\n";
  std::string artifact;
  {
    Service service(dir.Path("state"), {"--master-key-file", key});
    CHECK(service.Output().find("encrypted at rest") != std::string::npos);
    const int64_t trained = service.Submit("train", TrainYaml(1), 2, "sealed");
    json::object job = service.WaitForState(trained, "succeeded");
    CHECK(job.at("model").at("version") == 1);
    const std::string weights = ReadText(std::string(job.at("directory").as_string()) + "/model.pt");
    REQUIRE(weights.size() > 1000);
    json::object version =
        service.Json("GET", "/api/v1/models/sealed", 200).at("versions").as_array()[0].as_object();
    const std::string digest(version.at("sha256").as_string());
    artifact = dir.Path("state/artifacts/sha256/" + digest.substr(0, 2) + "/" + digest);
    // Only sealed files on disk, and none of the weights' bytes in them.
    CHECK_FALSE(fs::exists(artifact + "/model.pt"));
    CHECK_FALSE(fs::exists(artifact + "/config.yaml"));
    const std::string sealed = ReadText(artifact + "/model.pt.sealed");
    CHECK(sealed.size() == weights.size() + 44);
    for (size_t offset : {size_t{0}, weights.size() / 2, weights.size() - 64}) {
      CHECK(sealed.find(weights.substr(offset, 32)) == std::string::npos);
    }
    CHECK(ReadText(artifact + "/config.yaml.sealed").find("model:") == std::string::npos);

    service.Json("PUT", "/api/v1/models/sealed/aliases/production", 200, R"({"version": 1})");
    const int64_t scoring = service.Submit("infer", infer_yaml, 2);
    json::object scored = service.WaitForState(scoring, "succeeded");
    CHECK(scored.at("summary").at("records_out").as_int64() == 512);
    // The opened copy lived only as long as the job.
    CHECK_FALSE(fs::exists(dir.Path("state/opened/job-" + std::to_string(scoring))));
    service.Signal(SIGTERM);
    CHECK(service.WaitForExit(seconds(60)).exit_code == 0);
  }

  ProcessResult wrong = RefusedStart(dir, {"--master-key-file", other_key});
  CHECK(wrong.exit_code == 1);
  CHECK(wrong.err.find("--master-key-file " + other_key + " is not the key this state directory was sealed with") !=
        std::string::npos);
  ProcessResult keyless = RefusedStart(dir, {});
  CHECK(keyless.exit_code == 1);
  CHECK(keyless.err.find("holds artifacts sealed with a master key: give --master-key-file") != std::string::npos);
  REQUIRE(::chmod(key.c_str(), 0644) == 0);
  ProcessResult readable = RefusedStart(dir, {"--master-key-file", key});
  CHECK(readable.exit_code == 1);
  CHECK(readable.err.find("has mode 0644: it must be 0600 or stricter") != std::string::npos);
  REQUIRE(::chmod(key.c_str(), 0600) == 0);
  for (const ProcessResult* refused : {&wrong, &keyless, &readable}) {
    CHECK(refused->err.find(std::string(32, '\x11')) == std::string::npos);  // never the key
  }

  {
    // The right key: the registered version scores again, by number this time.
    Service service(dir.Path("state"), {"--master-key-file", key});
    const int64_t scoring = service.Submit("infer", std::regex_replace(infer_yaml, std::regex("@production"), "/1"), 1);
    CHECK(service.WaitForState(scoring, "succeeded").at("summary").at("records_out").as_int64() == 512);

    // A sealed file altered on disk: the job fails and says which file and why.
    std::string sealed = ReadText(artifact + "/model.pt.sealed");
    sealed[sealed.size() / 2] = static_cast<char>(sealed[sealed.size() / 2] ^ 0x01);
    WriteRaw(artifact + "/model.pt.sealed", sealed);
    const int64_t tampered = service.Submit("infer", infer_yaml, 1);
    json::object failed = service.WaitForState(tampered, "failed");
    CHECK(std::string(failed.at("error").as_string()).find(
              "model.pt.sealed: authentication failed: the file was altered or the key is wrong") != std::string::npos);
    CHECK_FALSE(fs::exists(dir.Path("state/jobs/" + std::to_string(tampered) + "/model/model.pt")));
  }
}

TEST_CASE("service: a key added to a plain state directory seals new models and still reads the "
          "plain ones; then the key is required", "[service]") {
  TempDir dir;
  const std::string key = dir.Path("master.key");
  WriteRaw(key, std::string(64, 'a') + "\n");
  REQUIRE(::chmod(key.c_str(), 0400) == 0);
  std::string plain_digest;
  {
    Service service(dir.Path("state"));
    const int64_t trained = service.Submit("train", TrainYaml(1), 1, "old");
    service.WaitForState(trained, "succeeded");
    plain_digest = std::string(
        service.Json("GET", "/api/v1/models/old", 200).at("versions").as_array()[0].at("sha256").as_string());
  }
  const auto artifact = [&](const std::string& digest) {
    return dir.Path("state/artifacts/sha256/" + digest.substr(0, 2) + "/" + digest);
  };
  CHECK(fs::exists(artifact(plain_digest) + "/model.pt"));
  {
    Service service(dir.Path("state"), {"--master-key-file", key});
    const int64_t trained = service.Submit("train", TrainYaml(2), 1, "new");
    service.WaitForState(trained, "succeeded");
    const std::string sealed_digest(
        service.Json("GET", "/api/v1/models/new", 200).at("versions").as_array()[0].at("sha256").as_string());
    CHECK(fs::exists(artifact(sealed_digest) + "/model.pt.sealed"));
    CHECK_FALSE(fs::exists(artifact(sealed_digest) + "/model.pt"));
    CHECK(fs::exists(artifact(plain_digest) + "/model.pt"));  // left as it was
    for (const char* model : {"models:/old/1", "models:/new/1"}) {
      const int64_t scoring = service.Submit(
          "infer", std::string("model: ") + model + "\n"
                   "input: {path: fashion-mnist/test, format: csv, header: true}\n"
                   "schema: {id: id, features: [pixel0..pixel783], shape: [1, 28, 28]}\n"
                   "output: {path: scores}\n"
                   "inference: {device: cpu, threads: 1}\n", 1);
      INFO(model);
      CHECK(service.WaitForState(scoring, "succeeded").at("summary").at("records_out").as_int64() == 512);
    }
  }
  // Stopped first: the refusal must be the key's, not that of a state directory in use.
  ProcessResult keyless = RefusedStart(dir, {});
  CHECK(keyless.exit_code == 1);
  CHECK(keyless.err.find("give --master-key-file") != std::string::npos);
}
}  // namespace aimass::testing

namespace aimass::testing {

TEST_CASE("service: a non-loopback address needs TLS, or --insecure-listen and a warning",
          "[service]") {
  TempDir dir;
  ProcessResult refused = Run({CoordinatorBinary(), "serve", "--state-dir", dir.Path("state"),
                               "--listen", "0.0.0.0:0"},
                              dir.path(), seconds(30));
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find("--listen 0.0.0.0:0 is reachable from other hosts") != std::string::npos);

  Process insecure({CoordinatorBinary(), "serve", "--state-dir", dir.Path("state"), "--listen",
                    "0.0.0.0:0", "--insecure-listen"},
                   dir.path());
  bool serving = false;
  for (int i = 0; i < 100 && !serving; ++i) {
    serving = insecure.OutputSoFar().find("serving http://0.0.0.0:") != std::string::npos;
    if (!serving) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(serving);
  ::kill(insecure.pid(), SIGTERM);
  ProcessResult stopped = insecure.Wait(seconds(30));
  CHECK(stopped.exit_code == 0);
  CHECK(stopped.err.find("without TLS") != std::string::npos);
}

}  // namespace aimass::testing

namespace aimass::testing {

namespace {

// The replica processes of the served `model` version `version` (their --job-id names both).
std::vector<uint32_t> ReplicaProcesses(const std::string& model, int64_t version) {
  std::vector<uint32_t> pids;
  const std::string tag = "serve-" + model + "-v" + std::to_string(version) + "-";
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    std::string cmdline = ReadText(entry.path().string() + "/cmdline");
    if (cmdline.find("aimass-worker") != std::string::npos && cmdline.find(tag) != std::string::npos &&
        !ProcessEnded(static_cast<uint32_t>(std::stoul(name)))) {
      pids.push_back(static_cast<uint32_t>(std::stoul(name)));
    }
  }
  return pids;
}

std::vector<std::string> SplitCsv(const std::string& line) {
  std::vector<std::string> fields;
  std::string field;
  std::stringstream stream(line);
  while (std::getline(stream, field, ',')) fields.push_back(field);
  return fields;
}

// Clients that predict one record each, as fast as answers come, until stopped; they keep
// every status and the versions that answered.
class PredictLoad {
 public:
  PredictLoad(uint16_t port, const std::string& token, const std::string& body, int clients) {
    for (int i = 0; i < clients; ++i) {
      threads_.emplace_back([this, port, token, body] {
        while (!stop_) {
          HttpReply reply = HttpCall(port, "POST", "/api/v1/models/fmnist/predict", body, token, seconds(60));
          std::lock_guard<std::mutex> lock(mutex_);
          statuses_.push_back(reply.status);
          if (reply.status == 200) {
            versions_.insert(json::parse(reply.body).at("model_version").as_int64());
          } else {
            failures_.push_back(std::to_string(reply.status) + " " + reply.error + " " + reply.body);
          }
        }
      });
    }
  }
  ~PredictLoad() { Stop(); }
  void Stop() {
    stop_ = true;
    for (auto& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }
  bool Saw(int64_t version) {
    std::lock_guard<std::mutex> lock(mutex_);
    return versions_.count(version) > 0;
  }
  size_t Answered() {
    std::lock_guard<std::mutex> lock(mutex_);
    return statuses_.size();
  }
  std::vector<std::string> Failures() {
    std::lock_guard<std::mutex> lock(mutex_);
    return failures_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::vector<int> statuses_;
  std::set<int64_t> versions_;
  std::vector<std::string> failures_;
};

template <class Predicate>
bool WaitFor(Predicate ready, seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return ready();
}

}  // namespace

TEST_CASE("service: online prediction scores as batch inference does; a moved alias swaps under "
          "load, a killed replica is restarted, both with no failed request; a full queue gives 503",
          "[service][serving]") {
  TempDir dir;
  Service service(dir.Path("state"));
  const int64_t first = service.Submit("train", TrainYaml(1), 2, "fmnist");
  const int64_t second = service.Submit("train", TrainYaml(1, 128), 2, "fmnist");
  service.WaitForState(first, "succeeded");
  service.WaitForState(second, "succeeded");
  service.Json("PUT", "/api/v1/models/fmnist/aliases/production", 200, R"({"version": 1})");
  json::object served = service.Json("PUT", "/api/v1/models/fmnist/serving", 200,
                                     R"({"replicas": 1, "threads": 1, "max_batch_size": 16, "max_delay_ms": 2})")
                            .as_object();
  CHECK(served.at("routes").at("production") == 1);

  // Batch inference over the test slice with version 1, for reference.
  const std::string infer_yaml =
      "model: models:/fmnist/1\n"
      "input: {path: fashion-mnist/test, format: csv, header: true}\n"
      "schema: {id: id, features: [pixel0..pixel783], shape: [1, 28, 28]}\n"
      "output: {path: scores}\n"
      "inference: {device: cpu, threads: 1}\n";
  const int64_t scoring = service.Submit("infer", infer_yaml, 1);
  const std::string output(service.WaitForState(scoring, "succeeded").at("directory").as_string());
  std::map<std::string, std::vector<double>> batch_scores;  // id -> scores
  for (const auto& entry : fs::directory_iterator(output)) {
    if (entry.path().filename().string().rfind("part-", 0) != 0) continue;
    std::ifstream part(entry.path());
    std::string line;
    while (std::getline(part, line)) {
      std::vector<std::string> fields = SplitCsv(line);
      if (fields.size() < 3 || fields[0] == "id") continue;
      std::vector<double> scores;
      for (size_t i = 2; i < fields.size(); ++i) scores.push_back(std::stod(fields[i]));
      batch_scores[fields[0]] = scores;
    }
  }
  REQUIRE(batch_scores.size() == 512);

  // The same records online, named (the training table's columns) and as instances.
  const std::string test_dir = DataRoot() + "/fashion-mnist/test";
  std::vector<std::string> header;
  std::vector<std::pair<std::string, std::vector<std::string>>> records;  // id, pixel texts
  for (const auto& entry : fs::directory_iterator(test_dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("part-", 0) != 0 || !records.empty()) continue;
    std::stringstream part(ReadGzipText(entry.path().string()));
    std::string line;
    std::getline(part, line);
    header = SplitCsv(line);
    while (records.size() < 24 && std::getline(part, line)) {
      std::vector<std::string> fields = SplitCsv(line);
      std::vector<std::string> pixels;
      for (size_t i = 0; i < fields.size(); ++i) {
        if (header[i] != "id" && header[i] != "label") pixels.push_back(fields[i]);
      }
      const size_t id_column = std::find(header.begin(), header.end(), "id") - header.begin();
      records.emplace_back(fields[id_column], pixels);
    }
  }
  REQUIRE(records.size() == 24);
  json::array named;
  json::array instances;
  for (const auto& [id, pixels] : records) {
    json::object record;
    json::array values;
    size_t k = 0;
    for (const std::string& column : header) {
      if (column == "id" || column == "label") continue;
      record[column] = std::stod(pixels[k]);
      values.push_back(std::stod(pixels[k]));
      ++k;
    }
    named.push_back(std::move(record));
    instances.push_back(std::move(values));
  }
  for (const char* form : {"records", "instances"}) {
    json::object body{{form, std::string(form) == "records" ? named : instances}};
    json::object answer = service.Json("POST", "/api/v1/models/fmnist/predict", 200, json::serialize(body)).as_object();
    CHECK(answer.at("model_version") == 1);
    json::array scores = answer.at("scores").as_array();
    json::array predictions = answer.at("predictions").as_array();
    REQUIRE(scores.size() == records.size());
    double worst = 0;
    for (size_t i = 0; i < records.size(); ++i) {
      const std::vector<double>& expected = batch_scores.at(records[i].first);
      REQUIRE(scores[i].as_array().size() == expected.size());
      size_t best = 0;
      for (size_t k = 0; k < expected.size(); ++k) {
        worst = std::max(worst, std::abs(scores[i].as_array()[k].as_double() - expected[k]));
        if (expected[k] > expected[best]) best = k;
      }
      CHECK(predictions[i].as_int64() == static_cast<int64_t>(best));
    }
    INFO(form);
    CHECK(worst < 1e-5);
  }
  // A bad body is one 400 naming the record; an unknown version 404.
  HttpReply bad = service.Call("POST", "/api/v1/models/fmnist/predict", R"({"instances": [[1, 2]]})");
  CHECK(bad.status == 400);
  CHECK(bad.body.find("instances[0]: 2 values; the model takes 784") != std::string::npos);
  CHECK(service.Call("POST", "/api/v1/models/fmnist/predict?version=9", R"({"instances": [[1]]})").status == 404);

  const std::string one = json::serialize(json::object{{"instances", json::array{instances[0]}}});

  // Moving the alias under load: the new version answers once it is ready; nothing fails.
  {
    PredictLoad load(service.port(), service.admin(), one, 4);
    REQUIRE(WaitFor([&] { return load.Saw(1); }, seconds(30)));
    service.Json("PUT", "/api/v1/models/fmnist/aliases/production", 200, R"({"version": 2})");
    CHECK(WaitFor([&] { return load.Saw(2); }, seconds(60)));
    const size_t before = load.Answered();
    WaitFor([&] { return load.Answered() > before + 50; }, seconds(30));
    load.Stop();
    INFO(service.Output());
    CHECK(load.Failures().empty());
    for (const std::string& failure : load.Failures()) UNSCOPED_INFO(failure);
  }
  // Version 1's replicas drain and end.
  CHECK(WaitFor([] { return ReplicaProcesses("fmnist", 1).empty(); }, seconds(30)));

  // A replica killed under load: its batch is retried, it is restarted, nothing fails.
  {
    std::vector<uint32_t> replicas = ReplicaProcesses("fmnist", 2);
    REQUIRE(replicas.size() == 1);
    PredictLoad load(service.port(), service.admin(), one, 4);
    REQUIRE(WaitFor([&] { return load.Answered() > 20; }, seconds(30)));
    ::kill(static_cast<pid_t>(replicas[0]), SIGKILL);
    const size_t at_kill = load.Answered();
    CHECK(WaitFor([&] { return load.Answered() > at_kill + 50; }, seconds(60)));
    load.Stop();
    INFO(service.Output());
    CHECK(load.Failures().empty());
    for (const std::string& failure : load.Failures()) UNSCOPED_INFO(failure);
    json::object status = service.Json("GET", "/api/v1/models/fmnist/serving", 200).as_object();
    REQUIRE(status.at("deployments").as_array().size() == 1);
    CHECK(status.at("deployments").as_array()[0].at("restarts").as_int64() >= 1);
  }

  // A full queue: with the replica stopped, one request is in flight, one waits, the rest get
  // 503 with Retry-After at once.
  service.Json("PUT", "/api/v1/models/fmnist/serving", 200, R"({"max_batch_size": 1, "max_queue": 1, "threads": 1})");
  REQUIRE(WaitFor([&] {
    json::object status = service.Json("GET", "/api/v1/models/fmnist/serving", 200).as_object();
    json::array deployments = status.at("deployments").as_array();
    return deployments.size() == 1 && !deployments[0].at("replacing").as_bool() &&
           deployments[0].at("state") == "ready";
  }, seconds(60)));
  REQUIRE(WaitFor([] { return ReplicaProcesses("fmnist", 2).size() == 1; }, seconds(30)));
  const uint32_t replica = ReplicaProcesses("fmnist", 2)[0];
  ::kill(static_cast<pid_t>(replica), SIGSTOP);
  std::vector<HttpReply> replies(4);
  std::vector<std::thread> clients;
  for (size_t i = 0; i < replies.size(); ++i) {
    clients.emplace_back([&, i] {
      std::this_thread::sleep_for(std::chrono::milliseconds(300 * i));
      replies[i] = HttpCall(service.port(), "POST", "/api/v1/models/fmnist/predict", one, service.admin(), seconds(60));
    });
    if (i == 3) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1500));
      ::kill(static_cast<pid_t>(replica), SIGCONT);
    }
  }
  for (auto& client : clients) client.join();
  int ok = 0;
  int overloaded = 0;
  for (const HttpReply& reply : replies) {
    INFO(reply.status << " " << reply.body);
    if (reply.status == 200) ++ok;
    if (reply.status == 503) {
      ++overloaded;
      CHECK(reply.body.find("\"overloaded\"") != std::string::npos);
    }
  }
  CHECK(ok == 2);
  CHECK(overloaded == 2);

  json::array audit = service.Json("GET", "/api/v1/audit", 200).at("entries").as_array();
  std::multiset<std::string> actions;
  for (const auto& entry : audit) actions.insert(std::string(entry.at("action").as_string()));
  CHECK(actions.count("model.serve") == 2);
}

// Issue 12, part 2: an on_data schedule over an export directory. Three partitions land one
// after another (part files first, _SUCCESS last), the server is restarted between the second
// and the third, and exactly three infer jobs run: one per partition, each linked to the
// schedule, each with its own output.
TEST_CASE("service: a data-triggered schedule runs one job per landed partition, across a restart",
          "[service][schedule]") {
  TempDir dir;
  const std::string events = DataRoot() + "/schedule-events-" + std::to_string(::getpid());
  fs::remove_all(events);
  fs::create_directories(events);
  auto land = [&](const std::string& partition) { LandPartition(events, partition); };
  const std::vector<std::string> interval = {"--schedule-interval-ms", "200"};
  const std::string config =
      "input: {path: \"{partition_path}\", format: csv, header: true}\n"
      "schema: {id: id, features: [pixel0..pixel783], shape: [1, 28, 28]}\n"
      "output: {path: scores}\n"
      "inference: {device: cpu, threads: 1}\n";
  auto schedule_body = [&](const std::string& name, const std::string& path, const std::string& yaml,
                           const std::string& model = "fmnist@production") {
    return json::serialize(json::object{{"name", name},
                                        {"model", model},
                                        {"config", yaml},
                                        {"workers", 2},
                                        {"on_data", json::object{{"path", path}, {"partition", "dt=*"}}}});
  };
  // Polls the schedule until it has `count` runs; returns them, oldest first.
  auto wait_for_runs = [](Service& service, int64_t id, size_t count) {
    const auto deadline = std::chrono::steady_clock::now() + seconds(60);
    json::array runs;
    while (std::chrono::steady_clock::now() < deadline) {
      runs = service.Json("GET", "/api/v1/schedules/" + std::to_string(id), 200).at("runs").as_array();
      if (runs.size() >= count) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    REQUIRE(runs.size() == count);
    std::reverse(runs.begin(), runs.end());
    return runs;
  };

  int64_t schedule = 0;
  std::vector<int64_t> jobs;
  {
    Service service(dir.Path("state"), interval);
    const int64_t train = service.Submit("train", TrainYaml(1), 2, "fmnist");
    service.WaitForState(train, "succeeded");
    service.Json("PUT", "/api/v1/models/fmnist/aliases/production", 200, R"({"version": 1})");

    // Refusals, each naming what is wrong.
    HttpReply outside = service.Call("POST", "/api/v1/schedules", schedule_body("x", "/etc", config));
    CHECK(outside.status == 403);
    CHECK(std::string(ParseJson(outside).at("error").as_string()).find("on_data.path") != std::string::npos);
    HttpReply placeholder =
        service.Call("POST", "/api/v1/schedules", schedule_body("x", events, config + "# {hour}\n"));
    CHECK(placeholder.status == 400);
    CHECK(std::string(ParseJson(placeholder).at("error").as_string()).find("{hour}") != std::string::npos);
    CHECK(service.Call("POST", "/api/v1/schedules", schedule_body("x", events, config, "fmnist")).status == 400);
    CHECK(service.Call("POST", "/api/v1/schedules", schedule_body("x", events, config, "nope@production")).status ==
          404);
    CHECK(service.Call("POST", "/api/v1/schedules", schedule_body("x", events, "model: /etc/passwd\n" + config))
              .status == 400);
    const std::string viewer(service.Json("POST", "/api/v1/tokens", 201, R"({"role": "viewer"})")
                                 .at("token").as_string());
    CHECK(service.Call("POST", "/api/v1/schedules", schedule_body("x", events, config), viewer).status == 403);

    json::object created =
        service.Json("POST", "/api/v1/schedules", 201, schedule_body("events", events, config)).as_object();
    schedule = created.at("id").as_int64();
    CHECK(created.at("kind") == "on_data");
    CHECK(created.at("state") == "active");
    CHECK(created.at("last_run").is_null());
    CHECK(service.Call("POST", "/api/v1/schedules", schedule_body("events", events, config)).status == 409);
    CHECK(service.Json("GET", "/api/v1/schedules", 200, "", viewer).at("schedules").as_array().size() == 1);

    land("dt=2026-11-25");
    jobs.push_back(wait_for_runs(service, schedule, 1)[0].at("job").as_int64());
    service.WaitForState(jobs[0], "succeeded");
    land("dt=2026-11-26");
    json::array runs = wait_for_runs(service, schedule, 2);
    CHECK(runs[1].at("key") == "dt=2026-11-26");
    jobs.push_back(runs[1].at("job").as_int64());
    service.WaitForState(jobs[1], "succeeded");
  }  // SIGTERM: the server stops

  land("dt=2026-11-27");  // while the server is down
  Service service(dir.Path("state"), interval);
  json::array runs = wait_for_runs(service, schedule, 3);
  CHECK(runs[0].at("key") == "dt=2026-11-25");
  CHECK(runs[2].at("key") == "dt=2026-11-27");
  jobs.push_back(runs[2].at("job").as_int64());
  service.WaitForState(jobs[2], "succeeded");
  // A few more looks: still three.
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  CHECK(service.Json("GET", "/api/v1/schedules/" + std::to_string(schedule), 200).at("runs").as_array().size() == 3);

  std::set<std::string> outputs;
  int scheduled = 0;
  const json::array listed = service.Json("GET", "/api/v1/jobs", 200).at("jobs").as_array();
  for (const auto& value : listed) {
    const json::object& job = value.as_object();
    if (job.at("schedule").is_null()) continue;
    ++scheduled;
    CHECK(job.at("schedule") == schedule);
    CHECK(job.at("kind") == "infer");
    CHECK(job.at("state") == "succeeded");
    CHECK(job.at("summary").at("records_out").as_int64() == 512);
    const std::string output(job.at("directory").as_string());
    CHECK(fs::exists(output + "/_SUCCESS"));
    outputs.insert(output);
  }
  CHECK(scheduled == 3);
  CHECK(outputs.size() == 3);
  json::object last = service.Json("GET", "/api/v1/jobs/" + std::to_string(jobs[2]), 200).as_object();
  CHECK(last.at("schedule") == schedule);

  // A cron schedule: refusals name the key; a good one says when it fires next.
  auto cron_body = [&](const std::string& cron, const std::string& yaml, const std::string& misfire) {
    return json::serialize(json::object{{"name", "nightly"}, {"model", "fmnist@production"}, {"config", yaml},
                                        {"cron", cron}, {"misfire", misfire}});
  };
  const std::string nightly_config =
      "input: {path: fashion-mnist/test, format: csv, header: true}\n"
      "schema: {id: id, features: [pixel0..pixel783], shape: [1, 28, 28]}\n"
      "output: {path: scores-{date}}\n";
  HttpReply bad_cron = service.Call("POST", "/api/v1/schedules", cron_body("0 25 * * *", nightly_config, "skip"));
  CHECK(bad_cron.status == 400);
  CHECK(std::string(ParseJson(bad_cron).at("error").as_string()).find("cron: ") == 0);
  CHECK(service.Call("POST", "/api/v1/schedules", cron_body("0 2 * * *", config, "skip")).status == 400);
  CHECK(service.Call("POST", "/api/v1/schedules", cron_body("0 2 * * *", nightly_config, "never")).status == 400);
  json::object nightly =
      service.Json("POST", "/api/v1/schedules", 201, cron_body("0 2 * * *", nightly_config, "skip")).as_object();
  CHECK(nightly.at("kind") == "cron");
  CHECK(nightly.at("misfire") == "skip");
  CHECK(std::string(nightly.at("next_fire").as_string()).find("T02:00:00") != std::string::npos);
  CHECK(service.Json("GET", "/api/v1/schedules", 200).at("schedules").as_array().size() == 2);

  // Pause, resume and delete, each audited.
  const std::string path = "/api/v1/schedules/" + std::to_string(schedule);
  CHECK(service.Json("POST", path + "/pause", 200).at("state") == "paused");
  CHECK(service.Json("POST", path + "/resume", 200).at("state") == "active");
  CHECK(service.Json("DELETE", path, 200).at("deleted") == true);
  CHECK(service.Call("GET", path).status == 404);
  std::multiset<std::string> actions;
  const json::array audit = service.Json("GET", "/api/v1/audit", 200).at("entries").as_array();
  for (const auto& entry : audit) actions.insert(std::string(entry.at("action").as_string()));
  CHECK(actions.count("schedule.create") == 2);
  CHECK(actions.count("schedule.fire") == 3);
  CHECK(actions.count("schedule.pause") == 1);
  CHECK(actions.count("schedule.resume") == 1);
  CHECK(actions.count("schedule.delete") == 1);
  fs::remove_all(events);
}

}  // namespace aimass::testing
