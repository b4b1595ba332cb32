// Training datasets and epoch plans on the control plane (proto::DatasetSpec, proto::EpochPlan).
// The coordinator encodes, workers decode; both sides of the wire use these two pairs only.
#pragma once

#include <vector>

#include "common/data/dataset_index.h"
#include "common/data/epoch_planner.h"

namespace aimass::proto {
class DatasetSpec;
class EpochPlan;
}  // namespace aimass::proto

namespace aimass::data {

void EncodeDataset(const DatasetIndex& index, proto::DatasetSpec* spec);
DatasetIndex DecodeDataset(const proto::DatasetSpec& spec);

// `start_step`: steps of this epoch already done (resume).
void EncodeEpochPlan(const EpochPlan& plan, uint64_t start_step, proto::EpochPlan* out);
EpochPlan DecodeEpochPlan(const proto::EpochPlan& plan);

}  // namespace aimass::data
