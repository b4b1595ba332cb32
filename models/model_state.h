// Shared by every Model implementation: how named parameters and buffers are laid out in a
// checkpoint or export archive, and the checked load that refuses another architecture's state.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "common/status.h"
#include "models/model.h"

namespace aimass::models {

struct NamedTensor {
  std::string name;     // e.g. "conv1.weight", as the module names it
  torch::Tensor tensor;  // the live tensor of the model, updated in place on load
};

struct NamedState {
  std::vector<NamedTensor> parameters;
  std::vector<NamedTensor> buffers;
};

// Writes every tensor under "model/parameters/<name>" or "model/buffers/<name>", as a CPU copy
// so that a checkpoint taken on a GPU resumes on any device.
void WriteModelState(const NamedState& state, torch::serialize::OutputArchive& archive);

// Copies the archive's tensors into `state`'s tensors, keeping their identity (an optimizer
// holds them) and device. Checks first that the archive's "model/" keys are exactly the
// expected ones with the same shapes, so a mismatch names the first bad key and changes nothing.
Status ReadModelState(torch::serialize::InputArchive& archive, const NamedState& state);

// Serializes `archive` to bytes and writes them with Env::WriteFileAtomically.
Status SaveArchiveAtomically(torch::serialize::OutputArchive& archive, const std::string& path);

// Reads a file written by SaveArchiveAtomically (or torch::save) into `archive`.
Status LoadArchiveFile(const std::string& path, torch::serialize::InputArchive& archive);

}  // namespace aimass::models
