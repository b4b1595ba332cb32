#include "tests/temp_dir.h"
#include "worker/data/batch_loader.h"

#include <unistd.h>

#include "tests/catch.h"
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/data/csv_writer.h"

namespace aimass::worker {
namespace {

using testing::TempDir;
using testing::WriteRaw;

namespace fs = std::filesystem;
using data::RecordBlock;
using data::SampleRange;
using data::SampleRef;

constexpr uint32_t kFeatures = 5;

// A table of CSV part files with headers, one whole-file split each. Splits 0..2 hold 10, 7 and
// 13 good records (ids 0..29); split 3 is malformed at its line 4 (its third record), split 4's
// record has 4 features instead of 5, split 5's file does not exist.
class ShardFixture {
 public:
  ShardFixture() {
    int64_t next_id = 0;
    const char* names[] = {"a.csv", "b.csv.gz", "c.csv"};
    for (int shard = 0; shard < 3; ++shard) {
      RecordBlock block;
      block.feature_count = kFeatures;
      for (int i = 0; i < std::vector<int>{10, 7, 13}[shard]; ++i, ++next_id) {
        block.ids.push_back(next_id);
        block.labels.push_back(next_id % 10);
        for (uint32_t f = 0; f < kFeatures; ++f) {
          block.features.push_back(static_cast<float>((next_id * 7 + f) % 256));
        }
      }
      paths.push_back(dir.Path(names[shard]));
      REQUIRE(data::WriteCsvShard(paths.back(), block).ok());
      blocks.push_back(std::move(block));
    }
    const std::string header = "id,label,f0,f1,f2,f3,f4\n";
    paths.push_back(dir.Path("bad.csv"));
    std::ofstream(paths.back()) << header << "1,1,1,2,3,4,5\n2,1,1,2,3,4,5\n3,1,1,2,x,4,5\n";
    paths.push_back(dir.Path("narrow.csv"));
    std::ofstream(paths.back()) << header << "1,1,1,2,3,4\n";
    paths.push_back(dir.Path("missing.csv"));

    index.table.header = true;
    index.table.feature_columns = {"label", "f0", "f1", "f2", "f3", "f4"};
    index.table.feature_count = kFeatures + 1;
    index.feature_count = kFeatures;
    index.num_classes = 10;
    const uint64_t records[] = {10, 7, 13, 3, 1, 1};
    for (uint32_t i = 0; i < paths.size(); ++i) {
      tables::InputFile file;
      file.path = paths[i];
      file.relative_path = fs::path(paths[i]).filename();
      file.size = fs::exists(paths[i]) ? fs::file_size(paths[i]) : 100;
      file.codec = io::CodecFromPath(paths[i]);
      index.files.push_back(file);
      index.splits.push_back(data::DatasetSplit{tables::Split{i, i, 0, file.size, true}, records[i]});
    }
  }

  // What the loader must produce: the stream's records gathered directly, normalized.
  void Expected(const std::vector<SampleRange>& ranges, uint64_t skip,
                const NormalizeConfig& norm, std::vector<float>* features,
                std::vector<int64_t>* labels) const {
    for (const SampleRange& range : ranges) {
      for (uint64_t r = range.begin; r < range.begin + range.count; ++r) {
        if (skip > 0) {
          --skip;
          continue;
        }
        const RecordBlock& block = blocks[range.split];
        for (uint32_t f = 0; f < kFeatures; ++f) {
          features->push_back((block.record_features(r)[f] * norm.scale - norm.mean) / norm.std);
        }
        labels->push_back(block.labels[r]);
      }
    }
  }

  TempDir dir;
  std::vector<std::string> paths;
  std::vector<RecordBlock> blocks;
  data::DatasetIndex index;
};

std::unique_ptr<data::SampleSequence> Sequence(std::vector<SampleRange> ranges) {
  return std::make_unique<data::RangeSequence>(std::move(ranges));
}

BatchLoaderOptions Options() {
  BatchLoaderOptions options;
  options.feature_count = kFeatures;
  options.normalize.scale = 1.0f / 255;
  options.normalize.mean = 0.5f;
  options.normalize.std = 0.25f;
  return options;
}

std::vector<SampleRange> AllInOrder() { return {{0, 0, 10}, {1, 0, 7}, {2, 0, 13}}; }

// Every record once, one range each, in a seeded random order: a shuffled epoch's stream.
std::vector<SampleRange> Shuffled(uint32_t seed) {
  std::vector<SampleRange> ranges;
  for (const SampleRange& whole : AllInOrder()) {
    for (uint32_t i = 0; i < whole.count; ++i) ranges.push_back({whole.split, i, 1});
  }
  std::shuffle(ranges.begin(), ranges.end(), std::mt19937(seed));
  return ranges;
}

// Runs the stream to its end and checks it against the direct gather, batch by batch.
void RequireStreamMatches(BatchLoader& loader, const ShardFixture& shards,
                          const std::vector<SampleRange>& ranges, uint64_t skip,
                          uint32_t batch_size) {
  std::vector<float> features;
  std::vector<int64_t> labels;
  shards.Expected(ranges, skip, Options().normalize, &features, &labels);
  size_t row = 0;
  while (true) {
    auto batch = loader.Next();
    REQUIRE(batch.ok());
    if (!batch.value()) break;
    const torch::Tensor& x = batch.value()->features;
    const torch::Tensor& y = batch.value()->labels;
    REQUIRE(x.dtype() == torch::kFloat32);
    REQUIRE(y.dtype() == torch::kInt64);
    REQUIRE(x.dim() == 2);
    REQUIRE(x.size(1) == kFeatures);
    REQUIRE(y.size(0) == x.size(0));
    const size_t rows = static_cast<size_t>(x.size(0));
    // Full batches, but for the last.
    REQUIRE(rows == std::min<size_t>(batch_size, labels.size() - row));
    const float* got = x.data_ptr<float>();
    for (size_t i = 0; i < rows * kFeatures; ++i) REQUIRE(got[i] == features[row * kFeatures + i]);
    for (size_t i = 0; i < rows; ++i) REQUIRE(y.data_ptr<int64_t>()[i] == labels[row + i]);
    row += rows;
  }
  CHECK(row == labels.size());
  auto after_end = loader.Next();
  REQUIRE(after_end.ok());
  CHECK_FALSE(after_end.value().has_value());
}

std::string StreamError(BatchLoader& loader) {
  for (int batches = 0; batches < 100; ++batches) {
    auto batch = loader.Next();
    if (!batch.ok()) return batch.status().message();
    REQUIRE(batch.value().has_value());
  }
  FAIL("no error");
  return "";
}

TEST_CASE("BatchLoader batches equal a direct gather of the stream", "[loader]") {
  ShardFixture shards;
  for (uint32_t threads : {1u, 3u}) {
    BatchLoaderOptions options = Options();
    options.loader_threads = threads;
    BatchLoader loader(shards.index, options);
    INFO("loader_threads " << threads);
    loader.Start(Sequence(AllInOrder()), 0, 4);
    RequireStreamMatches(loader, shards, AllInOrder(), 0, 4);
    loader.Start(Sequence(Shuffled(1)), 0, 6);
    RequireStreamMatches(loader, shards, Shuffled(1), 0, 6);
    loader.Start(Sequence({{2, 3, 2}, {0, 9, 1}, {2, 5, 8}}), 0, 64);  // one batch, smaller than asked
    RequireStreamMatches(loader, shards, {{2, 3, 2}, {0, 9, 1}, {2, 5, 8}}, 0, 64);
  }
  BatchLoader never_started(shards.index, Options());
  auto nothing = never_started.Next();
  REQUIRE(nothing.ok());
  CHECK_FALSE(nothing.value().has_value());
}

TEST_CASE("BatchLoader skip_samples resumes without reading skipped shards", "[loader]") {
  ShardFixture shards;
  BatchLoader loader(shards.index, Options());
  // The malformed shard 3 is entirely skipped, so it is never decoded and never fails.
  const std::vector<SampleRange> ranges = {{3, 0, 5}, {0, 2, 4}, {2, 0, 13}};
  loader.Start(Sequence(ranges), 6, 4);
  RequireStreamMatches(loader, shards, ranges, 6, 4);
  loader.Start(Sequence(Shuffled(2)), 17, 5);
  RequireStreamMatches(loader, shards, Shuffled(2), 17, 5);
  loader.Start(Sequence(AllInOrder()), 30, 5);  // skips everything
  RequireStreamMatches(loader, shards, AllInOrder(), 30, 5);
  loader.Start(Sequence(AllInOrder()), 1000, 5);
  RequireStreamMatches(loader, shards, AllInOrder(), 1000, 5);
}

TEST_CASE("BatchLoader Start drops the rest of the previous stream", "[loader]") {
  ShardFixture shards;
  BatchLoaderOptions options = Options();
  options.prefetch_batches = 2;
  BatchLoader loader(shards.index, options);
  for (uint32_t round = 0; round < 25; ++round) {
    loader.Start(Sequence(Shuffled(round)), 0, 3);
    for (uint32_t taken = 0; taken < round % 4; ++taken) {
      auto batch = loader.Next();
      REQUIRE(batch.ok());
      REQUIRE(batch.value().has_value());
    }
  }
  loader.Start(Sequence(AllInOrder()), 4, 7);
  RequireStreamMatches(loader, shards, AllInOrder(), 4, 7);

  // Destroyed with a full queue and an assembler waiting for room: joins cleanly.
  {
    BatchLoader abandoned(shards.index, options);
    abandoned.Start(Sequence(Shuffled(9)), 0, 1);
    REQUIRE(abandoned.Next().ok());
  }
}

TEST_CASE("BatchLoader errors name the file and end the stream", "[loader]") {
  ShardFixture shards;
  BatchLoader loader(shards.index, Options());

  SECTION("malformed shard: earlier batches arrive first, then the error, which stays") {
    loader.Start(Sequence({{0, 0, 10}, {3, 0, 3}}), 0, 5);
    for (int i = 0; i < 2; ++i) {
      auto batch = loader.Next();
      REQUIRE(batch.ok());
      REQUIRE(batch.value().has_value());
    }
    const std::string error = StreamError(loader);
    CHECK_THAT(error, Catch::StartsWith("bad.csv:line 4: "));
    CHECK_THAT(error, Catch::Contains("'x'"));
    auto again = loader.Next();
    REQUIRE_FALSE(again.ok());
    CHECK(again.status().message() == error);
    loader.Start(Sequence(AllInOrder()), 0, 8);  // a new stream is unaffected
    RequireStreamMatches(loader, shards, AllInOrder(), 0, 8);
  }
  SECTION("wrong feature count") {
    loader.Start(Sequence({{4, 0, 1}}), 0, 5);
    CHECK_THAT(StreamError(loader), Catch::StartsWith("narrow.csv:line 2: "));
  }
  SECTION("missing file") {
    loader.Start(Sequence({{1, 0, 7}, {5, 0, 1}}), 0, 5);
    CHECK_THAT(StreamError(loader), Catch::Contains("missing.csv"));
  }
  SECTION("records beyond the end of the split") {
    loader.Start(Sequence({{1, 5, 3}}), 0, 5);
    CHECK(StreamError(loader) ==
          "b.csv.gz: record 7 of split 1 planned, but it has 7 (changed since it was indexed?)");
  }
  SECTION("bad stream arguments") {
    loader.Start(Sequence({{6, 0, 1}}), 0, 5);
    CHECK(StreamError(loader) == "batch loader: a sample names split 6 of 6");
    loader.Start(Sequence(AllInOrder()), 0, 0);
    CHECK(StreamError(loader) == "batch loader: batch_size is 0");
  }
}

TEST_CASE("BatchLoader works with a cache smaller than one shard", "[loader]") {
  ShardFixture shards;
  for (uint64_t cache_bytes : {uint64_t{1}, shards.blocks[2].memory_bytes()}) {
    BatchLoaderOptions options = Options();
    options.cache_bytes = cache_bytes;
    options.loader_threads = 3;
    options.prefetch_batches = 1;
    BatchLoader loader(shards.index, options);
    INFO("cache_bytes " << cache_bytes);
    loader.Start(Sequence(Shuffled(5)), 0, 4);
    RequireStreamMatches(loader, shards, Shuffled(5), 0, 4);
    loader.Start(Sequence(AllInOrder()), 3, 5);
    RequireStreamMatches(loader, shards, AllInOrder(), 3, 5);
  }
}

TEST_CASE("BatchLoader walks an epoch stream: windowed shuffle, every record once", "[loader]") {
  ShardFixture shards;
  data::DatasetIndex good = shards.index;  // only the three good splits
  good.splits.resize(3);
  const std::vector<uint64_t> split_records = good.split_records();
  data::EpochPlanOptions options;
  options.seed = 4;
  options.workers = 2;
  options.samples_per_step = 3;
  options.shuffle_window = 8;
  const data::EpochPlan plan = data::PlanEpoch(split_records, options);
  std::multiset<int64_t> seen;
  for (uint32_t rank = 0; rank < 2; ++rank) {
    // The direct gather: the stream's samples, one range each.
    data::EpochStream direct(plan, split_records, rank);
    std::vector<SampleRange> ranges;
    for (uint64_t k = 0; k < direct.size(); ++k) {
      const SampleRef sample = direct.At(k);
      ranges.push_back({sample.split, sample.record, 1});
      seen.insert(shards.blocks[sample.split].ids[sample.record]);
    }
    BatchLoaderOptions loader_options = Options();
    loader_options.cache_bytes = shards.blocks[2].memory_bytes();  // not all at once
    BatchLoader loader(good, loader_options);
    loader.Start(std::make_unique<data::EpochStream>(plan, split_records, rank), 0, 4);
    RequireStreamMatches(loader, shards, ranges, 0, 4);
    loader.Start(std::make_unique<data::EpochStream>(plan, split_records, rank), 5, 4);  // resume
    RequireStreamMatches(loader, shards, ranges, 5, 4);
  }
  CHECK(seen.size() == 30);
  CHECK(std::set<int64_t>(seen.begin(), seen.end()).size() == 30);
}

}  // namespace
}  // namespace aimass::worker
