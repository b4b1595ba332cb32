// Flat parameters: the model's parameters as views into one contiguous buffer, laid out in the
// gradient synchronizer's bucket order (sync/bucket_plan.h), so that an optimizer updates every
// parameter and its own state in one pass over flat buffers (fused_optimizers.h), reading each
// parameter's gradient where it is, instead of several tensor operations per parameter.
//
// A parameter stays the same tensor object for the model, autograd and the optimizer: only its
// storage changes (set_data keeps its gradient accumulator, hooks and identity). What is saved
// (checkpoints, model.pt) reads the parameters as before.
//
// Thread safety: none; call before training starts, on the training thread.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "common/status.h"

namespace aimass::worker {

// Where a model's parameters live when they are flat.
struct FlatLayout {
  torch::Tensor parameters;      // [total] every parameter, at offsets[i]
  std::vector<int64_t> offsets;  // element offset of each parameter, in registration order
};

// Copies each parameter's current values into a new buffer of `total` elements, of the first
// parameter's dtype and device, at `offsets[i]`, and makes the parameter a view of it. Returns
// the layout. Errors: parameters of mixed dtypes or devices, or one that does not fit.
[[nodiscard]] Result<FlatLayout> FlattenParameters(const std::vector<torch::Tensor>& parameters,
                                                   const std::vector<int64_t>& offsets, int64_t total);

// Whether `parameter` (index `i` of the layout) still is the layout's view: a load that rebinds
// a parameter's storage (a module's load does) ends that.
bool IsFlatView(const FlatLayout& layout, size_t i, const torch::Tensor& parameter);

}  // namespace aimass::worker
