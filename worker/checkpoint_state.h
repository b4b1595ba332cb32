// Model and optimizer state <-> checkpoint payload bytes (a LibTorch archive).
#pragma once

#include <torch/torch.h>

#include <string>

#include "common/status.h"
#include "models/model.h"

namespace aimass::worker {

Result<std::string> SerializeTrainingState(models::Model& model,
                                           torch::optim::Optimizer& optimizer);

// Errors when the payload does not match the model (another architecture) or is unreadable.
Status RestoreTrainingState(const std::string& payload, models::Model& model,
                            torch::optim::Optimizer& optimizer);

}  // namespace aimass::worker
