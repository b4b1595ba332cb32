// The coordinator as a library inside a long-running process: a training job and an inference
// job run at the same time from one process, each on its own thread with its own JobDriver,
// hub port, job id and real `mpirun` of two workers, and both finish as they do alone.
#include "tests/catch.h"

#include <boost/json.hpp>

#include <filesystem>
#include <optional>
#include <thread>

#include "common/config/infer_config.h"
#include "common/config/job_config.h"
#include "common/env.h"
#include "coordinator/infer/infer_job.h"
#include "coordinator/job_driver.h"
#include "coordinator/launch/local_mpirun_launcher.h"
#include "coordinator/train_job.h"
#include "tests/integration/job_fixture.h"
#include "tests/integration/process_runner.h"
#include "tests/temp_dir.h"

namespace aimass::testing {
namespace {

namespace json = boost::json;

// Records what one job reported; each job has its own, so no locking is needed.
struct Recorder : coordinator::JobObserver {
  std::vector<std::string> infos;
  uint32_t joined = 0;
  std::optional<coordinator::TrainSummary> trained;
  std::optional<coordinator::InferSummary> inferred;
  std::optional<std::string> failure;
  void OnInfo(const std::string& line) override { infos.push_back(line); }
  void OnWorkerJoined(const coordinator::WorkerJoined&) override { ++joined; }
  void OnFinished(const coordinator::TrainSummary& summary) override { trained = summary; }
  void OnFinished(const coordinator::InferSummary& summary) override { inferred = summary; }
  void OnFailed(const Status& error) override { failure = error.message(); }
};

coordinator::LocalLaunchOptions TwoWorkers(bool tolerate_worker_loss) {
  coordinator::LocalLaunchOptions options;
  options.workers = 2;
  options.worker_binary = WorkerBinary();  // this process is the test, not aimass-coordinator
  if (tolerate_worker_loss) options.mpirun_args.push_back("--enable-recovery");
  return options;
}

// What a job's thread leaves behind for the test's thread to check.
struct Outcome {
  Status status = Status::Ok();
  std::string job_id;
};

TEST_CASE("a training job and an inference job run at once in one process", "[integration][driver]") {
  TempDir scratch;
  const std::string dir = scratch.path();

  JobSettings settings;
  settings.epochs = 2;
  settings.limit = 256;
  std::string train_yaml = WriteJob(dir, settings, dir + "/run");
  auto train_config = ParseTrainConfig(ReadText(train_yaml), train_yaml);
  REQUIRE(train_config.ok());

  std::filesystem::create_directories(dir + "/infer");
  Fixture fixture = MakeFixture(dir + "/infer", FixtureSize{3000, 4, 32, 1});
  std::string infer_yaml = dir + "/infer/infer.yaml";
  WriteText(infer_yaml, "model: " + fixture.model + "\n" + "input: {path: " + fixture.table +
                            ", format: csv, header: true}\n" +
                            "schema: {id: id, features: f0..f15}\n" + "output: {path: " +
                            fixture.dir + "/out}\n");
  auto infer_config = ParseInferConfig(ReadText(infer_yaml), infer_yaml);
  REQUIRE(infer_config.ok());

  Recorder train_seen;
  Recorder infer_seen;
  Outcome train_outcome;
  Outcome infer_outcome;
  std::optional<coordinator::TrainSummary> train_summary;
  json::object manifest;

  std::thread training([&] {
    coordinator::TrainJobOptions options;
    options.config = *train_config;
    options.config_text = ReadText(train_yaml);
    coordinator::TrainJob job(std::move(options), Env::Default(), train_seen);
    coordinator::LocalMpirunLauncher launcher(TwoWorkers(false));
    train_outcome.status = job.Prepare(launcher.worker_count());
    if (!train_outcome.status.ok()) return;
    coordinator::JobDriver driver(coordinator::JobDriverOptions{}, launcher, train_seen);
    train_outcome.job_id = driver.job_id();
    train_outcome.status = driver.Run(job);
    if (train_outcome.status.ok()) train_summary = job.summary();
  });
  std::thread inference([&] {
    coordinator::InferJobOptions options;
    options.config = *infer_config;
    coordinator::InferJob job(std::move(options), Env::Default(), infer_seen);
    coordinator::LocalMpirunLauncher launcher(TwoWorkers(true));
    infer_outcome.status = job.Prepare(launcher.worker_count());
    if (!infer_outcome.status.ok()) return;
    coordinator::JobDriverOptions driver_options;
    driver_options.job_id = "inference-of-the-test";  // a caller may name its job
    coordinator::JobDriver driver(std::move(driver_options), launcher, infer_seen);
    infer_outcome.job_id = driver.job_id();
    infer_outcome.status = driver.Run(job);
    if (infer_outcome.status.ok()) manifest = job.manifest();
  });
  training.join();
  inference.join();

  INFO("training: " << train_outcome.status.message() << "\ninference: " << infer_outcome.status.message());
  REQUIRE(train_outcome.status.ok());
  REQUIRE(infer_outcome.status.ok());
  CHECK(train_outcome.job_id.size() == 16);
  CHECK(infer_outcome.job_id == "inference-of-the-test");
  CHECK(train_seen.joined == 2);
  CHECK(infer_seen.joined == 2);
  CHECK_FALSE(train_seen.failure.has_value());
  CHECK_FALSE(infer_seen.failure.has_value());
  for (const auto* seen : {&train_seen, &infer_seen}) {
    for (const auto& line : seen->infos) CHECK(line.find("refused") == std::string::npos);
  }

  // Training: the typed summary, and summary.json written from it.
  REQUIRE(train_summary.has_value());
  REQUIRE(train_seen.trained.has_value());
  CHECK(train_summary->epochs == 2);
  CHECK(train_summary->workers == 2);
  CHECK(train_summary->steps == 2 * 256 / 16);  // limit 256, global batch 2 x 8
  CHECK(train_summary->train_records == 256);  // the records trained on: data.limit
  CHECK(train_summary->test_records == 512);
  REQUIRE(train_summary->test_accuracy.has_value());
  CHECK(*train_summary->test_accuracy > 0.3);  // far above chance (0.1)
  CHECK(std::filesystem::exists(dir + "/run/model.pt"));
  json::object written = json::parse(ReadText(dir + "/run/summary.json")).as_object();
  CHECK(written.at("epochs").to_number<int>() == 2);
  CHECK(written.at("train_records").to_number<int>() == 256);
  CHECK(written.at("test_records").to_number<int>() == 512);
  CHECK(written.at("test_accuracy").as_double() == Approx(*train_summary->test_accuracy));

  // Inference: every record scored once, the manifest and the typed summary agree.
  REQUIRE(infer_seen.inferred.has_value());
  CHECK(manifest.at("records_in").to_number<int>() == 3000);
  CHECK(manifest.at("records_out").to_number<int>() == 3000);
  CHECK(manifest.at("splits").to_number<int>() == 4);
  CHECK(manifest.at("parts").as_array().size() == 4);
  CHECK(manifest.at("failed_attempts").to_number<int>() == 0);
  CHECK(infer_seen.inferred->records_in == 3000);
  CHECK(infer_seen.inferred->splits == 4);
  json::object success = json::parse(ReadText(fixture.dir + "/out/_SUCCESS")).as_object();
  CHECK(success.at("records_in").to_number<int>() == 3000);
  CHECK(success.at("model").at("sha256").as_string().size() == 64);
}

}  // namespace
}  // namespace aimass::testing
