// The coordinator's TrainJob driven by worker threads inside this process: the protocol, the
// aggregation and the failure paths, without mpirun or LibTorch training.
#include "tests/catch.h"

#include <boost/json.hpp>
#include <fstream>
#include <functional>
#include <optional>
#include <thread>
#include <unistd.h>

#include "common/aimass.pb.h"
#include "common/data/csv_writer.h"
#include "coordinator/console_observer.h"
#include "coordinator/job_driver.h"
#include "coordinator/launch/worker_launcher.h"
#include "coordinator/run_directory.h"
#include "coordinator/train_job.h"
#include "coordinator/train_supervisor.h"
#include "tests/temp_dir.h"
#include "tests/unit/thread_launcher.h"
#include "worker/control_client.h"

namespace aimass {
namespace {

using coordinator::CoordinatorContact;
using coordinator::TrainJob;
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
  return options;
}

// What the job told its observer.
struct RecordingObserver : coordinator::JobObserver {
  std::vector<std::string> infos;
  std::vector<coordinator::EpochEvaluation> evaluations;
  std::vector<coordinator::WorkerLost> lost;
  std::optional<coordinator::TrainSummary> finished;
  std::vector<std::string> failures;
  void OnInfo(const std::string& line) override { infos.push_back(line); }
  void OnEvaluation(const coordinator::EpochEvaluation& evaluation) override {
    evaluations.push_back(evaluation);
  }
  void OnWorkerLost(const coordinator::WorkerLost& worker) override { lost.push_back(worker); }
  void OnFinished(const coordinator::TrainSummary& summary) override { finished = summary; }
  void OnFailed(const Status& error) override { failures.push_back(error.message()); }
};

Result<coordinator::TrainSummary> RunJob(coordinator::TrainJobOptions options, uint32_t workers,
                                         ThreadLauncher::WorkerBody body,
                                         std::chrono::seconds start_timeout = std::chrono::seconds(5),
                                         RecordingObserver* seen = nullptr) {
  RecordingObserver fallback;
  RecordingObserver& observer = seen ? *seen : fallback;
  TrainJob job(std::move(options), Env::Default(), observer);
  AIMASS_RETURN_IF_ERROR(job.Prepare(workers));
  ThreadLauncher launcher(workers, std::move(body));
  coordinator::JobDriverOptions driver_options;
  driver_options.bind_address = "127.0.0.1";
  driver_options.worker_start_timeout = start_timeout;
  coordinator::JobDriver driver(std::move(driver_options), launcher, observer);
  AIMASS_RETURN_IF_ERROR(driver.Run(job));
  return job.summary();
}

// Plays worker `rank` of a 2-worker, 2-epoch job through to its Shutdown.
void PlayWorker(uint32_t rank, const CoordinatorContact& contact, std::atomic<uint64_t>& eval_records) {
  auto client = ConnectAndGreet(contact, rank, 2);
  if (!client) return;
  auto start = client->Receive(std::chrono::seconds(10));
  if (!start.ok() || !(*start)->has_start_training()) return;
  CHECK((*start)->start_training().job_id() == contact.job_id);
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
    // 2 x 2 confusion matrices (true x predicted) whose diagonals are the correct counts.
    for (uint64_t cell : rank == 0 ? std::vector<uint64_t>{10, 2, 1, 2} : std::vector<uint64_t>{5, 3, 3, 4}) {
      eval.mutable_eval_result()->add_confusion(cell);
    }
    (void)client->Send(eval);
  }
  proto::WorkerMessage done;
  done.mutable_training_done()->set_steps(8);
  (void)client->Send(done);
  auto shutdown = client->Receive(std::chrono::seconds(10));
  CHECK((shutdown.ok() && (*shutdown)->has_shutdown() && !(*shutdown)->shutdown().abort()));
}

TEST_CASE("the coordinator plans, gathers and summarizes a job", "[train_job]") {
  TempDir dir;
  std::atomic<uint64_t> eval_records{0};
  RecordingObserver seen;
  auto summary = RunJob(
      Options(dir), 2,
      [&](uint32_t rank, const CoordinatorContact& contact) { PlayWorker(rank, contact, eval_records); },
      std::chrono::seconds(5), &seen);
  INFO((summary.ok() ? "" : summary.status().message()));
  REQUIRE(summary.ok());
  CHECK(eval_records == 30);  // the test split, each record once across the workers
  // Each evaluation carries the workers' confusion matrices summed.
  REQUIRE(seen.evaluations.size() == 2);
  CHECK(seen.evaluations[1].confusion == std::vector<uint64_t>{15, 5, 4, 6});
  REQUIRE(summary->test_accuracy.has_value());
  REQUIRE(summary->test_loss.has_value());
  CHECK(*summary->test_accuracy == Approx(21.0 / 30.0));
  CHECK(*summary->test_loss == Approx(9.0 / 30.0));
  CHECK(summary->epochs == 2);
  CHECK(summary->global_batch == 16);
  CHECK(summary->samples_per_second == Approx(150.0));
  CHECK(summary->train_records == 64);
  CHECK(summary->test_records == 30);
  CHECK(std::filesystem::exists(dir.Path("run/workers.json")));
  REQUIRE(std::filesystem::exists(dir.Path("run/summary.json")));
  // summary.json is written from the typed summary, with the keys it always had.
  std::ifstream file(dir.Path("run/summary.json"));
  std::string text((std::istreambuf_iterator<char>(file)), {});
  boost::json::object written = boost::json::parse(text).as_object();
  CHECK(written.at("test_accuracy").as_double() == Approx(21.0 / 30.0));
  CHECK(written.at("test_loss").as_double() == Approx(9.0 / 30.0));
  CHECK(written.at("epochs").to_number<int>() == 2);
  CHECK(written.at("global_batch").to_number<int>() == 16);
  CHECK(written.at("train_records").to_number<int>() == 64);
  CHECK(written.at("test_records").to_number<int>() == 30);
  CHECK(written.at("resumed_from_step").is_null());
}

TEST_CASE("a worker's failure message ends the job with its rank and host", "[train_job]") {
  TempDir dir;
  RecordingObserver seen;
  auto summary = RunJob(Options(dir), 2, [](uint32_t rank, const CoordinatorContact& contact) {
    auto client = ConnectAndGreet(contact, rank, 2);
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
  }, std::chrono::seconds(5), &seen);
  REQUIRE_FALSE(summary.ok());
  CHECK(summary.status().message() ==
        "worker rank 1 (host host-1, pid 1001) failed: shard.csv.gz: corrupt gzip stream");
  // Observers hear of the loss (which training does not survive) and of the failure.
  REQUIRE(seen.lost.size() == 1);
  CHECK(seen.lost[0].rank == 1);
  CHECK_FALSE(seen.lost[0].job_goes_on);
  CHECK(seen.failures == std::vector<std::string>{summary.status().message()});
  CHECK_FALSE(seen.finished.has_value());
}

TEST_CASE("a worker of another job is refused with one line and the job goes on", "[train_job]") {
  TempDir dir;
  RecordingObserver seen;
  std::atomic<uint64_t> eval_records{0};
  std::atomic<bool> stray_refused{false};
  auto summary = RunJob(Options(dir), 2, [&](uint32_t rank, const CoordinatorContact& contact) {
    if (rank == 0) {
      // Before the real rank 0: a stale worker of another job claims the same rank.
      auto stray = ConnectAndGreet(CoordinatorContact{contact.address, "another-job"}, 0, 2);
      if (!stray) return;
      auto answer = stray->Receive(std::chrono::seconds(10));
      stray_refused = answer.ok() && (*answer)->has_shutdown() && (*answer)->shutdown().abort();
      auto closed = stray->Receive(std::chrono::seconds(10));  // then the connection closes
      CHECK_FALSE(closed.ok());
    }
    PlayWorker(rank, contact, eval_records);
  }, std::chrono::seconds(5), &seen);
  INFO((summary.ok() ? "" : summary.status().message()));
  REQUIRE(summary.ok());
  CHECK(stray_refused);
  CHECK(*summary->test_accuracy == Approx(21.0 / 30.0));
  size_t refusals = 0;
  for (const auto& line : seen.infos) {
    if (line.find("refused a worker of job 'another-job'") != std::string::npos) ++refusals;
  }
  CHECK(refusals == 1);
  CHECK(seen.lost.empty());
  REQUIRE(seen.finished.has_value());
  CHECK(seen.evaluations.size() == 2);
}

TEST_CASE("the console prints no test figures for a run without a test set", "[train_job]") {
  std::FILE* out = std::tmpfile();
  REQUIRE(out != nullptr);
  {
    coordinator::ConsoleObserver console(out, /*quiet=*/true, /*interactive=*/false);
    coordinator::EpochEvaluation evaluation;
    evaluation.epoch = 1;
    evaluation.epochs = 1;
    console.OnEvaluation(evaluation);
    coordinator::TrainSummary summary;
    summary.run_dir = "/runs/a";
    summary.epochs = 1;
    summary.workers = 2;
    summary.global_batch = 16;
    console.OnFinished(summary);
  }
  std::rewind(out);
  std::string text;
  char buffer[512];
  while (std::fgets(buffer, sizeof(buffer), out) != nullptr) text += buffer;
  std::fclose(out);
  CHECK(text ==
        "epoch 1/1 done\n"
        "no test set  epochs 1  workers 2  global_batch 16  0 samples/s  wall 0s\n"
        "run directory: /runs/a\n");
}

// Only the claim is refused (docs/security.md): the job goes on with the worker that has the rank.
TEST_CASE("a second claim of a taken rank is refused and the job goes on", "[train_job]") {
  struct JoinWatcher : RecordingObserver {
    std::atomic<bool> rank0_joined{false};
    void OnWorkerJoined(const coordinator::WorkerJoined& worker) override {
      if (worker.rank == 0) rank0_joined = true;
    }
  };
  TempDir dir;
  JoinWatcher seen;
  std::atomic<uint64_t> eval_records{0};
  std::atomic<bool> duplicate_refused{false};
  auto summary = RunJob(Options(dir), 2, [&](uint32_t rank, const CoordinatorContact& contact) {
    if (rank == 1) {
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (!seen.rank0_joined && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      auto duplicate = ConnectAndGreet(contact, 0, 2);
      if (duplicate) {
        auto answer = duplicate->Receive(std::chrono::seconds(10));
        duplicate_refused = answer.ok() && (*answer)->has_shutdown() && (*answer)->shutdown().abort();
      }
    }
    PlayWorker(rank, contact, eval_records);
  }, std::chrono::seconds(5), &seen);
  INFO((summary.ok() ? "" : summary.status().message()));
  REQUIRE(summary.ok());
  CHECK(duplicate_refused);
  size_t refusals = 0;
  for (const auto& line : seen.infos) {
    if (line.find("rank 0 is already claimed by worker rank 0") != std::string::npos) ++refusals;
  }
  CHECK(refusals == 1);
  CHECK(seen.lost.empty());
}

TEST_CASE("workers that never connect are named after the start timeout", "[train_job]") {
  TempDir dir;
  auto summary = RunJob(Options(dir), 3, [](uint32_t rank, const CoordinatorContact& contact) {
    if (rank == 1) return;  // never shows up
    auto client = ConnectAndGreet(contact, rank, 3);
    if (client) (void)client->Receive(std::chrono::seconds(5));
  }, std::chrono::seconds(1));
  REQUIRE_FALSE(summary.ok());
  CHECK(summary.status().message() ==
        "only 2 of 3 workers connected within 1 s (missing ranks 1)");
}

// ---- TrainSupervisor: restarts after a lost worker (train_supervisor.h) ----

TEST_CASE("only a lost worker's failure is restarted", "[train_supervisor]") {
  using coordinator::IsRestartable;
  CHECK(IsRestartable(Status::Unavailable("worker rank 1 (host h, pid 2) disconnected")));
  CHECK_FALSE(IsRestartable(Status::FailedPrecondition("worker rank 1 failed: bad record")));
  CHECK_FALSE(IsRestartable(Status::Cancelled("interrupted by a signal")));
  CHECK_FALSE(IsRestartable(Status::InvalidArgument("job.yaml: key 'training.epochs'")));
  CHECK_FALSE(IsRestartable(Status::Error("a worker sent a message out of place")));
  CHECK_FALSE(IsRestartable(Status::Ok()));
}

// Attempt `attempt` (0-based) of a 2-worker job: rank 1 of the first `failing` attempts reports
// an error once it has its start message (permanent or not); every other attempt plays through.
ThreadLauncher::WorkerBody AttemptBody(uint32_t attempt, uint32_t failing, bool permanent,
                                       std::atomic<uint64_t>& eval_records) {
  return [=, &eval_records](uint32_t rank, const CoordinatorContact& contact) {
    if (attempt >= failing) return PlayWorker(rank, contact, eval_records);
    auto client = ConnectAndGreet(contact, rank, 2);
    if (!client) return;
    if (rank == 0) {  // a healthy peer: stays until the coordinator aborts the attempt
      while (true) {
        auto message = client->Receive(std::chrono::seconds(10));
        if (!message.ok() || (*message)->has_shutdown()) return;
      }
    }
    (void)client->Receive(std::chrono::seconds(10));
    proto::WorkerMessage failure;
    failure.mutable_failure()->set_message("out of memory");
    failure.mutable_failure()->set_permanent(permanent);
    (void)client->Send(failure);
    (void)client->Receive(std::chrono::seconds(10));  // the abort
  };
}

struct SupervisedRun {
  Status status;
  RecordingObserver seen;
  std::optional<coordinator::TrainSummary> summary;
  uint32_t launches = 0;
};

void RunSupervised(const TempDir& dir, uint32_t max_restarts, uint32_t failing, bool permanent,
                   SupervisedRun& run, std::function<bool()> interrupted = {},
                   std::chrono::milliseconds restart_backoff = std::chrono::milliseconds(10)) {
  std::atomic<uint64_t> eval_records{0};
  coordinator::TrainSupervisorOptions options;
  options.job = Options(dir);
  options.driver.interrupted = std::move(interrupted);
  options.driver.bind_address = "127.0.0.1";
  options.driver.worker_start_timeout = std::chrono::seconds(5);
  options.max_restarts = max_restarts;
  options.restart_backoff = restart_backoff;
  options.relaunch = [&]() -> Result<std::unique_ptr<coordinator::WorkerLauncher>> {
    return std::unique_ptr<coordinator::WorkerLauncher>(std::make_unique<ThreadLauncher>(
        2, AttemptBody(run.launches++, failing, permanent, eval_records)));
  };
  coordinator::TrainSupervisor supervisor(std::move(options), Env::Default(), run.seen);
  run.status = supervisor.Prepare(2);
  REQUIRE(run.status.ok());
  ThreadLauncher first(2, AttemptBody(run.launches++, failing, permanent, eval_records));
  run.status = supervisor.Run(first);
  if (run.status.ok()) run.summary = supervisor.summary();
}

TEST_CASE("a lost worker's job is relaunched from the start when no checkpoint exists",
          "[train_supervisor]") {
  TempDir dir;
  SupervisedRun run;
  RunSupervised(dir, /*max_restarts=*/3, /*failing=*/1, /*permanent=*/false, run);
  INFO(run.status.message());
  REQUIRE(run.status.ok());
  CHECK(run.launches == 2);
  REQUIRE(run.summary.has_value());
  REQUIRE(run.summary->restarts.size() == 1);
  CHECK(run.summary->restarts[0].restart == 1);
  CHECK(run.summary->restarts[0].resumed_from_step == 0);
  CHECK(run.summary->restarts[0].reason ==
        "worker rank 1 (host host-1, pid 1001) failed: out of memory");
  CHECK(run.seen.failures.empty());  // the restarted attempt's failure is not the job's
  size_t restart_lines = 0;
  for (const auto& line : run.seen.infos) {
    if (line.rfind("aimass: restart 1 of 3 after: worker rank 1", 0) == 0) ++restart_lines;
  }
  CHECK(restart_lines == 1);

  // metrics.jsonl: the restart line, then the new attempt's steps; summary.json: count and list.
  std::ifstream metrics(dir.Path("run/metrics.jsonl"));
  std::string first_line;
  REQUIRE(std::getline(metrics, first_line));
  boost::json::object restart = boost::json::parse(first_line).as_object();
  CHECK(restart.at("event").as_string() == "restart");
  CHECK(restart.at("restart").to_number<int>() == 1);
  CHECK(restart.at("resumed_from_step").to_number<int>() == 0);
  std::ifstream file(dir.Path("run/summary.json"));
  std::string text((std::istreambuf_iterator<char>(file)), {});
  boost::json::object written = boost::json::parse(text).as_object();
  CHECK(written.at("restarts").to_number<int>() == 1);
  CHECK(written.at("restart_history").as_array().size() == 1);
}

TEST_CASE("a permanent failure is not restarted", "[train_supervisor]") {
  TempDir dir;
  SupervisedRun run;
  RunSupervised(dir, /*max_restarts=*/3, /*failing=*/1, /*permanent=*/true, run);
  REQUIRE_FALSE(run.status.ok());
  CHECK(run.status.code() == StatusCode::kFailedPrecondition);
  CHECK(run.status.message() == "worker rank 1 (host host-1, pid 1001) failed: out of memory");
  CHECK(run.launches == 1);
  CHECK(run.seen.failures == std::vector<std::string>{run.status.message()});
}

TEST_CASE("a job the user interrupted is not restarted", "[train_supervisor]") {
  TempDir dir;
  SupervisedRun run;
  std::atomic<bool> interrupted{false};
  // The worker's failure and the interrupt come together (mpirun signals the coordinator when a
  // worker dies): whichever the driver sees first, the user asked to stop.
  RunSupervised(dir, /*max_restarts=*/3, /*failing=*/1, /*permanent=*/false, run, [&] {
    if (!run.seen.lost.empty()) interrupted = true;
    return interrupted.load();
  });
  REQUIRE_FALSE(run.status.ok());
  CHECK(run.launches == 1);
  CHECK(run.seen.failures.size() == 1);
}

TEST_CASE("when restarts run out the job fails with the last error and the count",
          "[train_supervisor]") {
  TempDir dir;
  SupervisedRun run;
  const auto started = std::chrono::steady_clock::now();
  RunSupervised(dir, /*max_restarts=*/2, /*failing=*/10, /*permanent=*/false, run, {},
                std::chrono::milliseconds(150));
  REQUIRE_FALSE(run.status.ok());
  CHECK(run.launches == 3);
  // Each restart waited its backoff, doubling: 150 ms, then 300 ms.
  CHECK(std::chrono::steady_clock::now() - started >= std::chrono::milliseconds(450));
  CHECK(run.status.message() ==
        "worker rank 1 (host host-1, pid 1001) failed: out of memory (gave up after 2 restarts: "
        "training.max_restarts is 2)");
  CHECK(run.seen.failures == std::vector<std::string>{run.status.message()});

  SupervisedRun unrestarted;  // max_restarts 0: today's behaviour, the error as it was
  TempDir other;
  RunSupervised(other, /*max_restarts=*/0, /*failing=*/1, /*permanent=*/false, unrestarted);
  CHECK(unrestarted.launches == 1);
  CHECK(unrestarted.status.message() == "worker rank 1 (host host-1, pid 1001) failed: out of memory");
}

TEST_CASE("a second job on a locked run directory is refused with the holder's pid",
          "[train_supervisor]") {
  TempDir dir;
  RecordingObserver seen;
  coordinator::TrainSupervisor first(coordinator::TrainSupervisorOptions{Options(dir), {}, 0, {}},
                                     Env::Default(), seen);
  REQUIRE(first.Prepare(2).ok());
  coordinator::TrainSupervisor second(coordinator::TrainSupervisorOptions{Options(dir), {}, 0, {}},
                                      Env::Default(), seen);
  Status refused = second.Prepare(2);
  CHECK(refused.code() == StatusCode::kFailedPrecondition);
  CHECK(refused.message() == dir.Path("run") +
                                 ": another training job is running in this run directory (pid " +
                                 std::to_string(::getpid()) + ")");
}

TEST_CASE("bad input leaves no run directory behind", "[train_supervisor]") {
  TempDir dir;
  RecordingObserver seen;
  coordinator::TrainJobOptions options = Options(dir);
  options.config.data.train = ShardDirectorySource(dir.Path("no-such-table"));
  coordinator::TrainSupervisor supervisor(coordinator::TrainSupervisorOptions{options, {}, 0, {}},
                                          Env::Default(), seen);
  CHECK_FALSE(supervisor.Prepare(2).ok());
  CHECK_FALSE(std::filesystem::exists(dir.Path("run")));
}

TEST_CASE("a checkpoint a killed writer left half-written is no earlier run: the fresh start removes it",
          "[train_job]") {
  TempDir dir;
  Env& env = Env::Default();
  coordinator::RunDirectory run(env, dir.Path("run"));
  REQUIRE(env.CreateDirectories(run.CheckpointDirectory()).ok());
  // A run killed while writing its first checkpoint: `--resume` finds no valid one and starts
  // afresh, which must not refuse the directory for holding an earlier run's checkpoints.
  const std::string temporary = run.CheckpointDirectory() + "/ckpt-000000000008.aimass.tmp.4242.1";
  std::ofstream(temporary) << "partial";
  Status fresh = run.Prepare("model: mlp\n", /*resumed=*/false, /*overwrite=*/false);
  INFO(fresh.message());
  CHECK(fresh.ok());
  CHECK_FALSE(std::filesystem::exists(temporary));
  // A real checkpoint still is one.
  std::ofstream(run.CheckpointDirectory() + "/ckpt-000000000016.aimass") << "x";
  Status refused = run.Prepare("model: mlp\n", false, false);
  CHECK(refused.message().find("holds checkpoints of an earlier run") != std::string::npos);
}

}  // namespace
}  // namespace aimass
