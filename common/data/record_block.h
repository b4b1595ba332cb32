// RecordBlock: the decoded records of one shard, column by column. Torch-free.
#pragma once

#include <cstdint>
#include <vector>

namespace aimass::data {

struct RecordBlock {
  uint32_t feature_count = 0;
  std::vector<int64_t> ids;
  std::vector<int64_t> labels;
  std::vector<float> features;  // size() * feature_count values, one record after another

  size_t size() const { return ids.size(); }
  const float* record_features(size_t i) const { return features.data() + i * feature_count; }
  uint64_t memory_bytes() const {
    return ids.size() * sizeof(int64_t) * 2 + features.size() * sizeof(float);
  }
};

// A run of consecutive records of one shard of a dataset index.
struct SampleRange {
  uint32_t shard = 0;
  uint64_t begin = 0;
  uint32_t count = 0;
  bool operator==(const SampleRange& other) const {
    return shard == other.shard && begin == other.begin && count == other.count;
  }
};

}  // namespace aimass::data
