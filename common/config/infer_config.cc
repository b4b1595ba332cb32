#include "common/config/infer_config.h"

#include <charconv>

#include "common/config/yaml_section.h"

namespace aimass {
namespace {

// "f0..f783": a shared prefix, then an inclusive numeric range.
bool SplitRange(const std::string& entry, std::string* prefix, uint64_t* first, uint64_t* last) {
  size_t dots = entry.find("..");
  if (dots == std::string::npos) return false;
  std::string left = entry.substr(0, dots);
  std::string right = entry.substr(dots + 2);
  size_t digits = left.find_last_not_of("0123456789") + 1;  // npos + 1 == 0: all digits
  *prefix = left.substr(0, digits);
  if (right.compare(0, prefix->size(), *prefix) == 0) right = right.substr(prefix->size());
  std::string number = left.substr(digits);
  auto parse = [](const std::string& text, uint64_t* out) {
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *out);
    return !text.empty() && error == std::errc() && end == text.data() + text.size();
  };
  return parse(number, first) && parse(right, last);
}

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
  AIMASS_RETURN_IF_ERROR(section.Read("path", &input.path));
  AIMASS_RETURN_IF_ERROR(section.ReadChoice(
      "format", {"csv", "tsv", "hive", "delimited", "jsonl", "tfrecord", "avro", "idx"}, &input.format));
  AIMASS_RETURN_IF_ERROR(section.Read("delimiter", &input.delimiter));
  if (section.Has("delimiter")) {
    if (input.format != "delimited") {
      return section.Error("key 'input.delimiter'", "only with input.format: delimited");
    }
    if (input.delimiter.size() != 1) {
      return section.Error("key 'input.delimiter'", "must be one character");
    }
  } else if (input.format == "delimited") {
    return section.Error("key 'input.delimiter'", "missing (input.format: delimited needs it)");
  }
  AIMASS_RETURN_IF_ERROR(section.Read("header", &input.header));
  AIMASS_RETURN_IF_ERROR(section.Read("columns", &input.columns));
  auto columns = ExpandColumnRanges(input.columns);
  if (!columns.ok()) return section.Error("key 'input.columns'", columns.status().message());
  input.columns = std::move(columns).value();
  if (input.header && !input.columns.empty()) {
    return section.Error("key 'input.columns'", "not with input.header: true (the header names them)");
  }
  AIMASS_RETURN_IF_ERROR(section.Read("require_success", &input.require_success));
  double split_mb = static_cast<double>(input.split_bytes) / (1 << 20);
  AIMASS_RETURN_IF_ERROR(section.ReadPositive("split_mb", &split_mb));
  input.split_bytes = static_cast<uint64_t>(split_mb * (1 << 20));
  if (input.split_bytes == 0) input.split_bytes = 1;
  return section.Finish();
}

Status ReadSchema(YamlSection& root, InferSchemaConfig& schema) {
  if (!root.Has("schema")) return Status::Ok();
  AIMASS_ASSIGN_OR_RETURN(YamlSection section, root.Child("schema"));
  AIMASS_RETURN_IF_ERROR(section.Read("id", &schema.id));
  if (section.Has("features")) {
    std::string single;
    if (section.Read("features", &single).ok()) {
      schema.features = {single};
    } else {
      AIMASS_RETURN_IF_ERROR(section.Read("features", &schema.features));
    }
    auto expanded = ExpandColumnRanges(schema.features);
    if (!expanded.ok()) return section.Error("key 'schema.features'", expanded.status().message());
    schema.features = std::move(expanded).value();
  }
  AIMASS_RETURN_IF_ERROR(section.Read("shape", &schema.shape));
  for (int64_t dim : schema.shape) {
    if (dim <= 0) return section.Error("key 'schema.shape'", "dimensions must be positive");
  }
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

}  // namespace

Result<std::vector<std::string>> ExpandColumnRanges(const std::vector<std::string>& entries) {
  std::vector<std::string> names;
  for (const std::string& entry : entries) {
    std::string prefix;
    uint64_t first = 0;
    uint64_t last = 0;
    if (entry.find("..") == std::string::npos) {
      names.push_back(entry);
      continue;
    }
    if (!SplitRange(entry, &prefix, &first, &last) || last < first || last - first > 10'000'000) {
      return Status::InvalidArgument("'" + entry + "' is not a range like f0..f783");
    }
    for (uint64_t i = first; i <= last; ++i) names.push_back(prefix + std::to_string(i));
  }
  return names;
}

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
  AIMASS_RETURN_IF_ERROR(root.Finish());
  return config;
}

}  // namespace aimass
