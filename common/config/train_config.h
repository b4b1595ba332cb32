// The typed configuration of a training job. The coordinator fills it from YAML (job_config.h)
// or, later, from a REST request; workers receive it as a TrainSpec message. Torch-free.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/config/interrupt_config.h"
#include "common/config/table_input_config.h"

namespace aimass {

struct ModelConfig {
  std::string name = "cnn";            // mlp | cnn | resnet | torchscript:<file>
  std::vector<int64_t> input_shape;    // per sample; builtins fill it, torchscript needs it
  uint32_t num_classes = 10;
};

struct OptimizerConfig {
  std::string name = "sgd";  // sgd | adam | adamw
  double lr = 0.05;
  double momentum = 0.9;     // sgd
  bool nesterov = false;     // sgd
  double dampening = 0.0;    // sgd: the momentum buffer takes (1 - dampening) of each gradient
  double weight_decay = 0.0;
  double beta1 = 0.9;        // adam, adamw
  double beta2 = 0.999;
  double eps = 1e-8;
};

struct ScheduleConfig {
  std::string name = "constant";  // constant | step | cosine
  uint64_t warmup_steps = 0;      // linear ramp from lr/warmup_steps to lr
  uint64_t step_size = 1000;      // step: multiply by gamma every step_size steps
  double gamma = 0.1;
  double min_lr = 0.0;            // cosine: floor reached at the last step
};

struct NormalizeConfig {
  float scale = 1.0f / 255.0f;
  float mean = 0.0f;
  float std = 1.0f;
};

enum class RemainderPolicy { kPad, kDrop };

// One dataset of a training job: an exported table (read by the same stack as batch inference,
// common/tables/) and which of its fields are the label and the features.
// `data.train: DIR` (a plain string) is shorthand for the shards `data convert` writes:
// {path: DIR, format: csv, header: true, label: label, id: id}.
struct DatasetSourceConfig {
  TableInputConfig input;
  std::string label = "label";         // column holding the class, an integer in [0, num_classes)
  std::vector<std::string> features;   // in order ("p0..p783" expands); empty: every named
                                       // column but the label and the id (delimited formats)
  std::vector<int64_t> shape;          // per record; empty: the model's
  std::string id;                      // a column that is neither label nor feature
  bool empty() const { return input.path.empty(); }
};

// The shorthand `data.train: DIR`: the CSV shards `data convert` writes (a header line naming
// id, label and the features), with or without their _SUCCESS marker.
inline DatasetSourceConfig ShardDirectorySource(const std::string& dir) {
  DatasetSourceConfig source;
  source.input.path = dir;
  source.input.format = "csv";
  source.input.header = true;
  source.input.require_success = false;
  source.id = "id";
  return source;
}

struct DataConfig {
  DatasetSourceConfig train;
  DatasetSourceConfig test;         // empty path: no evaluation
  bool shuffle = true;
  // Records shuffled together (see common/data/epoch_planner.h); 0: as many as fit in half of
  // cache_bytes once decoded, which for most datasets is all of them.
  uint64_t shuffle_window = 0;
  RemainderPolicy remainder = RemainderPolicy::kPad;
  NormalizeConfig normalize;
  uint32_t prefetch_batches = 4;
  uint32_t loader_threads = 2;
  uint64_t cache_bytes = 2ull << 30;
  uint64_t limit = 0;               // use only the first N training records (0: all)
};

// Checkpoints are also written at the end of every epoch. A restart after a lost worker
// (training.max_restarts) repeats the steps since the newest one; every_seconds bounds that
// work for fast and slow steps alike at a cost of well under 1% (docs/training.md, section 6).
struct CheckpointConfig {
  uint64_t every_steps = 0;      // also every N optimizer steps; 0: not by step count
  double every_seconds = 60;     // also once this much time passed since the last; 0: not by time
  uint32_t keep = 3;
};

struct WorkerConfig {
  std::string device = "auto";   // auto | cpu | cuda
  std::string backend = "auto";  // auto | mpi | nccl
  uint32_t threads = 0;          // intra-op threads on CPU; 0: cores / local workers
  uint32_t heartbeat_timeout_s = 60;  // a worker silent this long is declared hung
};

struct GradientSyncConfig {
  double bucket_mb = 25;       // gradients per allreduce; 0: one allreduce per parameter
  double first_bucket_mb = 1;  // small, so that the first allreduce starts early in backward
  // Reduce full buckets while backward goes on: "auto" (on with NCCL, whose reductions run on
  // the GPU; off with MPI on CPU, where the communication thread would take cores from
  // backward), "true" or "false".
  std::string overlap = "auto";
  std::string compression = "none";  // none | fp16 | bf16: gradients on the wire
};

// The training monitor's thresholds (the `monitor:` block; docs/training.md, "monitor"). The
// service raises an alert when one is crossed (docs/service.md, "Alerts and evaluation
// reports"); the job itself goes on.
struct MonitorConfig {
  // divergence: a non-finite loss, or a loss above divergence_factor x the lowest loss seen,
  // once warmup_steps optimizer steps are behind (early losses swing widely).
  double divergence_factor = 10.0;
  uint64_t warmup_steps = 50;
  // overfitting: the test loss rose at overfit_evaluations evaluations in a row while the
  // training loss fell over the same span.
  uint32_t overfit_evaluations = 3;
  // stalled: throughput below stall_fraction x its running median, or no step report at all,
  // for stall_seconds.
  double stall_fraction = 0.1;
  double stall_seconds = 300;
};

struct TrainConfig {
  ModelConfig model;
  OptimizerConfig optimizer;
  ScheduleConfig schedule;
  DataConfig data;
  CheckpointConfig checkpoint;
  WorkerConfig worker;
  GradientSyncConfig gradient_sync;
  MonitorConfig monitor;
  uint32_t epochs = 5;
  uint32_t batch_size = 64;         // per worker, per micro-batch
  uint32_t grad_accumulation = 1;   // micro-batches per optimizer step
  uint64_t seed = 42;
  uint32_t log_every = 20;          // optimizer steps
  // training.max_restarts: how often a job whose worker was lost is relaunched and resumed from
  // its newest checkpoint (train_supervisor.h). Unset: the launch form's default (3 with
  // `--workers`; under MPMD mpirun owns the processes and no restart is possible).
  std::optional<uint32_t> max_restarts;
  // A NaN or infinite loss or gradient: "fail" ends the job naming the step (a permanent
  // failure: a restart would diverge again); "skip_step" drops that step's update on every
  // worker and counts it.
  std::string on_nonfinite = "fail";
  // on_interrupt: the service's resume of a job its server stopped while it ran
  // (interrupt_config.h); the CLI ignores it.
  InterruptPolicy on_interrupt;
  std::string run_dir = "runs/latest";
};

}  // namespace aimass
