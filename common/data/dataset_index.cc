#include "common/data/dataset_index.h"

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <exception>
#include <optional>
#include <thread>

#include "common/data/split_decoder.h"
#include "common/strict_json.h"
#include "common/tables/split_planner.h"
#include "common/tables/table_config.h"
#include "common/tables/table_listing.h"
#include "common/tables/text/delimited_reader.h"

namespace aimass::data {
namespace {

namespace json = boost::json;

constexpr char kCacheName[] = "_index.json";
constexpr int64_t kCacheVersion = 2;

// The feature columns when the config names none: every column of a delimited table but the
// label and the id, in file order.
Result<std::vector<std::string>> DefaultFeatures(const DatasetSourceConfig& source,
                                                 const tables::TableOptions& table,
                                                 const std::vector<tables::InputFile>& files) {
  const std::string key = source.input.path + ": features";
  if (table.format != tables::TableFormat::kDelimited) {
    return Status::Error(key + ": missing (only delimited tables with named columns have a default)");
  }
  std::vector<std::string> columns = table.columns;
  if (table.header) {
    for (const tables::InputFile& file : files) {
      if (file.size == 0) continue;
      AIMASS_ASSIGN_OR_RETURN(
          columns, tables::ReadDelimitedHeader(file, table.delimiter, table.max_record_bytes,
                                               table.confine_to));
      if (!columns.empty()) break;
    }
  }
  if (columns.empty()) {
    return Status::Error(key + ": missing (the table has neither a header nor configured columns)");
  }
  std::vector<std::string> features;
  bool has_label = false;
  for (const std::string& column : columns) {
    if (column == source.label) {
      has_label = true;
    } else if (column != source.id || source.id.empty()) {
      features.push_back(column);
    }
  }
  if (!has_label) {
    return Status::Error(source.input.path + ": label column '" + source.label +
                         "' is not one of the table's columns");
  }
  return features;
}

// Everything that decides which records a split holds and whether they are valid: a cached
// count is used only when all of it is unchanged.
json::object CacheKey(const DatasetIndex& index, uint64_t split_bytes) {
  json::array files;
  for (const tables::InputFile& file : index.files) {
    files.push_back(json::array{json::value(file.relative_path), file.size, file.mtime_ns});
  }
  const tables::TableOptions& table = index.table;
  return json::object{
      {"version", kCacheVersion},
      {"format", tables::TableFormatName(table.format)},
      {"delimiter", std::string(1, table.delimiter)},
      {"header", table.header},
      {"columns", json::array(table.columns.begin(), table.columns.end())},
      {"fields", json::array(table.feature_columns.begin(), table.feature_columns.end())},
      {"values", table.feature_count},
      {"num_classes", index.num_classes},
      {"split_bytes", split_bytes},
      {"files", std::move(files)}};
}

std::optional<std::vector<uint64_t>> LoadCache(const std::string& path, const json::object& key,
                                               size_t splits, Env& env) {
  if (!env.Exists(path)) return std::nullopt;
  auto text = env.ReadFile(path);
  if (!text.ok()) return std::nullopt;
  try {
    const json::value parsed = json::parse(text.value());
    const json::object& root = parsed.as_object();
    if (root.at("key") != json::value(key)) return std::nullopt;
    const json::array& counts = root.at("split_records").as_array();
    if (counts.size() != splits) return std::nullopt;
    std::vector<uint64_t> records;
    for (const json::value& count : counts) records.push_back(count.to_number<uint64_t>());
    return records;
  } catch (const std::exception&) {  // malformed, another version, or not ours
    return std::nullopt;
  }
}

// Counts (and checks) every split, several at once. Returns the first error in split order.
Result<std::vector<uint64_t>> CountSplits(const DatasetIndex& index, uint32_t threads_wanted) {
  SplitDecodeOptions options;
  options.table = index.table;
  options.num_classes = index.num_classes;
  const size_t splits = index.splits.size();
  std::vector<std::optional<Result<uint64_t>>> results(splits);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  auto count_some = [&] {
    for (size_t i = next++; i < splits && !failed; i = next++) {
      const tables::Split& split = index.splits[i].split;
      try {
        results[i] = DecodeSplit(index.files[split.file], split, options, nullptr);
      } catch (const std::exception& e) {  // std::bad_alloc on an absurd record
        results[i] = Status::Error(index.files[split.file].relative_path + ": " + e.what());
      }
      if (!results[i]->ok()) failed = true;
    }
  };
  const size_t cores = std::max(1u, std::thread::hardware_concurrency());
  const size_t threads = std::min<size_t>(threads_wanted > 0 ? threads_wanted : cores, splits);
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < threads; ++t) helpers.emplace_back(count_some);
  count_some();
  for (std::thread& helper : helpers) helper.join();
  // Splits are taken in order, so those left uncounted after a failure all come after it.
  std::vector<uint64_t> counts;
  for (auto& result : results) {
    if (!result) break;
    if (!result->ok()) return result->status();
    counts.push_back(result->value());
  }
  return counts;
}

}  // namespace

uint64_t DatasetIndex::total_records() const {
  uint64_t total = 0;
  for (const DatasetSplit& split : splits) total += split.records;
  return total;
}

std::vector<uint64_t> DatasetIndex::split_records() const {
  std::vector<uint64_t> records;
  records.reserve(splits.size());
  for (const DatasetSplit& split : splits) records.push_back(split.records);
  return records;
}

Result<DatasetIndex> IndexDataset(const DatasetSourceConfig& source, const IndexOptions& options,
                                  Env& env) {
  const std::string& root = source.input.path;
  if (options.feature_count == 0) return Status::Error(root + ": the model takes no input values");
  if (options.num_classes == 0) return Status::Error(root + ": the model has no classes");
  DatasetIndex index;
  index.root = root;
  index.feature_count = options.feature_count;
  index.num_classes = options.num_classes;
  AIMASS_ASSIGN_OR_RETURN(index.table, tables::TableOptionsFromInput(source.input).WithContext(root));
  AIMASS_ASSIGN_OR_RETURN(index.files,
                          tables::ListTable(root, tables::ListOptionsFromInput(source.input), env));

  std::vector<std::string> features = source.features;
  if (features.empty()) {
    AIMASS_ASSIGN_OR_RETURN(features, DefaultFeatures(source, index.table, index.files));
    if (features.size() != options.feature_count) {
      return Status::Error(root + ": records have " + std::to_string(features.size()) +
                           " feature columns, but " + options.model + " takes " +
                           std::to_string(options.feature_count) + " values per record");
    }
  }
  if (std::find(features.begin(), features.end(), source.label) != features.end()) {
    return Status::Error(root + ": label column '" + source.label + "' is also a feature");
  }
  index.table.feature_columns = {source.label};
  index.table.feature_columns.insert(index.table.feature_columns.end(), features.begin(), features.end());
  index.table.feature_count = options.feature_count + 1;  // the label travels as the first value
  index.table.leading_values = 1;

  for (const tables::Split& split :
       tables::PlanSplits(index.files, index.table.format, source.input.split_bytes)) {
    index.splits.push_back(DatasetSplit{split, 0});
  }
  if (index.splits.empty()) return Status::Error(root + ": every part file is empty");

  const std::string cache_path = JoinPath(root, kCacheName);
  const json::object key = CacheKey(index, source.input.split_bytes);
  std::optional<std::vector<uint64_t>> counts = LoadCache(cache_path, key, index.splits.size(), env);
  if (!counts) {
    AIMASS_ASSIGN_OR_RETURN(std::vector<uint64_t> counted, CountSplits(index, options.threads));
    counts = std::move(counted);
    // The cache only saves time: a read-only table is fine.
    json::array records(counts->begin(), counts->end());
    (void)env.WriteFileAtomically(
        cache_path, SerializeStrictJson(json::object{{"key", key}, {"split_records", records}}) + "\n");
  }
  for (size_t i = 0; i < index.splits.size(); ++i) index.splits[i].records = (*counts)[i];
  if (index.total_records() == 0) {
    return Status::Error(root + ": no records in its " + std::to_string(index.files.size()) +
                         " part files");
  }
  return index;
}

Result<std::vector<std::string>> FeatureColumns(const DatasetSourceConfig& source, Env& env) {
  if (!source.features.empty()) return source.features;
  AIMASS_ASSIGN_OR_RETURN(tables::TableOptions table,
                          tables::TableOptionsFromInput(source.input).WithContext(source.input.path));
  AIMASS_ASSIGN_OR_RETURN(
      std::vector<tables::InputFile> files,
      tables::ListTable(source.input.path, tables::ListOptionsFromInput(source.input), env));
  return DefaultFeatures(source, table, files);
}

void LimitRecords(uint64_t limit, DatasetIndex* index) {
  if (limit == 0) return;
  uint64_t left = limit;
  for (DatasetSplit& split : index->splits) {
    split.records = std::min(split.records, left);
    left -= split.records;
  }
}

}  // namespace aimass::data
