// The builtin architectures (mlp, cnn, resnet) and the Model wrapper they share. Internal to
// aimass_models: callers go through CreateModel / LoadExportedModel.
#pragma once

#include <torch/torch.h>

#include <memory>

#include "models/model.h"

namespace aimass::models {

// A builtin network: a torch::nn::Module with one tensor in, logits out.
class BuiltinNet : public torch::nn::Module {
 public:
  // input [N, 1, 28, 28] -> logits [N, 10].
  virtual torch::Tensor forward(torch::Tensor input) = 0;
};

// Images [N, C, H, W] on the CPU, copied into channels-last memory order (with C = 1 the memory
// is the same; only the strides say so). From such an input oneDNN's convolutions keep every
// activation channels-last, and LibTorch 1.13's CPU kernels over channels-last are much faster
// than over NCHW: max-pool above all (5 to 7 ms per pool over NCHW at batch 64, one thread,
// under 1 ms over channels-last), and the convolutions' own backward. Measured forward+backward
// in one PyTorch process at batch 64, one thread: cnn 40 -> 23 ms, resnet 1.25x; in aimass the
// cnn's forward 14.7 -> 7.8 ms (docs/benchmarks.md). Same values, other memory order; the
// parameters stay as they are. Left alone on other devices.
inline torch::Tensor ChannelsLastOnCpu(const torch::Tensor& images) {
  if (!images.is_cpu() || images.dim() != 4) return images;
  return torch::empty_like(images, images.options(), torch::MemoryFormat::ChannelsLast).copy_(images);
}

// Each draws its parameters from the global LibTorch generator: seed it first.
std::shared_ptr<BuiltinNet> MakeMlpNet();
std::shared_ptr<BuiltinNet> MakeCnnNet();
std::shared_ptr<BuiltinNet> MakeResNet();

std::unique_ptr<Model> WrapBuiltinNet(std::shared_ptr<BuiltinNet> net);

}  // namespace aimass::models
