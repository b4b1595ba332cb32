#include "tests/temp_dir.h"
#include "common/data/dataset_index.h"

#include <unistd.h>

#include "tests/catch.h"
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "common/data/csv_writer.h"

namespace aimass::data {
namespace {

using testing::TempDir;
using testing::WriteRaw;

namespace fs = std::filesystem;

// `data.train: DIR`: the shards `data convert` and WriteCsvShard write.
DatasetSourceConfig Shards(const std::string& dir) { return ShardDirectorySource(dir); }

IndexOptions Features(uint32_t count) {
  IndexOptions options;
  options.feature_count = count;
  options.num_classes = 3;
  return options;
}

Result<DatasetIndex> Index(const std::string& dir, uint32_t features, Env& env = Env::Default()) {
  return IndexDataset(Shards(dir), Features(features), env);
}

// Records per split, and the file each split reads.
std::vector<uint64_t> Records(const DatasetIndex& index) { return index.split_records(); }
std::string FileOf(const DatasetIndex& index, size_t split) {
  return index.files[index.splits[split].split.file].relative_path;
}

void WriteShard(const std::string& path, int records, uint32_t features) {
  RecordBlock block;
  block.feature_count = features;
  for (int i = 0; i < records; ++i) {
    block.ids.push_back(i);
    block.labels.push_back(i % 3);
    for (uint32_t f = 0; f < features; ++f) block.features.push_back(static_cast<float>(i + f));
  }
  REQUIRE(WriteCsvShard(path, block).ok());
}

// Replaces a shard's contents by garbage of the same size and keeps its mtime: only a reader that
// trusts the cache can still index the directory.
void CorruptKeepingStat(const std::string& path) {
  const auto mtime = fs::last_write_time(path);
  WriteRaw(path, std::string(fs::file_size(path), 'x'));
  fs::last_write_time(path, mtime);
}

// Delegates to the real filesystem but cannot write, like a read-only dataset directory.
class ReadOnlyEnv : public EnvWrapper {
 public:
  ReadOnlyEnv() : EnvWrapper(Env::Default()) {}
  Status WriteFileAtomically(const std::string& path, const std::string&) override {
    ++failed_writes;
    return Status::Error(path + ": read-only");
  }
  Status AppendToFile(const std::string& path, const std::string&) override {
    return Status::Error(path + ": read-only");
  }
  Status CreateDirectories(const std::string& path) override {
    return Status::Error(path + ": read-only");
  }
  Status RemoveFile(const std::string& path) override {
    return Status::Error(path + ": read-only");
  }
  Status RemoveTree(const std::string& path) override {
    return Status::Error(path + ": read-only");
  }
  Status RenameFile(const std::string& from, const std::string&) override {
    return Status::Error(from + ": read-only");
  }

  int failed_writes = 0;
};

TEST_CASE("IndexDataset lists part files in name order and counts their records", "[index]") {
  TempDir dir;
  WriteShard(dir.Path("part-00001.csv.gz"), 7, 3);
  WriteShard(dir.Path("part-00000.csv"), 5, 3);
  WriteRaw(dir.Path("part-00002.csv"), "");  // Spark writes empty parts for idle tasks
  WriteShard(dir.Path("part-00003.csv"), 2, 3);
  WriteRaw(dir.Path("_SUCCESS"), "");
  WriteRaw(dir.Path(".part-00000.csv.crc"), "not,a,shard\n");
  WriteRaw(dir.Path("_temporary"), "1,2\n");

  auto index = Index(dir.path(), 3);
  REQUIRE(index.ok());
  REQUIRE(index->splits.size() == 3);  // the empty file has no split
  CHECK(FileOf(*index, 0) == "part-00000.csv");
  CHECK(FileOf(*index, 1) == "part-00001.csv.gz");
  CHECK(FileOf(*index, 2) == "part-00003.csv");
  CHECK(Records(*index) == std::vector<uint64_t>{5, 7, 2});
  CHECK(index->splits[1].split.whole_file);  // compressed: read whole
  CHECK(index->feature_count == 3);
  // The label travels first; the id is neither label nor feature.
  CHECK(index->table.feature_columns == std::vector<std::string>{"label", "f0", "f1", "f2"});
  CHECK(index->table.feature_count == 4);
  CHECK(index->total_records() == 14);
  CHECK(fs::exists(dir.Path("_index.json")));
}

TEST_CASE("IndexDataset cuts uncompressed files into byte-range splits", "[index]") {
  TempDir dir;
  WriteShard(dir.Path("a.csv"), 200, 3);
  DatasetSourceConfig source = Shards(dir.path());
  source.input.split_bytes = 512;
  auto index = IndexDataset(source, Features(3), Env::Default());
  REQUIRE(index.ok());
  CHECK(index->splits.size() > 3);
  CHECK(index->total_records() == 200);  // every line counted once, whatever the cuts
}

TEST_CASE("IndexDataset reuses its cache only while the files are unchanged", "[index]") {
  TempDir dir;
  WriteShard(dir.Path("a.csv"), 4, 2);
  WriteShard(dir.Path("b.csv.gz"), 6, 2);
  REQUIRE(Index(dir.path(), 2).ok());
  REQUIRE(fs::exists(dir.Path("_index.json")));

  SECTION("same size and mtime: the cache answers, the file is not read") {
    CorruptKeepingStat(dir.Path("b.csv.gz"));
    auto index = Index(dir.path(), 2);
    REQUIRE(index.ok());
    CHECK(Records(*index) == std::vector<uint64_t>{4, 6});
  }
  SECTION("a rewritten file is counted again") {
    WriteShard(dir.Path("b.csv.gz"), 9, 2);
    auto index = Index(dir.path(), 2);
    REQUIRE(index.ok());
    CHECK(Records(*index) == std::vector<uint64_t>{4, 9});
  }
  SECTION("a changed mtime alone invalidates the cache") {
    CorruptKeepingStat(dir.Path("b.csv.gz"));
    fs::last_write_time(dir.Path("b.csv.gz"),
                        fs::last_write_time(dir.Path("b.csv.gz")) + std::chrono::seconds(1));
    auto index = Index(dir.path(), 2);
    REQUIRE_FALSE(index.ok());
    CHECK_THAT(index.status().message(), Catch::Contains("b.csv.gz"));
  }
  SECTION("other options that decide what a record is invalidate the cache") {
    CorruptKeepingStat(dir.Path("b.csv.gz"));
    IndexOptions options = Features(2);
    options.num_classes = 5;
    CHECK_FALSE(IndexDataset(Shards(dir.path()), options, Env::Default()).ok());
  }
  SECTION("an added file is picked up") {
    WriteShard(dir.Path("c.csv"), 1, 2);
    auto index = Index(dir.path(), 2);
    REQUIRE(index.ok());
    CHECK(index->splits.size() == 3);
    CHECK(index->total_records() == 11);
  }
  SECTION("a removed file is dropped") {
    fs::remove(dir.Path("a.csv"));
    auto index = Index(dir.path(), 2);
    REQUIRE(index.ok());
    CHECK(index->splits.size() == 1);
    CHECK(index->total_records() == 6);
  }
  SECTION("a corrupt cache is ignored and rewritten") {
    WriteRaw(dir.Path("_index.json"), "{\"key\": 1, \"split_records\": [tru");
    auto index = Index(dir.path(), 2);
    REQUIRE(index.ok());
    CHECK(index->total_records() == 10);
    // The rewritten cache is good again. (The first file's header is always read: it names the
    // columns.)
    CorruptKeepingStat(dir.Path("b.csv.gz"));
    CHECK(Index(dir.path(), 2).ok());
  }
}

TEST_CASE("IndexDataset works in a directory it cannot write", "[index]") {
  TempDir dir;
  WriteShard(dir.Path("a.csv"), 3, 2);
  ReadOnlyEnv env;
  auto index = Index(dir.path(), 2, env);
  REQUIRE(index.ok());
  CHECK(index->total_records() == 3);
  CHECK(env.failed_writes == 1);
  CHECK_FALSE(fs::exists(dir.Path("_index.json")));
}

TEST_CASE("LimitRecords keeps the first records in split order", "[index]") {
  TempDir dir;
  WriteShard(dir.Path("a.csv"), 4, 2);
  WriteShard(dir.Path("b.csv"), 6, 2);
  WriteShard(dir.Path("c.csv"), 3, 2);
  auto index = Index(dir.path(), 2);
  REQUIRE(index.ok());
  LimitRecords(7, &*index);
  CHECK(Records(*index) == std::vector<uint64_t>{4, 3, 0});
  LimitRecords(0, &*index);  // 0: no limit
  CHECK(index->total_records() == 7);
}

TEST_CASE("IndexDataset errors name the file, the column or the record", "[index]") {
  TempDir dir;
  SECTION("missing directory") {
    auto index = Index(dir.Path("missing"), 2);
    REQUIRE_FALSE(index.ok());
    CHECK_THAT(index.status().message(), Catch::Contains(dir.Path("missing")));
  }
  SECTION("no part files") {
    WriteRaw(dir.Path("_SUCCESS"), "");
    REQUIRE_FALSE(Index(dir.path(), 2).ok());
  }
  SECTION("only a header") {
    WriteRaw(dir.Path("part-0.csv"), "id,label,f0\n");
    auto index = Index(dir.path(), 1);
    REQUIRE_FALSE(index.ok());
    CHECK(index.status().message() == dir.path() + ": no records in its 1 part files");
  }
  SECTION("a model that takes another number of features") {
    WriteShard(dir.Path("a.csv"), 3, 4);
    auto index = Index(dir.path(), 5);
    REQUIRE_FALSE(index.ok());
    CHECK(index.status().message() ==
          dir.path() + ": records have 4 feature columns, but the model takes 5 values per record");
  }
  SECTION("a file whose records have another shape names the file and line") {
    WriteShard(dir.Path("a.csv"), 3, 4);
    WriteRaw(dir.Path("b.csv"), "id,label,f0,f1,f2,f3\n1,2,3,4,5,6\n4,1,5\n");
    auto index = Index(dir.path(), 4);
    REQUIRE_FALSE(index.ok());
    CHECK_THAT(index.status().message(), Catch::StartsWith("b.csv:line 3: "));
    CHECK_FALSE(fs::exists(dir.Path("_index.json")));
  }
  SECTION("a list-valued feature of the wrong length: the count leaves the label out") {
    WriteRaw(dir.Path("a.jsonl"), "{\"label\": 1, \"x\": [1, 2, 3]}\n{\"label\": 2, \"x\": [1, 2]}\n");
    DatasetSourceConfig source;
    source.input.path = dir.path();
    source.input.format = "jsonl";
    source.input.require_success = false;
    source.features = {"x"};
    auto index = IndexDataset(source, Features(3), Env::Default());
    REQUIRE_FALSE(index.ok());
    CHECK(index.status().message() == "a.jsonl:line 2: has 2 feature values, expected 3");
  }
  SECTION("a label outside the model's classes") {
    WriteRaw(dir.Path("a.csv"), "id,label,f0\n1,2,0.5\n2,3,0.5\n");
    auto index = Index(dir.path(), 1);
    REQUIRE_FALSE(index.ok());
    CHECK_THAT(index.status().message(), Catch::Contains("label 'label' is 3, not a class in 0..2"));
    CHECK_THAT(index.status().message(), Catch::StartsWith("a.csv:"));
  }
  SECTION("a label column the table lacks") {
    WriteRaw(dir.Path("a.csv"), "id,class,f0\n1,2,0.5\n");
    auto index = Index(dir.path(), 1);
    REQUIRE_FALSE(index.ok());
    CHECK_THAT(index.status().message(), Catch::Contains("label column 'label'"));
  }
  SECTION("a feature that is not a number") {
    WriteRaw(dir.Path("a.csv"), "id,label,f0\n1,2,0.5\n2,1,abc\n");
    auto index = Index(dir.path(), 1);
    REQUIRE_FALSE(index.ok());
    CHECK_THAT(index.status().message(), Catch::StartsWith("a.csv:line 3: "));
    CHECK_THAT(index.status().message(), Catch::Contains("abc"));
  }
  SECTION("a feature that is NaN or infinite") {
    for (const char* value : {"nan", "inf", "-Infinity"}) {
      INFO(value);
      WriteRaw(dir.Path("a.csv"), "id,label,f0\n1,2,0.5\n2,1," + std::string(value) + "\n");
      auto index = Index(dir.path(), 1);
      REQUIRE_FALSE(index.ok());
      CHECK(index.status().message() ==
            "a.csv:line 3: field 'f0': '" + std::string(value) + "' is not a finite number");
    }
  }
  SECTION("a NaN label") {
    WriteRaw(dir.Path("a.csv"), "id,label,f0\n1,NaN,0.5\n");
    auto index = Index(dir.path(), 1);
    REQUIRE_FALSE(index.ok());
    CHECK(index.status().message() == "a.csv:line 2: field 'label': 'NaN' is not a finite number");
  }
}

}  // namespace
}  // namespace aimass::data
