// The job a worker is given, decoded once into types: the TrainSpec / InferSpec wire messages
// carry their choices as strings ("auto", "bf16"), and this is the one place that reads those
// strings. Everything after it (placement, trainer, synchronizer) switches on enums, so an
// unexpected value fails at the start of the job with an error naming the key and the value,
// instead of silently falling into a default branch somewhere later.
//
// Torch-free: the enums are plain choices; device.h turns them into a torch::Device.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/config/train_config.h"
#include "common/status.h"

namespace aimass::proto {
class TrainSpec;
class InferSpec;
}  // namespace aimass::proto

namespace aimass::worker {

// worker.device: where to compute. kAuto: a GPU when one is visible, else the CPU.
enum class DeviceKind { kAuto, kCpu, kCuda };
// worker.backend: the collective transport. kAuto: nccl on a GPU when built in, else mpi.
enum class BackendKind { kAuto, kMpi, kNccl };
// gradient_sync.overlap: reduce full buckets during backward. kAuto: on with nccl only.
enum class OverlapMode { kAuto, kOn, kOff };
// gradient_sync.compression: what gradients travel as on the wire.
enum class GradientCompression { kNone, kFp16, kBf16 };

// The names used in job files and on the wire ("auto", "cpu", ...).
const char* DeviceKindName(DeviceKind kind);
const char* BackendKindName(BackendKind kind);
const char* OverlapModeName(OverlapMode mode);  // "auto", "true", "false", as in job files
const char* GradientCompressionName(GradientCompression compression);

// Each parses its names; anything else is InvalidArgument "<key>: '<value>' is not one of: ...".
// `key` names where the value came from ("worker.device", "--backend").
Result<DeviceKind> ParseDeviceKind(std::string_view value, std::string_view key);
Result<BackendKind> ParseBackendKind(std::string_view value, std::string_view key);
// Accepts "true"/"on" and "false"/"off" (YAML spellings of a boolean) besides "auto".
Result<OverlapMode> ParseOverlapMode(std::string_view value, std::string_view key);
Result<GradientCompression> ParseGradientCompression(std::string_view value,
                                                     std::string_view key);

// A training job as the worker runs it.
struct TrainJobSpec {
  // Every configuration value (DecodeTrainConfig). Its string fields for the choices below are
  // kept as received, for messages only: decisions use the enums.
  TrainConfig config;
  DeviceKind device = DeviceKind::kAuto;
  BackendKind backend = BackendKind::kAuto;
  OverlapMode overlap = OverlapMode::kAuto;
  GradientCompression compression = GradientCompression::kNone;
};

// An empty string (a field the coordinator did not set) means the default of its key.
Result<TrainJobSpec> DecodeTrainJobSpec(const proto::TrainSpec& spec);

// The placement part of an inference job (the rest is read by worker/infer/).
struct InferJobSpec {
  DeviceKind device = DeviceKind::kAuto;
  uint32_t threads = 0;  // 0: cores / local workers
};

Result<InferJobSpec> DecodeInferJobSpec(const proto::InferSpec& spec);

}  // namespace aimass::worker
