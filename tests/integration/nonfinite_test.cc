// Non-finite values in training, end to end (real mpirun, 2 workers): a diverging run fails
// naming the step and keeps its last finite checkpoint; under on_nonfinite: skip_step the
// updates are dropped on every worker and counted; every JSON file written is strict JSON.
#include "tests/catch.h"

#include <boost/json.hpp>

#include <filesystem>

#include "common/checkpoint/checkpoint_file.h"
#include "common/env.h"
#include "models/model.h"
#include "models/model_catalog.h"
#include "tests/integration/error_line.h"
#include "tests/integration/job_fixture.h"
#include "tests/strict_json_check.h"
#include "tests/temp_dir.h"
#include "worker/checkpoint_state.h"
#include "worker/optim/optimizer_factory.h"

namespace aimass::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using std::chrono::seconds;

// `text` with its first `from` replaced by `to` (the test fails when `from` is not there).
std::string Replace(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

void RequireStrictJsonFiles(const std::string& run) {
  for (const char* name : {"metrics.jsonl", "evals.jsonl", "workers.json", "summary.json"}) {
    const std::string path = run + "/" + name;
    if (!fs::exists(path)) continue;
    INFO(path << ":\n" << ReadText(path));
    CHECK(StrictJsonLines(ReadText(path)));
  }
}

void RequireFinite(const std::vector<torch::Tensor>& parameters) {
  REQUIRE_FALSE(parameters.empty());
  for (const torch::Tensor& parameter : parameters) {
    REQUIRE(torch::isfinite(parameter).all().item<bool>());
  }
}

TEST_CASE("a diverging run fails naming the step and keeps its last finite checkpoint",
          "[integration][nonfinite]") {
  TempDir scratch;
  const std::string dir = scratch.path();
  const std::string run = dir + "/run";
  JobSettings settings;
  settings.epochs = 3;  // 48 steps of 2 x 8 records; divergence comes within a few
  settings.with_test = false;
  // Four ordinary steps (checkpointed at 2 and 4), then lr 0.05 x 1e8 = 5e6: the weights grow
  // without bound until the loss or the gradients are NaN or Inf.
  settings.schedule = "{name: step, step_size: 4, gamma: 1.0e8}";
  settings.checkpoint_every = 2;
  settings.checkpoint_keep = 2;
  const std::string job = WriteJob(dir, settings, run);

  ProcessResult result = Run(LocalTrain(job, 2), dir, seconds(300));
  const std::string error = ErrorLine(result);  // requires a non-zero exit
  CHECK(error.find("non-finite") != std::string::npos);
  CHECK(error.find("training step ") != std::string::npos);
  CHECK(error.find("(epoch ") != std::string::npos);
  CHECK_FALSE(fs::exists(run + "/model.pt"));  // no NaN model
  RequireStrictJsonFiles(run);

  // The newest checkpoint that remains is valid and its weights are finite: no non-finite
  // checkpoint was written, so pruning never removed the last finite one.
  std::vector<std::string> skipped;
  auto newest = FindNewestValidCheckpoint(Env::Default(), run + "/checkpoints", &skipped);
  REQUIRE(newest.ok());
  REQUIRE(newest->has_value());
  CHECK(skipped.empty());
  CHECK((*newest)->header.step >= 4);
  auto checkpoint = ReadCheckpoint(Env::Default(), (*newest)->path);
  REQUIRE(checkpoint.ok());
  ModelConfig config;
  config.name = "mlp";
  REQUIRE(models::ResolveModelConfig(config).ok());
  auto model = models::CreateModel(config, 1);
  REQUIRE(model.ok());
  auto optimizer = worker::CreateOptimizer(OptimizerConfig(), (*model)->Parameters());
  REQUIRE(optimizer.ok());
  REQUIRE(worker::RestoreTrainingState(checkpoint->payload, **model, **optimizer).ok());
  RequireFinite((*model)->Parameters());
}

TEST_CASE("on_nonfinite: skip_step drops every non-finite update on every worker and counts it",
          "[integration][nonfinite]") {
  TempDir scratch;
  const std::string dir = scratch.path();
  const std::string run = dir + "/run";
  JobSettings settings;
  settings.epochs = 1;  // 16 steps
  settings.with_test = false;
  std::string job = WriteJob(dir, settings, run);
  // Normalized pixels beyond float range: every batch's input is Inf, every loss NaN, from the
  // first step on, while the weights stay the finite initial ones.
  WriteText(job, Replace(Replace(ReadText(job), "normalize: {scale: 0.00392156862745098",
                                 "normalize: {scale: 1.0e36"),
                         "  seed: 7\n", "  seed: 7\n  on_nonfinite: skip_step\n"));

  ProcessResult result = Run(LocalTrain(job, 2), dir, seconds(300));
  INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
  REQUIRE(result.exit_code == 0);
  RequireStrictJsonFiles(run);
  json::object summary = json::parse(ReadText(run + "/summary.json")).as_object();
  CHECK(summary.at("steps").to_number<int>() == 16);
  CHECK(summary.at("skipped_steps").to_number<int>() == 16);
  // Every metrics line: its steps were all skipped, so its loss is null (NaN is not JSON).
  const std::string metrics = ReadText(run + "/metrics.jsonl");
  REQUIRE_FALSE(metrics.empty());
  CHECK(metrics.find("\"loss\":null") != std::string::npos);
  CHECK(metrics.find("NaN") == std::string::npos);
  // The exported weights are finite: skipped updates never touched them.
  REQUIRE(fs::exists(run + "/model.pt"));
  ModelConfig config;
  config.name = "mlp";
  REQUIRE(models::ResolveModelConfig(config).ok());
  auto exported = models::LoadExportedModel(config, run + "/model.pt");
  REQUIRE(exported.ok());
  RequireFinite((*exported)->Parameters());
}

TEST_CASE("a NaN in the config is refused naming its key, before any worker starts",
          "[integration][nonfinite]") {
  TempDir scratch;
  const std::string dir = scratch.path();
  JobSettings settings;
  settings.optimizer = "{name: sgd, lr: .nan, momentum: 0.9}";
  ProcessResult result = Run(LocalTrain(WriteJob(dir, settings, dir + "/run"), 2), dir, seconds(60));
  CHECK(ErrorLine(result) == dir + "/job.yaml: key 'optimizer.lr': '.nan' is not a finite number");
  CHECK_FALSE(fs::exists(dir + "/run"));
}

}  // namespace
}  // namespace aimass::testing
