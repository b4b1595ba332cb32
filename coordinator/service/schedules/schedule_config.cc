#include "coordinator/service/schedules/schedule_config.h"

#include <yaml-cpp/yaml.h>

#include <ctime>

namespace aimass::service {

std::string UtcDate(int64_t time_ms) {
  const std::time_t seconds = static_cast<std::time_t>(time_ms / 1000);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char text[16];
  std::strftime(text, sizeof(text), "%Y-%m-%d", &parts);
  return text;
}

bool SafePartitionName(const std::string& name) {
  if (name.empty() || name.size() > 200 || name == "." || name == "..") return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-' || c == '=' || c == '+';
    if (!ok) return false;
  }
  return true;
}

Result<std::string> RenderScheduledConfig(const std::string& template_yaml, const std::string& model,
                                          const FireValues& values) {
  // Placeholders are {lowercase_word}; any other brace is YAML's (a flow mapping).
  std::string text;
  size_t at = 0;
  while (at < template_yaml.size()) {
    const size_t open = template_yaml.find('{', at);
    if (open == std::string::npos) break;
    size_t end = open + 1;
    while (end < template_yaml.size() &&
           ((template_yaml[end] >= 'a' && template_yaml[end] <= 'z') || template_yaml[end] == '_')) {
      ++end;
    }
    text += template_yaml.substr(at, open - at);
    if (end == open + 1 || end >= template_yaml.size() || template_yaml[end] != '}') {
      text += '{';
      at = open + 1;
      continue;
    }
    const std::string name = template_yaml.substr(open + 1, end - open - 1);
    if (name == "date") {
      text += UtcDate(values.time_ms);
    } else if (name == "partition" || name == "partition_path") {
      if (values.partition.empty()) {
        return Status::InvalidArgument("config: {" + name + "} needs an on_data trigger");
      }
      text += name == "partition" ? values.partition : values.partition_path;
    } else {
      return Status::InvalidArgument("config: unknown placeholder {" + name +
                                     "} (use {partition}, {partition_path} or {date})");
    }
    at = end + 1;
  }
  if (at < template_yaml.size()) text += template_yaml.substr(at);

  const std::string reference = "models:/" + model;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& error) {
    return Status::InvalidArgument("config: not YAML: " + error.msg);
  }
  if (!root.IsMap()) return Status::InvalidArgument("config: must be a YAML mapping");
  if (YAML::Node named = root["model"]; named.IsDefined() && !named.IsNull()) {
    if (!named.IsScalar() || named.Scalar() != reference) {
      return Status::InvalidArgument("config: model: this schedule runs " + reference +
                                     "; leave model: out or name that");
    }
    return text;
  }
  root["model"] = reference;
  YAML::Emitter out;
  out << root;
  if (!out.good()) return Status::InvalidArgument("config: " + out.GetLastError());
  return std::string(out.c_str()) + "\n";
}

}  // namespace aimass::service
