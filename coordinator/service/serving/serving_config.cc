#include "coordinator/service/serving/serving_config.h"

#include <boost/json.hpp>

#include <tuple>

namespace aimass::service {
namespace {

namespace json = boost::json;

Result<uint32_t> Count(const json::value& value, const char* key, uint32_t least, uint32_t most) {
  int64_t number = 0;
  if (value.is_int64()) {
    number = value.as_int64();
  } else if (value.is_uint64() && value.as_uint64() <= static_cast<uint64_t>(most)) {
    number = static_cast<int64_t>(value.as_uint64());
  } else {
    return Status::InvalidArgument(std::string(key) + ": must be an integer");
  }
  if (number < least || number > most) {
    return Status::InvalidArgument(std::string(key) + ": must be " + std::to_string(least) + " to " +
                                   std::to_string(most));
  }
  return static_cast<uint32_t>(number);
}

Result<std::string> OneOf(const json::value& value, const char* key, std::initializer_list<const char*> choices) {
  std::string text;
  if (value.is_string()) text = std::string(value.as_string());
  for (const char* choice : choices) {
    if (text == choice) return text;
  }
  std::string list;
  for (const char* choice : choices) list += std::string(list.empty() ? "" : ", ") + choice;
  return Status::InvalidArgument(std::string(key) + ": must be one of " + list);
}

bool ValidAlias(const std::string& alias) {
  if (alias.empty() || alias.size() > 64) return false;
  for (char c : alias) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_' || c == '.')) {
      return false;
    }
  }
  return alias != "." && alias != "..";
}

}  // namespace

bool ServingConfig::operator==(const ServingConfig& other) const {
  auto tie = [](const ServingConfig& c) {
    return std::tie(c.alias, c.replicas, c.device, c.threads, c.max_batch_size, c.max_delay_ms,
                    c.max_queue, c.scores, c.timeout_ms, c.drift_window, c.drift_window_seconds);
  };
  return tie(*this) == tie(other);
}

Result<ServingConfig> ParseServingConfig(const json::object& object) {
  ServingConfig config;
  for (const auto& field : object) {
    const std::string key(field.key());
    const json::value& value = field.value();
    if (key == "alias") {
      if (!value.is_string() || !ValidAlias(std::string(value.as_string()))) {
        return Status::InvalidArgument("alias: 1-64 of A-Z a-z 0-9 . _ -");
      }
      config.alias = std::string(value.as_string());
    } else if (key == "replicas") {
      AIMASS_ASSIGN_OR_RETURN(config.replicas, Count(value, "replicas", 1, 64));
    } else if (key == "device") {
      AIMASS_ASSIGN_OR_RETURN(config.device, OneOf(value, "device", {"auto", "cpu", "cuda"}));
    } else if (key == "threads") {
      AIMASS_ASSIGN_OR_RETURN(config.threads, Count(value, "threads", 0, 256));
    } else if (key == "max_batch_size") {
      AIMASS_ASSIGN_OR_RETURN(config.max_batch_size, Count(value, "max_batch_size", 1, 4096));
    } else if (key == "max_delay_ms") {
      AIMASS_ASSIGN_OR_RETURN(config.max_delay_ms, Count(value, "max_delay_ms", 0, 1000));
    } else if (key == "max_queue") {
      AIMASS_ASSIGN_OR_RETURN(config.max_queue, Count(value, "max_queue", 1, 1 << 20));
    } else if (key == "scores") {
      AIMASS_ASSIGN_OR_RETURN(config.scores, OneOf(value, "scores", {"raw", "softmax"}));
    } else if (key == "timeout_ms") {
      AIMASS_ASSIGN_OR_RETURN(config.timeout_ms, Count(value, "timeout_ms", 1, 25000));
    } else if (key == "drift_window") {
      AIMASS_ASSIGN_OR_RETURN(config.drift_window, Count(value, "drift_window", 0, 1000000));
    } else if (key == "drift_window_seconds") {
      AIMASS_ASSIGN_OR_RETURN(config.drift_window_seconds, Count(value, "drift_window_seconds", 1, 86400));
    } else {
      return Status::InvalidArgument("unknown key '" + key + "' in the serving config");
    }
  }
  return config;
}

json::object ServingConfigJson(const ServingConfig& config) {
  return json::object{{"alias", config.alias},
                      {"replicas", config.replicas},
                      {"device", config.device},
                      {"threads", config.threads},
                      {"max_batch_size", config.max_batch_size},
                      {"max_delay_ms", config.max_delay_ms},
                      {"max_queue", config.max_queue},
                      {"scores", config.scores},
                      {"timeout_ms", config.timeout_ms},
                      {"drift_window", config.drift_window},
                      {"drift_window_seconds", config.drift_window_seconds}};
}

}  // namespace aimass::service
