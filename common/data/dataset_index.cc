#include "common/data/dataset_index.h"

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <exception>
#include <optional>
#include <thread>

#include "common/data/csv_shard.h"

namespace aimass::data {
namespace {

constexpr char kCacheName[] = "_index.json";
constexpr int64_t kCacheVersion = 1;

std::string BaseName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The cached index, when it describes exactly the shards listed now (same names, sizes, mtimes);
// nullopt when there is none or it is stale or unreadable: the caller then scans.
std::optional<DatasetIndex> LoadCache(const std::string& dir, const std::vector<FileInfo>& shards,
                                      Env& env) {
  const std::string path = JoinPath(dir, kCacheName);
  if (!env.Exists(path)) return std::nullopt;
  auto text = env.ReadFile(path);
  if (!text.ok()) return std::nullopt;
  try {
    const boost::json::value parsed = boost::json::parse(text.value());
    const boost::json::object& root = parsed.as_object();
    if (root.at("version").to_number<int64_t>() != kCacheVersion) return std::nullopt;
    const boost::json::array& entries = root.at("shards").as_array();
    if (entries.size() != shards.size()) return std::nullopt;
    DatasetIndex index;
    index.feature_count = root.at("feature_count").to_number<uint32_t>();
    for (size_t i = 0; i < shards.size(); ++i) {
      const boost::json::object& entry = entries[i].as_object();
      ShardInfo shard;
      shard.path = JoinPath(dir, shards[i].name);
      shard.records = entry.at("records").to_number<uint64_t>();
      shard.size_bytes = entry.at("size_bytes").to_number<uint64_t>();
      shard.mtime_ns = entry.at("mtime_ns").to_number<int64_t>();
      if (entry.at("name").as_string() != shards[i].name || shard.size_bytes != shards[i].size ||
          shard.mtime_ns != shards[i].mtime_ns) {
        return std::nullopt;
      }
      index.shards.push_back(std::move(shard));
    }
    return index;
  } catch (const std::exception&) {  // malformed JSON or a missing key: not our cache
    return std::nullopt;
  }
}

// Scans every shard, several at once. Returns the first error in shard order.
Result<std::vector<CsvShardShape>> ScanShards(const std::vector<std::string>& paths) {
  std::vector<std::optional<Result<CsvShardShape>>> results(paths.size());
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  auto scan_some = [&] {
    for (size_t i = next++; i < paths.size() && !failed; i = next++) {
      results[i] = ScanCsvShard(paths[i]);
      if (!results[i]->ok()) failed = true;
    }
  };
  const size_t threads =
      std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()), paths.size());
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < threads; ++t) helpers.emplace_back(scan_some);
  scan_some();
  for (std::thread& helper : helpers) helper.join();

  // Shards are taken in order, so those left unscanned after a failure all come after it.
  std::vector<CsvShardShape> shapes;
  for (std::optional<Result<CsvShardShape>>& result : results) {
    if (!result->ok()) return result->status();
    shapes.push_back(result->value());
  }
  return shapes;
}

}  // namespace

uint64_t DatasetIndex::total_records() const {
  uint64_t total = 0;
  for (const ShardInfo& shard : shards) total += shard.records;
  return total;
}

bool IsDataFileName(const std::string& name) {
  return !name.empty() && name[0] != '_' && name[0] != '.';
}

Status WriteDatasetIndexCache(const std::string& dir, const DatasetIndex& index, Env& env) {
  boost::json::array shards;
  for (const ShardInfo& shard : index.shards) {
    shards.push_back(boost::json::object{{"name", BaseName(shard.path)},
                                         {"records", shard.records},
                                         {"size_bytes", shard.size_bytes},
                                         {"mtime_ns", shard.mtime_ns}});
  }
  boost::json::object root{{"version", kCacheVersion},
                           {"feature_count", index.feature_count},
                           {"shards", std::move(shards)}};
  return env.WriteFileAtomically(JoinPath(dir, kCacheName), boost::json::serialize(root) + "\n");
}

Result<DatasetIndex> IndexDataset(const std::string& dir, Env& env) {
  AIMASS_ASSIGN_OR_RETURN(std::vector<FileInfo> entries, env.ListDirectory(dir));
  std::vector<FileInfo> files;
  for (FileInfo& entry : entries) {
    if (!entry.is_directory && IsDataFileName(entry.name)) files.push_back(std::move(entry));
  }
  if (files.empty()) return Status::Error(dir + ": no data files");
  std::sort(files.begin(), files.end(),
            [](const FileInfo& a, const FileInfo& b) { return a.name < b.name; });

  if (std::optional<DatasetIndex> cached = LoadCache(dir, files, env)) return std::move(*cached);

  std::vector<std::string> paths;
  for (const FileInfo& file : files) paths.push_back(JoinPath(dir, file.name));
  AIMASS_ASSIGN_OR_RETURN(std::vector<CsvShardShape> shapes, ScanShards(paths));

  DatasetIndex index;
  size_t reference = files.size();  // the first shard with records fixes the feature count
  for (size_t i = 0; i < files.size(); ++i) {
    index.shards.push_back(ShardInfo{paths[i], shapes[i].records, files[i].size,
                                     files[i].mtime_ns});
    if (shapes[i].records == 0) continue;  // an empty part file, as Spark writes for idle tasks
    if (reference == files.size()) {
      reference = i;
      index.feature_count = shapes[i].feature_count;
    } else if (shapes[i].feature_count != index.feature_count) {
      return Status::Error(paths[i] + ": " + std::to_string(shapes[i].feature_count) +
                           " features per record, but " + paths[reference] + " has " +
                           std::to_string(index.feature_count));
    }
  }
  if (index.total_records() == 0) {
    return Status::Error(dir + ": no records in its " + std::to_string(files.size()) +
                         " data files");
  }
  // The cache only saves time: a read-only dataset directory is fine.
  (void)WriteDatasetIndexCache(dir, index, env);
  return index;
}

}  // namespace aimass::data
