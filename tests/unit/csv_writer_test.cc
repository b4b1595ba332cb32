// The CSV part-file writer, read back through the same table readers training uses.
#include "common/data/csv_writer.h"

#include "tests/catch.h"
#include <cmath>
#include <filesystem>

#include "common/data/split_decoder.h"
#include "tests/temp_dir.h"

namespace aimass::data {
namespace {

using testing::TempDir;
namespace fs = std::filesystem;

RecordBlock SampleBlock() {
  RecordBlock block;
  block.feature_count = 4;
  block.ids = {10, 11, 12, 13};
  block.labels = {0, 1, 2, 1};
  // Values whose shortest text differs from printf's, tiny and huge ones, negative zero.
  block.features = {0.1f, 1.0f / 3.0f, 255.0f, -0.0f, 1e-30f, 3.4e38f, -7.25f, 16777217.0f,
                    0.5f, 2.0f,        -1.0f,  1e-7f, 123456.79f, 0.0f, 42.0f, 1.5f};
  return block;
}

// Every record of `path` as a training job decodes it.
RecordBlock ReadBack(const std::string& path) {
  tables::InputFile file;
  file.path = path;
  file.relative_path = fs::path(path).filename();
  file.size = fs::file_size(path);
  file.codec = io::CodecFromPath(path);
  SplitDecodeOptions options;
  options.table.header = true;
  options.table.feature_columns = {"label", "f0", "f1", "f2", "f3"};
  options.table.feature_count = 5;
  options.num_classes = 3;
  RecordBlock block;
  auto read = DecodeSplit(file, tables::Split{0, 0, 0, file.size, true}, options, &block);
  REQUIRE(read.ok());
  CHECK(read.value() == block.size());
  return block;
}

TEST_CASE("CSV shards round-trip exactly through the table readers, plain and gzip", "[csv]") {
  TempDir dir;
  const RecordBlock block = SampleBlock();
  for (const char* name : {"part-00000.csv", "part-00000.csv.gz"}) {
    SECTION(name) {
      const std::string path = dir.Path(name);
      REQUIRE(WriteCsvShard(path, block).ok());
      const RecordBlock read = ReadBack(path);
      CHECK(read.labels == block.labels);
      REQUIRE(read.features.size() == block.features.size());
      for (size_t i = 0; i < block.features.size(); ++i) {
        INFO("feature value " << i);
        CHECK(read.features[i] == block.features[i]);  // exact: shortest round-trip text
        CHECK(std::signbit(read.features[i]) == std::signbit(block.features[i]));
      }
      // Written through a hidden temp file that table listings skip, then renamed.
      CHECK_FALSE(fs::exists(dir.Path(std::string(".") + name + ".tmp")));
    }
  }
}

TEST_CASE("CSV writer: a header line, integral values as integers, ranges", "[csv]") {
  RecordBlock block;
  block.feature_count = 3;
  block.ids = {5, 6};
  block.labels = {2, 3};
  block.features = {0, 255, 0.5f, 12, -1, 0.1f};
  auto text = EncodeCsvRecords(block, 0, 2, CsvWriteOptions());
  REQUIRE(text.ok());
  CHECK(text.value() == "id,label,f0,f1,f2\n5,2,0,255,0.5\n6,3,12,-1,0.1\n");

  CsvWriteOptions options;
  options.header = false;
  auto second_only = EncodeCsvRecords(block, 1, 2, options);
  REQUIRE(second_only.ok());
  CHECK(second_only.value() == "6,3,12,-1,0.1\n");

  block.ids.clear();  // no ids: the record's index stands in
  CHECK(EncodeCsvRecords(block, 1, 2, options).value() == "1,3,12,-1,0.1\n");

  block.features[2] = std::nanf("");
  auto bad = EncodeCsvRecords(block, 0, 2, CsvWriteOptions());
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.status().message(), Catch::Contains("record id 0: feature 2 is not finite"));
  CHECK_FALSE(EncodeCsvRecords(block, 1, 3, CsvWriteOptions()).ok());  // out of bounds
}

TEST_CASE("DecodeSplit names the record whose label is not a class", "[csv]") {
  TempDir dir;
  testing::WriteRaw(dir.Path("a.csv"), "id,label,f0,f1,f2,f3\n1,1,0,0,0,0\n2,1.5,0,0,0,0\n");
  tables::InputFile file;
  file.path = dir.Path("a.csv");
  file.relative_path = "a.csv";
  file.size = fs::file_size(file.path);
  SplitDecodeOptions options;
  options.table.header = true;
  options.table.feature_columns = {"label", "f0", "f1", "f2", "f3"};
  options.table.feature_count = 5;
  options.num_classes = 3;
  auto decoded = DecodeSplit(file, tables::Split{0, 0, 0, file.size, true}, options, nullptr);
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.status().message() == "a.csv:33: label 'label' is 1.5, not a class in 0..2");
  options.max_records = 1;  // stops before it
  CHECK(DecodeSplit(file, tables::Split{0, 0, 0, file.size, true}, options, nullptr).value() == 1);
}

}  // namespace
}  // namespace aimass::data
