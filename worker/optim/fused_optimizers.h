// Fused optimizers: LibTorch's SGD (momentum, dampening, Nesterov, weight decay), Adam and
// AdamW, updating flat parameters (flat_parameters.h) in one pass.
//
// LibTorch's own step walks every parameter with several tensor operations, each a pass over
// the parameter and most allocating a temporary of its size. Once bound to a FlatLayout, these
// classes keep their state (momentum, Adam's moments) in flat buffers of the same layout and
// update parameters and state together, reading each parameter's .grad where it lives (the
// gradient synchronizer leaves them in a few buffers: one call per run of adjacent ones):
//   - float32 on the CPU: one vectorized loop (fused_kernels.h), split across the intra-op
//     threads, with no allocation;
//   - any other device or dtype (CUDA): a few whole-buffer tensor operations into preallocated
//     buffers, one kernel each, none per parameter.
//
// They stay what they derive from for everything else: the same options, the same state
// objects (whose tensors are views of the flat buffers), so checkpoints are written and read by
// LibTorch's own serializer in the same format, and a learning-rate change is the usual
// param_groups()[i].options().set_lr. Not bound, or no longer bound (a parameter's storage was
// replaced, e.g. by a module load), with a parameter lacking a contiguous gradient, or with a
// feature they do not fuse (AMSGrad, several parameter groups), step() is LibTorch's own.
//
// Thread safety: as LibTorch's optimizers (one thread at a time).
#pragma once

#include <torch/torch.h>

#include <memory>
#include <type_traits>
#include <vector>

#include "common/status.h"
#include "worker/optim/flat_parameters.h"

namespace aimass::worker {

// What the trainer sees of a fused optimizer.
class FlatOptimizer {
 public:
  virtual ~FlatOptimizer() = default;
  // Binds to `layout` (the optimizer's parameters, in its one group's order, are the layout's
  // parameters). Existing state (a loaded checkpoint's) is copied into the flat buffers. Call
  // once the parameters are flat; a later load() rebinds by itself.
  [[nodiscard]] virtual Status Bind(const FlatLayout& layout) = 0;
  // Whether the parameters are flat: the next step() with a contiguous gradient for every
  // parameter is the fused one.
  virtual bool fused() const = 0;

  // What the last step() found in the gradients it read. The fused CPU loop checks each
  // gradient as it reads it; LibTorch's step and the tensor-operation path do not check
  // (kUnchecked: the gradients are as they were, for the caller to check). After kNonFinite the
  // parameters and state hold NaN or Inf: only a caller that stops there may step before it
  // checks.
  enum class GradientCheck { kUnchecked, kFinite, kNonFinite };
  GradientCheck last_gradient_check() const { return last_check_; }

 protected:
  GradientCheck last_check_ = GradientCheck::kUnchecked;
};

namespace detail {
struct FlatCore;  // the layout, the flat state buffers and the cached state keys
}  // namespace detail

class FusedSGD final : public torch::optim::SGD, public FlatOptimizer {
 public:
  FusedSGD(const std::vector<torch::Tensor>& parameters, torch::optim::SGDOptions options);
  ~FusedSGD() override;

  Status Bind(const FlatLayout& layout) override;
  bool fused() const override;
  torch::Tensor step(LossClosure closure = nullptr) override;
  void load(torch::serialize::InputArchive& archive) override;

 private:
  std::unique_ptr<detail::FlatCore> flat_;
};

// Adam (Base = torch::optim::Adam) and AdamW (Base = torch::optim::AdamW): the same state and
// update but for the weight decay, added to the gradient by Adam and applied to the weights
// directly by AdamW.
template <typename Base>
class FusedAdamOf final : public Base, public FlatOptimizer {
 public:
  using Options = std::conditional_t<std::is_same_v<Base, torch::optim::Adam>, torch::optim::AdamOptions,
                                     torch::optim::AdamWOptions>;
  FusedAdamOf(const std::vector<torch::Tensor>& parameters, Options options);
  ~FusedAdamOf() override;

  Status Bind(const FlatLayout& layout) override;
  bool fused() const override;
  torch::Tensor step(typename Base::LossClosure closure = nullptr) override;
  void load(torch::serialize::InputArchive& archive) override;

 private:
  std::unique_ptr<detail::FlatCore> flat_;
};

using FusedAdam = FusedAdamOf<torch::optim::Adam>;
using FusedAdamW = FusedAdamOf<torch::optim::AdamW>;

}  // namespace aimass::worker
