// What the coordinator needs to know of a model without loading it: input shape and classes.
// Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/config/train_config.h"
#include "common/status.h"

namespace aimass::models {

// Builtin names: mlp, cnn, resnet. A name "torchscript:<file>" refers to a scripted module.
std::vector<std::string> BuiltinModelNames();

bool IsTorchScriptName(const std::string& name);
std::string TorchScriptPath(const std::string& name);  // the <file> of "torchscript:<file>"

// Values in one sample of `shape` (its product; 1 for an empty shape): 784 for {1, 28, 28}.
int64_t ValuesPerSample(const std::vector<int64_t>& shape);

// Completes `config`: builtins set input_shape {1, 28, 28} and num_classes 10 (a config that
// says otherwise is an error naming the key); a torchscript model needs `model.input_shape` from
// the config and its file must exist. Unknown names are an error that lists the known ones.
Status ResolveModelConfig(ModelConfig& config);

}  // namespace aimass::models
