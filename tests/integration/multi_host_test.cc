// Jobs across hosts: the coordinator on host 0, one worker on each other host, over TCP only
// (scripts/cluster.sh: hosts made of network namespaces, each with its own host name and link).
// Both launch forms; a worker host whose link goes down mid-job.
#include "tests/catch.h"

#include <boost/json.hpp>

#include <filesystem>
#include <set>
#include <thread>

#include "tests/integration/cluster.h"
#include "tests/integration/inference_checks.h"
#include "tests/integration/job_fixture.h"
#include "tests/integration/process_runner.h"
#include "tests/temp_dir.h"

namespace aimass::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using std::chrono::seconds;

// The hosts the coordinator recorded for its workers (workers.json), in rank order.
std::vector<std::string> WorkerHosts(const std::string& run) {
  std::vector<std::string> hosts;
  const json::value workers = json::parse(ReadText(run + "/workers.json"));
  for (const auto& worker : workers.as_array()) {
    hosts.emplace_back(worker.as_object().at("host").as_string());
  }
  return hosts;
}

// `aimass-coordinator COMMAND --config JOB` with its workers on the cluster's worker hosts, in
// the --workers form (the coordinator starts mpirun with --hostfile) or the MPMD form (one
// mpirun; the coordinator's rank on host 0 from hostfile-all).
std::vector<std::string> OnWorkerHosts(const Cluster& cluster, const std::string& command,
                                       const std::string& job, bool mpmd) {
  if (mpmd) {
    return cluster.On(0, {std::string(AIMASS_SOURCE_DIR) + "/scripts/mpirun.sh", "--hostfile",
                          cluster.hostfile_all(), "-np", "1", CoordinatorBinary(), command,
                          "--config", job, ":", "-np", "2", WorkerBinary()});
  }
  return cluster.On(0, {CoordinatorBinary(), command, "--config", job, "--workers", "2",
                        "--hostfile", cluster.hostfile()});
}

// Waits until the running job's output has `text` (it is still running), up to `limit`.
bool WaitForOutput(Process& job, const std::string& text, seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (job.OutputSoFar().find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

TEST_CASE("training on two worker hosts from a hostfile equals the same training on one host",
          "[integration][multihost]") {
  Cluster cluster(3);
  TempDir scratch;
  const std::string dir = scratch.path();
  JobSettings settings;
  settings.epochs = 2;
  fs::create_directories(dir + "/local");
  const std::string reference = dir + "/local/run";
  ProcessResult local = Run(LocalTrain(WriteJob(dir + "/local", settings, reference), 2), dir);
  INFO("one host:\n" << local.out << local.err);
  REQUIRE(local.exit_code == 0);

  const bool mpmd = GENERATE(false, true);
  INFO((mpmd ? "MPMD with hostfile-all" : "--workers 2 --hostfile"));
  const std::string form = mpmd ? "/mpmd" : "/workers";
  fs::create_directories(dir + form);
  const std::string run = dir + form + "/run";
  ProcessResult result =
      Run(OnWorkerHosts(cluster, "train", WriteJob(dir + form, settings, run), mpmd), dir);
  INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
  REQUIRE(result.exit_code == 0);
  // The control plane listens on host 0's cluster address, not loopback: workers are elsewhere.
  CHECK(result.out.find("control plane listening on " + cluster.Address(0) + ":") !=
        std::string::npos);
  CHECK(WorkerHosts(run) == std::vector<std::string>{cluster.HostName(1), cluster.HostName(2)});
  // Two workers sum their gradients in the same order over TCP as over shared memory.
  CHECK(MaxParameterDifference("mlp", reference + "/model.pt", run + "/model.pt") == 0.0);
}

TEST_CASE("batch inference on two worker hosts scores every record exactly once",
          "[integration][multihost][infer]") {
  Cluster cluster(3);
  TempDir scratch;
  Fixture fixture = MakeFixture(scratch.path(), FixtureSize());
  const std::string job = WriteInferJob(fixture, "inference: {batch_size: 100}\n");
  const bool mpmd = GENERATE(false, true);
  INFO((mpmd ? "MPMD with hostfile-all" : "--workers 2 --hostfile"));
  ProcessResult result = Run(OnWorkerHosts(cluster, "infer", job, mpmd), scratch.path());
  INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
  REQUIRE(result.exit_code == 0);
  CHECK(result.out.find("control plane listening on " + cluster.Address(0) + ":") !=
        std::string::npos);
  RequireExactlyPythonsPredictions(fixture, fixture.dir + "/out");
  json::object manifest = Manifest(fixture.dir + "/out");
  CHECK(manifest.at("records_out").to_number<int>() == 10000);
  CHECK(manifest.at("failed_attempts").to_number<int>() == 0);
  fs::remove_all(fixture.dir + "/out");
}

TEST_CASE("a worker host cut off mid-training: the job restarts from its checkpoint and ends "
          "as if uninterrupted",
          "[integration][multihost][restart]") {
  Cluster cluster(3);
  TempDir scratch;
  const std::string dir = scratch.path();
  JobSettings settings;
  settings.epochs = 20;  // 320 steps of 16 an epoch
  settings.limit = 256;
  settings.with_test = false;
  settings.checkpoint_every = 4;
  settings.heartbeat_timeout_s = 4;  // how long a silent host has before it counts as lost
  settings.optimizer = "{name: adamw, lr: 0.002, weight_decay: 0.01}";

  fs::create_directories(dir + "/uninterrupted");
  const std::string reference = dir + "/uninterrupted/run";
  ProcessResult uninterrupted = Run(
      OnWorkerHosts(cluster, "train", WriteJob(dir + "/uninterrupted", settings, reference), false),
      dir);
  INFO("uninterrupted:\n" << uninterrupted.out << uninterrupted.err);
  REQUIRE(uninterrupted.exit_code == 0);

  fs::create_directories(dir + "/cut");
  const std::string run = dir + "/cut/run";
  Process job(OnWorkerHosts(cluster, "train", WriteJob(dir + "/cut", settings, run), false), dir);
  REQUIRE(PidOnceTraining(run, 1) != 0);  // under way, with a checkpoint
  cluster.SetLink(2, false);
  // The coordinator hears nothing from host 2 for heartbeat_timeout_s, ends the attempt and starts
  // a fresh mpirun; the link comes back while that one starts, as a flapping port would.
  const bool restarted = WaitForOutput(job, "aimass: restart 1 of 3 after:", seconds(120));
  cluster.SetLink(2, true);
  ProcessResult result = job.Wait(seconds(300));
  INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
  REQUIRE(restarted);
  REQUIRE(result.exit_code == 0);
  json::object summary = json::parse(ReadText(run + "/summary.json")).as_object();
  CHECK(summary.at("restarts").to_number<uint64_t>() >= 1);
  CHECK(summary.at("steps").to_number<uint64_t>() == 320);
  CHECK(summary.at("restart_history").as_array().at(0).as_object().at("resumed_from_step")
            .to_number<uint64_t>() > 0);
  CHECK(MaxParameterDifference("mlp", reference + "/model.pt", run + "/model.pt") == 0.0);
}

TEST_CASE("a worker host cut off mid-inference: its splits go to the other host, exactly once",
          "[integration][multihost][infer]") {
  Cluster cluster(3);
  TempDir scratch;
  Fixture fixture = MakeFixture(scratch.path(), FixtureSize{10000, 20, 256, 3});
  const std::string job =
      WriteInferJob(fixture, "inference: {batch_size: 32, heartbeat_timeout_s: 4}\n");
  Process running(OnWorkerHosts(cluster, "infer", job, false), scratch.path());
  WaitForCommits(fixture.dir + "/out", 2, running);
  cluster.SetLink(2, false);
  ProcessResult result = running.Wait(seconds(300));
  INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
  REQUIRE(result.exit_code == 0);
  CHECK(result.out.find(cluster.HostName(2)) != std::string::npos);  // named in the loss line
  CHECK(result.out.find(" lost (") != std::string::npos);
  RequireExactlyPythonsPredictions(fixture, fixture.dir + "/out");
  json::object manifest = Manifest(fixture.dir + "/out");
  CHECK(manifest.at("records_out").to_number<int>() == 10000);

  // The cut-off worker comes back to a finished job: whatever it still had can change nothing.
  cluster.SetLink(2, true);
  std::this_thread::sleep_for(seconds(3));
  RequireExactlyPythonsPredictions(fixture, fixture.dir + "/out");
  CHECK_FALSE(fs::exists(fixture.dir + "/out/_temporary"));
  fs::remove_all(fixture.dir + "/out");
}

// Four hosts sharing this machine's two cores: a rank that busy-polls for its peer's message
// takes the core that peer needs to send it. Without the cluster's yield setting this benchmark
// took 4.8 ms per 8-byte allreduce and looked hung; with it, 0.1 ms on an idle machine (3 ms
// while a build takes both cores: the time limit leaves room for that).
TEST_CASE("the allreduce benchmark runs across four worker hosts and checks every size",
          "[integration][multihost][bench]") {
  Cluster cluster(5);
  TempDir scratch;
  ProcessResult result = Run(
      cluster.On(0, {std::string(AIMASS_SOURCE_DIR) + "/scripts/mpirun.sh", "--hostfile",
                     cluster.hostfile(), "-np", "4", WorkerBinary(), "bench", "allreduce",
                     "--max-bytes", "256K", "--bytes-per-size", "8K", "--json"}),
      scratch.path(), seconds(240));
  INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
  REQUIRE(result.exit_code == 0);
  const json::value rows = json::parse(result.out);
  REQUIRE(rows.as_array().size() == 16);  // 8 B to 256 KiB
  for (const auto& row : rows.as_array()) {
    CHECK(row.at("workers").to_number<int>() == 4);
    CHECK(row.at("correct").as_bool());
  }
}

}  // namespace
}  // namespace aimass::testing
