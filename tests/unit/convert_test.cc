#include "tests/temp_dir.h"
#include "common/data/convert.h"

#include <unistd.h>
#include <zlib.h>

#include "tests/catch.h"
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <tuple>

#include "common/data/dataset_index.h"
#include "common/data/split_decoder.h"

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

// The test's own reading of an IDX pair (the oracle): labels and pixels of the first `limit` items.
struct IdxRecords {
  std::vector<int64_t> labels;
  std::vector<float> pixels;
};
IdxRecords ReadIdxOracle(const std::string& images, const std::string& labels, size_t limit) {
  const std::string image_bytes = GunzipFile(images), label_bytes = GunzipFile(labels);
  IdxRecords records;
  for (size_t i = 0; i < limit; ++i) {
    records.labels.push_back(static_cast<unsigned char>(label_bytes[8 + i]));
    for (size_t p = 0; p < 784; ++p) {
      records.pixels.push_back(static_cast<unsigned char>(image_bytes[16 + i * 784 + p]));
    }
  }
  return records;
}

// `data.train: DIR`, as a job reads the converted shards.
DatasetSourceConfig Shards(const std::string& dir) {
  DatasetSourceConfig source = ShardDirectorySource(dir);
  source.input.require_success = true;  // the converter writes _SUCCESS
  return source;
}

IndexOptions FashionMnist() {
  IndexOptions options;
  options.feature_count = 784;
  options.num_classes = 10;
  return options;
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

  // Shard contents: the IDX records, read back as any job reads a table; test ids follow the
  // training ids.
  const auto expected_train = ReadIdxOracle(kFashionMnist + "/train-images-idx3-ubyte.gz",
                                            kFashionMnist + "/train-labels-idx1-ubyte.gz", 25);
  const auto expected_test = ReadIdxOracle(kFashionMnist + "/t10k-images-idx3-ubyte.gz",
                                           kFashionMnist + "/t10k-labels-idx1-ubyte.gz", 25);
  for (auto [split, expected, first_id] : {std::tuple{"train", &expected_train, 0},
                                           std::tuple{"test", &expected_test, 25}}) {
    INFO(split);
    const std::string dir = out.Path(split);
    CHECK(fs::exists(dir + "/_SUCCESS"));
    CHECK(fs::file_size(dir + "/_SUCCESS") == 0);
    auto index = IndexDataset(Shards(dir), FashionMnist(), Env::Default());
    REQUIRE(index.ok());
    REQUIRE(index->splits.size() == 3);
    CHECK(index->files[0].relative_path == "part-00000.csv.gz");
    CHECK(index->files[2].relative_path == "part-00002.csv.gz");
    CHECK(index->split_records() == std::vector<uint64_t>{10, 10, 5});
    RecordBlock all;
    SplitDecodeOptions decode;
    decode.table = index->table;
    decode.num_classes = 10;
    for (const DatasetSplit& part : index->splits) {
      REQUIRE(DecodeSplit(index->files[part.split.file], part.split, decode, &all).ok());
    }
    CHECK(all.feature_count == 784);
    CHECK(all.labels == expected->labels);
    CHECK(all.features == expected->pixels);
    std::vector<int64_t> ids;
    for (int shard = 0; shard < 3; ++shard) {
      std::string text = GunzipFile(dir + "/part-0000" + std::to_string(shard) + ".csv.gz");
      for (size_t line = text.find('\n'); line != std::string::npos && line + 1 < text.size();
           line = text.find('\n', line + 1)) {
        ids.push_back(std::stoll(text.substr(line + 1, text.find(',', line + 1) - line - 1)));
      }
    }
    REQUIRE(ids.size() == 25);
    for (int i = 0; i < 25; ++i) CHECK(ids[i] == first_id + i);
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
  auto index = IndexDataset(Shards(out.Path("train")), FashionMnist(), Env::Default());
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
    CHECK_THAT(result.status().message(), Catch::Contains(idx_dir + "/train-images-idx3-ubyte.gz"));
  }
  SECTION("a labels file where the images should be") {
    // Hand-made IDX labels file: magic 0x801, 2 labels.
    const std::string labels("\0\0\x08\x01\0\0\0\x02\x03\x04", 10);
    for (const char* name : {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"}) {
      testing::WriteGzip(idx_dir + "/" + name, labels);
    }
    auto result = ConvertIdxDataset(options, Env::Default());
    REQUIRE_FALSE(result.ok());
    CHECK(result.status().message() ==
          idx_dir + "/train-images-idx3-ubyte.gz: not an images file (1 value per item)");
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
