#include "worker/optim/flat_parameters.h"

#include <string>

namespace aimass::worker {

Result<FlatLayout> FlattenParameters(const std::vector<torch::Tensor>& parameters,
                                     const std::vector<int64_t>& offsets, int64_t total) {
  if (parameters.size() != offsets.size()) {
    return Status::Error("flat parameters: " + std::to_string(parameters.size()) + " parameters, " +
                         std::to_string(offsets.size()) + " offsets");
  }
  if (parameters.empty()) return Status::Error("flat parameters: no parameters");
  const torch::TensorOptions options = parameters.front().options().requires_grad(false);
  for (size_t i = 0; i < parameters.size(); ++i) {
    const torch::Tensor& parameter = parameters[i];
    if (parameter.scalar_type() != parameters.front().scalar_type() ||
        parameter.device() != parameters.front().device()) {
      return Status::Error("flat parameters: parameter " + std::to_string(i) +
                           " is not of the first parameter's dtype and device");
    }
    if (offsets[i] < 0 || offsets[i] + parameter.numel() > total) {
      return Status::Error("flat parameters: parameter " + std::to_string(i) + " does not fit the buffer");
    }
  }
  torch::NoGradGuard no_grad;
  FlatLayout layout;
  // Zeros: a gap between parameters (none today) holds a value the optimizer may update harmlessly.
  layout.parameters = torch::zeros({total}, options);
  layout.offsets = offsets;
  for (size_t i = 0; i < parameters.size(); ++i) {
    torch::Tensor parameter = parameters[i];
    torch::Tensor view = layout.parameters.narrow(0, offsets[i], parameter.numel()).view(parameter.sizes());
    view.copy_(parameter.detach());
    parameter.set_data(view);
  }
  return layout;
}

bool IsFlatView(const FlatLayout& layout, size_t i, const torch::Tensor& parameter) {
  if (i >= layout.offsets.size()) return false;
  const int64_t bytes = layout.offsets[i] * static_cast<int64_t>(layout.parameters.element_size());
  const auto* parameters = static_cast<const char*>(layout.parameters.data_ptr());
  return parameter.data_ptr() == parameters + bytes && parameter.is_contiguous() &&
         parameter.scalar_type() == layout.parameters.scalar_type();
}

}  // namespace aimass::worker
