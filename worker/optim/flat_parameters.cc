#include "worker/optim/flat_parameters.h"

#include <string>

namespace aimass::worker {

Result<FlatLayout> FlattenParameters(const std::vector<torch::Tensor>& parameters,
                                     const torch::Tensor& gradients,
                                     const std::vector<int64_t>& offsets) {
  if (parameters.size() != offsets.size()) {
    return Status::Error("flat parameters: " + std::to_string(parameters.size()) + " parameters, " +
                         std::to_string(offsets.size()) + " offsets");
  }
  if (gradients.dim() != 1 || !gradients.is_contiguous()) {
    return Status::Error("flat parameters: the gradients are not one contiguous buffer");
  }
  const int64_t total = gradients.numel();
  for (size_t i = 0; i < parameters.size(); ++i) {
    const torch::Tensor& parameter = parameters[i];
    if (parameter.scalar_type() != gradients.scalar_type() || parameter.device() != gradients.device()) {
      return Status::Error("flat parameters: parameter " + std::to_string(i) +
                           " is not of the gradients' dtype and device");
    }
    if (offsets[i] < 0 || offsets[i] + parameter.numel() > total) {
      return Status::Error("flat parameters: parameter " + std::to_string(i) + " does not fit the buffer");
    }
  }
  torch::NoGradGuard no_grad;
  FlatLayout layout;
  // Zeros: a gap between parameters (none today) holds a value the optimizer may update harmlessly.
  layout.parameters = torch::zeros({total}, gradients.options());
  layout.gradients = gradients;
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
  if (i >= layout.offsets.size() || !parameter.grad().defined()) return false;
  const int64_t bytes = layout.offsets[i] * static_cast<int64_t>(layout.parameters.element_size());
  const auto* parameters = static_cast<const char*>(layout.parameters.data_ptr());
  const auto* gradients = static_cast<const char*>(layout.gradients.data_ptr());
  return parameter.data_ptr() == parameters + bytes && parameter.grad().data_ptr() == gradients + bytes &&
         parameter.is_contiguous() && parameter.grad().is_contiguous();
}

}  // namespace aimass::worker
