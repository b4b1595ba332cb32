#include "tests/integration/job_fixture.h"

#include "tests/catch.h"

#include <boost/json.hpp>

#include <filesystem>
#include <stdexcept>
#include <thread>

#include "models/model.h"
#include "tests/temp_dir.h"
#include "models/model_catalog.h"

namespace aimass::testing {

namespace fs = std::filesystem;
namespace json = boost::json;
using std::chrono::seconds;

const std::string& FashionMnistSlice() {
  static const TempDir scratch;  // removed when the test process exits
  static const std::string dir = [] {
    std::string out = scratch.Path("fashion-mnist");
    ProcessResult converted = Run({CoordinatorBinary(), "data", "convert", "--output", out,
                                   "--limit", "512", "--shard-records", "128"},
                                  scratch.path(), std::chrono::seconds(120));
    if (converted.exit_code != 0) throw std::runtime_error("data convert failed: " + converted.err);
    return out;
  }();
  return dir;
}

std::string WriteJob(const std::string& dir, const JobSettings& settings,
                     const std::string& run_dir) {
  std::string train = settings.train_dir.empty() ? FashionMnistSlice() + "/train" : settings.train_dir;
  std::string yaml = "model: " + settings.model + "\n";
  yaml += "data:\n  train: " + train + "\n";
  if (settings.with_test) yaml += "  test: " + FashionMnistSlice() + "/test\n";
  yaml += "  limit: " + std::to_string(settings.limit) + "\n";
  yaml += "  normalize: {scale: 0.00392156862745098, mean: 0.2860, std: 0.3530}\n";
  yaml += "training:\n  epochs: " + std::to_string(settings.epochs) + "\n";
  yaml += "  batch_size: " + std::to_string(settings.batch_size) + "\n";
  yaml += "  grad_accumulation: " + std::to_string(settings.grad_accumulation) + "\n";
  yaml += "  seed: 7\n  log_every: 1\n";
  if (settings.max_restarts) yaml += "  max_restarts: " + std::to_string(*settings.max_restarts) + "\n";
  yaml += "optimizer: " + settings.optimizer + "\n";
  yaml += "schedule: " + settings.schedule + "\n";
  // No time-based checkpoints: the tests count and name checkpoints by step.
  yaml += "checkpoint: {every_steps: " + std::to_string(settings.checkpoint_every) +
          ", every_seconds: 0, keep: " + std::to_string(settings.checkpoint_keep) + "}\n";
  yaml += "worker: {device: cpu, threads: 1, heartbeat_timeout_s: " +
          std::to_string(settings.heartbeat_timeout_s) + "}\n";
  if (!settings.gradient_sync.empty()) yaml += "gradient_sync: " + settings.gradient_sync + "\n";
  yaml += "output: {run_dir: " + run_dir + "}\n";
  std::string path = dir + "/job.yaml";
  WriteText(path, yaml);
  return path;
}

std::vector<std::string> LocalTrain(const std::string& job, uint32_t workers,
                                    std::vector<std::string> extra) {
  std::vector<std::string> argv = {CoordinatorBinary(), "train", "--config", job, "--workers",
                                   std::to_string(workers)};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

std::vector<std::string> MpmdTrain(const std::string& job, uint32_t workers) {
  std::vector<std::string> argv = MpirunPrefix();
  argv.insert(argv.end(), {"-np", "1", CoordinatorBinary(), "train", "--config", job, ":", "-np",
                           std::to_string(workers), WorkerBinary()});
  return argv;
}

Fixture MakeFixture(const std::string& dir, const FixtureSize& size) {
  std::vector<std::string> argv = {
      PythonWithTorch(), std::string(AIMASS_SOURCE_DIR) + "/scripts/make_inference_export.py",
      "--out", dir, "--records", std::to_string(size.records), "--parts",
      std::to_string(size.parts), "--hidden", std::to_string(size.hidden),
      "--layers", std::to_string(size.layers)};
  argv.insert(argv.end(), size.layout.begin(), size.layout.end());
  ProcessResult made = Run(argv, dir, std::chrono::seconds(300));
  INFO(made.err);
  REQUIRE(made.exit_code == 0);
  return Fixture{dir, dir + "/table", dir + "/model.pt", dir + "/expected.csv"};
}

double MaxParameterDifference(const std::string& model, const std::string& first_path,
                              const std::string& second_path) {
  ModelConfig config;
  config.name = model;
  if (!models::ResolveModelConfig(config).ok()) throw std::runtime_error("bad model " + model);
  auto first = models::LoadExportedModel(config, first_path);
  auto second = models::LoadExportedModel(config, second_path);
  if (!first.ok()) throw std::runtime_error(first.status().message());
  if (!second.ok()) throw std::runtime_error(second.status().message());
  auto a = (*first)->Parameters();
  auto b = (*second)->Parameters();
  if (a.size() != b.size() || a.empty()) throw std::runtime_error("parameter lists differ");
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, (a[i] - b[i]).abs().max().item<double>());
  }
  return worst;
}

bool ProcessEnded(uint32_t pid) {
  std::string status = ReadText("/proc/" + std::to_string(pid) + "/status");
  return status.empty() || status.find("State:\tZ") != std::string::npos;
}

bool HasFinishedCheckpoint(const std::string& run) {
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(run + "/checkpoints", error)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("ckpt-", 0) == 0 && name.size() > 7 &&
        name.compare(name.size() - 7, 7, ".aimass") == 0) {
      return true;
    }
  }
  return false;
}

uint32_t PidOnceTraining(const std::string& run, uint32_t rank) {
  auto deadline = std::chrono::steady_clock::now() + seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(run + "/workers.json") && HasFinishedCheckpoint(run)) {
      json::array workers = json::parse(ReadText(run + "/workers.json")).as_array();
      return static_cast<uint32_t>(workers.at(rank).as_object().at("pid").to_number<int64_t>());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return 0;
}

}  // namespace aimass::testing
