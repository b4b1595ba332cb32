#include "worker/optim/fused_kernels.h"

#include <cfloat>
#include <cmath>

namespace aimass::worker::kernels {

namespace {
// 1 for NaN and +-Inf: |x| <= FLT_MAX is false for them. An integer, so that OR-ing it over a
// loop vectorizes (a float reduction would not, without reassociation).
inline int NonFinite(float x) { return static_cast<int>(!(std::fabs(x) <= FLT_MAX)); }
}  // namespace

// __restrict: the buffers never overlap, which lets the compiler vectorize without run-time
// overlap checks.
bool SgdUpdate(float* __restrict parameters, const float* __restrict gradients, float* __restrict momentum,
               int64_t count, const SgdScalars& s) {
  const float lr = s.lr, m = s.momentum, keep = s.dampening_complement, wd = s.weight_decay;
  int bad = 0;
  if (m == 0.0f) {
    for (int64_t i = 0; i < count; ++i) {
      bad |= NonFinite(gradients[i]);
      const float g = gradients[i] + wd * parameters[i];
      parameters[i] = parameters[i] + (-lr) * g;
    }
    return bad == 0;
  }
  // Four variants so the loop bodies carry no branch.
  if (s.first && s.nesterov) {
    for (int64_t i = 0; i < count; ++i) {
      bad |= NonFinite(gradients[i]);
      const float g = gradients[i] + wd * parameters[i];
      momentum[i] = g;
      parameters[i] = parameters[i] + (-lr) * (g + m * g);
    }
  } else if (s.first) {
    for (int64_t i = 0; i < count; ++i) {
      bad |= NonFinite(gradients[i]);
      const float g = gradients[i] + wd * parameters[i];
      momentum[i] = g;
      parameters[i] = parameters[i] + (-lr) * g;
    }
  } else if (s.nesterov) {
    for (int64_t i = 0; i < count; ++i) {
      bad |= NonFinite(gradients[i]);
      const float g = gradients[i] + wd * parameters[i];
      const float b = momentum[i] * m + keep * g;
      momentum[i] = b;
      parameters[i] = parameters[i] + (-lr) * (g + m * b);
    }
  } else {
    for (int64_t i = 0; i < count; ++i) {
      bad |= NonFinite(gradients[i]);
      const float g = gradients[i] + wd * parameters[i];
      const float b = momentum[i] * m + keep * g;
      momentum[i] = b;
      parameters[i] = parameters[i] + (-lr) * b;
    }
  }
  return bad == 0;
}

bool AdamUpdate(float* __restrict parameters, const float* __restrict gradients, float* __restrict exp_avg,
                float* __restrict exp_avg_sq, int64_t count, const AdamScalars& s) {
  const float b1 = s.beta1, c1 = s.one_minus_beta1, b2 = s.beta2, c2 = s.one_minus_beta2;
  const float eps = s.eps, root = s.sqrt_bias_correction2, step = s.neg_step_size;
  int bad = 0;
  if (s.decoupled) {
    const float decay = s.decay_factor;
    for (int64_t i = 0; i < count; ++i) {
      const float g = gradients[i];
      bad |= NonFinite(g);
      const float p = parameters[i] * decay;
      const float m = exp_avg[i] * b1 + c1 * g;
      const float v = exp_avg_sq[i] * b2 + c2 * g * g;
      exp_avg[i] = m;
      exp_avg_sq[i] = v;
      parameters[i] = p + step * m / (std::sqrt(v) / root + eps);
    }
    return bad == 0;
  }
  const float wd = s.weight_decay;
  for (int64_t i = 0; i < count; ++i) {
    bad |= NonFinite(gradients[i]);
    const float g = gradients[i] + wd * parameters[i];
    const float m = exp_avg[i] * b1 + c1 * g;
    const float v = exp_avg_sq[i] * b2 + c2 * g * g;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    parameters[i] = parameters[i] + step * m / (std::sqrt(v) / root + eps);
  }
  return bad == 0;
}

}  // namespace aimass::worker::kernels
