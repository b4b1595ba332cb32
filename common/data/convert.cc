#include "common/data/convert.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include "common/data/csv_writer.h"
#include "common/tables/record_reader.h"
#include "common/tables/table_listing.h"

namespace aimass::data {
namespace {

struct SplitFiles {
  const char* name;
  const char* images;
  const char* labels;
};
constexpr SplitFiles kTrain = {"train", "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"};
constexpr SplitFiles kTest = {"test", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};

constexpr char kShardPrefix[] = "part-";
constexpr char kShardSuffix[] = ".csv.gz";

std::string ShardName(uint64_t number) {
  char name[40];
  std::snprintf(name, sizeof(name), "%s%05llu%s", kShardPrefix,
                static_cast<unsigned long long>(number), kShardSuffix);
  return name;
}

// The shard number of a name this converter writes (part-NNNNN.csv.gz); -1 for any other name.
int64_t ShardNumber(const std::string& name) {
  const std::string prefix = kShardPrefix, suffix = kShardSuffix;
  if (name.size() <= prefix.size() + suffix.size() || name.compare(0, prefix.size(), prefix) != 0 ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return -1;
  }
  const std::string digits =
      name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (digits.size() > 12 || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoll(digits);
}

// An IDX file as a table of one whole-file split, read with the table readers.
Result<std::unique_ptr<tables::RecordReader>> OpenIdx(const std::string& path, Env& env) {
  AIMASS_ASSIGN_OR_RETURN(FileInfo info, env.Stat(path));
  tables::InputFile file;
  file.path = path;
  file.relative_path = path;
  file.size = info.size;
  file.codec = io::CodecFromPath(path);
  tables::TableOptions options;
  options.format = tables::TableFormat::kIdx;
  return tables::OpenRecordReader(file, tables::Split{0, 0, 0, info.size, true}, options);
}

// Pairs the items of an images file with those of its labels file: record i gets id
// `first_id + i`, the label, and the pixel values 0..255 as floats. Stops after `limit` (0: all).
Result<RecordBlock> ReadIdxPair(const std::string& images_path, const std::string& labels_path,
                                int64_t first_id, uint64_t limit, Env& env) {
  AIMASS_ASSIGN_OR_RETURN(auto images, OpenIdx(images_path, env));
  AIMASS_ASSIGN_OR_RETURN(auto labels, OpenIdx(labels_path, env));
  RecordBlock block;
  tables::TableRecord image, label;
  tables::BadRecord bad;
  using Outcome = tables::RecordReader::Outcome;
  while (limit == 0 || block.size() < limit) {
    AIMASS_ASSIGN_OR_RETURN(Outcome image_outcome, images->Next(&image, &bad));
    AIMASS_ASSIGN_OR_RETURN(Outcome label_outcome, labels->Next(&label, &bad));
    if (image_outcome == Outcome::kBad || label_outcome == Outcome::kBad) {
      return Status::Error(bad.location + ": " + bad.reason);
    }
    if (image_outcome == Outcome::kEnd && label_outcome == Outcome::kEnd) break;
    if (image_outcome == Outcome::kEnd || label_outcome == Outcome::kEnd) {
      return Status::Error(images_path + " and " + labels_path + " hold different numbers of items (" +
                           (image_outcome == Outcome::kEnd ? labels_path : images_path) +
                           " has more than " + std::to_string(block.size()) + ")");
    }
    if (label.features.size() != 1) {
      return Status::Error(labels_path + ": not a labels file (" + std::to_string(label.features.size()) +
                           " values per item)");
    }
    if (image.features.size() < 2) {
      return Status::Error(images_path + ": not an images file (" + std::to_string(image.features.size()) +
                           " value per item)");
    }
    if (block.size() == 0) block.feature_count = static_cast<uint32_t>(image.features.size());
    block.ids.push_back(first_id + static_cast<int64_t>(block.size()));
    block.labels.push_back(static_cast<int64_t>(label.features[0]));
    block.features.insert(block.features.end(), image.features.begin(), image.features.end());
  }
  return block;
}

// One split being written: its records and where they go.
struct SplitOutput {
  std::string dir;
  RecordBlock block;
  uint64_t shards = 0;
};

// Readies `dir` for `shards` new part files. The _SUCCESS marker goes first, so that a
// half-rewritten directory is never taken for a finished one; part files left by an earlier,
// larger conversion go too. Any other data file would be read as part of the dataset, so it is
// an error rather than something to delete.
Status PrepareDirectory(const std::string& dir, uint64_t shards, Env& env) {
  AIMASS_RETURN_IF_ERROR(env.CreateDirectories(dir));
  AIMASS_RETURN_IF_ERROR(env.RemoveFile(JoinPath(dir, "_SUCCESS")));
  AIMASS_ASSIGN_OR_RETURN(std::vector<FileInfo> entries, env.ListDirectory(dir));
  for (const FileInfo& entry : entries) {
    if (entry.is_directory || tables::IsHidden(entry.name)) continue;
    const int64_t number = ShardNumber(entry.name);
    if (number < 0) {
      return Status::Error(JoinPath(dir, entry.name) +
                           ": not a shard this conversion writes; convert into an empty directory");
    }
    if (static_cast<uint64_t>(number) >= shards) {
      AIMASS_RETURN_IF_ERROR(env.RemoveFile(JoinPath(dir, entry.name)));
    }
  }
  return Status::Ok();
}

// Compresses and writes every shard of every split, on as many threads as there are cores: deflate
// dominates the conversion. Returns the first error.
Status WriteShards(const std::vector<SplitOutput*>& splits, uint64_t records_per_shard) {
  struct Task {
    const SplitOutput* split;
    uint64_t number;
  };
  std::vector<Task> tasks;
  for (const SplitOutput* split : splits) {
    for (uint64_t number = 0; number < split->shards; ++number) tasks.push_back({split, number});
  }
  CsvWriteOptions csv;
  csv.feature_prefix = "pixel";
  std::atomic<size_t> next{0};
  std::mutex error_mu;
  Status first_error;  // guarded by error_mu
  auto write_some = [&] {
    for (size_t t = next++; t < tasks.size(); t = next++) {
      const SplitOutput& split = *tasks[t].split;
      const uint64_t begin = tasks[t].number * records_per_shard;
      const uint64_t end = std::min<uint64_t>(begin + records_per_shard, split.block.size());
      const std::string path = JoinPath(split.dir, ShardName(tasks[t].number));
      Status status = WriteCsvShard(path, split.block, begin, end, csv);
      if (!status.ok()) {
        std::lock_guard<std::mutex> lock(error_mu);
        if (first_error.ok()) first_error = status;
        next = tasks.size();  // stop the others after their current shard
      }
    }
  };
  const size_t threads =
      std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()), tasks.size());
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < threads; ++t) helpers.emplace_back(write_some);
  write_some();
  for (std::thread& helper : helpers) helper.join();
  return first_error;
}

// Marks the split complete, once every part file is in place.
Status FinishDirectory(const SplitOutput& split, Env& env) {
  return env.WriteFileAtomically(JoinPath(split.dir, "_SUCCESS"), "");
}

}  // namespace

Result<ConvertSummary> ConvertIdxDataset(const ConvertOptions& options, Env& env) {
  if (options.output_dir.empty()) return Status::Error("convert: no output directory given");
  if (options.records_per_shard == 0) return Status::Error("convert: records_per_shard is 0");

  SplitOutput train, test;
  train.dir = JoinPath(options.output_dir, kTrain.name);
  test.dir = JoinPath(options.output_dir, kTest.name);
  AIMASS_ASSIGN_OR_RETURN(train.block, ReadIdxPair(JoinPath(options.idx_dir, kTrain.images),
                                                   JoinPath(options.idx_dir, kTrain.labels),
                                                   /*first_id=*/0, options.limit, env));
  // Test ids continue after the training ids, so an id names one record of the whole dataset.
  const int64_t first_test_id = static_cast<int64_t>(train.block.size());
  AIMASS_ASSIGN_OR_RETURN(test.block, ReadIdxPair(JoinPath(options.idx_dir, kTest.images),
                                                  JoinPath(options.idx_dir, kTest.labels),
                                                  first_test_id, options.limit, env));
  for (SplitOutput* split : {&train, &test}) {
    split->shards = (split->block.size() + options.records_per_shard - 1) /
                    options.records_per_shard;
    AIMASS_RETURN_IF_ERROR(PrepareDirectory(split->dir, split->shards, env));
  }
  AIMASS_RETURN_IF_ERROR(WriteShards({&train, &test}, options.records_per_shard));
  for (SplitOutput* split : {&train, &test}) {
    AIMASS_RETURN_IF_ERROR(FinishDirectory(*split, env));
  }

  ConvertSummary summary;
  summary.train_records = train.block.size();
  summary.test_records = test.block.size();
  summary.train_shards = static_cast<uint32_t>(train.shards);
  summary.test_shards = static_cast<uint32_t>(test.shards);
  return summary;
}

}  // namespace aimass::data
