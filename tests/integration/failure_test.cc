// Bad input and dead processes: one clear line, a non-zero exit, no hang, nothing lost.
#include "tests/catch.h"
#include <signal.h>

#include <boost/json.hpp>
#include <filesystem>
#include <thread>

#include "common/checkpoint/checkpoint_file.h"
#include "common/data/csv_writer.h"
#include "common/env.h"
#include "tests/temp_dir.h"
#include "tests/integration/error_line.h"
#include "tests/integration/job_fixture.h"

namespace aimass::testing {
namespace {


namespace fs = std::filesystem;
namespace json = boost::json;
using std::chrono::seconds;

TEST_CASE("an unknown config key fails before any worker starts", "[integration][errors]") {
  TempDir scratch;
  const std::string dir = scratch.path();
  std::string job = WriteJob(dir, JobSettings(), dir + "/run");
  WriteText(job, ReadText(job) + "training_extra: {epochz: 3}\n");
  ProcessResult result = Run(LocalTrain(job, 2), dir, seconds(60));
  CHECK(ErrorLine(result) == job + ": unknown key 'training_extra'");
  CHECK_FALSE(fs::exists(dir + "/run"));
}

TEST_CASE("a fresh run does not mix with an earlier run's checkpoints", "[integration][errors]") {
  TempDir scratch;
  const std::string dir = scratch.path();
  fs::create_directories(dir + "/run/checkpoints");
  WriteText(dir + "/run/checkpoints/ckpt-000000000900.aimass", "from an earlier run");
  std::string job = WriteJob(dir, JobSettings(), dir + "/run");
  ProcessResult refused = Run(LocalTrain(job, 2), dir, seconds(60));
  CHECK(ErrorLine(refused) == dir + "/run holds checkpoints of an earlier run: pass --resume to "
                                    "continue it, or --overwrite to start over");
  CHECK(fs::exists(dir + "/run/checkpoints/ckpt-000000000900.aimass"));

  ProcessResult replaced = Run(LocalTrain(job, 2, {"--overwrite"}), dir, seconds(300));
  INFO(replaced.err);
  CHECK(replaced.exit_code == 0);
  CHECK_FALSE(fs::exists(dir + "/run/checkpoints/ckpt-000000000900.aimass"));
}

TEST_CASE("a missing dataset directory is named", "[integration][errors]") {
  TempDir scratch;
  const std::string dir = scratch.path();
  JobSettings settings;
  settings.train_dir = dir + "/no-such-dir";
  // Under MPMD too: the workers already run, and must leave quietly when the job cannot start.
  ProcessResult result = Run(MpmdTrain(WriteJob(dir, settings, dir + "/run"), 2), dir, seconds(60));
  CHECK(ErrorLine(result).find(dir + "/no-such-dir") != std::string::npos);
  CHECK(result.seconds < 30);
}

TEST_CASE("a corrupt gzip shard is named", "[integration][errors]") {
  TempDir scratch;
  const std::string dir = scratch.path();
  fs::copy(FashionMnistSlice() + "/train", dir + "/train");
  fs::remove(dir + "/train/_index.json");
  std::string shard = dir + "/train/part-00001.csv.gz";
  fs::resize_file(shard, fs::file_size(shard) / 2);
  JobSettings settings;
  settings.train_dir = dir + "/train";
  ProcessResult result = Run(LocalTrain(WriteJob(dir, settings, dir + "/run"), 2), dir, seconds(60));
  std::string error = ErrorLine(result);
  CHECK(error.find(shard) != std::string::npos);
}

TEST_CASE("a shard whose shape does not fit the model is named", "[integration][errors]") {
  TempDir scratch;
  const std::string dir = scratch.path();
  fs::create_directories(dir + "/train");
  data::RecordBlock block;
  block.feature_count = 10;
  for (int64_t i = 0; i < 64; ++i) {
    block.ids.push_back(i);
    block.labels.push_back(i % 10);
    for (int f = 0; f < 10; ++f) block.features.push_back(static_cast<float>(f));
  }
  REQUIRE(data::WriteCsvShard(dir + "/train/part-00000.csv.gz", block).ok());
  JobSettings settings;
  settings.train_dir = dir + "/train";
  settings.with_test = false;
  ProcessResult result = Run(LocalTrain(WriteJob(dir, settings, dir + "/run"), 2), dir, seconds(60));
  CHECK(ErrorLine(result) == dir + "/train: records have 10 feature columns, but model 'mlp' "
                                   "(input shape 1x28x28) takes 784 values per record");
}

TEST_CASE("a hung worker is named once it falls silent, and no process is left behind",
          "[integration][errors]") {
  TempDir scratch;
  const std::string dir = scratch.path();
  const std::string run = dir + "/run";
  JobSettings settings;
  settings.epochs = 40;
  settings.limit = 256;
  settings.with_test = false;
  settings.checkpoint_every = 4;
  settings.heartbeat_timeout_s = 4;
  settings.max_restarts = 0;  // a hung worker is restarted by default: here the job must fail
  Process job_process(LocalTrain(WriteJob(dir, settings, run), 2), dir);
  uint32_t victim = PidOnceTraining(run, 1);
  REQUIRE(victim != 0);
  auto stopped_at = std::chrono::steady_clock::now();
  REQUIRE(::kill(static_cast<pid_t>(victim), SIGSTOP) == 0);
  ProcessResult result = job_process.Wait(seconds(120));
  double seconds_to_fail =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - stopped_at).count();

  std::string error = ErrorLine(result);
  CHECK(error.find("worker rank 1 (host ") != std::string::npos);
  CHECK(error.find("sent nothing for 4 s") != std::string::npos);
  CHECK(seconds_to_fail < 30);
  CHECK(ProcessEnded(victim));  // the stopped worker was ended too
}

TEST_CASE("without restarts a killed worker fails the job fast, names its rank, and the run resumes",
          "[integration][errors]") {
  TempDir scratch;
  const std::string dir = scratch.path();
  const std::string run = dir + "/run";
  JobSettings settings;
  settings.epochs = 40;  // 640 steps: long enough to be killed in the middle
  settings.limit = 256;
  settings.with_test = false;
  settings.checkpoint_every = 4;
  settings.max_restarts = 0;  // no restart: the job fails and --resume continues it
  const std::string job = WriteJob(dir, settings, run);

  Process job_process(LocalTrain(job, 2), dir);
  uint32_t victim = PidOnceTraining(run, 1);
  REQUIRE(victim != 0);
  auto killed_at = std::chrono::steady_clock::now();
  REQUIRE(::kill(static_cast<pid_t>(victim), SIGKILL) == 0);
  ProcessResult result = job_process.Wait(seconds(120));
  double seconds_to_fail =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count();

  std::string error = ErrorLine(result);
  CHECK(error.find("worker rank 1") != std::string::npos);
  CHECK(error.find("pid " + std::to_string(victim)) != std::string::npos);
  CHECK(seconds_to_fail < 30);

  // The newest checkpoint is whole, and the run continues from it to the end.
  std::vector<std::string> skipped;
  auto newest = FindNewestValidCheckpoint(Env::Default(), run + "/checkpoints", &skipped);
  REQUIRE(newest.ok());
  REQUIRE(newest->has_value());
  CHECK(skipped.empty());
  ProcessResult resumed = Run(LocalTrain(job, 2, {"--resume"}), dir, seconds(300));
  INFO("stdout:\n" << resumed.out << "\nstderr:\n" << resumed.err);
  REQUIRE(resumed.exit_code == 0);
  CHECK(resumed.out.find("resuming from") != std::string::npos);
  CHECK(fs::exists(run + "/model.pt"));
}

TEST_CASE("a killed worker is restarted and the run ends bit-identical to an uninterrupted one",
          "[integration][errors][restart]") {
  TempDir scratch;
  const std::string dir = scratch.path();
  JobSettings settings;
  settings.epochs = 20;  // 320 steps of 16 a epoch: killed in the middle of one
  settings.limit = 256;
  settings.with_test = false;
  settings.checkpoint_every = 4;
  settings.optimizer = "{name: adamw, lr: 0.002, weight_decay: 0.01}";
  settings.schedule = "{name: cosine, warmup_steps: 4}";

  fs::create_directories(dir + "/uninterrupted");
  const std::string reference = dir + "/uninterrupted/run";
  ProcessResult uninterrupted =
      Run(LocalTrain(WriteJob(dir + "/uninterrupted", settings, reference), 2), dir, seconds(300));
  INFO("uninterrupted:\n" << uninterrupted.out << uninterrupted.err);
  REQUIRE(uninterrupted.exit_code == 0);

  fs::create_directories(dir + "/killed");
  const std::string run = dir + "/killed/run";
  Process job_process(LocalTrain(WriteJob(dir + "/killed", settings, run), 2), dir);
  uint32_t victim = PidOnceTraining(run, 1);
  REQUIRE(victim != 0);
  REQUIRE(::kill(static_cast<pid_t>(victim), SIGKILL) == 0);
  ProcessResult result = job_process.Wait(seconds(300));
  INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
  REQUIRE(result.exit_code == 0);
  CHECK(result.out.find("aimass: restart 1 of 3 after: worker rank") != std::string::npos);

  // The restart is in metrics.jsonl and summary.json...
  std::string metrics = ReadText(run + "/metrics.jsonl");
  size_t restart_lines = 0;
  uint64_t resumed_from = 0;
  for (size_t begin = 0; begin < metrics.size();) {
    size_t end = metrics.find('\n', begin);
    json::object line = json::parse(metrics.substr(begin, end - begin)).as_object();
    if (line.contains("event") && line.at("event").as_string() == "restart") {
      ++restart_lines;
      resumed_from = line.at("resumed_from_step").to_number<uint64_t>();
    }
    begin = end + 1;
  }
  CHECK(restart_lines == 1);
  CHECK(resumed_from > 0);  // a checkpoint existed when the worker was killed
  json::object summary = json::parse(ReadText(run + "/summary.json")).as_object();
  CHECK(summary.at("restarts").to_number<uint64_t>() == 1);
  CHECK(summary.at("steps").to_number<uint64_t>() == 320);
  // ...and the weights are those of the run nobody killed, to the last bit.
  CHECK(MaxParameterDifference("mlp", reference + "/model.pt", run + "/model.pt") == 0.0);
  CHECK(ProcessEnded(victim));
}

TEST_CASE("a second train on a live run directory is refused and the first goes on",
          "[integration][errors]") {
  TempDir scratch;
  const std::string dir = scratch.path();
  const std::string run = dir + "/run";
  JobSettings settings;
  settings.epochs = 20;  // long enough for two refused starts
  settings.limit = 256;
  settings.with_test = false;
  settings.checkpoint_every = 4;
  const std::string job = WriteJob(dir, settings, run);
  Process first(LocalTrain(job, 2), dir);
  REQUIRE(PidOnceTraining(run, 0) != 0);  // the first job is training

  for (const auto& extra : {std::vector<std::string>{"--resume"}, std::vector<std::string>{"--overwrite"}}) {
    ProcessResult second = Run(LocalTrain(job, 2, extra), dir, seconds(60));
    CHECK(ErrorLine(second) == run + ": another training job is running in this run directory (pid " +
                                   std::to_string(first.pid()) + ")");
  }
  ProcessResult finished = first.Wait(seconds(300));
  INFO("stdout:\n" << finished.out << "\nstderr:\n" << finished.err);
  CHECK(finished.exit_code == 0);
  CHECK(fs::exists(run + "/model.pt"));
}

}  // namespace
}  // namespace aimass::testing
