#include "common/data/data_profile.h"

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <exception>
#include <numeric>
#include <type_traits>

namespace aimass::data {

namespace json = boost::json;

void FeatureAccumulator::Add(double value) {
  if (std::isnan(value)) {
    ++missing_;
    return;
  }
  if (count_ == 0) {
    min_ = max_ = value;
  } else {
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
  }
  ++count_;
  const double delta = value - mean_;
  mean_ += delta / static_cast<double>(count_);
  m2_ += delta * (value - mean_);
}

double FeatureAccumulator::stddev() const {
  if (count_ < 2) return 0;
  return std::sqrt(std::max(0.0, m2_ / static_cast<double>(count_)));
}

std::vector<double> EqualWidthEdges(double min, double max, size_t bins) {
  std::vector<double> edges;
  if (bins < 2) return edges;
  const double width = (max - min) / static_cast<double>(bins);
  for (size_t i = 1; i < bins; ++i) edges.push_back(min + width * static_cast<double>(i));
  return edges;
}

size_t BinOf(const std::vector<double>& edges, double value) {
  return static_cast<size_t>(std::upper_bound(edges.begin(), edges.end(), value) - edges.begin());
}

std::vector<double> HistogramQuantiles(const std::vector<double>& edges,
                                       const std::vector<uint64_t>& bins, double min, double max) {
  std::vector<double> quantiles;
  const uint64_t total = std::accumulate(bins.begin(), bins.end(), uint64_t{0});
  for (double q : kProfileQuantiles) {
    if (total == 0 || bins.size() != edges.size() + 1) {
      quantiles.push_back(0);
      continue;
    }
    const double target = q * static_cast<double>(total);
    double seen = 0;
    double value = max;
    for (size_t i = 0; i < bins.size(); ++i) {
      const double count = static_cast<double>(bins[i]);
      if (count > 0 && seen + count >= target) {
        const double low = i == 0 ? min : edges[i - 1];
        const double high = i == edges.size() ? max : edges[i];
        value = low + (high - low) * std::clamp((target - seen) / count, 0.0, 1.0);
        break;
      }
      seen += count;
    }
    quantiles.push_back(value);
  }
  return quantiles;
}

DataProfile BuildProfile(const std::vector<std::string>& names, const float* values, size_t rows,
                         const int64_t* labels, uint32_t num_classes) {
  const size_t width = names.size();
  std::vector<FeatureAccumulator> moments(width);
  for (size_t r = 0; r < rows; ++r) {
    const float* row = values + r * width;
    for (size_t f = 0; f < width; ++f) moments[f].Add(row[f]);
  }
  DataProfile profile;
  profile.records = rows;
  profile.total_records = rows;
  profile.features.resize(width);
  for (size_t f = 0; f < width; ++f) {
    FeatureProfile& feature = profile.features[f];
    feature.name = names[f];
    feature.count = moments[f].count();
    feature.missing = moments[f].missing();
    feature.min = moments[f].min();
    feature.max = moments[f].max();
    feature.mean = moments[f].mean();
    feature.std = moments[f].stddev();
    feature.edges = EqualWidthEdges(feature.min, feature.max);
    feature.bins.assign(kProfileBins, 0);
  }
  for (size_t r = 0; r < rows; ++r) {
    const float* row = values + r * width;
    for (size_t f = 0; f < width; ++f) {
      if (std::isnan(row[f])) continue;
      ++profile.features[f].bins[BinOf(profile.features[f].edges, row[f])];
    }
  }
  for (FeatureProfile& feature : profile.features) {
    feature.quantiles = HistogramQuantiles(feature.edges, feature.bins, feature.min, feature.max);
  }
  if (labels != nullptr && num_classes > 0) {
    profile.class_counts.assign(num_classes, 0);
    for (size_t r = 0; r < rows; ++r) {
      if (labels[r] >= 0 && labels[r] < static_cast<int64_t>(num_classes)) ++profile.class_counts[labels[r]];
    }
  }
  return profile;
}

namespace {

json::value Number(double value) {
  if (!std::isfinite(value)) return nullptr;
  return value;
}

template <typename T>
json::array ToArray(const std::vector<T>& values) {
  json::array array;
  for (const T& value : values) {
    if constexpr (std::is_floating_point_v<T>) {
      array.push_back(Number(value));
    } else {
      array.push_back(value);
    }
  }
  return array;
}

double ReadDouble(const json::object& object, const char* key) {
  const json::value& value = object.at(key);
  if (value.is_null()) return 0;
  return value.to_number<double>();
}

template <typename T>
std::vector<T> ReadArray(const json::object& object, const char* key) {
  std::vector<T> values;
  for (const json::value& value : object.at(key).as_array()) values.push_back(value.to_number<T>());
  return values;
}

}  // namespace

json::value ProfileToJson(const DataProfile& profile) {
  json::array features;
  for (const FeatureProfile& feature : profile.features) {
    features.push_back(json::object{{"name", feature.name},
                                    {"count", feature.count},
                                    {"missing", feature.missing},
                                    {"min", Number(feature.min)},
                                    {"max", Number(feature.max)},
                                    {"mean", Number(feature.mean)},
                                    {"std", Number(feature.std)},
                                    {"edges", ToArray(feature.edges)},
                                    {"bins", ToArray(feature.bins)},
                                    {"quantiles", ToArray(feature.quantiles)}});
  }
  json::array quantile_points;
  for (double q : kProfileQuantiles) quantile_points.push_back(q);
  return json::object{{"version", 1},
                      {"records", profile.records},
                      {"total_records", profile.total_records},
                      {"quantile_points", std::move(quantile_points)},
                      {"label", profile.label},
                      {"class_counts", ToArray(profile.class_counts)},
                      {"features", std::move(features)}};
}

Result<DataProfile> ProfileFromJson(const json::value& value) {
  DataProfile profile;
  const char* key = "profile";
  try {
    const json::object& root = value.as_object();
    key = "records";
    profile.records = root.at("records").to_number<uint64_t>();
    key = "total_records";
    profile.total_records = root.at("total_records").to_number<uint64_t>();
    key = "label";
    profile.label = std::string(root.at("label").as_string());
    key = "class_counts";
    profile.class_counts = ReadArray<uint64_t>(root, "class_counts");
    key = "features";
    for (const json::value& item : root.at("features").as_array()) {
      const json::object& object = item.as_object();
      FeatureProfile feature;
      feature.name = std::string(object.at("name").as_string());
      key = "features[].count";
      feature.count = object.at("count").to_number<uint64_t>();
      feature.missing = object.at("missing").to_number<uint64_t>();
      key = "features[].min";
      feature.min = ReadDouble(object, "min");
      feature.max = ReadDouble(object, "max");
      feature.mean = ReadDouble(object, "mean");
      feature.std = ReadDouble(object, "std");
      key = "features[].edges";
      for (const json::value& edge : object.at("edges").as_array()) {
        if (!edge.is_number()) return Status::InvalidArgument("profile: features[].edges: not a number");
        feature.edges.push_back(edge.to_number<double>());
      }
      key = "features[].bins";
      feature.bins = ReadArray<uint64_t>(object, "bins");
      key = "features[].quantiles";
      for (const json::value& q : object.at("quantiles").as_array()) {
        feature.quantiles.push_back(q.is_null() ? 0 : q.to_number<double>());
      }
      if (feature.bins.size() != feature.edges.size() + 1 ||
          !std::is_sorted(feature.edges.begin(), feature.edges.end())) {
        return Status::InvalidArgument("profile: feature '" + feature.name +
                                       "': bins must be one more than its ascending edges");
      }
      profile.features.push_back(std::move(feature));
      key = "features";
    }
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("profile: ") + key + ": missing or malformed (" + e.what() + ")");
  }
  return profile;
}

double PopulationStabilityIndex(const std::vector<uint64_t>& expected,
                                const std::vector<uint64_t>& actual) {
  const double expected_total = static_cast<double>(std::accumulate(expected.begin(), expected.end(), uint64_t{0}));
  const double actual_total = static_cast<double>(std::accumulate(actual.begin(), actual.end(), uint64_t{0}));
  if (expected_total == 0 || actual_total == 0 || expected.size() != actual.size()) return 0;
  double psi = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    const double e = std::max(static_cast<double>(expected[i]) / expected_total, kPsiEpsilon);
    const double a = std::max(static_cast<double>(actual[i]) / actual_total, kPsiEpsilon);
    psi += (a - e) * std::log(a / e);
  }
  return psi;
}

DriftCounts DriftCounts::Shaped(const std::vector<std::vector<double>>& edges, uint32_t classes) {
  DriftCounts counts;
  for (const auto& feature : edges) counts.features.emplace_back(feature.size() + 1, 0);
  counts.predicted.assign(classes, 0);
  return counts;
}

Status DriftCounts::Merge(const DriftCounts& other) {
  bool same = other.features.size() == features.size() && other.predicted.size() == predicted.size();
  for (size_t f = 0; same && f < features.size(); ++f) same = other.features[f].size() == features[f].size();
  if (!same) return Status::InvalidArgument("drift counts are shaped differently from the profile's bins");
  for (size_t f = 0; f < features.size(); ++f) {
    for (size_t b = 0; b < features[f].size(); ++b) features[f][b] += other.features[f][b];
  }
  for (size_t c = 0; c < predicted.size(); ++c) predicted[c] += other.predicted[c];
  return Status::Ok();
}

uint64_t DriftCounts::records() const {
  if (!features.empty()) return std::accumulate(features[0].begin(), features[0].end(), uint64_t{0});
  return std::accumulate(predicted.begin(), predicted.end(), uint64_t{0});
}

DriftHistogram::DriftHistogram(const std::vector<std::vector<double>>& edges, uint32_t classes) {
  offsets_.push_back(0);
  for (const auto& feature : edges) {
    edges_.insert(edges_.end(), feature.begin(), feature.end());
    offsets_.push_back(edges_.size());
  }
  counts_.assign(edges_.size() + edges.size(), 0);
  predicted_.assign(classes, 0);
}

void DriftHistogram::Add(const float* features, int64_t predicted_class) {
  const size_t features_count = feature_count();
  const double* edges = edges_.data();
  if (edges_.size() == features_count * (kProfileBins - 1)) {
    // Every feature has a profile's edges: a fixed-length loop the compiler unrolls.
    constexpr size_t kEdges = kProfileBins - 1;
    uint64_t* counts = counts_.data();
    for (size_t f = 0; f < features_count; ++f, edges += kEdges, counts += kProfileBins) {
      const double value = features[f];
      if (std::isnan(value)) continue;
      size_t bin = 0;
      for (size_t e = 0; e < kEdges; ++e) bin += edges[e] <= value ? 1 : 0;
      ++counts[bin];
    }
    AddPrediction(predicted_class);
    ++records_;
    return;
  }
  for (size_t f = 0; f < features_count; ++f) {
    const double value = features[f];
    if (std::isnan(value)) continue;
    const size_t begin = offsets_[f];
    const size_t end = offsets_[f + 1];
    size_t bin = 0;
    for (size_t e = begin; e < end; ++e) bin += edges[e] <= value ? 1 : 0;
    ++counts_[begin + f + bin];
  }
  AddPrediction(predicted_class);
  ++records_;
}

void DriftHistogram::AddPrediction(int64_t predicted_class) {
  if (predicted_class >= 0 && static_cast<size_t>(predicted_class) < predicted_.size()) ++predicted_[predicted_class];
}

DriftCounts DriftHistogram::Counts() const {
  DriftCounts counts;
  for (size_t f = 0; f < feature_count(); ++f) {
    const size_t begin = offsets_[f] + f;
    const size_t bins = offsets_[f + 1] - offsets_[f] + 1;
    counts.features.emplace_back(counts_.begin() + begin, counts_.begin() + begin + bins);
  }
  counts.predicted = predicted_;
  return counts;
}

std::vector<FeatureDrift> DriftReport::Worst(double at_least, size_t most) const {
  std::vector<FeatureDrift> worst;
  for (const FeatureDrift& feature : features) {
    if (feature.psi >= at_least) worst.push_back(feature);
  }
  std::stable_sort(worst.begin(), worst.end(),
                   [](const FeatureDrift& a, const FeatureDrift& b) { return a.psi > b.psi; });
  if (worst.size() > most) worst.resize(most);
  return worst;
}

size_t DriftThresholds::FeaturesNeeded(size_t features) const {
  const double needed = std::ceil(std::clamp(feature_share, 0.0, 1.0) * static_cast<double>(features) - 1e-9);
  return std::max<size_t>(1, static_cast<size_t>(needed));
}

size_t DriftReport::FeaturesAtLeast(double psi) const {
  return static_cast<size_t>(std::count_if(features.begin(), features.end(),
                                           [psi](const FeatureDrift& feature) { return feature.psi >= psi; }));
}

double DriftReport::max_feature_psi() const {
  double worst = 0;
  for (const FeatureDrift& feature : features) worst = std::max(worst, feature.psi);
  return worst;
}

Result<DriftReport> ComputeDrift(const DataProfile& profile, const DriftCounts& counts) {
  if (counts.features.size() != profile.features.size()) {
    return Status::InvalidArgument("drift counts cover " + std::to_string(counts.features.size()) +
                                   " features, the profile " + std::to_string(profile.features.size()));
  }
  DriftReport report;
  report.records = counts.records();
  for (size_t f = 0; f < profile.features.size(); ++f) {
    const FeatureProfile& feature = profile.features[f];
    if (counts.features[f].size() != feature.bins.size()) {
      return Status::InvalidArgument("drift counts of feature '" + feature.name + "' have " +
                                     std::to_string(counts.features[f].size()) + " bins, the profile " +
                                     std::to_string(feature.bins.size()));
    }
    report.features.push_back(FeatureDrift{feature.name, PopulationStabilityIndex(feature.bins, counts.features[f])});
  }
  if (!profile.class_counts.empty() && counts.predicted.size() == profile.class_counts.size()) {
    report.has_prediction = true;
    report.prediction_psi = PopulationStabilityIndex(profile.class_counts, counts.predicted);
  }
  return report;
}

json::value DriftToJson(const DriftReport& report, const DriftThresholds& thresholds) {
  json::object features;
  for (const FeatureDrift& feature : report.features) features[feature.name] = Number(feature.psi);
  json::array worst;
  for (const FeatureDrift& feature : report.Worst(thresholds.warn)) {
    worst.push_back(json::object{{"feature", feature.name}, {"psi", Number(feature.psi)}});
  }
  return json::object{{"records", report.records},
                      {"warn", thresholds.warn},
                      {"alert", thresholds.alert},
                      {"feature_share", thresholds.feature_share},
                      {"features_at_warn", report.FeaturesAtLeast(thresholds.warn)},
                      {"features_at_alert", report.FeaturesAtLeast(thresholds.alert)},
                      {"max_feature_psi", Number(report.max_feature_psi())},
                      {"prediction_psi", report.has_prediction ? Number(report.prediction_psi) : json::value(nullptr)},
                      {"worst_features", std::move(worst)},
                      {"feature_psi", std::move(features)}};
}

std::vector<std::vector<double>> ProfileEdges(const DataProfile& profile) {
  std::vector<std::vector<double>> edges;
  for (const FeatureProfile& feature : profile.features) edges.push_back(feature.edges);
  return edges;
}

}  // namespace aimass::data
