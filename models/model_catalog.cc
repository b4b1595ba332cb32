#include "models/model_catalog.h"

#include <algorithm>
#include <functional>
#include <numeric>

#include "common/env.h"

namespace aimass::models {
namespace {

constexpr const char kTorchScriptPrefix[] = "torchscript:";
constexpr int64_t kBuiltinChannels = 1;
constexpr int64_t kBuiltinSide = 28;
constexpr uint32_t kBuiltinClasses = 10;

std::string KnownModelsText() {
  std::string text;
  for (const std::string& name : BuiltinModelNames()) text += name + ", ";
  return text + "torchscript:<file>";
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string text = "{";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "}";
}

// The builtins are fixed architectures for 28x28 grey images; a config that asks for another
// shape or class count would otherwise fail much later, inside a forward pass on some rank.
Status ResolveBuiltin(ModelConfig& config) {
  const std::vector<int64_t> builtin_shape = {kBuiltinChannels, kBuiltinSide, kBuiltinSide};
  if (!config.input_shape.empty() && config.input_shape != builtin_shape) {
    return Status::Error("model.input_shape: " + config.name + " takes " +
                         ShapeText(builtin_shape) + ", not " + ShapeText(config.input_shape));
  }
  if (config.num_classes != kBuiltinClasses) {
    return Status::Error("model.num_classes: " + config.name + " has " +
                         std::to_string(kBuiltinClasses) + " classes, not " +
                         std::to_string(config.num_classes));
  }
  config.input_shape = builtin_shape;
  return Status::Ok();
}

Status ResolveTorchScript(ModelConfig& config) {
  const std::string path = TorchScriptPath(config.name);
  if (path.empty()) return Status::Error("model.name: 'torchscript:' needs a file after the colon");
  if (config.input_shape.empty()) {
    return Status::Error("model.input_shape: required for " + config.name +
                         " (the per-sample shape, e.g. [1, 28, 28])");
  }
  bool all_positive = std::all_of(config.input_shape.begin(), config.input_shape.end(),
                                  [](int64_t extent) { return extent > 0; });
  if (!all_positive) {
    return Status::Error("model.input_shape: every extent must be positive, got " +
                         ShapeText(config.input_shape));
  }
  if (config.num_classes == 0) return Status::Error("model.num_classes: must be at least 1");
  if (!Env::Default().Exists(path)) {
    return Status::Error("model.name: TorchScript file " + path + " does not exist");
  }
  return Status::Ok();
}

}  // namespace

int64_t ValuesPerSample(const std::vector<int64_t>& shape) {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<int64_t>());
}

std::vector<std::string> BuiltinModelNames() { return {"mlp", "cnn", "resnet"}; }

bool IsTorchScriptName(const std::string& name) {
  return name.rfind(kTorchScriptPrefix, 0) == 0;
}

std::string TorchScriptPath(const std::string& name) {
  if (!IsTorchScriptName(name)) return "";
  return name.substr(sizeof(kTorchScriptPrefix) - 1);
}

Status ResolveModelConfig(ModelConfig& config) {
  if (IsTorchScriptName(config.name)) return ResolveTorchScript(config);
  const std::vector<std::string> builtins = BuiltinModelNames();
  if (std::find(builtins.begin(), builtins.end(), config.name) != builtins.end()) {
    return ResolveBuiltin(config);
  }
  return Status::Error("model.name: unknown model '" + config.name + "' (known: " +
                       KnownModelsText() + ")");
}

}  // namespace aimass::models
