// Small real training jobs for integration tests: a slice of Fashion-MNIST converted once per
// test process, and job files written from a few settings.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/process_runner.h"

namespace aimass::testing {

struct JobSettings {
  std::string model = "mlp";
  uint32_t epochs = 1;
  uint32_t batch_size = 8;
  uint32_t grad_accumulation = 1;
  uint64_t limit = 256;
  std::string optimizer = "{name: sgd, lr: 0.05, momentum: 0.9}";
  std::string schedule = "{name: constant}";
  uint64_t checkpoint_every = 0;
  uint32_t checkpoint_keep = 3;
  bool with_test = true;
  uint32_t heartbeat_timeout_s = 60;
  std::optional<uint32_t> max_restarts;  // training.max_restarts; unset: the launch form's default
  std::string gradient_sync;  // a YAML mapping; empty: the defaults
  std::string train_dir;  // empty: the Fashion-MNIST slice
};

// 512 training and 512 test records of Fashion-MNIST in shards of 128, made once.
const std::string& FashionMnistSlice();

// Writes `dir`/job.yaml for `settings` with output under `run_dir`; returns its path.
std::string WriteJob(const std::string& dir, const JobSettings& settings, const std::string& run_dir);

// `aimass-coordinator train --config job --workers N [extra...]`.
std::vector<std::string> LocalTrain(const std::string& job, uint32_t workers,
                                    std::vector<std::string> extra = {});

// `mpirun -np 1 aimass-coordinator train --config job : -np N aimass-worker`.
std::vector<std::string> MpmdTrain(const std::string& job, uint32_t workers);

// A TorchScript model saved from Python, a Hive-style CSV export it scores (id, f0..f15) and
// Python's own predictions for it (scripts/make_inference_export.py).
struct Fixture {
  std::string dir;
  std::string table;
  std::string model;
  std::string expected;
};

struct FixtureSize {
  int records = 10000;
  int parts = 8;
  int hidden = 32;
  int layers = 1;
  std::vector<std::string> layout = {};  // e.g. {"--format", "jsonl", "--partitions", "2"}
};

// Makes the fixture under `dir`; fails the test when Python cannot.
Fixture MakeFixture(const std::string& dir, const FixtureSize& size);

// Largest absolute difference between the parameters of two exported models.
double MaxParameterDifference(const std::string& model, const std::string& first_path,
                              const std::string& second_path);

// Whether `pid` is gone (or a zombie).
bool ProcessEnded(uint32_t pid);

// Whether `run`/checkpoints holds a whole checkpoint, not only the temporary file one is written
// to before its rename.
bool HasFinishedCheckpoint(const std::string& run);

// The pid of worker `rank` once training is under way (a checkpoint exists), or 0 after 120 s.
uint32_t PidOnceTraining(const std::string& run, uint32_t rank);

}  // namespace aimass::testing
