// Model: one interface over the builtin LibTorch modules and user TorchScript modules, so the
// trainer, checkpoints and export do not care which kind they train.
// Not thread-safe: one training thread owns a Model.
#pragma once

#include <torch/script.h>
#include <torch/torch.h>

#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "common/config/train_config.h"
#include "common/status.h"

namespace aimass::models {

class Model {
 public:
  virtual ~Model() = default;

  // input [N, input_shape...] float32 -> logits [N, num_classes].
  virtual torch::Tensor Forward(const torch::Tensor& input) = 0;

  // Trainable parameters in registration order: the same order on every rank.
  virtual std::vector<torch::Tensor> Parameters() = 0;
  // Non-trainable state (e.g. batch-norm running statistics), registration order.
  virtual std::vector<torch::Tensor> Buffers() = 0;

  virtual void SetTraining(bool training) = 0;
  virtual void MoveTo(const torch::Device& device) = 0;

  // Parameters and buffers into / out of a checkpoint archive.
  virtual void SaveState(torch::serialize::OutputArchive& archive) = 0;
  virtual Status LoadState(torch::serialize::InputArchive& archive) = 0;

  // The final trained model: a TorchScript file for torchscript models (loadable with
  // torch.jit.load); a LibTorch archive for builtins (loadable with LoadExportedModel).
  virtual Status Export(const std::string& path) = 0;
};

// Builds `config` (already resolved by ResolveModelConfig) with parameters drawn from `seed`,
// so every rank starts from the same weights.
Result<std::unique_ptr<Model>> CreateModel(const ModelConfig& config, uint64_t seed);

// Loads what Export wrote, for evaluation or inference.
Result<std::unique_ptr<Model>> LoadExportedModel(const ModelConfig& config,
                                                 const std::string& path);

// One line for a Status from an exception LibTorch threw: a c10::Error without the backtrace
// and source context it carries.
std::string TorchErrorMessage(const std::exception& error);

}  // namespace aimass::models
