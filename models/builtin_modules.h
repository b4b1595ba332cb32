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

// Each draws its parameters from the global LibTorch generator: seed it first.
std::shared_ptr<BuiltinNet> MakeMlpNet();
std::shared_ptr<BuiltinNet> MakeCnnNet();
std::shared_ptr<BuiltinNet> MakeResNet();

std::unique_ptr<Model> WrapBuiltinNet(std::shared_ptr<BuiltinNet> net);

}  // namespace aimass::models
