// CreateModel / LoadExportedModel: the one place that maps a model name to its implementation.
#include <functional>
#include <map>

#include "models/builtin_modules.h"
#include "models/model_catalog.h"
#include "models/model_state.h"
#include "models/torchscript_model.h"

namespace aimass::models {
namespace {

using NetFactory = std::function<std::shared_ptr<BuiltinNet>()>;

const std::map<std::string, NetFactory>& BuiltinFactories() {
  static const auto* factories = new std::map<std::string, NetFactory>{
      {"mlp", MakeMlpNet}, {"cnn", MakeCnnNet}, {"resnet", MakeResNet}};
  return *factories;
}

Status UnknownModel(const std::string& name) {
  std::string known;
  for (const std::string& builtin : BuiltinModelNames()) known += builtin + ", ";
  return Status::Error("model.name: unknown model '" + name + "' (known: " + known +
                       "torchscript:<file>)");
}

}  // namespace

Result<std::unique_ptr<Model>> CreateModel(const ModelConfig& config, uint64_t seed) {
  if (IsTorchScriptName(config.name)) return LoadTorchScriptModel(TorchScriptPath(config.name));
  auto factory = BuiltinFactories().find(config.name);
  if (factory == BuiltinFactories().end()) return UnknownModel(config.name);
  // Default initialization draws from the global generator: seeding it here is what makes every
  // rank construct identical weights.
  torch::manual_seed(seed);
  return WrapBuiltinNet(factory->second());
}

Result<std::unique_ptr<Model>> LoadExportedModel(const ModelConfig& config,
                                                 const std::string& path) {
  if (IsTorchScriptName(config.name)) return LoadTorchScriptModel(path);
  // The seed does not matter: every weight is overwritten by the export.
  Result<std::unique_ptr<Model>> model = CreateModel(config, /*seed=*/0);
  if (!model.ok()) return model;
  torch::serialize::InputArchive archive;
  AIMASS_RETURN_IF_ERROR(LoadArchiveFile(path, archive));
  AIMASS_RETURN_IF_ERROR((*model)->LoadState(archive).WithContext(path));
  return model;
}

}  // namespace aimass::models
