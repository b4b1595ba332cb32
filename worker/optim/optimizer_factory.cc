#include "worker/optim/optimizer_factory.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <string>
#include <utility>

#include "models/model.h"
#include "worker/optim/fused_optimizers.h"

namespace aimass::worker {
namespace {

constexpr double kPi = 3.14159265358979323846;

Status CheckNonNegative(const char* key, double value) {
  if (value >= 0.0 && std::isfinite(value)) return Status::Ok();
  return Status::Error(std::string(key) + ": must be a finite number >= 0, got " +
                       std::to_string(value));
}

Status CheckCommon(const OptimizerConfig& config) {
  if (!(config.lr > 0.0) || !std::isfinite(config.lr)) {
    return Status::Error("optimizer.lr: must be > 0, got " + std::to_string(config.lr));
  }
  return CheckNonNegative("optimizer.weight_decay", config.weight_decay);
}

Status CheckAdam(const OptimizerConfig& config) {
  for (auto [key, beta] : {std::pair{"optimizer.beta1", config.beta1},
                           std::pair{"optimizer.beta2", config.beta2}}) {
    if (!(beta >= 0.0 && beta < 1.0)) {
      return Status::Error(std::string(key) + ": must be in [0, 1), got " + std::to_string(beta));
    }
  }
  if (!(config.eps > 0.0)) {
    return Status::Error("optimizer.eps: must be > 0, got " + std::to_string(config.eps));
  }
  return Status::Ok();
}

std::unique_ptr<torch::optim::Optimizer> MakeSgd(const OptimizerConfig& config,
                                                 const std::vector<torch::Tensor>& parameters) {
  auto options = torch::optim::SGDOptions(config.lr)
                     .momentum(config.momentum)
                     .dampening(config.dampening)
                     .nesterov(config.nesterov)
                     .weight_decay(config.weight_decay);
  return std::make_unique<FusedSGD>(parameters, options);
}

std::unique_ptr<torch::optim::Optimizer> MakeAdam(const OptimizerConfig& config,
                                                  const std::vector<torch::Tensor>& parameters) {
  auto options = torch::optim::AdamOptions(config.lr)
                     .betas({config.beta1, config.beta2})
                     .eps(config.eps)
                     .weight_decay(config.weight_decay);
  return std::make_unique<FusedAdam>(parameters, options);
}

// AdamW decays the weights directly instead of through the gradient; its LibTorch default decay
// (1e-2) is replaced by the configured one, so weight_decay 0 really means none.
std::unique_ptr<torch::optim::Optimizer> MakeAdamW(const OptimizerConfig& config,
                                                   const std::vector<torch::Tensor>& parameters) {
  auto options = torch::optim::AdamWOptions(config.lr)
                     .betas({config.beta1, config.beta2})
                     .eps(config.eps)
                     .weight_decay(config.weight_decay);
  return std::make_unique<FusedAdamW>(parameters, options);
}

}  // namespace

Result<std::unique_ptr<torch::optim::Optimizer>> CreateOptimizer(
    const OptimizerConfig& config, const std::vector<torch::Tensor>& parameters) {
  AIMASS_RETURN_IF_ERROR(CheckCommon(config));
  try {
    if (config.name == "sgd") {
      AIMASS_RETURN_IF_ERROR(CheckNonNegative("optimizer.momentum", config.momentum));
      if (config.nesterov && !(config.momentum > 0.0)) {
        return Status::Error("optimizer.nesterov: needs optimizer.momentum > 0");
      }
      return MakeSgd(config, parameters);
    }
    if (config.name == "adam" || config.name == "adamw") {
      AIMASS_RETURN_IF_ERROR(CheckAdam(config));
      return config.name == "adam" ? MakeAdam(config, parameters) : MakeAdamW(config, parameters);
    }
  } catch (const std::exception& error) {
    return Status::Error("optimizer " + config.name + ": " + models::TorchErrorMessage(error));
  }
  return Status::Error("optimizer.name: unknown optimizer '" + config.name +
                       "' (known: sgd, adam, adamw)");
}

double LearningRateAt(const ScheduleConfig& schedule, double base_lr, uint64_t step,
                      uint64_t total_steps) {
  if (step < schedule.warmup_steps) {
    return base_lr * static_cast<double>(step + 1) / static_cast<double>(schedule.warmup_steps);
  }
  const uint64_t steps_after_warmup = step - schedule.warmup_steps;
  if (schedule.name == "step") {
    const uint64_t step_size = std::max<uint64_t>(1, schedule.step_size);
    return base_lr * std::pow(schedule.gamma, static_cast<double>(steps_after_warmup / step_size));
  }
  if (schedule.name == "cosine") {
    const uint64_t decay_steps =
        total_steps > schedule.warmup_steps ? total_steps - schedule.warmup_steps : 1;
    // Steps past the end (a run extended after the fact) stay at the floor.
    const double progress =
        std::min(1.0, static_cast<double>(steps_after_warmup) / static_cast<double>(decay_steps));
    return schedule.min_lr +
           (base_lr - schedule.min_lr) * 0.5 * (1.0 + std::cos(kPi * progress));
  }
  return base_lr;
}

Status ValidateSchedule(const ScheduleConfig& schedule) {
  if (schedule.name != "constant" && schedule.name != "step" && schedule.name != "cosine") {
    return Status::Error("schedule.name: unknown schedule '" + schedule.name +
                         "' (known: constant, step, cosine)");
  }
  if (schedule.name == "step" && schedule.step_size == 0) {
    return Status::Error("schedule.step_size: must be at least 1");
  }
  if (schedule.name == "step" && !(schedule.gamma > 0.0)) {
    return Status::Error("schedule.gamma: must be > 0, got " + std::to_string(schedule.gamma));
  }
  if (schedule.name == "cosine" && !(schedule.min_lr >= 0.0)) {
    return Status::Error("schedule.min_lr: must be >= 0, got " + std::to_string(schedule.min_lr));
  }
  return Status::Ok();
}

void SetLearningRate(torch::optim::Optimizer& optimizer, double lr) {
  for (torch::optim::OptimizerParamGroup& group : optimizer.param_groups()) {
    group.options().set_lr(lr);
  }
}

}  // namespace aimass::worker
