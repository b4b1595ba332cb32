#include "tests/temp_dir.h"
#include "common/data/dataset_index.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "common/data/csv_shard.h"

namespace aimass::data {
namespace {

using testing::TempDir;
using testing::WriteRaw;

namespace fs = std::filesystem;

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

TEST_CASE("IndexDataset lists data files in name order and counts their records", "[index]") {
  TempDir dir;
  WriteShard(dir.Path("part-00001.csv.gz"), 7, 3);
  WriteShard(dir.Path("part-00000.csv"), 5, 3);
  WriteRaw(dir.Path("part-00002.csv"), "");  // Spark writes empty parts for idle tasks
  WriteShard(dir.Path("part-00003.csv"), 2, 3);
  WriteRaw(dir.Path("_SUCCESS"), "");
  WriteRaw(dir.Path(".part-00000.csv.crc"), "not,a,shard\n");
  WriteRaw(dir.Path("_temporary"), "1,2\n");
  fs::create_directories(dir.Path("nested"));

  auto index = IndexDataset(dir.path(), Env::Default());
  REQUIRE(index.ok());
  REQUIRE(index->shards.size() == 4);
  CHECK(index->shards[0].path == dir.Path("part-00000.csv"));
  CHECK(index->shards[1].path == dir.Path("part-00001.csv.gz"));
  CHECK(index->shards[2].path == dir.Path("part-00002.csv"));
  CHECK(index->shards[3].path == dir.Path("part-00003.csv"));
  CHECK(index->shards[0].records == 5);
  CHECK(index->shards[1].records == 7);
  CHECK(index->shards[2].records == 0);
  CHECK(index->shards[1].size_bytes == fs::file_size(dir.Path("part-00001.csv.gz")));
  CHECK(index->feature_count == 3);
  CHECK(index->total_records() == 14);
  CHECK(fs::exists(dir.Path("_index.json")));

  CHECK(IsDataFileName("part-00000.csv"));
  CHECK_FALSE(IsDataFileName("_SUCCESS"));
  CHECK_FALSE(IsDataFileName("_index.json"));
  CHECK_FALSE(IsDataFileName(".part-00000.csv.crc"));
  CHECK_FALSE(IsDataFileName(""));
}

TEST_CASE("IndexDataset reuses its cache only while the shards are unchanged", "[index]") {
  TempDir dir;
  WriteShard(dir.Path("a.csv"), 4, 2);
  WriteShard(dir.Path("b.csv.gz"), 6, 2);
  REQUIRE(IndexDataset(dir.path(), Env::Default()).ok());
  REQUIRE(fs::exists(dir.Path("_index.json")));

  SECTION("same size and mtime: the cache answers, the shard is not read") {
    CorruptKeepingStat(dir.Path("b.csv.gz"));
    auto index = IndexDataset(dir.path(), Env::Default());
    REQUIRE(index.ok());
    CHECK(index->shards[1].records == 6);
    CHECK(index->total_records() == 10);
  }
  SECTION("a rewritten shard is scanned again") {
    WriteShard(dir.Path("b.csv.gz"), 9, 2);
    auto index = IndexDataset(dir.path(), Env::Default());
    REQUIRE(index.ok());
    CHECK(index->shards[1].records == 9);
  }
  SECTION("a changed mtime alone invalidates the cache") {
    CorruptKeepingStat(dir.Path("b.csv.gz"));
    fs::last_write_time(dir.Path("b.csv.gz"),
                        fs::last_write_time(dir.Path("b.csv.gz")) + std::chrono::seconds(1));
    auto index = IndexDataset(dir.path(), Env::Default());
    REQUIRE_FALSE(index.ok());
    CHECK_THAT(index.status().message(), Catch::StartsWith(dir.Path("b.csv.gz") + ": "));
  }
  SECTION("an added shard is picked up") {
    WriteShard(dir.Path("c.csv"), 1, 2);
    auto index = IndexDataset(dir.path(), Env::Default());
    REQUIRE(index.ok());
    CHECK(index->shards.size() == 3);
    CHECK(index->total_records() == 11);
  }
  SECTION("a removed shard is dropped") {
    fs::remove(dir.Path("a.csv"));
    auto index = IndexDataset(dir.path(), Env::Default());
    REQUIRE(index.ok());
    CHECK(index->shards.size() == 1);
    CHECK(index->total_records() == 6);
  }
  SECTION("a corrupt cache is ignored and rewritten") {
    WriteRaw(dir.Path("_index.json"), "{\"version\": 1, \"shards\": [tru");
    auto index = IndexDataset(dir.path(), Env::Default());
    REQUIRE(index.ok());
    CHECK(index->total_records() == 10);
    CorruptKeepingStat(dir.Path("a.csv"));  // the rewritten cache is good again
    CHECK(IndexDataset(dir.path(), Env::Default()).ok());
  }
}

TEST_CASE("IndexDataset works in a directory it cannot write", "[index]") {
  TempDir dir;
  WriteShard(dir.Path("a.csv"), 3, 2);
  ReadOnlyEnv env;
  auto index = IndexDataset(dir.path(), env);
  REQUIRE(index.ok());
  CHECK(index->total_records() == 3);
  CHECK(env.failed_writes == 1);
  CHECK_FALSE(fs::exists(dir.Path("_index.json")));
}

TEST_CASE("IndexDataset errors", "[index]") {
  TempDir dir;
  SECTION("missing directory") {
    auto index = IndexDataset(dir.Path("missing"), Env::Default());
    REQUIRE_FALSE(index.ok());
    CHECK_THAT(index.status().message(), Catch::StartsWith(dir.Path("missing") + ": "));
  }
  SECTION("no data files") {
    WriteRaw(dir.Path("_SUCCESS"), "");
    auto index = IndexDataset(dir.path(), Env::Default());
    REQUIRE_FALSE(index.ok());
    CHECK(index.status().message() == dir.path() + ": no data files");
  }
  SECTION("only empty data files") {
    WriteRaw(dir.Path("part-0.csv"), "id,label,f0\n");
    auto index = IndexDataset(dir.path(), Env::Default());
    REQUIRE_FALSE(index.ok());
    CHECK(index.status().message() == dir.path() + ": no records in its 1 data files");
  }
  SECTION("feature counts that disagree name both files") {
    WriteShard(dir.Path("a.csv"), 3, 4);
    WriteShard(dir.Path("b.csv"), 3, 4);
    WriteShard(dir.Path("c.csv"), 3, 5);
    auto index = IndexDataset(dir.path(), Env::Default());
    REQUIRE_FALSE(index.ok());
    CHECK(index.status().message() ==
          dir.Path("c.csv") + ": 5 features per record, but " + dir.Path("a.csv") + " has 4");
  }
  SECTION("a malformed shard") {
    WriteShard(dir.Path("a.csv"), 3, 4);
    WriteRaw(dir.Path("b.csv"), "1,2,3\n4,5\n");
    auto index = IndexDataset(dir.path(), Env::Default());
    REQUIRE_FALSE(index.ok());
    CHECK(index.status().message() == dir.Path("b.csv") + ": line 2: expected 3 fields, found 2");
    CHECK_FALSE(fs::exists(dir.Path("_index.json")));
  }
}

}  // namespace
}  // namespace aimass::data
