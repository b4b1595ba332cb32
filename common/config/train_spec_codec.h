// TrainConfig <-> the TrainSpec wire message. The coordinator encodes the job's configuration,
// workers decode it, so both read the same values whatever the config came from.
#pragma once

#include "common/config/train_config.h"

namespace aimass::proto {
class TrainSpec;
}

namespace aimass {

// Fills the configuration fields of `spec` (not datasets, run state or resume information).
void EncodeTrainConfig(const TrainConfig& config, proto::TrainSpec* spec);

TrainConfig DecodeTrainConfig(const proto::TrainSpec& spec);

}  // namespace aimass
