// Drift on the control plane (proto::DriftSpec, proto::DriftHistograms): the coordinator sends a
// training profile's bin edges with an inference job's spec; each worker reports the counts of
// one attempt with its SplitDone. Both sides use these functions only.
#pragma once

#include <cstdint>
#include <vector>

#include "common/data/data_profile.h"
#include "common/status.h"

namespace aimass::proto {
class DriftSpec;
class DriftHistograms;
}  // namespace aimass::proto

namespace aimass::data {

void EncodeDriftSpec(const std::vector<std::vector<double>>& edges, uint32_t classes, proto::DriftSpec* spec);
std::vector<std::vector<double>> DecodeDriftEdges(const proto::DriftSpec& spec);

void EncodeDriftCounts(const DriftCounts& counts, proto::DriftHistograms* out);
// The counts a worker reported, shaped like `expected` (InvalidArgument otherwise: a report
// from a worker of another job or build is refused, not merged).
Result<DriftCounts> DecodeDriftCounts(const proto::DriftHistograms& histograms, const DriftCounts& expected);

}  // namespace aimass::data
