// YamlSection: a YAML mapping read key by key, for the strict config parsers (job_config.h,
// infer_config.h). Every key read is remembered so that Finish() can name the first key nobody
// asked for: a misspelt option must not be silently ignored. Every error it returns is
// StatusCode::kInvalidArgument (the document is the caller's input). A floating-point key whose
// value is NaN or infinite is refused, naming the key.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/status.h"

namespace aimass {

class YamlSection {
 public:
  YamlSection(YAML::Node node, std::string path, const std::string* source)
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
    // YAML reads .nan, .inf (and yaml-cpp also nan, inf, 1e999) as numbers; no setting means
    // any of them, and a NaN slips past every range check (NaN <= 0 is false). Every numeric
    // key is read here, so this is the one place that refuses them.
    if constexpr (std::is_floating_point_v<T>) {
      if (!std::isfinite(*out)) {
        return Error("key '" + Qualified(key) + "'",
                     "'" + Scalar(key) + "' is not a finite number");
      }
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

  Result<YamlSection> Child(const std::string& key) {
    seen_.insert(key);
    YamlSection child(node_[key], Qualified(key), source_);
    AIMASS_RETURN_IF_ERROR(child.CheckIsMap());
    return child;
  }

  Status Finish() const {
    for (const auto& entry : node_) {
      // YAML allows any node as a key ("[a, b]: 1", "{a: 1}: 2"); as<std::string> would throw.
      if (!entry.first.IsScalar()) {
        return Status::InvalidArgument(
            *source_ + ": line " + std::to_string(entry.first.Mark().line + 1) + ": " +
            (path_.empty() ? std::string("the document") : "key '" + path_ + "'") +
            " has a key that is a " + (entry.first.IsSequence() ? "list" : "mapping") +
            ", not a name");
      }
      const std::string& key = entry.first.Scalar();
      if (seen_.count(key) == 0) {
        return Status::InvalidArgument(*source_ + ": unknown key '" + Qualified(key) + "'");
      }
    }
    return Status::Ok();
  }

  Status Error(const std::string& what, const std::string& why) const {
    return Status::InvalidArgument(*source_ + ": " + what + ": " + why);
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
  static const char* TypeName(const std::vector<std::string>*) { return "a list of strings"; }
  static const char* TypeName(const int*) { return "an integer"; }

  YAML::Node node_;
  std::string path_;
  const std::string* source_;
  std::set<std::string> seen_;
};

// Parses `text`; a syntax error names `source` and the line.
inline Result<YAML::Node> LoadYamlDocument(const std::string& text, const std::string& source) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& error) {
    return Status::InvalidArgument(source + ": line " + std::to_string(error.mark.line + 1) +
                         ": invalid YAML: " + error.msg);
  }
}

}  // namespace aimass
