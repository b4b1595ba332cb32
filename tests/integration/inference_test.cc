// Batch inference end to end: real mpirun, two workers, a TorchScript model saved from Python,
// a Hive-style export; exactly-once output checked id by id, also when a worker is killed and
// when the whole job is killed and run again.
#include "tests/catch.h"
#include <signal.h>

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "tests/integration/error_line.h"
#include "tests/integration/inference_checks.h"
#include "tests/integration/job_fixture.h"
#include "tests/integration/process_runner.h"
#include "tests/strict_json_check.h"
#include "tests/temp_dir.h"

namespace aimass::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using std::chrono::seconds;

std::vector<pid_t> WorkerPids() {
  std::vector<pid_t> pids;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = ReadText(entry.path().string() + "/cmdline");
    if (cmdline.rfind(WorkerBinary() + '\0', 0) == 0 || cmdline == WorkerBinary()) {
      pids.push_back(static_cast<pid_t>(std::stol(name)));
    }
  }
  return pids;
}

TEST_CASE("a Python TorchScript model scores a Hive export exactly once, as Python does",
          "[integration][infer]") {
  TempDir scratch;
  Fixture fixture = MakeFixture(scratch.path(), FixtureSize());
  std::string job = WriteInferJob(fixture, "inference: {batch_size: 100}\n");
  std::vector<std::string> argv = MpirunPrefix();
  argv.insert(argv.end(), {"-np", "1", CoordinatorBinary(), "infer", "--config", job, ":", "-np",
                           "2", WorkerBinary()});
  ProcessResult result = Run(argv, scratch.path(), seconds(300));
  INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
  REQUIRE(result.exit_code == 0);
  RequireExactlyPythonsPredictions(fixture, fixture.dir + "/out");
  json::object manifest = Manifest(fixture.dir + "/out");
  CHECK(manifest.at("records_in").to_number<int>() == 10000);
  CHECK(manifest.at("records_out").to_number<int>() == 10000);
  CHECK(manifest.at("bad_records").to_number<int>() == 0);
  CHECK(manifest.at("splits").to_number<int>() == 8);
  CHECK(manifest.at("model").at("sha256").as_string().size() == 64);
  CHECK(manifest.at("parts").as_array().size() == 8);
}

TEST_CASE("a worker killed with SIGKILL mid-job: the job still ends exactly once",
          "[integration][infer]") {
  TempDir scratch;
  Fixture fixture = MakeFixture(scratch.path(), FixtureSize{20000, 40, 256, 3});
  std::string job = WriteInferJob(fixture, "inference: {batch_size: 32}\n");
  // Both launch forms: the coordinator's own mpirun, and MPMD through scripts/mpirun.sh.
  const bool mpmd = GENERATE(false, true);
  std::vector<std::string> argv = LocalInfer(job);
  if (mpmd) {
    argv = {std::string(AIMASS_SOURCE_DIR) + "/scripts/mpirun.sh", "-np", "1", CoordinatorBinary(),
            "infer", "--config", job, ":", "-np", "2", WorkerBinary()};
  }
  INFO((mpmd ? "MPMD" : "--workers 2"));
  Process running(argv, scratch.path());
  WaitForCommits(fixture.dir + "/out", 2, running);
  std::vector<pid_t> workers = WorkerPids();
  REQUIRE(workers.size() == 2);
  REQUIRE(::kill(workers.back(), SIGKILL) == 0);
  ProcessResult result = running.Wait(seconds(300));
  INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
  REQUIRE(result.exit_code == 0);
  CHECK(result.out.find("lost (disconnected") != std::string::npos);
  RequireExactlyPythonsPredictions(fixture, fixture.dir + "/out");
  json::object manifest = Manifest(fixture.dir + "/out");
  CHECK(manifest.at("records_in").to_number<int>() == 20000);
  // Only the split it was running counts as a failed attempt; the one queued behind it goes back
  // uncounted. Under load the victim may not have been given a split yet when it is killed (its
  // peer took the first ones): then nothing is charged. The coordinator's line says which.
  const std::string held_marker = " running split(s) go to other workers";
  const size_t held_at = result.out.find(held_marker);
  REQUIRE(held_at != std::string::npos);
  const int held = std::stoi(result.out.substr(result.out.rfind(' ', held_at - 1) + 1));
  CHECK(held <= 2);  // prefetch_splits
  CHECK(manifest.at("failed_attempts").to_number<int>() == (held > 0 ? 1 : 0));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  CHECK(WorkerPids().empty());
  fs::remove_all(fixture.dir + "/out");
}

TEST_CASE("a job killed as a whole resumes with the same command, exactly once",
          "[integration][infer]") {
  TempDir scratch;
  Fixture fixture = MakeFixture(scratch.path(), FixtureSize{20000, 40, 256, 3});
  std::string job = WriteInferJob(fixture, "inference: {batch_size: 32}\n");
  {
    Process running(LocalInfer(job), scratch.path());
    WaitForCommits(fixture.dir + "/out", 3, running);
    REQUIRE(::kill(running.pid(), SIGKILL) == 0);  // the coordinator: its workers follow
    running.Wait(seconds(30));
  }
  auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (!WorkerPids().empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE(WorkerPids().empty());  // no orphan outlives its coordinator
  REQUIRE_FALSE(fs::exists(fixture.dir + "/out/_SUCCESS"));

  ProcessResult resumed = Run(LocalInfer(job), scratch.path(), seconds(300));
  INFO("stdout:\n" << resumed.out << "\nstderr:\n" << resumed.err);
  REQUIRE(resumed.exit_code == 0);
  CHECK(resumed.out.find("already committed by an earlier run") != std::string::npos);
  RequireExactlyPythonsPredictions(fixture, fixture.dir + "/out");
  json::object manifest = Manifest(fixture.dir + "/out");
  CHECK(manifest.at("resumed_splits").to_number<int>() >= 3);
  CHECK(manifest.at("records_in").to_number<int>() == 20000);

  // The finished output is this job's: running again does nothing; another model is refused.
  ProcessResult again = Run(LocalInfer(job), scratch.path(), seconds(120));
  CHECK(again.exit_code == 0);
  CHECK(again.out.find("nothing to do") != std::string::npos);
  fs::copy_file(fixture.model, fixture.dir + "/other.pt");
  std::ofstream(fixture.dir + "/other.pt", std::ios::app) << "retrained";
  ProcessResult refused = Run(LocalInfer(job, {"--model", fixture.dir + "/other.pt"}),
                              scratch.path(), seconds(120));
  CHECK(ErrorLine(refused).find("holds a finished job whose model_sha256 is") != std::string::npos);
  CHECK(fs::exists(fixture.dir + "/out/_SUCCESS"));  // nothing lost
}

TEST_CASE("bad records: fail names the record, skip counts, quarantine keeps them",
          "[integration][infer]") {
  TempDir scratch;
  Fixture fixture = MakeFixture(scratch.path(), FixtureSize{400, 2, 32, 1});
  // A third part file, plain text, with two bad records among good ones.
  std::string row = "";
  for (int j = 0; j < 16; ++j) row += ",0.5";
  WriteText(fixture.table + "/part-00009", "id," + std::string("f0,f1,f2,f3,f4,f5,f6,f7,f8,f9,"
                                           "f10,f11,f12,f13,f14,f15\n") +
                                           "x1" + row + "\n" + "x2,abc" + row.substr(4) + "\n" +
                                           "x3" + row + "\n" + "x4,1,2\n" +
                                           // non-finite features are bad records too
                                           "x5,nan" + row.substr(4) + "\n" +
                                           "x6,-inf" + row.substr(4) + "\n");
  std::string job = WriteInferJob(fixture);
  ProcessResult failed = Run(LocalInfer(job), scratch.path(), seconds(120));
  CHECK(ErrorLine(failed).find("part-00009:line 3") != std::string::npos);
  CHECK_FALSE(fs::exists(fixture.dir + "/out/_SUCCESS"));

  job = WriteInferJob(fixture, "inference: {on_bad_record: skip}\n");
  ProcessResult skipped = Run(LocalInfer(job, {"--overwrite"}), scratch.path(), seconds(120));
  INFO(skipped.err);
  REQUIRE(skipped.exit_code == 0);
  json::object manifest = Manifest(fixture.dir + "/out");
  CHECK(manifest.at("bad_records").to_number<int>() == 4);
  CHECK(manifest.at("records_in").to_number<int>() == 406);
  CHECK(manifest.at("records_out").to_number<int>() == 402);
  CHECK_FALSE(fs::exists(fixture.dir + "/out/_bad_records"));

  job = WriteInferJob(fixture, "inference: {on_bad_record: quarantine}\n");
  ProcessResult quarantined = Run(LocalInfer(job, {"--overwrite"}), scratch.path(), seconds(120));
  REQUIRE(quarantined.exit_code == 0);
  std::string kept;
  for (const auto& entry : fs::directory_iterator(fixture.dir + "/out/_bad_records")) {
    kept += ReadText(entry.path().string());
  }
  CHECK(std::count(kept.begin(), kept.end(), '\n') == 4);
  CHECK(kept.find("x2,abc") != std::string::npos);
  CHECK(kept.find("x4,1,2") != std::string::npos);
  CHECK(kept.find("x5,nan") != std::string::npos);
  CHECK(kept.find("'nan' is not a finite number") != std::string::npos);
  CHECK(kept.find("x6,-inf") != std::string::npos);
  CHECK(Manifest(fixture.dir + "/out").at("bad_records").to_number<int>() == 4);
  // Every JSON file of the output is strict JSON (no NaN / Infinity tokens).
  CHECK(StrictJsonLines(ReadText(fixture.dir + "/out/_SUCCESS")));
  CHECK(StrictJsonLines(kept));

  // Another tool's _SUCCESS over this output: --overwrite is refused with one line naming the
  // file, and no part file is deleted.
  const size_t parts = CommittedParts(fixture.dir + "/out");
  REQUIRE(parts > 0);
  WriteText(fixture.dir + "/out/_SUCCESS", "{\"committed\": true, \"writer\": \"spark\"}\n");
  ProcessResult foreign = Run(LocalInfer(job, {"--overwrite"}), scratch.path(), seconds(120));
  CHECK(ErrorLine(foreign).rfind(fixture.dir + "/out/_SUCCESS: not an aimass manifest", 0) == 0);
  CHECK(CommittedParts(fixture.dir + "/out") == parts);
  CHECK(ReadText(fixture.dir + "/out/_SUCCESS") == "{\"committed\": true, \"writer\": \"spark\"}\n");
}

TEST_CASE("partitioned bzip2 JSON lines and Hive TSV cut into byte ranges score exactly once",
          "[integration][infer]") {
  TempDir json_scratch;
  Fixture json_table = MakeFixture(json_scratch.path(), FixtureSize{3000, 6, 32, 1,
      {"--format", "jsonl", "--compression", "bz2", "--partitions", "2"}});
  std::string job = WriteInferJob(json_table, "", "format: jsonl", "id: id, features: [f], shape: [16]");
  ProcessResult scored = Run(LocalInfer(job), json_scratch.path(), seconds(300));
  INFO("stdout:\n" << scored.out << "\nstderr:\n" << scored.err);
  REQUIRE(scored.exit_code == 0);
  RequireExactlyPythonsPredictions(json_table, json_table.dir + "/out");

  // 1 KiB splits of 2 uncompressed files: most records straddle nothing, some straddle an edge.
  TempDir tsv_scratch;
  Fixture tsv_table = MakeFixture(tsv_scratch.path(), FixtureSize{3000, 2, 32, 1,
      {"--format", "tsv", "--compression", "none"}});
  job = WriteInferJob(tsv_table, "", "format: tsv, columns: [id, f0..f15], split_mb: 0.001");
  scored = Run(LocalInfer(job), tsv_scratch.path(), seconds(300));
  INFO("stdout:\n" << scored.out << "\nstderr:\n" << scored.err);
  REQUIRE(scored.exit_code == 0);
  RequireExactlyPythonsPredictions(tsv_table, tsv_table.dir + "/out");
  CHECK(Manifest(tsv_table.dir + "/out").at("splits").to_number<int>() > 100);
}

// id -> label of every record of a training-format dataset directory (gzip CSV shards).
std::map<std::string, std::string> Labels(const std::string& dir) {
  std::map<std::string, std::string> labels;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    if (name.rfind("part-", 0) != 0) continue;
    std::stringstream lines(ReadGzipText(entry.path().string()));
    std::string line;
    std::getline(lines, line);  // header
    while (std::getline(lines, line)) {
      auto fields = SplitFields(line);
      labels[fields[0]] = fields[1];
    }
  }
  return labels;
}

TEST_CASE("a model trained by aimass scores its test split as its own evaluation did",
          "[integration][infer]") {
  TempDir scratch;
  const std::string dir = scratch.path();
  JobSettings settings;
  settings.limit = 512;
  std::string train_job = WriteJob(dir, settings, dir + "/run");
  ProcessResult trained = Run(LocalTrain(train_job, 2), dir, seconds(300));
  INFO(trained.err);
  REQUIRE(trained.exit_code == 0);
  double test_accuracy =
      json::parse(ReadText(dir + "/run/summary.json")).as_object().at("test_accuracy").to_number<double>();

  // The run directory brings the model, its input shape and its normalization.
  WriteText(dir + "/infer.yaml", "model: " + dir + "/run\n" +
                                     "input: {path: " + FashionMnistSlice() + "/test, header: true}\n" +
                                     "schema: {id: id, features: pixel0..pixel783}\n" +
                                     "output: {path: " + dir + "/scores}\n");
  ProcessResult scored = Run(LocalInfer(dir + "/infer.yaml"), dir, seconds(300));
  INFO(scored.err);
  REQUIRE(scored.exit_code == 0);
  Rows rows = ReadOutputParts(dir + "/scores");
  auto labels = Labels(FashionMnistSlice() + "/test");
  REQUIRE(rows.size() == labels.size());
  size_t correct = 0;
  for (const auto& [id, row] : rows) correct += row[0] == labels.at(id) ? 1 : 0;
  CHECK(static_cast<double>(correct) / static_cast<double>(rows.size()) ==
        Approx(test_accuracy).margin(1.5 / static_cast<double>(rows.size())));
}

}  // namespace
}  // namespace aimass::testing
