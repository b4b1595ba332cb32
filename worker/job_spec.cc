#include "worker/job_spec.h"

#include <string>
#include <utility>

#include "common/aimass.pb.h"
#include "common/config/train_spec_codec.h"

namespace aimass::worker {
namespace {

template <class Enum>
struct Choice {
  const char* name;
  Enum value;
};

// Looks `value` up in `choices`; the error lists the canonical names (the first of each value).
template <class Enum, size_t N>
Result<Enum> ParseChoice(std::string_view value, std::string_view key,
                         const Choice<Enum> (&choices)[N]) {
  std::string listed;
  for (const Choice<Enum>& choice : choices) {
    if (value == choice.name) return choice.value;
  }
  for (size_t i = 0; i < N; ++i) {
    bool first_of_value = true;
    for (size_t j = 0; j < i; ++j) first_of_value &= choices[j].value != choices[i].value;
    if (!first_of_value) continue;
    if (!listed.empty()) listed += ", ";
    listed += choices[i].name;
  }
  return Status::InvalidArgument(std::string(key) + ": '" + std::string(value) +
                                 "' is not one of: " + listed);
}

constexpr Choice<DeviceKind> kDeviceKinds[] = {
    {"auto", DeviceKind::kAuto}, {"cpu", DeviceKind::kCpu}, {"cuda", DeviceKind::kCuda}};
constexpr Choice<BackendKind> kBackendKinds[] = {
    {"auto", BackendKind::kAuto}, {"mpi", BackendKind::kMpi}, {"nccl", BackendKind::kNccl}};
constexpr Choice<OverlapMode> kOverlapModes[] = {{"auto", OverlapMode::kAuto},
                                                 {"true", OverlapMode::kOn},
                                                 {"false", OverlapMode::kOff},
                                                 {"on", OverlapMode::kOn},
                                                 {"off", OverlapMode::kOff}};
constexpr Choice<GradientCompression> kCompressions[] = {{"none", GradientCompression::kNone},
                                                         {"fp16", GradientCompression::kFp16},
                                                         {"bf16", GradientCompression::kBf16}};

// The canonical name of `value`: its first entry in `choices`.
template <class Enum, size_t N>
const char* NameOf(Enum value, const Choice<Enum> (&choices)[N]) {
  for (const Choice<Enum>& choice : choices) {
    if (choice.value == value) return choice.name;
  }
  return "?";
}

// proto3 strings are empty when unset: the key's default then, as the YAML parser would give.
std::string_view OrDefault(const std::string& value, std::string_view default_value) {
  return value.empty() ? default_value : std::string_view(value);
}

}  // namespace

const char* DeviceKindName(DeviceKind kind) { return NameOf(kind, kDeviceKinds); }
const char* BackendKindName(BackendKind kind) { return NameOf(kind, kBackendKinds); }
const char* OverlapModeName(OverlapMode mode) { return NameOf(mode, kOverlapModes); }
const char* GradientCompressionName(GradientCompression compression) {
  return NameOf(compression, kCompressions);
}

Result<DeviceKind> ParseDeviceKind(std::string_view value, std::string_view key) {
  return ParseChoice(value, key, kDeviceKinds);
}

Result<BackendKind> ParseBackendKind(std::string_view value, std::string_view key) {
  return ParseChoice(value, key, kBackendKinds);
}

Result<OverlapMode> ParseOverlapMode(std::string_view value, std::string_view key) {
  return ParseChoice(value, key, kOverlapModes);
}

Result<GradientCompression> ParseGradientCompression(std::string_view value,
                                                     std::string_view key) {
  return ParseChoice(value, key, kCompressions);
}

Result<TrainJobSpec> DecodeTrainJobSpec(const proto::TrainSpec& spec) {
  TrainJobSpec decoded;
  decoded.config = DecodeTrainConfig(spec);
  AIMASS_ASSIGN_OR_RETURN(decoded.device,
                          ParseDeviceKind(OrDefault(spec.device(), "auto"), "worker.device"));
  AIMASS_ASSIGN_OR_RETURN(decoded.backend,
                          ParseBackendKind(OrDefault(spec.backend(), "auto"), "worker.backend"));
  AIMASS_ASSIGN_OR_RETURN(
      decoded.overlap,
      ParseOverlapMode(OrDefault(spec.overlap(), "auto"), "gradient_sync.overlap"));
  AIMASS_ASSIGN_OR_RETURN(decoded.compression,
                          ParseGradientCompression(OrDefault(spec.compression(), "none"),
                                                   "gradient_sync.compression"));
  return decoded;
}

Result<InferJobSpec> DecodeInferJobSpec(const proto::InferSpec& spec) {
  InferJobSpec decoded;
  AIMASS_ASSIGN_OR_RETURN(decoded.device,
                          ParseDeviceKind(OrDefault(spec.device(), "auto"), "inference.device"));
  decoded.threads = spec.threads();
  return decoded;
}

}  // namespace aimass::worker
