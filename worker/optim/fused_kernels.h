// The elementwise updates of the fused optimizers (fused_optimizers.h) over plain float
// arrays: one pass reads each buffer once and writes the parameters and the state once, with no
// temporary. Each follows LibTorch's own optimizer operation by operation (the same float
// scalars, the same order), so results differ only by floating-point contraction (FMA).
// Compiled with -O3 so the loops vectorize. Torch-free; callers split ranges across threads.
// Each also returns whether every gradient it read was finite: checking in the same pass costs
// a compare per element, a separate check a pass over the gradients.
#pragma once

#include <cstdint>

namespace aimass::worker::kernels {

struct SgdScalars {
  float lr = 0;
  float momentum = 0;               // 0: no momentum buffer
  float dampening_complement = 1;   // 1 - dampening
  float weight_decay = 0;
  bool nesterov = false;
  bool first = false;  // the momentum buffer starts as the step's gradient
};

// parameters -= lr * d, where d is the (decayed) gradient or its momentum form; `momentum` may
// be null when scalars.momentum is 0. False: a gradient was NaN or Inf (the update is done all
// the same).
[[nodiscard]] bool SgdUpdate(float* parameters, const float* gradients, float* momentum, int64_t count,
                             const SgdScalars& scalars);

struct AdamScalars {
  float beta1 = 0.9f;
  float one_minus_beta1 = 0.1f;
  float beta2 = 0.999f;
  float one_minus_beta2 = 0.001f;
  float eps = 1e-8f;
  float sqrt_bias_correction2 = 1;  // sqrt(1 - beta2^step)
  float neg_step_size = 0;          // -lr / (1 - beta1^step)
  float weight_decay = 0;           // Adam: added to the gradient (L2)
  float decay_factor = 1;           // AdamW: parameters *= 1 - lr * weight_decay first
  bool decoupled = false;           // AdamW
};

[[nodiscard]] bool AdamUpdate(float* parameters, const float* gradients, float* exp_avg, float* exp_avg_sq,
                              int64_t count, const AdamScalars& scalars);

}  // namespace aimass::worker::kernels
