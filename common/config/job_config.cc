#include "common/config/job_config.h"

#include <yaml-cpp/yaml.h>

#include <set>
#include <utility>

namespace aimass {
namespace {

// A YAML mapping read key by key. Every key read is remembered so that Finish() can name the
// first key nobody asked for: a misspelt option must not be silently ignored.
class Section {
 public:
  Section(YAML::Node node, std::string path, const std::string* source)
      : node_(std::move(node)), path_(std::move(path)), source_(source) {}

  Status CheckIsMap() const {
    if (node_.IsMap()) return Status::Ok();
    return Error(path_.empty() ? "the document" : "key '" + path_ + "'", "expected a mapping");
  }

  bool Has(const std::string& key) {
    seen_.insert(key);
    return node_[key].IsDefined() && !node_[key].IsNull();
  }

  template <class T>
  Status Read(const std::string& key, T* out) {
    if (!Has(key)) return Status::Ok();
    try {
      *out = node_[key].as<T>();
    } catch (const YAML::Exception&) {
      return Error("key '" + Qualified(key) + "'",
                   std::string("expected ") + TypeName(out) + ", got '" + Scalar(key) + "'");
    }
    return Status::Ok();
  }

  template <class T>
  Status ReadPositive(const std::string& key, T* out) {
    AIMASS_RETURN_IF_ERROR(Read(key, out));
    if (*out <= 0) return Error("key '" + Qualified(key) + "'", "must be greater than 0");
    return Status::Ok();
  }

  template <class T>
  Status ReadNonNegative(const std::string& key, T* out) {
    AIMASS_RETURN_IF_ERROR(Read(key, out));
    if (*out < 0) return Error("key '" + Qualified(key) + "'", "must not be negative");
    return Status::Ok();
  }

  Status ReadChoice(const std::string& key, std::initializer_list<const char*> choices,
                    std::string* out) {
    AIMASS_RETURN_IF_ERROR(Read(key, out));
    std::string listed;
    for (const char* choice : choices) {
      if (*out == choice) return Status::Ok();
      listed += listed.empty() ? choice : std::string(", ") + choice;
    }
    return Error("key '" + Qualified(key) + "'", "'" + *out + "' is not one of: " + listed);
  }

  Result<Section> Child(const std::string& key) {
    seen_.insert(key);
    Section child(node_[key], Qualified(key), source_);
    AIMASS_RETURN_IF_ERROR(child.CheckIsMap());
    return child;
  }

  Status Finish() const {
    for (const auto& entry : node_) {
      std::string key = entry.first.as<std::string>();
      if (seen_.count(key) == 0) {
        return Status::Error(*source_ + ": unknown key '" + Qualified(key) + "'");
      }
    }
    return Status::Ok();
  }

  Status Error(const std::string& what, const std::string& why) const {
    return Status::Error(*source_ + ": " + what + ": " + why);
  }

  std::string Qualified(const std::string& key) const {
    return path_.empty() ? key : path_ + "." + key;
  }

 private:
  std::string Scalar(const std::string& key) const {
    const YAML::Node value = node_[key];
    if (value.IsScalar()) return value.Scalar();
    return value.IsSequence() ? "a list" : "a mapping";
  }
  static const char* TypeName(const std::string*) { return "a string"; }
  static const char* TypeName(const bool*) { return "true or false"; }
  static const char* TypeName(const double*) { return "a number"; }
  static const char* TypeName(const float*) { return "a number"; }
  static const char* TypeName(const uint32_t*) { return "a non-negative integer"; }
  static const char* TypeName(const uint64_t*) { return "a non-negative integer"; }
  static const char* TypeName(const std::vector<int64_t>*) { return "a list of integers"; }

  YAML::Node node_;
  std::string path_;
  const std::string* source_;
  std::set<std::string> seen_;
};

Status ReadModel(Section& root, ModelConfig& model) {
  if (!root.Has("model")) return Status::Ok();
  // `model: cnn` is shorthand for `model: {name: cnn}`.
  std::string name;
  if (root.Read("model", &name).ok()) {
    model.name = name;
    return Status::Ok();
  }
  AIMASS_ASSIGN_OR_RETURN(Section section, root.Child("model"));
  AIMASS_RETURN_IF_ERROR(section.Read("name", &model.name));
  AIMASS_RETURN_IF_ERROR(section.Read("input_shape", &model.input_shape));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("num_classes", &model.num_classes));
  return section.Finish();
}

Status ReadData(Section& root, DataConfig& data) {
  if (!root.Has("data")) return root.Error("key 'data'", "missing (needs at least data.train)");
  AIMASS_ASSIGN_OR_RETURN(Section section, root.Child("data"));
  AIMASS_RETURN_IF_ERROR(section.Read("train", &data.train_dir));
  if (data.train_dir.empty()) return section.Error("key 'data.train'", "missing");
  AIMASS_RETURN_IF_ERROR(section.Read("test", &data.test_dir));
  AIMASS_RETURN_IF_ERROR(section.Read("shuffle", &data.shuffle));
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
    AIMASS_ASSIGN_OR_RETURN(Section normalize, section.Child("normalize"));
    AIMASS_RETURN_IF_ERROR(normalize.Read("scale", &data.normalize.scale));
    AIMASS_RETURN_IF_ERROR(normalize.Read("mean", &data.normalize.mean));
    AIMASS_RETURN_IF_ERROR(normalize.ReadPositive("std", &data.normalize.std));
    AIMASS_RETURN_IF_ERROR(normalize.Finish());
  }
  return section.Finish();
}

Status ReadTraining(Section& root, TrainConfig& config) {
  if (!root.Has("training")) return Status::Ok();
  AIMASS_ASSIGN_OR_RETURN(Section section, root.Child("training"));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("epochs", &config.epochs));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("batch_size", &config.batch_size));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("grad_accumulation", &config.grad_accumulation));
  AIMASS_RETURN_IF_ERROR(section.Read("seed", &config.seed));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("log_every", &config.log_every));
  return section.Finish();
}

Status ReadOptimizer(Section& root, OptimizerConfig& optimizer) {
  if (!root.Has("optimizer")) return Status::Ok();
  AIMASS_ASSIGN_OR_RETURN(Section section, root.Child("optimizer"));
  AIMASS_RETURN_IF_ERROR(section.ReadChoice("name", {"sgd", "adam", "adamw"}, &optimizer.name));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("lr", &optimizer.lr));
  AIMASS_RETURN_IF_ERROR(section.ReadNonNegative("momentum", &optimizer.momentum));
  AIMASS_RETURN_IF_ERROR(section.Read("nesterov", &optimizer.nesterov));
  AIMASS_RETURN_IF_ERROR(section.ReadNonNegative("weight_decay", &optimizer.weight_decay));
  AIMASS_RETURN_IF_ERROR(section.ReadNonNegative("beta1", &optimizer.beta1));
  AIMASS_RETURN_IF_ERROR(section.ReadNonNegative("beta2", &optimizer.beta2));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("eps", &optimizer.eps));
  if (optimizer.nesterov && optimizer.momentum <= 0) {
    return section.Error("key 'optimizer.nesterov'", "needs optimizer.momentum > 0");
  }
  return section.Finish();
}

Status ReadSchedule(Section& root, ScheduleConfig& schedule) {
  if (!root.Has("schedule")) return Status::Ok();
  AIMASS_ASSIGN_OR_RETURN(Section section, root.Child("schedule"));
  AIMASS_RETURN_IF_ERROR(section.ReadChoice("name", {"constant", "step", "cosine"}, &schedule.name));
  AIMASS_RETURN_IF_ERROR(section.Read("warmup_steps", &schedule.warmup_steps));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("step_size", &schedule.step_size));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("gamma", &schedule.gamma));
  AIMASS_RETURN_IF_ERROR(section.ReadNonNegative("min_lr", &schedule.min_lr));
  return section.Finish();
}

Status ReadCheckpoint(Section& root, CheckpointConfig& checkpoint) {
  if (!root.Has("checkpoint")) return Status::Ok();
  AIMASS_ASSIGN_OR_RETURN(Section section, root.Child("checkpoint"));
  AIMASS_RETURN_IF_ERROR(section.Read("every_steps", &checkpoint.every_steps));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("keep", &checkpoint.keep));
  return section.Finish();
}

Status ReadWorker(Section& root, WorkerConfig& worker) {
  if (!root.Has("worker")) return Status::Ok();
  AIMASS_ASSIGN_OR_RETURN(Section section, root.Child("worker"));
  AIMASS_RETURN_IF_ERROR(section.ReadChoice("device", {"auto", "cpu", "cuda"}, &worker.device));
  AIMASS_RETURN_IF_ERROR(section.ReadChoice("backend", {"auto", "mpi", "nccl"}, &worker.backend));
  AIMASS_RETURN_IF_ERROR(section.Read("threads", &worker.threads));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("heartbeat_timeout_s", &worker.heartbeat_timeout_s));
  return section.Finish();
}

Status ReadGradientSync(Section& root, GradientSyncConfig& sync) {
  if (!root.Has("gradient_sync")) return Status::Ok();
  AIMASS_ASSIGN_OR_RETURN(Section section, root.Child("gradient_sync"));
  AIMASS_RETURN_IF_ERROR(section.ReadNonNegative("bucket_mb", &sync.bucket_mb));
  AIMASS_RETURN_IF_ERROR(section.ReadNonNegative("first_bucket_mb", &sync.first_bucket_mb));
  AIMASS_RETURN_IF_ERROR(section.ReadChoice("overlap", {"auto", "true", "false"}, &sync.overlap));
  AIMASS_RETURN_IF_ERROR(
      section.ReadChoice("compression", {"none", "fp16", "bf16"}, &sync.compression));
  return section.Finish();
}

Status ReadOutput(Section& root, TrainConfig& config) {
  if (!root.Has("output")) return Status::Ok();
  AIMASS_ASSIGN_OR_RETURN(Section section, root.Child("output"));
  AIMASS_RETURN_IF_ERROR(section.Read("run_dir", &config.run_dir));
  return section.Finish();
}

}  // namespace

Result<TrainConfig> ParseTrainConfig(const std::string& yaml_text, const std::string& source) {
  YAML::Node document;
  try {
    document = YAML::Load(yaml_text);
  } catch (const YAML::Exception& error) {
    return Status::Error(source + ": line " + std::to_string(error.mark.line + 1) +
                         ": invalid YAML: " + error.msg);
  }
  Section root(document, "", &source);
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
  AIMASS_RETURN_IF_ERROR(ReadOutput(root, config));
  AIMASS_RETURN_IF_ERROR(root.Finish());
  return config;
}

Result<TrainConfig> LoadTrainConfig(const std::string& path, Env& env) {
  AIMASS_ASSIGN_OR_RETURN(std::string text, env.ReadFile(path));
  return ParseTrainConfig(text, path);
}

}  // namespace aimass
