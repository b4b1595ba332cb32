#include "common/config/infer_config.h"

#include "common/config/interrupt_config.h"
#include "common/config/yaml_section.h"

namespace aimass {
namespace {

Status ReadModel(YamlSection& root, InferConfig& config) {
  if (!root.Has("model")) return root.Error("key 'model'", "missing (a TorchScript file or a training run directory)");
  if (root.Read("model", &config.model).ok()) return Status::Ok();
  AIMASS_ASSIGN_OR_RETURN(YamlSection section, root.Child("model"));
  AIMASS_RETURN_IF_ERROR(section.Read("path", &config.model));
  if (config.model.empty()) return section.Error("key 'model.path'", "missing");
  return section.Finish();
}

Status ReadInput(YamlSection& root, InferInputConfig& input) {
  if (!root.Has("input")) return Status::Ok();  // --input may give the path
  AIMASS_ASSIGN_OR_RETURN(YamlSection section, root.Child("input"));
  AIMASS_RETURN_IF_ERROR(ReadTableInputKeys(section, input));
  return section.Finish();
}

Status ReadSchema(YamlSection& root, InferSchemaConfig& schema) {
  if (!root.Has("schema")) return Status::Ok();
  AIMASS_ASSIGN_OR_RETURN(YamlSection section, root.Child("schema"));
  AIMASS_RETURN_IF_ERROR(section.Read("id", &schema.id));
  AIMASS_RETURN_IF_ERROR(ReadColumnList(section, "features", &schema.features));
  AIMASS_RETURN_IF_ERROR(ReadShape(section, "shape", &schema.shape));
  AIMASS_RETURN_IF_ERROR(section.ReadChoice("dtype", {"float32", "float64"}, &schema.dtype));
  if (section.Has("normalize")) {
    AIMASS_ASSIGN_OR_RETURN(YamlSection normalize, section.Child("normalize"));
    AIMASS_RETURN_IF_ERROR(normalize.Read("scale", &schema.normalize.scale));
    AIMASS_RETURN_IF_ERROR(normalize.Read("mean", &schema.normalize.mean));
    AIMASS_RETURN_IF_ERROR(normalize.ReadPositive("std", &schema.normalize.std));
    AIMASS_RETURN_IF_ERROR(normalize.Finish());
    schema.has_normalize = true;
  }
  return section.Finish();
}

Status ReadOutput(YamlSection& root, InferOutputConfig& output) {
  if (!root.Has("output")) return Status::Ok();  // --output may give the path
  AIMASS_ASSIGN_OR_RETURN(YamlSection section, root.Child("output"));
  AIMASS_RETURN_IF_ERROR(section.Read("path", &output.path));
  AIMASS_RETURN_IF_ERROR(section.ReadChoice("format", {"csv", "jsonl"}, &output.format));
  AIMASS_RETURN_IF_ERROR(section.ReadChoice("compression", {"none", "gzip"}, &output.compression));
  AIMASS_RETURN_IF_ERROR(section.ReadChoice("scores", {"raw", "softmax"}, &output.scores));
  return section.Finish();
}

Status ReadInference(YamlSection& root, InferConfig& config) {
  if (!root.Has("inference")) return Status::Ok();
  AIMASS_ASSIGN_OR_RETURN(YamlSection section, root.Child("inference"));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("batch_size", &config.batch_size));
  AIMASS_RETURN_IF_ERROR(section.ReadChoice("device", {"auto", "cpu", "cuda"}, &config.device));
  AIMASS_RETURN_IF_ERROR(section.Read("threads", &config.threads));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("prefetch_splits", &config.prefetch_splits));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("max_attempts", &config.max_attempts));
  AIMASS_RETURN_IF_ERROR(
      section.ReadChoice("on_bad_record", {"fail", "skip", "quarantine"}, &config.on_bad_record));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("heartbeat_timeout_s", &config.heartbeat_timeout_s));
  return section.Finish();
}

Status ReadDrift(YamlSection& root, const std::string& source, InferConfig& config) {
  if (!root.Has("drift")) return Status::Ok();
  AIMASS_ASSIGN_OR_RETURN(YamlSection section, root.Child("drift"));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("warn", &config.drift_warn));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("alert", &config.drift_alert));
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("feature_share", &config.drift_feature_share));
  if (config.drift_feature_share > 1) {
    return Status::InvalidArgument(source + ": key 'drift.feature_share' must be at most 1");
  }
  if (config.drift_alert < config.drift_warn) {
    return Status::InvalidArgument(source + ": key 'drift.alert' must not be below drift.warn");
  }
  return section.Finish();
}

}  // namespace

Result<InferConfig> ParseInferConfig(const std::string& yaml_text, const std::string& source) {
  AIMASS_ASSIGN_OR_RETURN(YAML::Node document, LoadYamlDocument(yaml_text, source));
  YamlSection root(document, "", &source);
  AIMASS_RETURN_IF_ERROR(root.CheckIsMap());
  InferConfig config;
  AIMASS_RETURN_IF_ERROR(ReadModel(root, config));
  AIMASS_RETURN_IF_ERROR(ReadInput(root, config.input));
  AIMASS_RETURN_IF_ERROR(ReadSchema(root, config.schema));
  AIMASS_RETURN_IF_ERROR(ReadOutput(root, config.output));
  AIMASS_RETURN_IF_ERROR(ReadInference(root, config));
  AIMASS_RETURN_IF_ERROR(ReadDrift(root, source, config));
  AIMASS_RETURN_IF_ERROR(ReadInterruptPolicy(root, config.on_interrupt));
  AIMASS_RETURN_IF_ERROR(root.Finish());
  return config;
}

}  // namespace aimass
