// End-to-end training through real mpirun launches with real workers on a Fashion-MNIST slice.
#include "tests/catch.h"

#include <boost/json.hpp>
#include <filesystem>
#include <map>

#include "tests/temp_dir.h"
#include "tests/integration/job_fixture.h"

namespace aimass::testing {
namespace {


namespace fs = std::filesystem;
namespace json = boost::json;

json::object ReadSummary(const std::string& run_dir) {
  return json::parse(ReadText(run_dir + "/summary.json")).as_object();
}

void RequireSuccess(const ProcessResult& result) {
  INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
  REQUIRE(result.exit_code == 0);
}

TEST_CASE("2 workers x batch B and 1 worker x batch 2B reach the same weights", "[integration]") {
  TempDir scratch;
  const std::string dir = scratch.path();
  const std::string single_run = dir + "/one-worker";
  const std::string pair_run = dir + "/two-workers";
  const std::string accumulated_run = dir + "/two-workers-accumulating";

  JobSettings settings;  // mlp, SGD with momentum, 256 records: 16 steps of global batch 16
  settings.batch_size = 16;
  fs::create_directories(dir + "/a");
  RequireSuccess(Run(LocalTrain(WriteJob(dir + "/a", settings, single_run), 1), dir));

  settings.batch_size = 8;  // the cluster form: coordinator and workers in one MPMD mpirun
  fs::create_directories(dir + "/b");
  ProcessResult pair = Run(MpmdTrain(WriteJob(dir + "/b", settings, pair_run), 2), dir);
  RequireSuccess(pair);

  settings.batch_size = 4;  // and 2 micro-batches of 4 per step
  settings.grad_accumulation = 2;
  fs::create_directories(dir + "/c");
  RequireSuccess(Run(LocalTrain(WriteJob(dir + "/c", settings, accumulated_run), 2), dir));

  json::object summary = ReadSummary(pair_run);
  CHECK(summary.at("steps").to_number<uint64_t>() == 16);
  CHECK(summary.at("global_batch").to_number<uint64_t>() == 16);
  CHECK(summary.at("workers").to_number<uint64_t>() == 2);
  CHECK(ReadSummary(single_run).at("steps").to_number<uint64_t>() == 16);

  CHECK(MaxParameterDifference("mlp", single_run + "/model.pt", pair_run + "/model.pt") < 1e-5);
  CHECK(MaxParameterDifference("mlp", single_run + "/model.pt", accumulated_run + "/model.pt") <
        1e-5);
}

TEST_CASE("bucketed allreduce overlapped with backward gives the per-tensor path's weights",
          "[integration][sync]") {
  TempDir scratch;
  const std::string dir = scratch.path();
  JobSettings settings;
  settings.batch_size = 8;
  settings.grad_accumulation = 2;  // communication skipped on the first micro-batch
  settings.with_test = false;
  std::map<std::string, std::string> variants = {
      {"per-tensor", "{bucket_mb: 0}"},
      {"small-buckets", "{bucket_mb: 0.2, first_bucket_mb: 0.05, overlap: true}"},
      {"one-bucket-after-backward", "{bucket_mb: 100, overlap: false}"},
      {"defaults", "{}"}};
  for (const auto& [name, sync] : variants) {
    settings.gradient_sync = sync;
    fs::create_directories(dir + "/" + name);
    RequireSuccess(Run(LocalTrain(WriteJob(dir + "/" + name, settings, dir + "/" + name + "/run"), 2),
                       dir));
  }
  const std::string reference = dir + "/per-tensor/run/model.pt";
  CHECK(MaxParameterDifference("mlp", reference, dir + "/small-buckets/run/model.pt") < 1e-5);
  CHECK(MaxParameterDifference("mlp", reference, dir + "/one-bucket-after-backward/run/model.pt") <
        1e-5);
  CHECK(MaxParameterDifference("mlp", reference, dir + "/defaults/run/model.pt") < 1e-5);

  // bf16 on the wire: close to the float32 result, but not equal (it really was narrowed).
  settings.gradient_sync = "{compression: bf16, overlap: true, bucket_mb: 0.5}";
  fs::create_directories(dir + "/bf16");
  RequireSuccess(Run(LocalTrain(WriteJob(dir + "/bf16", settings, dir + "/bf16/run"), 2), dir));
  double difference = MaxParameterDifference("mlp", reference, dir + "/bf16/run/model.pt");
  CHECK(difference > 0);
  CHECK(difference < 1e-2);
}

TEST_CASE("a run writes its outputs and evaluates on the test split", "[integration]") {
  TempDir scratch;
  const std::string dir = scratch.path();
  const std::string run = dir + "/run";
  JobSettings settings;
  settings.epochs = 2;
  settings.limit = 512;
  settings.batch_size = 32;
  settings.checkpoint_every = 3;
  settings.checkpoint_keep = 2;
  ProcessResult result = Run(LocalTrain(WriteJob(dir, settings, run), 2), dir);
  RequireSuccess(result);

  for (const char* file : {"config.yaml", "workers.json", "metrics.jsonl", "evals.jsonl",
                           "summary.json", "model.pt"}) {
    INFO(file);
    CHECK(fs::exists(run + "/" + file));
  }
  json::object summary = ReadSummary(run);
  for (const char* key : {"test_accuracy", "test_loss", "epochs", "workers", "global_batch",
                          "samples_per_second", "wall_seconds"}) {
    INFO(key);
    REQUIRE(summary.contains(key));
  }
  double accuracy = summary.at("test_accuracy").as_double();
  CHECK(accuracy > 0.5);  // 16 steps of an MLP on Fashion-MNIST: far above chance (0.1)
  CHECK(summary.at("epochs").to_number<int64_t>() == 2);
  CHECK(summary.at("samples_per_second").as_double() > 0);

  // 512 records / global batch 64 = 8 steps per epoch, logged every step.
  std::string metrics = ReadText(run + "/metrics.jsonl");
  size_t lines = std::count(metrics.begin(), metrics.end(), '\n');
  CHECK(lines == 16);
  json::object first = json::parse(metrics.substr(0, metrics.find('\n'))).as_object();
  for (const char* key : {"step", "epoch", "loss", "lr", "samples_per_second", "data_wait_s",
                          "forward_s", "backward_s", "communication_s", "optimizer_s", "compute_s"}) {
    INFO(key);
    CHECK(first.contains(key));
  }
  // keep: 2 of the checkpoints at steps 3, 6, 8 (epoch end), 9, 12, 15, 16 (epoch end).
  std::vector<std::string> checkpoints;
  for (const auto& entry : fs::directory_iterator(run + "/checkpoints")) {
    checkpoints.push_back(entry.path().filename().string());
  }
  std::sort(checkpoints.begin(), checkpoints.end());
  CHECK(checkpoints == std::vector<std::string>{"ckpt-000000000015.aimass", "ckpt-000000000016.aimass"});
  CHECK(result.out.find("test_accuracy") != std::string::npos);
  CHECK(result.err.empty());
}

TEST_CASE("resuming from a checkpoint gives the uninterrupted run's weights", "[integration]") {
  TempDir scratch;
  const std::string dir = scratch.path();
  const std::string run = dir + "/run";
  JobSettings settings;
  settings.epochs = 2;
  settings.schedule = "{name: cosine, warmup_steps: 4}";
  settings.optimizer = "{name: adamw, lr: 0.002, weight_decay: 0.01}";
  settings.checkpoint_every = 5;
  settings.checkpoint_keep = 100;
  const std::string job = WriteJob(dir, settings, run);
  RequireSuccess(Run(LocalTrain(job, 2), dir));
  fs::copy_file(run + "/model.pt", dir + "/uninterrupted.pt");

  // Pretend the run died after step 15: later checkpoints never happened, and the newest one
  // left (step 15) was torn. Resuming must skip it and continue from step 10, mid-epoch 1.
  for (const auto& entry : fs::directory_iterator(run + "/checkpoints")) {
    auto name = entry.path().filename().string();
    if (name > "ckpt-000000000015.aimass") fs::remove(entry.path());
  }
  std::string torn = run + "/checkpoints/ckpt-000000000015.aimass";
  fs::resize_file(torn, fs::file_size(torn) / 2);
  fs::remove(run + "/model.pt");

  ProcessResult resumed = Run(LocalTrain(job, 2, {"--resume"}), dir);
  RequireSuccess(resumed);
  CHECK(resumed.out.find("skipping checkpoint") != std::string::npos);
  CHECK(resumed.out.find("resuming from " + run + "/checkpoints/ckpt-000000000010.aimass") !=
        std::string::npos);
  CHECK(ReadSummary(run).at("resumed_from_step").to_number<uint64_t>() == 10);
  CHECK(MaxParameterDifference("mlp", dir + "/uninterrupted.pt", run + "/model.pt") == 0.0);
}

TEST_CASE("a module scripted in Python trains and comes back loadable by Python",
          "[integration][torchscript]") {
  TempDir scratch;
  const std::string dir = scratch.path();
  const std::string script = dir + "/make_model.py";
  WriteText(script, R"(import sys, torch
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = torch.nn.Linear(784, 64)
        self.out = torch.nn.Linear(64, 10)
    def forward(self, x):
        return self.out(torch.relu(self.hidden(x.flatten(1))))
torch.manual_seed(0)
torch.jit.script(Net()).save(sys.argv[1])
)");
  ProcessResult made = Run({PythonWithTorch(), script, dir + "/initial.pt"}, dir, std::chrono::seconds(120));
  INFO(made.err);
  REQUIRE(made.exit_code == 0);

  JobSettings settings;
  settings.model = "{name: 'torchscript:" + dir + "/initial.pt', input_shape: [1, 28, 28]}";
  settings.epochs = 2;
  settings.limit = 512;
  settings.batch_size = 32;
  const std::string run = dir + "/run";
  RequireSuccess(Run(LocalTrain(WriteJob(dir, settings, run), 2), dir));

  // Python loads the trained file, finds it changed, and scores the test slice with it.
  const std::string check = dir + "/check.py";
  WriteText(check, R"(import gzip, glob, sys, torch
initial, trained = torch.jit.load(sys.argv[1]), torch.jit.load(sys.argv[2])
changed = any(not torch.equal(a, b) for a, b in zip(initial.parameters(), trained.parameters()))
rows = []
for path in sorted(glob.glob(sys.argv[3] + "/part-*.csv.gz")):
    with gzip.open(path, "rt") as f:
        rows += [line.split(",") for line in f if line[0].isdigit()]
labels = torch.tensor([int(r[1]) for r in rows])
x = (torch.tensor([[float(v) for v in r[2:]] for r in rows]) / 255.0 - 0.2860) / 0.3530
accuracy = (trained(x.view(-1, 1, 28, 28)).argmax(1) == labels).float().mean().item()
print("changed", changed, "accuracy", accuracy)
sys.exit(0 if changed and accuracy > 0.5 else 1)
)");
  ProcessResult checked = Run({PythonWithTorch(), check, dir + "/initial.pt", run + "/model.pt",
                               FashionMnistSlice() + "/test"},
                              dir, std::chrono::seconds(120));
  INFO(checked.out << checked.err);
  CHECK(checked.exit_code == 0);
}

}  // namespace
}  // namespace aimass::testing
