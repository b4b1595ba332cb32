// The coordinator's InferJob driven by worker threads inside this process that play the worker's
// part of the protocol by hand: dispatch, commit, retries, lost workers and resume, without
// mpirun or LibTorch.
#include "tests/catch.h"

#include <boost/json.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>

#include "common/aimass.pb.h"
#include "common/io/output_file.h"
#include "coordinator/infer/infer_job.h"
#include "coordinator/job_driver.h"
#include "tests/temp_dir.h"
#include "tests/unit/thread_launcher.h"

namespace aimass {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using coordinator::CoordinatorContact;
using coordinator::InferJob;
using testing::ConnectAndGreet;
using testing::TempDir;
using testing::ThreadLauncher;

constexpr int kFiles = 6;

// A Hive-style export: kFiles CSV part files of 3 records each, and _SUCCESS.
std::string MakeTable(const TempDir& dir) {
  std::string root = dir.Path("table");
  if (fs::exists(root)) return root;  // rewritten files would be a new export (mtimes)
  fs::create_directories(root);
  for (int file = 0; file < kFiles; ++file) {
    std::ofstream out(root + "/part-0000" + std::to_string(file) + ".csv");
    out << "id,f0,f1\n";
    for (int i = 0; i < 3; ++i) out << file * 3 + i << ",0.5,1.5\n";
  }
  std::ofstream(root + "/_SUCCESS").close();
  return root;
}

coordinator::InferJobOptions Options(const TempDir& dir) {
  coordinator::InferJobOptions options;
  options.config.model = dir.Path("model.pt");
  std::ofstream(options.config.model) << "model bytes";
  options.config.input.path = MakeTable(dir);
  options.config.input.header = true;
  options.config.schema.id = "id";
  options.config.schema.features = {"f0", "f1"};
  options.config.output.path = dir.Path("out");
  options.config.max_attempts = 3;
  return options;
}

// How a fake worker treats an assignment.
// kSucceedTruncated: reports the size and SHA-256 of the whole part, but the file on disk lost
// its tail (what a zombie writer or a torn write leaves): the commit must refuse it.
enum class Action { kSucceed, kSucceedTruncated, kFailRetryable, kFailFatal, kVanish };
using Policy = std::function<Action(uint32_t rank, const proto::SplitAssignment&)>;

// Plays a worker: asks for two splits, "scores" each by writing a part file into the attempt
// directory, reports it and asks for one more.
void FakeWorker(uint32_t rank, const CoordinatorContact& contact, uint32_t workers, const Policy& policy) {
  auto client = ConnectAndGreet(contact, rank, workers);
  if (!client) return;
  auto start = client->Receive(std::chrono::seconds(10));
  if (!start.ok() || !(*start)->has_start_inference()) return;
  CHECK((*start)->start_inference().job_id() == contact.job_id);
  // With drift asked for, every attempt reports its 3 records: feature 0 in the first bin,
  // feature 1 in the last, all predicted as class 1.
  const bool drift = (*start)->start_inference().spec().has_drift();
  const proto::DriftSpec drift_spec = (*start)->start_inference().spec().drift();
  proto::WorkerMessage request;
  request.mutable_work_request()->set_splits(2);
  if (!client->Send(request).ok()) return;
  while (true) {
    auto message = client->Receive(std::chrono::seconds(10));
    if (!message.ok() || (*message)->has_shutdown()) break;
    if (!(*message)->has_split_assignment()) continue;
    const proto::SplitAssignment& assignment = (*message)->split_assignment();
    Action action = policy(rank, assignment);
    if (action == Action::kVanish) return;  // the connection closes with the client
    proto::WorkerMessage report;
    if (action == Action::kSucceed || action == Action::kSucceedTruncated) {
      const std::string& dir = assignment.attempt_directory();
      fs::create_directories(dir);
      std::string path = dir + "/part.csv";
      std::string text = "id,prediction\nsplit" + std::to_string(assignment.split()) + ",1\n";
      std::ofstream(path) << text;
      auto sha256 = io::Sha256OfFile(path);
      REQUIRE(sha256.ok());
      if (action == Action::kSucceedTruncated) fs::resize_file(path, text.size() / 2);
      proto::SplitDone* done = report.mutable_split_done();
      done->set_attempt_id(assignment.attempt_id());
      done->set_split(assignment.split());
      done->set_output_file(path);
      done->set_records_in(3);
      done->set_records_out(3);
      done->set_output_bytes(text.size());
      done->set_output_sha256(*sha256);
      if (drift) {
        for (int f = 0; f < drift_spec.features_size(); ++f) {
          auto* counts = done->mutable_drift()->add_features();
          for (int b = 0; b <= drift_spec.features(f).edges_size(); ++b) {
            counts->add_counts(b == (f == 0 ? 0 : drift_spec.features(f).edges_size()) ? 3 : 0);
          }
        }
        for (uint32_t c = 0; c < drift_spec.classes(); ++c) done->mutable_drift()->add_predicted(c == 1 ? 3 : 0);
      }
    } else {
      proto::SplitFailed* failed = report.mutable_split_failed();
      failed->set_attempt_id(assignment.attempt_id());
      failed->set_split(assignment.split());
      failed->set_message("part-0000x.csv: injected failure");
      failed->set_retryable(action == Action::kFailRetryable);
    }
    if (!client->Send(report).ok()) return;
    request.mutable_work_request()->set_splits(1);
    if (!client->Send(request).ok()) return;
  }
  client->ExpectClose();
}

// What the job told its observer.
struct RecordingObserver : coordinator::JobObserver {
  std::vector<coordinator::WorkerLost> lost;
  std::vector<coordinator::SplitCommitted> committed;
  std::optional<coordinator::InferSummary> finished;
  void OnWorkerLost(const coordinator::WorkerLost& worker) override { lost.push_back(worker); }
  void OnSplitCommitted(const coordinator::SplitCommitted& split) override { committed.push_back(split); }
  void OnFinished(const coordinator::InferSummary& summary) override { finished = summary; }
};

Result<json::object> RunJob(coordinator::InferJobOptions options, uint32_t workers, Policy policy,
                            bool* already_complete = nullptr, RecordingObserver* seen = nullptr) {
  RecordingObserver fallback;
  RecordingObserver& observer = seen ? *seen : fallback;
  InferJob job(std::move(options), Env::Default(), observer);
  AIMASS_RETURN_IF_ERROR(job.Prepare(workers));
  if (already_complete) *already_complete = job.already_complete();
  if (job.already_complete()) return job.manifest();
  ThreadLauncher launcher(workers, [&](uint32_t rank, const CoordinatorContact& contact) {
    FakeWorker(rank, contact, workers, policy);
  });
  coordinator::JobDriverOptions driver_options;
  driver_options.bind_address = "127.0.0.1";
  driver_options.worker_start_timeout = std::chrono::seconds(5);
  coordinator::JobDriver driver(std::move(driver_options), launcher, observer);
  AIMASS_RETURN_IF_ERROR(driver.Run(job));
  return job.manifest();
}

Action AlwaysSucceed(uint32_t, const proto::SplitAssignment&) { return Action::kSucceed; }

std::set<std::string> OutputNames(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename().string());
  return names;
}

void RequireEverySplitOnce(const std::string& out) {
  std::set<std::string> expected{"_SUCCESS"};
  for (int split = 0; split < kFiles; ++split) {
    expected.insert("part-0000" + std::to_string(split) + ".csv");
    std::ifstream in(out + "/part-0000" + std::to_string(split) + ".csv");
    std::string header, row;
    std::getline(in, header);
    std::getline(in, row);
    REQUIRE(row == "split" + std::to_string(split) + ",1");  // the file of that split's attempt
  }
  REQUIRE(OutputNames(out) == expected);  // no _temporary, no attempt directories
}

TEST_CASE("every split is committed once and the manifest adds up", "[infer_job]") {
  TempDir dir;
  RecordingObserver seen;
  auto manifest = RunJob(Options(dir), 2, AlwaysSucceed, nullptr, &seen);
  REQUIRE(manifest.ok());
  // Observers get the typed summary, the same figures as the manifest.
  REQUIRE(seen.finished.has_value());
  CHECK(seen.finished->records_in == 3 * kFiles);
  CHECK(seen.finished->splits == kFiles);
  CHECK(seen.finished->output_path == dir.Path("out"));
  CHECK(seen.committed.size() == kFiles);
  RequireEverySplitOnce(dir.Path("out"));
  REQUIRE(manifest->at("splits").to_number<int>() == kFiles);
  REQUIRE(manifest->at("records_in").to_number<int>() == 3 * kFiles);
  REQUIRE(manifest->at("records_out").to_number<int>() == 3 * kFiles);
  REQUIRE(manifest->at("parts").as_array().size() == kFiles);
  REQUIRE(manifest->at("failed_attempts").to_number<int>() == 0);
  std::ifstream success(dir.Path("out/_SUCCESS"));
  std::string text((std::istreambuf_iterator<char>(success)), {});
  REQUIRE(json::parse(text).as_object().at("model").at("sha256").as_string().size() == 64);
}

TEST_CASE("a failed attempt is retried and a lost worker's splits go to the others", "[infer_job]") {
  TempDir dir;
  std::mutex mutex;
  std::set<uint32_t> failed_once;
  // Rank 1 fails every split once, then vanishes on its third assignment.
  std::atomic<int> rank1_assignments{0};
  RecordingObserver seen;
  auto manifest = RunJob(Options(dir), 2, [&](uint32_t rank, const proto::SplitAssignment& a) {
    if (rank != 1) return Action::kSucceed;
    if (++rank1_assignments == 3) return Action::kVanish;
    std::lock_guard<std::mutex> lock(mutex);
    return failed_once.insert(a.split()).second ? Action::kFailRetryable : Action::kSucceed;
  }, nullptr, &seen);
  REQUIRE(manifest.ok());
  // At most once, however many ways the loss shows (none when the others finished first).
  REQUIRE(seen.lost.size() <= 1);
  for (const auto& lost : seen.lost) {
    CHECK(lost.rank == 1);
    CHECK(lost.job_goes_on);
  }
  RequireEverySplitOnce(dir.Path("out"));
  REQUIRE(manifest->at("failed_attempts").to_number<int>() >= 2);
}

TEST_CASE("a part that is not what its worker reported is never committed", "[infer_job]") {
  TempDir dir;
  std::mutex mutex;
  std::set<uint32_t> truncated_once;
  std::set<std::string> attempt_directories;
  auto manifest = RunJob(Options(dir), 2, [&](uint32_t, const proto::SplitAssignment& a) {
    std::lock_guard<std::mutex> lock(mutex);
    attempt_directories.insert(a.attempt_directory());
    return truncated_once.insert(a.split()).second ? Action::kSucceedTruncated : Action::kSucceed;
  });
  REQUIRE(manifest.ok());
  // Every split's first part was truncated: each was refused, re-queued, and the second attempt
  // (the whole file) committed.
  RequireEverySplitOnce(dir.Path("out"));
  REQUIRE(manifest->at("failed_attempts").to_number<int>() == kFiles);
  // Attempt directories carry this run's nonce: attempt-<16 hex>-<n>.
  for (const std::string& directory : attempt_directories) {
    const std::string name = fs::path(directory).filename().string();
    REQUIRE(name.size() >= 26);
    REQUIRE(name.rfind("attempt-", 0) == 0);
    REQUIRE(name[24] == '-');
  }
}

TEST_CASE("attempt directories differ between coordinator runs of one job", "[infer_job]") {
  TempDir dir;
  std::set<std::string> first_run;
  std::set<std::string> second_run;
  std::set<uint32_t> failing{1, 4};
  // The first run fails on splits 1 and 4; the second (a resume) runs what is left with attempt
  // numbers that restart at 1, but in directories of its own.
  auto first = RunJob(Options(dir), 1, [&](uint32_t, const proto::SplitAssignment& a) {
    first_run.insert(a.attempt_directory());
    return failing.count(a.split()) ? Action::kFailRetryable : Action::kSucceed;
  });
  REQUIRE_FALSE(first.ok());
  auto second = RunJob(Options(dir), 1, [&](uint32_t, const proto::SplitAssignment& a) {
    second_run.insert(a.attempt_directory());
    return Action::kSucceed;
  });
  REQUIRE(second.ok());
  REQUIRE_FALSE(second_run.empty());
  for (const std::string& directory : second_run) REQUIRE(first_run.count(directory) == 0);
  RequireEverySplitOnce(dir.Path("out"));
}

TEST_CASE("a bad record under on_bad_record: fail stops the job without _SUCCESS", "[infer_job]") {
  TempDir dir;
  auto manifest = RunJob(Options(dir), 2, [](uint32_t, const proto::SplitAssignment& a) {
    return a.split() == 4 ? Action::kFailFatal : Action::kSucceed;
  });
  REQUIRE_FALSE(manifest.ok());
  REQUIRE_THAT(manifest.status().message(), Catch::Contains("injected failure"));
  REQUIRE_FALSE(fs::exists(dir.Path("out/_SUCCESS")));
}

TEST_CASE("a split that fails every attempt fails the job and says why", "[infer_job]") {
  TempDir dir;
  auto manifest = RunJob(Options(dir), 2, [](uint32_t, const proto::SplitAssignment& a) {
    return a.split() == 2 ? Action::kFailRetryable : Action::kSucceed;
  });
  REQUIRE_FALSE(manifest.ok());
  REQUIRE_THAT(manifest.status().message(), Catch::Contains("split 2 failed all 3 attempts"));
  REQUIRE_FALSE(fs::exists(dir.Path("out/_SUCCESS")));
}

TEST_CASE("a job that loses every worker fails instead of waiting", "[infer_job]") {
  TempDir dir;
  auto manifest = RunJob(Options(dir), 2, [](uint32_t, const proto::SplitAssignment&) {
    return Action::kVanish;
  });
  REQUIRE_FALSE(manifest.ok());
  REQUIRE_THAT(manifest.status().message(), Catch::Contains("no worker left"));
}

TEST_CASE("an interrupted job resumes with only its uncommitted splits", "[infer_job]") {
  TempDir dir;
  // First run: splits 3 and 5 exhaust their attempts, the others are committed.
  auto first = RunJob(Options(dir), 1, [](uint32_t, const proto::SplitAssignment& a) {
    return a.split() == 3 ? Action::kFailRetryable : Action::kSucceed;
  });
  REQUIRE_FALSE(first.ok());
  REQUIRE(fs::exists(dir.Path("out/_temporary/commits.jsonl")));

  std::set<uint32_t> assigned;
  std::mutex mutex;
  auto second = RunJob(Options(dir), 2, [&](uint32_t, const proto::SplitAssignment& a) {
    std::lock_guard<std::mutex> lock(mutex);
    assigned.insert(a.split());
    return Action::kSucceed;
  });
  REQUIRE(second.ok());
  REQUIRE(assigned.count(3) == 1);
  REQUIRE(assigned.size() < static_cast<size_t>(kFiles));  // committed splits were skipped
  REQUIRE(second->at("resumed_splits").to_number<int>() == static_cast<int>(kFiles - assigned.size()));
  RequireEverySplitOnce(dir.Path("out"));

  bool complete = false;
  auto third = RunJob(Options(dir), 2, AlwaysSucceed, &complete);
  REQUIRE(third.ok());
  REQUIRE(complete);
}

TEST_CASE("a schema that does not fit the table fails before any worker starts", "[infer_job]") {
  TempDir dir;
  auto options = Options(dir);
  options.config.schema.features = {"f0", "f9"};
  auto manifest = RunJob(options, 2, [](uint32_t, const proto::SplitAssignment&) {
    FAIL("no split may be assigned");
    return Action::kSucceed;
  });
  REQUIRE_FALSE(manifest.ok());
  REQUIRE_THAT(manifest.status().message(), Catch::Contains("part-00000.csv"));
  REQUIRE_THAT(manifest.status().message(), Catch::Contains("'f9'"));
}

TEST_CASE("another model's output is refused unless --overwrite", "[infer_job]") {
  TempDir dir;
  REQUIRE(RunJob(Options(dir), 2, AlwaysSucceed).ok());
  auto options = Options(dir);
  std::ofstream(options.config.model) << "a retrained model";
  auto refused = RunJob(options, 2, AlwaysSucceed);
  REQUIRE_FALSE(refused.ok());
  REQUIRE_THAT(refused.status().message(), Catch::Contains("model_sha256"));
  REQUIRE_THAT(refused.status().message(), Catch::Contains("--overwrite"));
  options.overwrite = true;
  REQUIRE(RunJob(options, 2, AlwaysSucceed).ok());
  RequireEverySplitOnce(dir.Path("out"));
}

}  // namespace
}  // namespace aimass

namespace aimass {

TEST_CASE("drift counts of committed attempts are added exactly once", "[infer_job][drift]") {
  TempDir dir;
  coordinator::InferJobOptions options = Options(dir);
  options.drift_edges = {{1, 2, 3}, {1, 2, 3}};
  options.drift_classes = 3;
  RecordingObserver observer;
  InferJob job(std::move(options), Env::Default(), observer);
  REQUIRE(job.Prepare(2).ok());
  // Rank 1's first attempt at every split reports a part that does not match: never committed,
  // retried, so each split is reported at least once more than it is committed.
  std::mutex mutex;
  std::set<uint32_t> spoiled;
  ThreadLauncher launcher(2, [&](uint32_t rank, const CoordinatorContact& contact) {
    FakeWorker(rank, contact, 2, [&](uint32_t worker, const proto::SplitAssignment& a) {
      std::lock_guard<std::mutex> lock(mutex);
      if (worker == 1 && spoiled.insert(a.split()).second) return Action::kSucceedTruncated;
      return Action::kSucceed;
    });
  });
  coordinator::JobDriverOptions driver_options;
  driver_options.bind_address = "127.0.0.1";
  driver_options.worker_start_timeout = std::chrono::seconds(5);
  coordinator::JobDriver driver(std::move(driver_options), launcher, observer);
  REQUIRE(driver.Run(job).ok());
  auto counts = job.drift_counts();
  REQUIRE(counts.has_value());
  CHECK(counts->features[0] == std::vector<uint64_t>{3 * kFiles, 0, 0, 0});
  CHECK(counts->features[1] == std::vector<uint64_t>{0, 0, 0, 3 * kFiles});
  CHECK(counts->predicted == std::vector<uint64_t>{0, 3 * kFiles, 0});
}

TEST_CASE("a profile that does not fit the input turns drift off, saying so", "[infer_job][drift]") {
  TempDir dir;
  coordinator::InferJobOptions options = Options(dir);
  options.drift_edges = {{1, 2, 3}};  // one feature; the job reads two
  struct Lines : RecordingObserver {
    std::vector<std::string> info;
    void OnInfo(const std::string& line) override { info.push_back(line); }
  } observer;
  InferJob job(std::move(options), Env::Default(), observer);
  REQUIRE(job.Prepare(1).ok());
  CHECK_FALSE(job.drift_counts().has_value());
  REQUIRE(observer.info.size() == 1);
  CHECK(observer.info[0].find("no drift check") != std::string::npos);
}

}  // namespace aimass
