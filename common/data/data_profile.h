// Data profiles and drift: what a model's training features looked like (per feature: count,
// missing values, min, max, mean, standard deviation, a fixed histogram and quantiles read from
// it; and the distribution of the label), and the population stability index (PSI) that says
// how far later data (a batch inference job's input, a window of online requests) has moved
// from it.
//
// A profile's bins are fixed when it is built: `kProfileBins` equal-width bins over the
// feature's [min, max], the outer two open-ended, so that later data outside the training
// range still lands in a bin (the first or the last) and counts towards drift. Later data is
// binned with the same interior edges (BinOf), by the worker or the online path, and only the
// counts travel. Everything here is torch-free, so the coordinator, the workers and the
// service share one definition of a bin.
//
// Thread safety: plain values and pure functions; FeatureAccumulator and DriftCounts are not
// thread-safe (one owner each).
#pragma once

#include <boost/json/value.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace aimass::data {

constexpr size_t kProfileBins = 10;
// Quantiles a profile reports (read from the histogram, so approximate to a bin's width).
constexpr double kProfileQuantiles[] = {0.05, 0.25, 0.5, 0.75, 0.95};
// PSI's usual stand-in for an empty bin's share: keeps ln(a/e) finite.
constexpr double kPsiEpsilon = 1e-4;

// Streaming moments (Welford's update): one pass, numerically stable for large counts. A NaN is
// counted as missing and leaves the moments alone.
class FeatureAccumulator {
 public:
  void Add(double value);
  void AddMissing() { ++missing_; }
  uint64_t count() const { return count_; }  // values seen, missing ones not counted
  uint64_t missing() const { return missing_; }
  double min() const { return min_; }
  double max() const { return max_; }
  double mean() const { return mean_; }
  // Population standard deviation (divides by count); 0 for fewer than two values.
  double stddev() const;

 private:
  uint64_t count_ = 0;
  uint64_t missing_ = 0;
  double min_ = 0;
  double max_ = 0;
  double mean_ = 0;
  double m2_ = 0;
};

struct FeatureProfile {
  std::string name;
  uint64_t count = 0;
  uint64_t missing = 0;
  double min = 0;
  double max = 0;
  double mean = 0;
  double std = 0;
  std::vector<double> edges;    // kProfileBins - 1 interior edges, ascending
  std::vector<uint64_t> bins;   // kProfileBins counts; bin i holds edges[i-1] <= x < edges[i]
  std::vector<double> quantiles;  // one per kProfileQuantiles
};

struct DataProfile {
  uint64_t records = 0;          // records the profile was computed over
  uint64_t total_records = 0;    // records in the data (more than `records` when sampled)
  std::vector<FeatureProfile> features;
  std::string label;                   // the label column's name; empty: no label
  std::vector<uint64_t> class_counts;  // records per class (index = class)
};

// Interior edges of `bins` equal-width bins over [min, max] (all equal for a constant).
std::vector<double> EqualWidthEdges(double min, double max, size_t bins = kProfileBins);
// The bin `value` falls in under `edges` (edges.size() + 1 bins; below the first edge: 0).
size_t BinOf(const std::vector<double>& edges, double value);
// Approximate quantiles from a histogram: linear within a bin; the outer bins span
// [min, edges.front()] and [edges.back(), max].
std::vector<double> HistogramQuantiles(const std::vector<double>& edges,
                                       const std::vector<uint64_t>& bins, double min, double max);

// Profiles `rows` records of `names.size()` values each (row-major in `values`): two passes,
// moments first (FeatureAccumulator), then the histogram over the range the first found.
// `labels` (may be null) are class indexes in [0, num_classes).
DataProfile BuildProfile(const std::vector<std::string>& names, const float* values, size_t rows,
                         const int64_t* labels, uint32_t num_classes);

boost::json::value ProfileToJson(const DataProfile& profile);
// Refuses (naming the key) a profile whose bins and edges do not fit together.
Result<DataProfile> ProfileFromJson(const boost::json::value& json);

// PSI = sum over bins of (a - e) * ln(a / e), a and e being the bins' shares of the actual and
// expected totals, an empty bin's share taken as kPsiEpsilon. 0 when either side is empty.
double PopulationStabilityIndex(const std::vector<uint64_t>& expected,
                                const std::vector<uint64_t>& actual);

// Later data binned against a profile: one histogram per feature (the profile's edges) and one
// of predicted classes. Added to exactly once per record scored.
struct DriftCounts {
  std::vector<std::vector<uint64_t>> features;  // [feature][bin]
  std::vector<uint64_t> predicted;              // [class]

  // Empty counts shaped for `edges` (one vector per feature) and `classes`.
  static DriftCounts Shaped(const std::vector<std::vector<double>>& edges, uint32_t classes);
  // Adds `other` bin by bin; InvalidArgument when the shapes differ.
  Status Merge(const DriftCounts& other);
  uint64_t records() const;  // values in the first feature's histogram (or predictions)
};

// Bins records against a profile's edges as they are scored: the workers' and the online
// window's hot path. Edges and counts are kept flat and a value's bin is found by counting the
// edges at or below it (no branches), so binning costs a few nanoseconds per value; the result
// is the same as BinOf's. NaN values are skipped (readers never yield one).
class DriftHistogram {
 public:
  DriftHistogram() = default;
  // `edges`: one vector of ascending interior edges per feature; `classes`: predicted classes
  // counted (0: none).
  DriftHistogram(const std::vector<std::vector<double>>& edges, uint32_t classes);

  size_t feature_count() const { return offsets_.empty() ? 0 : offsets_.size() - 1; }
  // One record: feature_count() raw values and its predicted class (ignored when out of range,
  // e.g. -1 for none).
  void Add(const float* features, int64_t predicted_class);
  void AddPrediction(int64_t predicted_class);
  uint64_t records() const { return records_; }
  // The counts so far, shaped as DriftCounts::Shaped(edges, classes).
  DriftCounts Counts() const;

 private:
  std::vector<double> edges_;     // every feature's edges, one after another
  std::vector<size_t> offsets_;   // feature f's edges: [offsets_[f], offsets_[f + 1])
  std::vector<uint64_t> counts_;  // feature f's bins start at offsets_[f] + f
  std::vector<uint64_t> predicted_;
  uint64_t records_ = 0;
};

// A feature drifts at `warn` (a warning) or `alert` (an alert) when its PSI reaches it; the
// features together raise one alert when at least `feature_share` of them (and at least one)
// drift. With many features the largest PSI of a clean batch is noise: 784 pixels compared over
// 512 records have a few near 0.1 by chance alone, so one feature at the threshold is not
// evidence there; with a handful of features the share means any one of them.
struct DriftThresholds {
  double warn = 0.1;
  double alert = 0.25;
  double feature_share = 0.05;
  // Features at or above `psi` needed for a verdict: ceil(feature_share * features), at least 1.
  size_t FeaturesNeeded(size_t features) const;
};

struct FeatureDrift {
  std::string name;
  double psi = 0;
};

struct DriftReport {
  uint64_t records = 0;
  std::vector<FeatureDrift> features;  // in the profile's order
  double prediction_psi = 0;           // 0 when the profile has no class distribution
  bool has_prediction = false;
  // The features at or above `warn`, worst first (at most a handful: for a message).
  std::vector<FeatureDrift> Worst(double at_least, size_t most = 5) const;
  double max_feature_psi() const;
  size_t FeaturesAtLeast(double psi) const;
};

// PSI per feature and for the predicted classes; InvalidArgument when `counts` are not shaped
// like `profile`.
Result<DriftReport> ComputeDrift(const DataProfile& profile, const DriftCounts& counts);
boost::json::value DriftToJson(const DriftReport& report, const DriftThresholds& thresholds);

// The reference a worker bins against: every feature's interior edges.
std::vector<std::vector<double>> ProfileEdges(const DataProfile& profile);

}  // namespace aimass::data
