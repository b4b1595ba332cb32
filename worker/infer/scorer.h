// The model as inference uses it: loaded once, on its device, fed float32 records and giving
// back float32 scores on the CPU. Batch inference (inference_runner.h) and online serving
// (worker/serve/serving_loop.h) score through this one class, so a record gets the same scores
// either way.
//
// Thread safety: one thread at a time (a LibTorch module is not re-entrant for us).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/config/train_config.h"
#include "common/status.h"

namespace aimass::models {
class Model;
}

namespace aimass::worker {

struct ScorerOptions {
  std::string model_name;           // registry name (mlp, cnn, resnet, torchscript:<file>)
  std::string model_path;           // TorchScript file or a builtin's exported archive
  std::vector<int64_t> input_shape;  // per record
  uint32_t num_classes = 0;
  std::string dtype = "float32";    // float32 | float64: what the model is fed
  bool softmax = false;             // scores as probabilities rather than raw outputs
};

// The options a job's spec names: proto::InferSpec (batch inference) and proto::ServeSpec
// (online serving) carry the same fields, so both score alike.
template <typename Spec>
ScorerOptions ScorerOptionsOf(const Spec& spec) {
  ScorerOptions options;
  options.model_name = spec.model_name();
  options.model_path = spec.model_path();
  options.input_shape.assign(spec.input_shape().begin(), spec.input_shape().end());
  options.num_classes = spec.num_classes();
  options.dtype = spec.dtype();
  options.softmax = spec.scores() == "softmax";
  return options;
}

class Scorer {
 public:
  // Loads the model onto `device` and runs one all-zero record through it: learns the number
  // of scores, and rejects a model that does not take this input before any work arrives
  // ("model 'torchscript:m.pt' does not take this job's records of 2 values (input shape [2]):
  // TorchScript: RuntimeError: mat1 and mat2 shapes cannot be multiplied (1x2 and 3x4)").
  static Result<Scorer> Load(const ScorerOptions& options, torch::Device device);

  int64_t width() const { return width_; }
  int64_t values_per_record() const { return values_per_record_; }

  // [rows, width] float32, contiguous, on the CPU. `features` holds rows x values_per_record
  // values (already normalized); it is read, not kept. A failure says how many records of how
  // many values the model was given, then LibTorch's error.
  Result<torch::Tensor> Score(float* features, int64_t rows);

 private:
  // Score without the context in errors.
  Result<torch::Tensor> Forward(float* features, int64_t rows);
  // "784 values (input shape [1, 28, 28])".
  std::string RecordText() const;

  std::shared_ptr<models::Model> model_;
  torch::Device device_ = torch::kCPU;
  std::vector<int64_t> shape_;
  torch::ScalarType dtype_ = torch::kFloat32;
  bool softmax_ = false;
  int64_t width_ = 0;
  int64_t values_per_record_ = 1;
};

// (value * scale - mean) / std over `count` values, as training and batch inference read them.
void NormalizeInPlace(float* values, size_t count, const NormalizeConfig& normalize);

}  // namespace aimass::worker
