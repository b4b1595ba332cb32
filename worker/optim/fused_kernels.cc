#include "worker/optim/fused_kernels.h"

#include <cmath>

namespace aimass::worker::kernels {

// __restrict: the buffers never overlap, which lets the compiler vectorize without run-time
// overlap checks.
void SgdUpdate(float* __restrict parameters, const float* __restrict gradients, float* __restrict momentum,
               int64_t count, const SgdScalars& s) {
  const float lr = s.lr, m = s.momentum, keep = s.dampening_complement, wd = s.weight_decay;
  if (m == 0.0f) {
    for (int64_t i = 0; i < count; ++i) {
      const float g = gradients[i] + wd * parameters[i];
      parameters[i] = parameters[i] + (-lr) * g;
    }
    return;
  }
  // Four variants so the loop bodies carry no branch.
  if (s.first && s.nesterov) {
    for (int64_t i = 0; i < count; ++i) {
      const float g = gradients[i] + wd * parameters[i];
      momentum[i] = g;
      parameters[i] = parameters[i] + (-lr) * (g + m * g);
    }
  } else if (s.first) {
    for (int64_t i = 0; i < count; ++i) {
      const float g = gradients[i] + wd * parameters[i];
      momentum[i] = g;
      parameters[i] = parameters[i] + (-lr) * g;
    }
  } else if (s.nesterov) {
    for (int64_t i = 0; i < count; ++i) {
      const float g = gradients[i] + wd * parameters[i];
      const float b = momentum[i] * m + keep * g;
      momentum[i] = b;
      parameters[i] = parameters[i] + (-lr) * (g + m * b);
    }
  } else {
    for (int64_t i = 0; i < count; ++i) {
      const float g = gradients[i] + wd * parameters[i];
      const float b = momentum[i] * m + keep * g;
      momentum[i] = b;
      parameters[i] = parameters[i] + (-lr) * b;
    }
  }
}

void AdamUpdate(float* __restrict parameters, const float* __restrict gradients, float* __restrict exp_avg,
                float* __restrict exp_avg_sq, int64_t count, const AdamScalars& s) {
  const float b1 = s.beta1, c1 = s.one_minus_beta1, b2 = s.beta2, c2 = s.one_minus_beta2;
  const float eps = s.eps, root = s.sqrt_bias_correction2, step = s.neg_step_size;
  if (s.decoupled) {
    const float decay = s.decay_factor;
    for (int64_t i = 0; i < count; ++i) {
      const float g = gradients[i];
      const float p = parameters[i] * decay;
      const float m = exp_avg[i] * b1 + c1 * g;
      const float v = exp_avg_sq[i] * b2 + c2 * g * g;
      exp_avg[i] = m;
      exp_avg_sq[i] = v;
      parameters[i] = p + step * m / (std::sqrt(v) / root + eps);
    }
    return;
  }
  const float wd = s.weight_decay;
  for (int64_t i = 0; i < count; ++i) {
    const float g = gradients[i] + wd * parameters[i];
    const float m = exp_avg[i] * b1 + c1 * g;
    const float v = exp_avg_sq[i] * b2 + c2 * g * g;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    parameters[i] = parameters[i] + step * m / (std::sqrt(v) / root + eps);
  }
}

}  // namespace aimass::worker::kernels
