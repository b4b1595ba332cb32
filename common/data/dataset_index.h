// A dataset is a directory of shard files. Its index lists the shards in name order with their
// record counts, so the coordinator can plan epochs without reading data again.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/env.h"
#include "common/status.h"

namespace aimass::data {

struct ShardInfo {
  std::string path;
  uint64_t records = 0;
  uint64_t size_bytes = 0;
  int64_t mtime_ns = 0;
};

struct DatasetIndex {
  std::vector<ShardInfo> shards;
  uint32_t feature_count = 0;
  uint64_t total_records() const;
};

// True for names that are data: not starting with '_' or '.' (Hadoop's _SUCCESS, _index.json,
// .crc files, temp files).
bool IsDataFileName(const std::string& name);

// Lists the data files of `dir` (sorted by name), and counts the records of each. Uses the cached
// `dir/_index.json` when every shard's size and mtime still match it; otherwise scans the shards
// (in parallel) and rewrites the cache atomically when the directory is writable.
// Errors: missing or empty directory, unreadable or corrupt shard, shards that disagree on the
// feature count (naming both files).
Result<DatasetIndex> IndexDataset(const std::string& dir, Env& env);

// Records `index` (whose shards lie in `dir`) as `dir/_index.json`, for a writer that already
// knows the record counts, so that the next IndexDataset need not scan. Its shards' sizes and
// mtimes must be current.
Status WriteDatasetIndexCache(const std::string& dir, const DatasetIndex& index, Env& env);

}  // namespace aimass::data
