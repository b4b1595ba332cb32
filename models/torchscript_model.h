// User TorchScript modules behind the Model interface. Internal to aimass_models: callers go
// through CreateModel / LoadExportedModel.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "models/model.h"

namespace aimass::models {

// jit-loads `path` onto the CPU; an error names the file.
Result<std::unique_ptr<Model>> LoadTorchScriptModel(const std::string& path);

}  // namespace aimass::models
