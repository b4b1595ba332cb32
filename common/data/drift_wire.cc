#include "common/data/drift_wire.h"

#include "common/aimass.pb.h"

namespace aimass::data {

void EncodeDriftSpec(const std::vector<std::vector<double>>& edges, uint32_t classes, proto::DriftSpec* spec) {
  spec->Clear();
  for (const auto& feature : edges) {
    spec->add_features()->mutable_edges()->Add(feature.begin(), feature.end());
  }
  spec->set_classes(classes);
}

std::vector<std::vector<double>> DecodeDriftEdges(const proto::DriftSpec& spec) {
  std::vector<std::vector<double>> edges;
  edges.reserve(spec.features_size());
  for (const proto::FeatureBins& feature : spec.features()) {
    edges.emplace_back(feature.edges().begin(), feature.edges().end());
  }
  return edges;
}

void EncodeDriftCounts(const DriftCounts& counts, proto::DriftHistograms* out) {
  out->Clear();
  for (const auto& feature : counts.features) {
    out->add_features()->mutable_counts()->Add(feature.begin(), feature.end());
  }
  out->mutable_predicted()->Add(counts.predicted.begin(), counts.predicted.end());
}

Result<DriftCounts> DecodeDriftCounts(const proto::DriftHistograms& histograms, const DriftCounts& expected) {
  DriftCounts counts;
  for (const proto::FeatureBinCounts& feature : histograms.features()) {
    counts.features.emplace_back(feature.counts().begin(), feature.counts().end());
  }
  counts.predicted.assign(histograms.predicted().begin(), histograms.predicted().end());
  DriftCounts merged = expected;
  for (auto& feature : merged.features) std::fill(feature.begin(), feature.end(), 0);
  std::fill(merged.predicted.begin(), merged.predicted.end(), 0);
  AIMASS_RETURN_IF_ERROR(merged.Merge(counts));
  return merged;
}

}  // namespace aimass::data
