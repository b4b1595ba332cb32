#include "common/config/job_config.h"

#include "common/config/interrupt_config.h"
#include "common/config/yaml_section.h"

namespace aimass {
namespace {

Status ReadModel(YamlSection& root, ModelConfig& model) {
  if (!root.Has("model")) return Status::Ok();
  // `model: cnn` is shorthand for `model: {name: cnn}`.
  std::string name;
  if (root.Read("model", &name).ok()) {
    model.name = name;
    return Status::Ok();
  }
  AIMASS_ASSIGN_OR_RETURN(YamlSection section, root.Child("model"));
  AIMASS_RETURN_IF_ERROR(section.Read("name", &model.name));
  AIMASS_RETURN_IF_ERROR(section.Read("input_shape", &model.input_shape));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("num_classes", &model.num_classes));
  return section.Finish();
}

// `data.train: DIR` names a directory of `data convert` shards; a mapping describes any
// exported table with the keys of inference's `input` block plus label, features, shape and id.
Status ReadDataset(YamlSection& data, const std::string& key, DatasetSourceConfig& dataset) {
  if (!data.Has(key)) return Status::Ok();
  std::string directory;
  if (data.Read(key, &directory).ok()) {
    dataset = ShardDirectorySource(directory);
    return Status::Ok();
  }
  AIMASS_ASSIGN_OR_RETURN(YamlSection section, data.Child(key));
  AIMASS_RETURN_IF_ERROR(ReadTableInputKeys(section, dataset.input));
  if (dataset.input.path.empty()) return section.Error("key '" + section.Qualified("path") + "'", "missing");
  AIMASS_RETURN_IF_ERROR(section.Read("label", &dataset.label));
  if (dataset.label.empty()) return section.Error("key '" + section.Qualified("label") + "'", "must not be empty");
  AIMASS_RETURN_IF_ERROR(ReadColumnList(section, "features", &dataset.features));
  AIMASS_RETURN_IF_ERROR(ReadShape(section, "shape", &dataset.shape));
  AIMASS_RETURN_IF_ERROR(section.Read("id", &dataset.id));
  if (dataset.input.format == "idx") {
    return section.Error("key '" + section.Qualified("format") + "'",
                         "idx files carry no label column; convert them with `aimass-coordinator "
                         "data convert` first");
  }
  return section.Finish();
}

Status ReadData(YamlSection& root, DataConfig& data) {
  if (!root.Has("data")) return root.Error("key 'data'", "missing (needs at least data.train)");
  AIMASS_ASSIGN_OR_RETURN(YamlSection section, root.Child("data"));
  AIMASS_RETURN_IF_ERROR(ReadDataset(section, "train", data.train));
  if (data.train.empty()) return section.Error("key 'data.train'", "missing");
  AIMASS_RETURN_IF_ERROR(ReadDataset(section, "test", data.test));
  AIMASS_RETURN_IF_ERROR(section.Read("shuffle", &data.shuffle));
  AIMASS_RETURN_IF_ERROR(section.Read("shuffle_window", &data.shuffle_window));
  std::string remainder = "pad";
  AIMASS_RETURN_IF_ERROR(section.ReadChoice("remainder", {"pad", "drop"}, &remainder));
  data.remainder = remainder == "pad" ? RemainderPolicy::kPad : RemainderPolicy::kDrop;
  AIMASS_RETURN_IF_ERROR(section.Read("limit", &data.limit));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("prefetch_batches", &data.prefetch_batches));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("loader_threads", &data.loader_threads));
  uint64_t cache_mb = data.cache_bytes >> 20;
  AIMASS_RETURN_IF_ERROR(section.Read("cache_mb", &cache_mb));
  data.cache_bytes = cache_mb << 20;
  if (section.Has("normalize")) {
    AIMASS_ASSIGN_OR_RETURN(YamlSection normalize, section.Child("normalize"));
    AIMASS_RETURN_IF_ERROR(normalize.Read("scale", &data.normalize.scale));
    AIMASS_RETURN_IF_ERROR(normalize.Read("mean", &data.normalize.mean));
    AIMASS_RETURN_IF_ERROR(normalize.ReadPositive("std", &data.normalize.std));
    AIMASS_RETURN_IF_ERROR(normalize.Finish());
  }
  return section.Finish();
}

Status ReadTraining(YamlSection& root, TrainConfig& config) {
  if (!root.Has("training")) return Status::Ok();
  AIMASS_ASSIGN_OR_RETURN(YamlSection section, root.Child("training"));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("epochs", &config.epochs));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("batch_size", &config.batch_size));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("grad_accumulation", &config.grad_accumulation));
  AIMASS_RETURN_IF_ERROR(section.Read("seed", &config.seed));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("log_every", &config.log_every));
  if (section.Has("max_restarts")) {
    uint32_t max_restarts = 0;
    AIMASS_RETURN_IF_ERROR(section.Read("max_restarts", &max_restarts));
    config.max_restarts = max_restarts;
  }
  AIMASS_RETURN_IF_ERROR(section.ReadChoice("on_nonfinite", {"fail", "skip_step"}, &config.on_nonfinite));
  return section.Finish();
}

Status ReadOptimizer(YamlSection& root, OptimizerConfig& optimizer) {
  if (!root.Has("optimizer")) return Status::Ok();
  AIMASS_ASSIGN_OR_RETURN(YamlSection section, root.Child("optimizer"));
  AIMASS_RETURN_IF_ERROR(section.ReadChoice("name", {"sgd", "adam", "adamw"}, &optimizer.name));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("lr", &optimizer.lr));
  AIMASS_RETURN_IF_ERROR(section.ReadNonNegative("momentum", &optimizer.momentum));
  AIMASS_RETURN_IF_ERROR(section.Read("nesterov", &optimizer.nesterov));
  AIMASS_RETURN_IF_ERROR(section.ReadNonNegative("dampening", &optimizer.dampening));
  AIMASS_RETURN_IF_ERROR(section.ReadNonNegative("weight_decay", &optimizer.weight_decay));
  AIMASS_RETURN_IF_ERROR(section.ReadNonNegative("beta1", &optimizer.beta1));
  AIMASS_RETURN_IF_ERROR(section.ReadNonNegative("beta2", &optimizer.beta2));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("eps", &optimizer.eps));
  if (optimizer.nesterov && optimizer.momentum <= 0) {
    return section.Error("key 'optimizer.nesterov'", "needs optimizer.momentum > 0");
  }
  if (optimizer.nesterov && optimizer.dampening != 0) {
    return section.Error("key 'optimizer.nesterov'", "needs optimizer.dampening 0");
  }
  if (optimizer.dampening > 1) {
    return section.Error("key 'optimizer.dampening'", "must be at most 1");
  }
  return section.Finish();
}

Status ReadSchedule(YamlSection& root, ScheduleConfig& schedule) {
  if (!root.Has("schedule")) return Status::Ok();
  AIMASS_ASSIGN_OR_RETURN(YamlSection section, root.Child("schedule"));
  AIMASS_RETURN_IF_ERROR(section.ReadChoice("name", {"constant", "step", "cosine"}, &schedule.name));
  AIMASS_RETURN_IF_ERROR(section.Read("warmup_steps", &schedule.warmup_steps));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("step_size", &schedule.step_size));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("gamma", &schedule.gamma));
  AIMASS_RETURN_IF_ERROR(section.ReadNonNegative("min_lr", &schedule.min_lr));
  return section.Finish();
}

Status ReadCheckpoint(YamlSection& root, CheckpointConfig& checkpoint) {
  if (!root.Has("checkpoint")) return Status::Ok();
  AIMASS_ASSIGN_OR_RETURN(YamlSection section, root.Child("checkpoint"));
  AIMASS_RETURN_IF_ERROR(section.Read("every_steps", &checkpoint.every_steps));
  AIMASS_RETURN_IF_ERROR(section.ReadNonNegative("every_seconds", &checkpoint.every_seconds));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("keep", &checkpoint.keep));
  return section.Finish();
}

Status ReadWorker(YamlSection& root, WorkerConfig& worker) {
  if (!root.Has("worker")) return Status::Ok();
  AIMASS_ASSIGN_OR_RETURN(YamlSection section, root.Child("worker"));
  AIMASS_RETURN_IF_ERROR(section.ReadChoice("device", {"auto", "cpu", "cuda"}, &worker.device));
  AIMASS_RETURN_IF_ERROR(section.ReadChoice("backend", {"auto", "mpi", "nccl"}, &worker.backend));
  AIMASS_RETURN_IF_ERROR(section.Read("threads", &worker.threads));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("heartbeat_timeout_s", &worker.heartbeat_timeout_s));
  return section.Finish();
}

Status ReadGradientSync(YamlSection& root, GradientSyncConfig& sync) {
  if (!root.Has("gradient_sync")) return Status::Ok();
  AIMASS_ASSIGN_OR_RETURN(YamlSection section, root.Child("gradient_sync"));
  AIMASS_RETURN_IF_ERROR(section.ReadNonNegative("bucket_mb", &sync.bucket_mb));
  AIMASS_RETURN_IF_ERROR(section.ReadNonNegative("first_bucket_mb", &sync.first_bucket_mb));
  AIMASS_RETURN_IF_ERROR(section.ReadChoice("overlap", {"auto", "true", "false"}, &sync.overlap));
  AIMASS_RETURN_IF_ERROR(
      section.ReadChoice("compression", {"none", "fp16", "bf16"}, &sync.compression));
  return section.Finish();
}

Status ReadMonitor(YamlSection& root, MonitorConfig& monitor) {
  if (!root.Has("monitor")) return Status::Ok();
  AIMASS_ASSIGN_OR_RETURN(YamlSection section, root.Child("monitor"));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("divergence_factor", &monitor.divergence_factor));
  if (monitor.divergence_factor <= 1.0) {
    return section.Error("key 'monitor.divergence_factor'", "must be greater than 1");
  }
  AIMASS_RETURN_IF_ERROR(section.Read("warmup_steps", &monitor.warmup_steps));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("overfit_evaluations", &monitor.overfit_evaluations));
  AIMASS_RETURN_IF_ERROR(section.ReadNonNegative("stall_fraction", &monitor.stall_fraction));
  if (monitor.stall_fraction >= 1.0) {
    return section.Error("key 'monitor.stall_fraction'", "must be below 1");
  }
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("stall_seconds", &monitor.stall_seconds));
  return section.Finish();
}

Status ReadOutput(YamlSection& root, TrainConfig& config) {
  if (!root.Has("output")) return Status::Ok();
  AIMASS_ASSIGN_OR_RETURN(YamlSection section, root.Child("output"));
  AIMASS_RETURN_IF_ERROR(section.Read("run_dir", &config.run_dir));
  return section.Finish();
}

}  // namespace

Result<TrainConfig> ParseTrainConfig(const std::string& yaml_text, const std::string& source) {
  AIMASS_ASSIGN_OR_RETURN(YAML::Node document, LoadYamlDocument(yaml_text, source));
  YamlSection root(document, "", &source);
  AIMASS_RETURN_IF_ERROR(root.CheckIsMap());
  TrainConfig config;
  AIMASS_RETURN_IF_ERROR(ReadModel(root, config.model));
  AIMASS_RETURN_IF_ERROR(ReadData(root, config.data));
  AIMASS_RETURN_IF_ERROR(ReadTraining(root, config));
  AIMASS_RETURN_IF_ERROR(ReadOptimizer(root, config.optimizer));
  AIMASS_RETURN_IF_ERROR(ReadSchedule(root, config.schedule));
  AIMASS_RETURN_IF_ERROR(ReadCheckpoint(root, config.checkpoint));
  AIMASS_RETURN_IF_ERROR(ReadWorker(root, config.worker));
  AIMASS_RETURN_IF_ERROR(ReadGradientSync(root, config.gradient_sync));
  AIMASS_RETURN_IF_ERROR(ReadMonitor(root, config.monitor));
  AIMASS_RETURN_IF_ERROR(ReadOutput(root, config));
  AIMASS_RETURN_IF_ERROR(ReadInterruptPolicy(root, config.on_interrupt));
  AIMASS_RETURN_IF_ERROR(root.Finish());
  return config;
}

Result<TrainConfig> LoadTrainConfig(const std::string& path, Env& env) {
  AIMASS_ASSIGN_OR_RETURN(std::string text, env.ReadFile(path));
  return ParseTrainConfig(text, path);
}

}  // namespace aimass
