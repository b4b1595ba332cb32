#include "worker/infer/scorer.h"

#include "models/model.h"

namespace aimass::worker {
namespace {

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

std::string ShapeText(const torch::Tensor& tensor) { return ShapeText(tensor.sizes().vec()); }

}  // namespace

Result<Scorer> Scorer::Load(const ScorerOptions& options, torch::Device device) {
  ModelConfig config;
  config.name = options.model_name;
  config.input_shape = options.input_shape;
  config.num_classes = options.num_classes;
  AIMASS_ASSIGN_OR_RETURN(auto model, models::LoadExportedModel(config, options.model_path));
  Scorer scorer;
  scorer.model_ = std::move(model);
  scorer.model_->SetTraining(false);
  scorer.model_->MoveTo(device);
  scorer.device_ = device;
  scorer.shape_ = options.input_shape;
  scorer.dtype_ = options.dtype == "float64" ? torch::kFloat64 : torch::kFloat32;
  scorer.softmax_ = options.softmax;
  for (int64_t dim : scorer.shape_) scorer.values_per_record_ *= dim;
  std::vector<float> zeros(static_cast<size_t>(scorer.values_per_record_), 0.0f);
  Result<torch::Tensor> probe = scorer.Forward(zeros.data(), 1);
  if (!probe.ok()) {
    // Mostly a model of another input width: what it was given, and LibTorch's account of what
    // it expected ("mat1 and mat2 shapes cannot be multiplied (1x2 and 3x4)": it takes 3).
    return Status::Error("model '" + options.model_name + "' does not take this job's records of " +
                         scorer.RecordText() + ": " + probe.status().message());
  }
  scorer.width_ = probe->size(1);
  return scorer;
}

Result<torch::Tensor> Scorer::Score(float* features, int64_t rows) {
  Result<torch::Tensor> output = Forward(features, rows);
  if (!output.ok()) {
    return Status::Error("model forward failed on " + std::to_string(rows) +
                         (rows == 1 ? " record of " : " records of ") + RecordText() + ": " +
                         output.status().message());
  }
  return output;
}

std::string Scorer::RecordText() const {
  return std::to_string(values_per_record_) + (values_per_record_ == 1 ? " value" : " values") +
         " (input shape " + ShapeText(shape_) + ")";
}

Result<torch::Tensor> Scorer::Forward(float* features, int64_t rows) {
  try {
    torch::NoGradGuard no_grad;
    std::vector<int64_t> shape{rows};
    shape.insert(shape.end(), shape_.begin(), shape_.end());
    torch::Tensor input = torch::from_blob(features, shape, torch::kFloat32);
    input = input.to(device_, dtype_);
    torch::Tensor output = model_->Forward(input);
    if (output.dim() == 1) output = output.unsqueeze(1);
    if (output.dim() != 2 || output.size(0) != rows) {
      return Status::Error("the model returned shape " + ShapeText(output) + " for " +
                           std::to_string(rows) + " records; expected [records, scores]");
    }
    if (softmax_) output = torch::softmax(output.to(torch::kFloat32), 1);
    return output.to(torch::kCPU, torch::kFloat32).contiguous();
  } catch (const std::exception& error) {
    return Status::Error(models::TorchErrorMessage(error));
  }
}

void NormalizeInPlace(float* values, size_t count, const NormalizeConfig& normalize) {
  if (normalize.scale == 1.0f && normalize.mean == 0.0f && normalize.std == 1.0f) return;
  for (size_t i = 0; i < count; ++i) values[i] = (values[i] * normalize.scale - normalize.mean) / normalize.std;
}

}  // namespace aimass::worker
