// Optimizers and learning-rate schedules from their configuration.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "common/config/train_config.h"
#include "common/status.h"

namespace aimass::worker {

// sgd (momentum, nesterov, weight_decay), adam, adamw over `parameters`: the fused versions
// (fused_optimizers.h), LibTorch's own until they are bound to flat parameters.
Result<std::unique_ptr<torch::optim::Optimizer>> CreateOptimizer(
    const OptimizerConfig& config, const std::vector<torch::Tensor>& parameters);

// Learning rate for optimizer step `step` (0-based) of `total_steps`: linear warmup over
// warmup_steps, then constant, step decay (gamma every step_size) or cosine down to min_lr.
double LearningRateAt(const ScheduleConfig& schedule, double base_lr, uint64_t step,
                      uint64_t total_steps);

// Errors for an unknown schedule name or a parameter the schedule cannot use (step_size 0,
// gamma <= 0, min_lr < 0). LearningRateAt treats an unknown name as constant.
Status ValidateSchedule(const ScheduleConfig& schedule);

void SetLearningRate(torch::optim::Optimizer& optimizer, double lr);

}  // namespace aimass::worker
