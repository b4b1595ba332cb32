#include "tests/catch.h"

#include "common/config/job_config.h"

namespace aimass {
namespace {

const char kFullConfig[] = R"(
model: cnn
data:
  train: /data/train
  test: /data/test
  shuffle: false
  remainder: drop
  limit: 1000
  normalize: {scale: 0.5, mean: 0.25, std: 2.0}
  prefetch_batches: 8
  loader_threads: 3
  cache_mb: 64
training:
  epochs: 7
  batch_size: 32
  grad_accumulation: 2
  seed: 9
  log_every: 5
  max_restarts: 2
optimizer: {name: sgd, lr: 0.1, momentum: 0.8, nesterov: true, weight_decay: 0.0005}
schedule: {name: cosine, warmup_steps: 10, min_lr: 0.001}
checkpoint: {every_steps: 100, every_seconds: 30, keep: 2}
worker: {device: cpu, backend: mpi, threads: 1, heartbeat_timeout_s: 9}
gradient_sync: {bucket_mb: 4, first_bucket_mb: 0.5, overlap: true, compression: bf16}
output: {run_dir: runs/x}
)";

// Every config error is the caller's input at fault: InvalidArgument.
std::string ErrorOf(const std::string& yaml) {
  auto config = ParseTrainConfig(yaml, "job.yaml");
  REQUIRE_FALSE(config.ok());
  CHECK(config.status().code() == StatusCode::kInvalidArgument);
  return config.status().message();
}

TEST_CASE("every documented key is read", "[config]") {
  auto config = ParseTrainConfig(kFullConfig, "job.yaml");
  REQUIRE(config.ok());
  CHECK(config->model.name == "cnn");
  CHECK(config->data.train.input.path == "/data/train");
  CHECK(config->data.train.input.format == "csv");
  CHECK(config->data.train.input.header);
  CHECK(config->data.train.label == "label");
  CHECK(config->data.train.id == "id");
  CHECK(config->data.test.input.path == "/data/test");
  CHECK_FALSE(config->data.shuffle);
  CHECK(config->data.remainder == RemainderPolicy::kDrop);
  CHECK(config->data.limit == 1000);
  CHECK(config->data.normalize.scale == 0.5f);
  CHECK(config->data.normalize.mean == 0.25f);
  CHECK(config->data.normalize.std == 2.0f);
  CHECK(config->data.prefetch_batches == 8);
  CHECK(config->data.loader_threads == 3);
  CHECK(config->data.cache_bytes == (64ull << 20));
  CHECK(config->epochs == 7);
  CHECK(config->batch_size == 32);
  CHECK(config->grad_accumulation == 2);
  CHECK(config->seed == 9);
  CHECK(config->log_every == 5);
  CHECK(config->max_restarts == std::optional<uint32_t>(2));
  CHECK(config->optimizer.lr == Approx(0.1));
  CHECK(config->optimizer.momentum == Approx(0.8));
  CHECK(config->optimizer.nesterov);
  CHECK(config->optimizer.weight_decay == Approx(0.0005));
  CHECK(config->schedule.name == "cosine");
  CHECK(config->schedule.warmup_steps == 10);
  CHECK(config->schedule.min_lr == Approx(0.001));
  CHECK(config->checkpoint.every_steps == 100);
  CHECK(config->checkpoint.every_seconds == 30);
  CHECK(config->checkpoint.keep == 2);
  CHECK(config->worker.device == "cpu");
  CHECK(config->worker.backend == "mpi");
  CHECK(config->worker.threads == 1);
  CHECK(config->worker.heartbeat_timeout_s == 9);
  CHECK(config->gradient_sync.bucket_mb == 4);
  CHECK(config->gradient_sync.first_bucket_mb == 0.5);
  CHECK(config->gradient_sync.overlap == "true");
  CHECK(config->gradient_sync.compression == "bf16");
  CHECK(config->run_dir == "runs/x");
}

TEST_CASE("a model may be given as a mapping", "[config]") {
  auto config = ParseTrainConfig(
      "model: {name: 'torchscript:m.pt', input_shape: [1, 10, 10], num_classes: 3}\n"
      "data: {train: d}\n",
      "job.yaml");
  REQUIRE(config.ok());
  CHECK(config->model.name == "torchscript:m.pt");
  CHECK(config->model.input_shape == std::vector<int64_t>{1, 10, 10});
  CHECK(config->model.num_classes == 3);
}

TEST_CASE("a dataset may be any exported table, described as inference's input", "[config]") {
  auto config = ParseTrainConfig(R"(
data:
  train: {path: /exports/train, format: tsv, header: true, label: y, features: [p0..p3, extra],
          shape: [5], id: key, require_success: false, split_mb: 2}
  test: {path: /exports/test, format: jsonl, features: [pixels]}
  shuffle_window: 4096
)",
                                 "job.yaml");
  REQUIRE(config.ok());
  const DatasetSourceConfig& train = config->data.train;
  CHECK(train.input.path == "/exports/train");
  CHECK(train.input.format == "tsv");
  CHECK(train.input.header);
  CHECK_FALSE(train.input.require_success);
  CHECK(train.input.split_bytes == 2u << 20);
  CHECK(train.label == "y");
  CHECK(train.features == std::vector<std::string>{"p0", "p1", "p2", "p3", "extra"});
  CHECK(train.shape == std::vector<int64_t>{5});
  CHECK(train.id == "key");
  CHECK(config->data.test.input.format == "jsonl");
  CHECK(config->data.test.label == "label");  // the default
  CHECK(config->data.test.input.require_success);
  CHECK(config->data.shuffle_window == 4096);

  CHECK(ErrorOf("data: {train: {format: csv}}\n") == "job.yaml: key 'data.train.path': missing");
  CHECK(ErrorOf("data: {train: {path: d, labels: y}}\n") == "job.yaml: unknown key 'data.train.labels'");
  CHECK(ErrorOf("data: {train: {path: d, format: delimited}}\n") ==
        "job.yaml: key 'data.train.delimiter': missing (data.train.format: delimited needs it)");
  CHECK(ErrorOf("data: {train: {path: d, features: [f3..f1]}}\n") ==
        "job.yaml: key 'data.train.features': 'f3..f1' is not a range like f0..f783");
  CHECK(ErrorOf("data: {train: d, test: {path: t, format: idx}}\n").find(
            "key 'data.test.format': idx files carry no label column") != std::string::npos);
}

TEST_CASE("unknown keys are named with their full path", "[config]") {
  CHECK(ErrorOf("data: {train: d}\ntraining: {epochz: 3}\n") ==
        "job.yaml: unknown key 'training.epochz'");
  CHECK(ErrorOf("data: {train: d}\nlearning_rate: 3\n") == "job.yaml: unknown key 'learning_rate'");
  CHECK(ErrorOf("data: {train: d, normalize: {mu: 1}}\n") ==
        "job.yaml: unknown key 'data.normalize.mu'");
}

TEST_CASE("values of the wrong type or range are refused with the key", "[config]") {
  CHECK(ErrorOf("data: {train: d}\ntraining: {batch_size: many}\n") ==
        "job.yaml: key 'training.batch_size': expected a non-negative integer, got 'many'");
  CHECK(ErrorOf("data: {train: d}\ntraining: {epochs: 0}\n") ==
        "job.yaml: key 'training.epochs': must be greater than 0");
  CHECK(ErrorOf("data: {train: d}\noptimizer: {name: lamb}\n") ==
        "job.yaml: key 'optimizer.name': 'lamb' is not one of: sgd, adam, adamw");
  CHECK(ErrorOf("data: {train: d}\noptimizer: {momentum: 0, nesterov: true}\n") ==
        "job.yaml: key 'optimizer.nesterov': needs optimizer.momentum > 0");
  CHECK(ErrorOf("data: {train: d}\ntraining: [1, 2]\n") ==
        "job.yaml: key 'training': expected a mapping");
}

TEST_CASE("training.max_restarts is left to the launch form unless given", "[config]") {
  auto unset = ParseTrainConfig("data: {train: d}\n", "job.yaml");
  REQUIRE(unset.ok());
  CHECK_FALSE(unset->max_restarts.has_value());  // 3 with --workers, none under MPMD
  auto zero = ParseTrainConfig("data: {train: d}\ntraining: {max_restarts: 0}\n", "job.yaml");
  REQUIRE(zero.ok());
  CHECK(zero->max_restarts == std::optional<uint32_t>(0));  // today's fail-fast behaviour
  // Checkpoints by time unless told otherwise; 0 and 0 keep epoch ends only.
  CHECK(unset->checkpoint.every_steps == 0);
  CHECK(unset->checkpoint.every_seconds == 60);
  CHECK(ErrorOf("data: {train: d}\ncheckpoint: {every_seconds: -5}\n") ==
        "job.yaml: key 'checkpoint.every_seconds': must not be negative");
  CHECK(ErrorOf("data: {train: d}\ntraining: {max_restarts: -1}\n") ==
        "job.yaml: key 'training.max_restarts': expected a non-negative integer, got '-1'");
  CHECK(ErrorOf("data: {train: d}\ntraining: {max_restarts: often}\n") ==
        "job.yaml: key 'training.max_restarts': expected a non-negative integer, got 'often'");
}

TEST_CASE("on_interrupt: resume by default, up to 3 times; fail; or a mapping", "[config]") {
  auto unset = ParseTrainConfig("data: {train: d}\n", "job.yaml");
  REQUIRE(unset.ok());
  CHECK(unset->on_interrupt.resume);
  CHECK(unset->on_interrupt.max_resumes == 3);
  auto fail = ParseTrainConfig("data: {train: d}\non_interrupt: fail\n", "job.yaml");
  REQUIRE(fail.ok());
  CHECK_FALSE(fail->on_interrupt.resume);
  auto mapping = ParseTrainConfig("data: {train: d}\non_interrupt: {action: resume, max_resumes: 7}\n", "job.yaml");
  REQUIRE(mapping.ok());
  CHECK(mapping->on_interrupt.resume);
  CHECK(mapping->on_interrupt.max_resumes == 7);
  CHECK(ErrorOf("data: {train: d}\non_interrupt: retry\n") ==
        "job.yaml: key 'on_interrupt': 'retry' is not one of: resume, fail");
  CHECK(ErrorOf("data: {train: d}\non_interrupt: {action: resume, max_resumes: 0}\n") ==
        "job.yaml: key 'on_interrupt.max_resumes': must be greater than 0");
  CHECK(ErrorOf("data: {train: d}\non_interrupt: {max_resume: 2}\n") ==
        "job.yaml: unknown key 'on_interrupt.max_resume'");
}

TEST_CASE("a NaN or infinite number is refused for every numeric key, naming it", "[config]") {
  // YAML's own spellings of NaN and infinity, which yaml-cpp reads as numbers.
  for (const char* value : {".nan", ".NaN", ".NAN", ".inf", "-.inf", ".Inf", "+.inf"}) {
    INFO(value);
    const std::string text(value);
    CHECK(ErrorOf("data: {train: d}\noptimizer: {lr: " + text + "}\n") ==
          "job.yaml: key 'optimizer.lr': '" + text + "' is not a finite number");
    CHECK(ErrorOf("data: {train: d}\nschedule: {name: cosine, min_lr: " + text + "}\n") ==
          "job.yaml: key 'schedule.min_lr': '" + text + "' is not a finite number");
    CHECK(ErrorOf("data: {train: d, normalize: {mean: " + text + "}}\n") ==
          "job.yaml: key 'data.normalize.mean': '" + text + "' is not a finite number");
    CHECK(ErrorOf("data: {train: d}\ngradient_sync: {bucket_mb: " + text + "}\n") ==
          "job.yaml: key 'gradient_sync.bucket_mb': '" + text + "' is not a finite number");
  }
  // Other spellings are not numbers to yaml-cpp at all: refused too, naming the key.
  for (const char* value : {"nan", "inf", "1e999"}) {
    INFO(value);
    CHECK(ErrorOf("data: {train: d}\noptimizer: {lr: " + std::string(value) + "}\n") ==
          "job.yaml: key 'optimizer.lr': expected a number, got '" + std::string(value) + "'");
  }
}

TEST_CASE("training.on_nonfinite is fail by default, or skip_step", "[config][nonfinite]") {
  auto defaults = ParseTrainConfig("data: {train: d}\n", "job.yaml");
  REQUIRE(defaults.ok());
  CHECK(defaults->on_nonfinite == "fail");
  auto skip = ParseTrainConfig("data: {train: d}\ntraining: {on_nonfinite: skip_step}\n", "job.yaml");
  REQUIRE(skip.ok());
  CHECK(skip->on_nonfinite == "skip_step");
  CHECK(ErrorOf("data: {train: d}\ntraining: {on_nonfinite: ignore}\n") ==
        "job.yaml: key 'training.on_nonfinite': 'ignore' is not one of: fail, skip_step");
}

TEST_CASE("the monitor block has documented defaults, and its keys are checked", "[config][monitor]") {
  auto defaults = ParseTrainConfig("data: {train: d}\n", "job.yaml");
  REQUIRE(defaults.ok());
  CHECK(defaults->monitor.divergence_factor == 10.0);
  CHECK(defaults->monitor.warmup_steps == 50);
  CHECK(defaults->monitor.overfit_evaluations == 3);
  CHECK(defaults->monitor.stall_fraction == 0.1);
  CHECK(defaults->monitor.stall_seconds == 300.0);
  auto given = ParseTrainConfig(
      "data: {train: d}\nmonitor: {divergence_factor: 4, warmup_steps: 0, overfit_evaluations: 5, "
      "stall_fraction: 0.25, stall_seconds: 30}\n",
      "job.yaml");
  REQUIRE(given.ok());
  CHECK(given->monitor.divergence_factor == 4.0);
  CHECK(given->monitor.warmup_steps == 0);
  CHECK(given->monitor.overfit_evaluations == 5);
  CHECK(given->monitor.stall_fraction == 0.25);
  CHECK(given->monitor.stall_seconds == 30.0);
  CHECK(ErrorOf("data: {train: d}\nmonitor: {stall_secs: 3}\n") == "job.yaml: unknown key 'monitor.stall_secs'");
  CHECK(ErrorOf("data: {train: d}\nmonitor: {divergence_factor: 1}\n") ==
        "job.yaml: key 'monitor.divergence_factor': must be greater than 1");
  CHECK(ErrorOf("data: {train: d}\nmonitor: {stall_fraction: 1.5}\n") ==
        "job.yaml: key 'monitor.stall_fraction': must be below 1");
  CHECK(ErrorOf("data: {train: d}\nmonitor: {overfit_evaluations: 0}\n") ==
        "job.yaml: key 'monitor.overfit_evaluations': must be greater than 0");
}

TEST_CASE("missing training data and broken YAML are reported", "[config]") {
  CHECK(ErrorOf("model: cnn\n") == "job.yaml: key 'data': missing (needs at least data.train)");
  CHECK(ErrorOf("data: {test: t}\n") == "job.yaml: key 'data.train': missing");
  std::string broken = ErrorOf("data:\n  train: [unclosed\n");
  CHECK(broken.rfind("job.yaml: line ", 0) == 0);
  CHECK(broken.find("invalid YAML") != std::string::npos);
}

}  // namespace
}  // namespace aimass
