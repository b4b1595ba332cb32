#include "tests/temp_dir.h"
#include "common/data/csv_shard.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>

namespace aimass::data {
namespace {

using testing::ReadRaw;
using testing::TempDir;
using testing::WriteGzip;
using testing::WriteRaw;

namespace fs = std::filesystem;

RecordBlock SampleBlock() {
  RecordBlock block;
  block.feature_count = 4;
  block.ids = {0, 7, -3, 1234567890123};
  block.labels = {1, 9, 0, 5};
  block.features = {0,    255,    128,    1,             // pixels
                    0.1f, -3.25f, 1e-7f,  3.4028235e38f,  // values that need a float form
                    -0.f, 16777216.f, 2.5e-45f, 1.f / 3,   // -0, 2^24, a denormal, a repeating one
                    42,   -17,    0.5f,   100000};
  return block;
}

void RequireSameRecords(const RecordBlock& actual, const RecordBlock& expected) {
  REQUIRE(actual.feature_count == expected.feature_count);
  REQUIRE(actual.ids == expected.ids);
  REQUIRE(actual.labels == expected.labels);
  REQUIRE(actual.features.size() == expected.features.size());
  for (size_t i = 0; i < expected.features.size(); ++i) {
    INFO("feature value " << i);
    REQUIRE(actual.features[i] == expected.features[i]);  // exact: shortest round-trip text
  }
}

TEST_CASE("CSV shards round-trip exactly, plain and gzip", "[csv]") {
  TempDir dir;
  const RecordBlock block = SampleBlock();
  for (const char* name : {"part-00000.csv", "part-00000.csv.gz"}) {
    SECTION(name) {
      const std::string path = dir.Path(name);
      REQUIRE(WriteCsvShard(path, block).ok());
      auto read = ReadCsvShard(path);
      REQUIRE(read.ok());
      RequireSameRecords(read.value(), block);
      auto shape = ScanCsvShard(path);
      REQUIRE(shape.ok());
      CHECK(shape->records == 4);
      CHECK(shape->feature_count == 4);
    }
  }
}

TEST_CASE("CSV writer: a header line, integral values as integers", "[csv]") {
  RecordBlock block;
  block.feature_count = 3;
  block.ids = {5, 6};
  block.labels = {2, 3};
  block.features = {0, 255, 0.5f, 12, -1, 0.1f};
  auto text = EncodeCsvShard(block, 0, 2, /*gzip=*/false, CsvWriteOptions());
  REQUIRE(text.ok());
  CHECK(text.value() == "id,label,f0,f1,f2\n5,2,0,255,0.5\n6,3,12,-1,0.1\n");

  CsvWriteOptions options;
  options.header = false;
  auto second_only = EncodeCsvShard(block, 1, 2, /*gzip=*/false, options);
  REQUIRE(second_only.ok());
  CHECK(second_only.value() == "6,3,12,-1,0.1\n");

  block.features[2] = std::nanf("");
  auto bad = EncodeCsvShard(block, 0, 2, /*gzip=*/false, CsvWriteOptions());
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.status().message(), Catch::Contains("record id 5: feature 2 is not finite"));
}

TEST_CASE("CSV reader: header, CRLF, blank lines, no final newline, multi-member gzip", "[csv]") {
  TempDir dir;
  const std::string text = "\xEF\xBB\xBFid,label,a,b\r\n1,0,1.5,2\r\n\r\n2,1,3,4e2";
  const std::string plain = dir.Path("a.csv"), gzip = dir.Path("a.csv.gz");
  WriteRaw(plain, text);
  WriteGzip(gzip, text);
  for (const std::string& path : {plain, gzip}) {
    auto block = ReadCsvShard(path);
    REQUIRE(block.ok());
    CHECK(block->feature_count == 2);
    CHECK(block->ids == std::vector<int64_t>{1, 2});
    CHECK(block->labels == std::vector<int64_t>{0, 1});
    CHECK(block->features == std::vector<float>{1.5f, 2, 3, 400});
    auto shape = ScanCsvShard(path);
    REQUIRE(shape.ok());
    CHECK(shape->records == 2);
  }

  SECTION("a first line that is a record is not a header") {
    WriteRaw(plain, "-5,3,1\n6,3,2\n");
    auto block = ReadCsvShard(plain);
    REQUIRE(block.ok());
    CHECK(block->ids == std::vector<int64_t>{-5, 6});
  }
  SECTION("concatenated gzip members read as one file") {
    WriteGzip(dir.Path("one.gz"), "1,0,1\n");
    WriteGzip(dir.Path("two.gz"), "2,0,2\n");
    WriteRaw(gzip, ReadRaw(dir.Path("one.gz")) + ReadRaw(dir.Path("two.gz")));
    auto block = ReadCsvShard(gzip);
    REQUIRE(block.ok());
    CHECK(block->ids == std::vector<int64_t>{1, 2});
  }
  SECTION("labels written as doubles and fields with blanks are accepted") {
    WriteRaw(plain, "1,3.0, 7 ,+2\n");
    auto block = ReadCsvShard(plain);
    REQUIRE(block.ok());
    CHECK(block->labels == std::vector<int64_t>{3});
    CHECK(block->features == std::vector<float>{7, 2});
  }
}

TEST_CASE("CSV reader: lines longer than the read buffer", "[csv]") {
  TempDir dir;
  const uint32_t features = 700000;  // about 1.4 MB a line
  std::string line;
  for (int record = 0; record < 2; ++record) {
    line += std::to_string(record) + ",1";
    for (uint32_t f = 0; f < features; ++f) line += f % 2 ? ",1" : ",0";
    line += '\n';
  }
  const std::string path = dir.Path("wide.csv.gz");
  WriteGzip(path, line);
  auto block = ReadCsvShard(path);
  REQUIRE(block.ok());
  CHECK(block->size() == 2);
  CHECK(block->feature_count == features);
  CHECK(block->record_features(1)[features - 1] == 1);
}

TEST_CASE("CSV reader: empty shards have no records", "[csv]") {
  TempDir dir;
  WriteRaw(dir.Path("empty.csv"), "");
  WriteRaw(dir.Path("empty.csv.gz"), "");
  WriteGzip(dir.Path("empty-member.csv.gz"), "");
  WriteRaw(dir.Path("header-only.csv"), "id,label,f0\n");
  for (const char* name : {"empty.csv", "empty.csv.gz", "empty-member.csv.gz", "header-only.csv"}) {
    INFO(name);
    auto block = ReadCsvShard(dir.Path(name));
    REQUIRE(block.ok());
    CHECK(block->size() == 0);
    auto shape = ScanCsvShard(dir.Path(name));
    REQUIRE(shape.ok());
    CHECK(shape->records == 0);
  }
}

// The error of reading `text` from a fresh `name`, by both ReadCsvShard and ScanCsvShard
// when `scan_too` (a scan does not parse numbers).
std::string ReadError(const TempDir& dir, const std::string& name, const std::string& text,
                      bool scan_too) {
  const std::string path = dir.Path(name);
  WriteRaw(path, text);
  auto block = ReadCsvShard(path);
  REQUIRE_FALSE(block.ok());
  if (scan_too) {
    auto shape = ScanCsvShard(path);
    REQUIRE_FALSE(shape.ok());
    CHECK(shape.status().message() == block.status().message());
  }
  return block.status().message();
}

TEST_CASE("CSV reader: errors name the file, the line and what is wrong", "[csv]") {
  TempDir dir;
  const std::string path = dir.Path("bad.csv");
  CHECK(ReadError(dir, "bad.csv", "id,label,a,b\n1,0,1,2\n2,0,1,abc\n", false) ==
        path + ": line 3: field 4 'abc' is not a number");
  CHECK(ReadError(dir, "bad.csv", "1,0,1,2\n2,0,1\n", true) ==
        path + ": line 2: expected 4 fields, found 3");
  CHECK(ReadError(dir, "bad.csv", "1,0,1,2\n\n2,0,1,2,3,4\n", true) ==
        path + ": line 3: expected 4 fields, found 6");
  CHECK(ReadError(dir, "bad.csv", "1,0,1,2\n2.5,0,1,2\n", false) ==
        path + ": line 2: field 1 '2.5' is not an integer");
  CHECK(ReadError(dir, "bad.csv", "1,0,1,nan\n", false) ==
        path + ": line 1: field 4 'nan' is not a finite number");
  CHECK(ReadError(dir, "bad.csv", "1,0,1e99\n", false) ==
        path + ": line 1: field 3 '1e99' is out of range for a float");
  CHECK(ReadError(dir, "bad.csv", "1,0,1,\n", false) ==
        path + ": line 1: field 4 '' is not a number");
  CHECK_THAT(ReadError(dir, "bad.csv", "1,0\n", true),
             Catch::StartsWith(path + ": line 1: found 2 field(s)"));

  auto missing = ReadCsvShard(dir.Path("missing.csv"));
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.status().message(), Catch::StartsWith(dir.Path("missing.csv") + ": "));
}

TEST_CASE("CSV reader: truncated and corrupt gzip streams are errors", "[csv]") {
  TempDir dir;
  RecordBlock block;
  block.feature_count = 50;
  std::mt19937 random(7);
  for (int i = 0; i < 2000; ++i) {
    block.ids.push_back(i);
    block.labels.push_back(i % 10);
    for (int f = 0; f < 50; ++f) block.features.push_back(static_cast<float>(random() % 256));
  }
  const std::string path = dir.Path("part.csv.gz");
  REQUIRE(WriteCsvShard(path, block).ok());
  const std::string bytes = ReadRaw(path);

  SECTION("cut in the middle or just before the trailer") {
    for (size_t keep : {bytes.size() / 2, bytes.size() - 4}) {
      WriteRaw(path, bytes.substr(0, keep));
      for (bool scan : {false, true}) {
        Status status = scan ? ScanCsvShard(path).status() : ReadCsvShard(path).status();
        REQUIRE_FALSE(status.ok());
        CHECK_THAT(status.message(), Catch::StartsWith(path + ": truncated gzip stream"));
      }
    }
  }
  SECTION("damaged bytes") {
    std::string damaged = bytes;
    for (size_t i = damaged.size() / 3; i < damaged.size() / 3 + 64; ++i) damaged[i] ^= 0x5a;
    WriteRaw(path, damaged);
    auto read = ReadCsvShard(path);
    REQUIRE_FALSE(read.ok());
    CHECK_THAT(read.status().message(), Catch::Contains(path + ": corrupt gzip stream: ") ||
                                            Catch::Contains(path + ": line "));
  }
  SECTION("a plain file named .gz") {
    WriteRaw(path, "1,2,3\n");
    auto read = ReadCsvShard(path);
    REQUIRE_FALSE(read.ok());
    CHECK_THAT(read.status().message(), Catch::StartsWith(path + ": corrupt gzip stream: "));
  }
}

// A Fashion-MNIST-size shard, for measuring; run with `data_tests "[.benchmark]"`.
TEST_CASE("CSV reader speed on a 10k x 784 pixel shard", "[.benchmark]") {
  TempDir dir;
  RecordBlock block;
  block.feature_count = 784;
  std::mt19937 random(1);
  for (int i = 0; i < 10000; ++i) {
    block.ids.push_back(i);
    block.labels.push_back(i % 10);
    // Like clothing images: about half the pixels are background zeros.
    for (int f = 0; f < 784; ++f) block.features.push_back(random() % 2 ? 0 : random() % 256);
  }
  const std::string path = dir.Path("part-00000.csv.gz");
  auto start = std::chrono::steady_clock::now();
  REQUIRE(WriteCsvShard(path, block).ok());
  auto written = std::chrono::steady_clock::now();
  auto read = ReadCsvShard(path);
  auto decoded = std::chrono::steady_clock::now();
  auto shape = ScanCsvShard(path);
  auto scanned = std::chrono::steady_clock::now();
  REQUIRE(read.ok());
  REQUIRE(shape.ok());
  using Ms = std::chrono::duration<double, std::milli>;
  WARN("write " << Ms(written - start).count() << " ms, read " << Ms(decoded - written).count()
                << " ms, scan " << Ms(scanned - decoded).count() << " ms, "
                << fs::file_size(path) / 1e6 << " MB");
}

}  // namespace
}  // namespace aimass::data
