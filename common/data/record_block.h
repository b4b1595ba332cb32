// RecordBlock: the decoded records of one split of a training table, column by column.
// Torch-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace aimass::data {

struct RecordBlock {
  uint32_t feature_count = 0;
  std::vector<int64_t> ids;     // only where the writer needs them (data convert); else empty
  std::vector<int64_t> labels;
  std::vector<float> features;  // size() * feature_count values, one record after another

  size_t size() const { return labels.size(); }
  const float* record_features(size_t i) const { return features.data() + i * feature_count; }
  uint64_t memory_bytes() const {
    return (ids.size() + labels.size()) * sizeof(int64_t) + features.size() * sizeof(float);
  }
};

// What one decoded training record holds in memory: its features and its label (training
// blocks carry no ids). Sizes the loader's cache and the default shuffle window.
inline uint64_t DecodedRecordBytes(uint32_t feature_count) {
  return uint64_t{feature_count} * sizeof(float) + sizeof(int64_t);
}

// A run of consecutive records of one split of a dataset index.
struct SampleRange {
  uint32_t split = 0;
  uint64_t begin = 0;  // first record, 0-based, within the split
  uint32_t count = 0;
  bool operator==(const SampleRange& other) const {
    return split == other.split && begin == other.begin && count == other.count;
  }
};

}  // namespace aimass::data
