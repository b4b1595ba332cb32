// The coordinator's TrainJob driven by worker threads inside this process: the protocol, the
// aggregation and the failure paths, without mpirun or LibTorch training.
#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <functional>
#include <thread>

#include "common/aimass.pb.h"
#include "common/data/csv_writer.h"
#include "coordinator/launch/worker_launcher.h"
#include "coordinator/train_job.h"
#include "coordinator/worker_hub.h"
#include "tests/temp_dir.h"
#include "tests/unit/thread_launcher.h"
#include "worker/control_client.h"

namespace aimass {
namespace {

using coordinator::TrainJob;
using coordinator::WorkerHub;
using testing::TempDir;
using testing::ConnectAndGreet;
using testing::ThreadLauncher;
using worker::ControlClient;

// A dataset of `records` 784-feature records in one shard.
std::string MakeDataset(const TempDir& dir, const std::string& name, int records) {
  std::filesystem::create_directories(dir.Path(name));
  data::RecordBlock block;
  block.feature_count = 784;
  for (int i = 0; i < records; ++i) {
    block.ids.push_back(i);
    block.labels.push_back(i % 10);
    block.features.insert(block.features.end(), 784, 0.5f);
  }
  REQUIRE(data::WriteCsvShard(dir.Path(name) + "/part-00000.csv", block).ok());
  return dir.Path(name);
}

coordinator::TrainJobOptions Options(const TempDir& dir) {
  coordinator::TrainJobOptions options;
  options.config.model.name = "mlp";
  options.config.data.train = ShardDirectorySource(MakeDataset(dir, "train", 64));
  options.config.data.test = ShardDirectorySource(MakeDataset(dir, "test", 30));
  options.config.epochs = 2;
  options.config.batch_size = 8;
  options.config.run_dir = dir.Path("run");
  options.worker_start_timeout = std::chrono::seconds(5);
  return options;
}

Result<boost::json::object> RunJob(coordinator::TrainJobOptions options, uint32_t workers,
                                   ThreadLauncher::WorkerBody body) {
  coordinator::ProgressReporter quiet(stdout, /*quiet=*/true);
  TrainJob job(std::move(options), Env::Default(), quiet);
  AIMASS_RETURN_IF_ERROR(job.Prepare(workers));
  auto hub = WorkerHub::Start("127.0.0.1", 0);
  if (!hub.ok()) return hub.status();
  ThreadLauncher launcher(workers, std::move(body));
  return job.Run(**hub, launcher);
}

TEST_CASE("the coordinator plans, gathers and summarizes a job", "[train_job]") {
  TempDir dir;
  std::atomic<uint64_t> eval_records{0};
  auto summary = RunJob(Options(dir), 2, [&](uint32_t rank, const std::string& address) {
    auto client = ConnectAndGreet(address, rank, 2);
    if (!client) return;
    auto start = client->Receive(std::chrono::seconds(10));
    if (!start.ok() || !(*start)->has_start_training()) return;
    for (const auto& range : (*start)->start_training().eval_ranges()) eval_records += range.count();
    for (uint32_t epoch = 0; epoch < 2; ++epoch) {
      auto plan = client->Receive(std::chrono::seconds(10));
      if (!plan.ok() || !(*plan)->has_epoch_plan()) return;
      const auto& epoch_plan = (*plan)->epoch_plan();
      CHECK(epoch_plan.epoch() == epoch);
      CHECK(epoch_plan.samples() == 32);  // 64 records over 2 workers
      CHECK(epoch_plan.steps() == 4);     // batches of 8
      if (rank == 0) {
        proto::WorkerMessage metrics;
        metrics.mutable_step_metrics()->set_step(4 * (epoch + 1));
        metrics.mutable_step_metrics()->set_epoch(epoch);
        metrics.mutable_step_metrics()->set_samples_per_second(100.0 * (epoch + 1));
        metrics.mutable_step_metrics()->set_interval_steps(4);
        (void)client->Send(metrics);
      }
      proto::WorkerMessage eval;  // rank 0: 12 of 15 right, rank 1: 9 of 15
      eval.mutable_eval_result()->set_epoch(epoch);
      eval.mutable_eval_result()->set_correct(rank == 0 ? 12 : 9);
      eval.mutable_eval_result()->set_count(15);
      eval.mutable_eval_result()->set_loss_sum(rank == 0 ? 3.0 : 6.0);
      (void)client->Send(eval);
    }
    proto::WorkerMessage done;
    done.mutable_training_done()->set_steps(8);
    (void)client->Send(done);
    auto shutdown = client->Receive(std::chrono::seconds(10));
    CHECK((shutdown.ok() && (*shutdown)->has_shutdown() && !(*shutdown)->shutdown().abort()));
  });
  INFO((summary.ok() ? "" : summary.status().message()));
  REQUIRE(summary.ok());
  CHECK(eval_records == 30);  // the test split, each record once across the workers
  CHECK(summary->at("test_accuracy").as_double() == Approx(21.0 / 30.0));
  CHECK(summary->at("test_loss").as_double() == Approx(9.0 / 30.0));
  CHECK(summary->at("epochs").to_number<int>() == 2);
  CHECK(summary->at("global_batch").to_number<int>() == 16);
  CHECK(summary->at("samples_per_second").as_double() == Approx(150.0));
  CHECK(std::filesystem::exists(dir.Path("run/workers.json")));
  CHECK(std::filesystem::exists(dir.Path("run/summary.json")));
}

TEST_CASE("a worker's failure message ends the job with its rank and host", "[train_job]") {
  TempDir dir;
  auto summary = RunJob(Options(dir), 2, [](uint32_t rank, const std::string& address) {
    auto client = ConnectAndGreet(address, rank, 2);
    if (!client) return;
    if (rank == 0) {  // a healthy peer: stays until the coordinator aborts the job
      while (true) {
        auto message = client->Receive(std::chrono::seconds(10));
        if (!message.ok() || (*message)->has_shutdown()) return;
      }
    }
    (void)client->Receive(std::chrono::seconds(10));
    proto::WorkerMessage failure;
    failure.mutable_failure()->set_message("shard.csv.gz: corrupt gzip stream");
    (void)client->Send(failure);
    (void)client->Receive(std::chrono::seconds(10));  // the abort
  });
  REQUIRE_FALSE(summary.ok());
  CHECK(summary.status().message() ==
        "worker rank 1 (host host-1, pid 1001) failed: shard.csv.gz: corrupt gzip stream");
}

TEST_CASE("two workers claiming one rank are refused", "[train_job]") {
  TempDir dir;
  auto summary = RunJob(Options(dir), 2, [](uint32_t, const std::string& address) {
    auto client = ConnectAndGreet(address, 0, 2);
    if (client) (void)client->Receive(std::chrono::seconds(5));
  });
  REQUIRE_FALSE(summary.ok());
  CHECK(summary.status().message() == "two workers claim rank 0");
}

TEST_CASE("workers that never connect are named after the start timeout", "[train_job]") {
  TempDir dir;
  auto options = Options(dir);
  options.worker_start_timeout = std::chrono::seconds(1);
  auto summary = RunJob(std::move(options), 3, [](uint32_t rank, const std::string& address) {
    if (rank == 1) return;  // never shows up
    auto client = ConnectAndGreet(address, rank, 3);
    if (client) (void)client->Receive(std::chrono::seconds(5));
  });
  REQUIRE_FALSE(summary.ok());
  CHECK(summary.status().message() ==
        "only 2 of 3 workers connected within 1 s (missing ranks 1)");
}

}  // namespace
}  // namespace aimass
