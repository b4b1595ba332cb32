// The worker's typed view of its job (job_spec.h), placement from it (device.h), and LibTorch
// exceptions turned into errors that name the rank (torch_errors.h).
#include "tests/catch.h"

#include <torch/cuda.h>

#include "common/aimass.pb.h"
#include "common/config/train_spec_codec.h"
#include "models/model.h"
#include "models/model_catalog.h"
#include "worker/device.h"
#include "worker/job_spec.h"
#include "worker/torch_errors.h"

namespace aimass::worker {
namespace {

proto::TrainSpec SpecOf(const TrainConfig& config) {
  proto::TrainSpec spec;
  EncodeTrainConfig(config, &spec);
  return spec;
}

TEST_CASE("a TrainSpec's choices decode into enums", "[job_spec]") {
  TrainConfig config;
  config.worker.device = "cpu";
  config.worker.backend = "mpi";
  config.worker.threads = 3;
  config.gradient_sync.overlap = "true";
  config.gradient_sync.compression = "bf16";
  auto job = DecodeTrainJobSpec(SpecOf(config));
  REQUIRE(job.ok());
  CHECK(job->device == DeviceKind::kCpu);
  CHECK(job->backend == BackendKind::kMpi);
  CHECK(job->overlap == OverlapMode::kOn);
  CHECK(job->compression == GradientCompression::kBf16);
  CHECK(job->config.worker.threads == 3);  // the rest is the decoded TrainConfig

  config.worker.device = "cuda";
  config.worker.backend = "nccl";
  config.gradient_sync.overlap = "false";
  config.gradient_sync.compression = "fp16";
  job = DecodeTrainJobSpec(SpecOf(config));
  REQUIRE(job.ok());
  CHECK(job->device == DeviceKind::kCuda);
  CHECK(job->backend == BackendKind::kNccl);
  CHECK(job->overlap == OverlapMode::kOff);
  CHECK(job->compression == GradientCompression::kFp16);
}

TEST_CASE("unset spec fields decode to the keys' defaults", "[job_spec]") {
  auto job = DecodeTrainJobSpec(proto::TrainSpec());
  REQUIRE(job.ok());
  CHECK(job->device == DeviceKind::kAuto);
  CHECK(job->backend == BackendKind::kAuto);
  CHECK(job->overlap == OverlapMode::kAuto);
  CHECK(job->compression == GradientCompression::kNone);
  auto infer = DecodeInferJobSpec(proto::InferSpec());
  REQUIRE(infer.ok());
  CHECK(infer->device == DeviceKind::kAuto);
}

TEST_CASE("an unknown choice is InvalidArgument naming the key and the value", "[job_spec]") {
  TrainConfig config;
  config.gradient_sync.compression = "int8";
  auto job = DecodeTrainJobSpec(SpecOf(config));
  REQUIRE_FALSE(job.ok());
  CHECK(job.status().IsInvalidArgument());
  CHECK(job.status().message() ==
        "gradient_sync.compression: 'int8' is not one of: none, fp16, bf16");

  config = TrainConfig();
  config.worker.device = "gpu";
  job = DecodeTrainJobSpec(SpecOf(config));
  REQUIRE_FALSE(job.ok());
  CHECK(job.status().message() == "worker.device: 'gpu' is not one of: auto, cpu, cuda");

  config = TrainConfig();
  config.worker.backend = "gloo";
  CHECK(DecodeTrainJobSpec(SpecOf(config)).status().message() ==
        "worker.backend: 'gloo' is not one of: auto, mpi, nccl");

  config = TrainConfig();
  config.gradient_sync.overlap = "sometimes";
  // The YAML spellings are listed once each, though "on" and "off" are accepted too.
  CHECK(DecodeTrainJobSpec(SpecOf(config)).status().message() ==
        "gradient_sync.overlap: 'sometimes' is not one of: auto, true, false");
  CHECK(ParseOverlapMode("on", "k").value() == OverlapMode::kOn);
  CHECK(ParseOverlapMode("off", "k").value() == OverlapMode::kOff);

  proto::InferSpec infer;
  infer.set_device("tpu");
  auto decoded = DecodeInferJobSpec(infer);
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.status().IsInvalidArgument());
  CHECK(decoded.status().message() == "inference.device: 'tpu' is not one of: auto, cpu, cuda");
}

TEST_CASE("every choice's name parses back to it", "[job_spec]") {
  for (auto kind : {DeviceKind::kAuto, DeviceKind::kCpu, DeviceKind::kCuda}) {
    CHECK(ParseDeviceKind(DeviceKindName(kind), "k").value() == kind);
  }
  for (auto kind : {BackendKind::kAuto, BackendKind::kMpi, BackendKind::kNccl}) {
    CHECK(ParseBackendKind(BackendKindName(kind), "k").value() == kind);
  }
  for (auto mode : {OverlapMode::kAuto, OverlapMode::kOn, OverlapMode::kOff}) {
    CHECK(ParseOverlapMode(OverlapModeName(mode), "k").value() == mode);
  }
  for (auto compression :
       {GradientCompression::kNone, GradientCompression::kFp16, GradientCompression::kBf16}) {
    CHECK(ParseGradientCompression(GradientCompressionName(compression), "k").value() ==
          compression);
  }
}

TEST_CASE("placement resolves the backend from the typed choices", "[job_spec]") {
  auto cpu = ChoosePlacement(DeviceKind::kCpu, BackendKind::kAuto, 1, 0, 1);
  REQUIRE(cpu.ok());
  CHECK(cpu->device.is_cpu());
  CHECK(cpu->backend == BackendKind::kMpi);
  CHECK(cpu->threads == 1);

  auto nccl_on_cpu = ChoosePlacement(DeviceKind::kCpu, BackendKind::kNccl, 1, 0, 1);
  REQUIRE_FALSE(nccl_on_cpu.ok());
  CHECK(nccl_on_cpu.status().IsInvalidArgument());
  CHECK_THAT(nccl_on_cpu.status().message(), Catch::Contains("worker.backend is nccl"));

  if (!torch::cuda::is_available()) {
    auto cuda = ChoosePlacement(DeviceKind::kCuda, BackendKind::kAuto, 1, 0, 1);
    REQUIRE_FALSE(cuda.ok());
    CHECK(cuda.status().code() == StatusCode::kFailedPrecondition);
  }
}

TEST_CASE("a LibTorch error in a training step is an error naming the rank and the step",
          "[job_spec][torch_errors]") {
  ModelConfig config;
  config.name = "mlp";
  REQUIRE(models::ResolveModelConfig(config).ok());
  auto model = models::CreateModel(config, 1);
  REQUIRE(model.ok());
  // A batch of the wrong shape: 5 features per sample instead of 28x28.
  torch::Tensor wrong = torch::ones({4, 5});
  torch::Tensor labels = torch::zeros({4}, torch::kLong);
  Status status = Status::Ok();
  REQUIRE_NOTHROW(status = GuardTorchErrors(2, "training step 17", [&] {
                    torch::Tensor logits = (*model)->Forward(wrong);
                    torch::nn::functional::cross_entropy(logits, labels).backward();
                    return Status::Ok();
                  }));
  REQUIRE_FALSE(status.ok());
  CHECK(status.code() == StatusCode::kInternal);
  INFO(status.message());
  CHECK(status.message().rfind("rank 2: training step 17: ", 0) == 0);
  // One line, without LibTorch's backtrace.
  CHECK(status.message().find('\n') == std::string::npos);
  CHECK(status.message().find("frame #") == std::string::npos);
  CHECK(status.message().size() > std::string("rank 2: training step 17: ").size());
}

TEST_CASE("GuardTorchErrors passes a body's own status through", "[job_spec][torch_errors]") {
  CHECK(GuardTorchErrors(0, "evaluation of epoch 1", [] { return Status::Ok(); }).ok());
  Status own = GuardTorchErrors(0, "checkpoint at step 3",
                                [] { return Status::IOError("disk full"); });
  CHECK(own.IsIOError());
  CHECK(own.message() == "disk full");
  Status thrown = GuardTorchErrors(1, "export of model.pt", []() -> Status {
    throw std::runtime_error("boom\nsecond line");
  });
  CHECK(thrown.message() == "rank 1: export of model.pt: boom");
}

}  // namespace
}  // namespace aimass::worker
