// `aimass-coordinator data convert`: Fashion-MNIST IDX files into sharded gzip CSV part files.
#pragma once

#include <cstdint>
#include <string>

#include "common/env.h"
#include "common/status.h"

namespace aimass::data {

struct ConvertOptions {
  std::string idx_dir = "/usr/share/datasets/fashion-mnist";  // train-images-idx3-ubyte.gz, ...
  std::string output_dir;                                     // gets train/ and test/
  uint64_t records_per_shard = 10000;
  uint64_t limit = 0;  // keep only the first N records of each split (0: all)
};

struct ConvertSummary {
  uint64_t train_records = 0;
  uint64_t test_records = 0;
  uint32_t train_shards = 0;
  uint32_t test_shards = 0;
};

// Writes output_dir/{train,test}/part-NNNNN.csv.gz (columns id,label,pixel0..pixel783, ids
// unique across both splits), then each directory's _index.json and an empty _SUCCESS marker.
Result<ConvertSummary> ConvertIdxDataset(const ConvertOptions& options, Env& env);

}  // namespace aimass::data
