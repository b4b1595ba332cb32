#include "tests/temp_dir.h"
#include "common/data/convert.h"

#include <unistd.h>
#include <zlib.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "common/data/csv_shard.h"
#include "common/data/dataset_index.h"
#include "common/data/idx_file.h"

namespace aimass::data {
namespace {

using testing::TempDir;
using testing::WriteRaw;

namespace fs = std::filesystem;

const std::string kFashionMnist = "/usr/share/datasets/fashion-mnist";

bool HaveFashionMnist() {
  if (fs::exists(kFashionMnist + "/train-images-idx3-ubyte.gz")) return true;
  WARN("Fashion-MNIST not installed (package dataset-fashion-mnist); skipped");
  return false;
}

std::string FirstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

std::string GunzipFile(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  REQUIRE(file != nullptr);
  std::string text;
  char buffer[1 << 16];
  int got;
  while ((got = gzread(file, buffer, sizeof(buffer))) > 0) text.append(buffer, got);
  gzclose(file);
  return text;
}

TEST_CASE("ConvertIdxDataset writes sharded CSV that reads back as the IDX records", "[convert]") {
  if (!HaveFashionMnist()) return;
  TempDir out;
  ConvertOptions options;
  options.idx_dir = kFashionMnist;
  options.output_dir = out.path();
  options.records_per_shard = 10;
  options.limit = 25;
  auto summary = ConvertIdxDataset(options, Env::Default());
  REQUIRE(summary.ok());
  CHECK(summary->train_records == 25);
  CHECK(summary->test_records == 25);
  CHECK(summary->train_shards == 3);
  CHECK(summary->test_shards == 3);

  for (const char* split : {"train", "test"}) {
    INFO(split);
    const std::string dir = out.Path(split);
    CHECK(fs::exists(dir + "/_SUCCESS"));
    CHECK(fs::file_size(dir + "/_SUCCESS") == 0);
    CHECK(fs::exists(dir + "/_index.json"));
    auto index = IndexDataset(dir, Env::Default());
    REQUIRE(index.ok());
    REQUIRE(index->shards.size() == 3);
    CHECK(index->shards[0].path == dir + "/part-00000.csv.gz");
    CHECK(index->shards[2].path == dir + "/part-00002.csv.gz");
    CHECK(index->shards[2].records == 5);
    CHECK(index->feature_count == 784);
  }

  // The converter wrote the cache from what it knew; a scan must agree with it.
  for (const char* split : {"train", "test"}) {
    fs::remove(out.Path(split) + "/_index.json");
    auto scanned = IndexDataset(out.Path(split), Env::Default());
    REQUIRE(scanned.ok());
    CHECK(scanned->total_records() == 25);
  }

  // Shard contents: a named header, then the IDX records; test ids follow the training ids.
  auto expected_train = ReadIdxPair(kFashionMnist + "/train-images-idx3-ubyte.gz",
                                    kFashionMnist + "/train-labels-idx1-ubyte.gz", 0, 25);
  auto expected_test = ReadIdxPair(kFashionMnist + "/t10k-images-idx3-ubyte.gz",
                                   kFashionMnist + "/t10k-labels-idx1-ubyte.gz", 25, 25);
  REQUIRE(expected_train.ok());
  REQUIRE(expected_test.ok());
  for (auto [split, expected] : {std::pair{"train", &expected_train.value()},
                                 std::pair{"test", &expected_test.value()}}) {
    RecordBlock all;
    for (int shard = 0; shard < 3; ++shard) {
      auto block = ReadCsvShard(out.Path(split) + "/part-0000" + std::to_string(shard) + ".csv.gz");
      REQUIRE(block.ok());
      all.feature_count = block->feature_count;
      all.ids.insert(all.ids.end(), block->ids.begin(), block->ids.end());
      all.labels.insert(all.labels.end(), block->labels.begin(), block->labels.end());
      all.features.insert(all.features.end(), block->features.begin(), block->features.end());
    }
    CHECK(all.feature_count == 784);
    CHECK(all.ids == expected->ids);
    CHECK(all.labels == expected->labels);
    CHECK(all.features == expected->features);
  }
  std::string header = "id,label";
  for (int p = 0; p < 784; ++p) header += ",pixel" + std::to_string(p);
  CHECK(FirstLine(GunzipFile(out.Path("test/part-00001.csv.gz"))) == header);
}

TEST_CASE("ConvertIdxDataset replaces its own earlier output, refuses foreign files", "[convert]") {
  if (!HaveFashionMnist()) return;
  TempDir out;
  ConvertOptions options;
  options.idx_dir = kFashionMnist;
  options.output_dir = out.path();
  options.records_per_shard = 4;
  options.limit = 12;
  REQUIRE(ConvertIdxDataset(options, Env::Default()).ok());
  CHECK(fs::exists(out.Path("train/part-00002.csv.gz")));

  options.limit = 6;  // 2 shards now: the third of the earlier run must go
  auto summary = ConvertIdxDataset(options, Env::Default());
  REQUIRE(summary.ok());
  CHECK(summary->train_shards == 2);
  CHECK_FALSE(fs::exists(out.Path("train/part-00002.csv.gz")));
  auto index = IndexDataset(out.Path("train"), Env::Default());
  REQUIRE(index.ok());
  CHECK(index->total_records() == 6);

  std::ofstream(out.Path("test/notes.csv")) << "1,2,3\n";
  auto refused = ConvertIdxDataset(options, Env::Default());
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.status().message(), Catch::StartsWith(out.Path("test/notes.csv") + ": "));
}

TEST_CASE("ConvertIdxDataset reports IDX errors naming the file", "[convert]") {
  TempDir dir;
  const std::string idx_dir = dir.Path("idx");
  fs::create_directories(idx_dir);
  ConvertOptions options;
  options.idx_dir = idx_dir;
  options.output_dir = dir.Path("out");

  SECTION("missing files") {
    auto result = ConvertIdxDataset(options, Env::Default());
    REQUIRE_FALSE(result.ok());
    CHECK_THAT(result.status().message(),
               Catch::StartsWith(idx_dir + "/train-images-idx3-ubyte.gz: cannot open"));
  }
  SECTION("a labels file where the images should be") {
    // Hand-made IDX labels file: magic 0x801, 2 labels.
    const std::string labels("\0\0\x08\x01\0\0\0\x02\x03\x04", 10);
    for (const char* name : {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"}) {
      std::ofstream(idx_dir + "/" + name, std::ios::binary) << labels;
    }
    auto result = ConvertIdxDataset(options, Env::Default());
    REQUIRE_FALSE(result.ok());
    CHECK(result.status().message() == idx_dir +
                                           "/train-images-idx3-ubyte.gz: bad magic 0x00000801, "
                                           "expected 0x00000803 (an IDX images file)");
    CHECK_FALSE(fs::exists(dir.Path("out/train/_SUCCESS")));
  }
  SECTION("bad options") {
    options.records_per_shard = 0;
    CHECK_FALSE(ConvertIdxDataset(options, Env::Default()).ok());
    options.records_per_shard = 10;
    options.output_dir.clear();
    CHECK_FALSE(ConvertIdxDataset(options, Env::Default()).ok());
  }
}

// The whole dataset, for measuring; run with `data_tests "[.benchmark]"`.
TEST_CASE("ConvertIdxDataset speed on all of Fashion-MNIST", "[.benchmark]") {
  if (!HaveFashionMnist()) return;
  TempDir out;
  ConvertOptions options;
  options.output_dir = out.path();
  const auto start = std::chrono::steady_clock::now();
  auto summary = ConvertIdxDataset(options, Env::Default());
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  REQUIRE(summary.ok());
  CHECK(summary->train_records == 60000);
  CHECK(summary->test_records == 10000);
  CHECK(summary->train_shards == 6);
  CHECK(summary->test_shards == 1);
  WARN("converted 70000 records in " << took.count() << " s");
}

}  // namespace
}  // namespace aimass::data
