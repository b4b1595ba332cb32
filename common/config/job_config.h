// Reads a training job's YAML file into a TrainConfig, strictly: an unknown key, a value of the
// wrong type or out of range is an error naming the file and the dotted key
// ("job.yaml: unknown key 'training.epochz'"). The reference is docs/training.md.
#pragma once

#include <string>

#include "common/config/train_config.h"
#include "common/env.h"
#include "common/status.h"

namespace aimass {

// `source` names the text in error messages (normally the file path).
Result<TrainConfig> ParseTrainConfig(const std::string& yaml_text, const std::string& source);

Result<TrainConfig> LoadTrainConfig(const std::string& path, Env& env);

}  // namespace aimass
