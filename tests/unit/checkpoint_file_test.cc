#include "tests/temp_dir.h"
#include "common/checkpoint/checkpoint_file.h"

#include <zlib.h>

#include <algorithm>
#include "tests/catch.h"
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

namespace aimass {
namespace {

using testing::TempDir;
using testing::WriteRaw;

namespace fs = std::filesystem;

// Env::Default() except that WriteFileAtomically fails: outright, or as a process killed between
// writing the temporary file and renaming it, which leaves a partial temporary behind.
class FaultyEnv final : public EnvWrapper {
 public:
  enum class Fault { kFailWrite, kCrashBeforeRename };
  explicit FaultyEnv(Fault fault) : EnvWrapper(Env::Default()), fault_(fault) {}

  Status WriteFileAtomically(const std::string& path, const std::string& contents) override {
    if (fault_ == Fault::kCrashBeforeRename) {
      std::ofstream(path + ".tmp.4242.0", std::ios::binary)
          .write(contents.data(), static_cast<std::streamsize>(contents.size() / 2));
    }
    return Status::Error(path + ": injected write failure");
  }

 private:
  Fault fault_;
};

Checkpoint MakeCheckpoint(uint64_t step) {
  Checkpoint checkpoint;
  checkpoint.header.step = step;
  checkpoint.header.epoch = 3;
  checkpoint.header.step_in_epoch = 17;
  checkpoint.header.world_size = 4;
  checkpoint.header.model = "cnn";
  checkpoint.payload = std::string("payload\0with\xff binary", 20) + std::to_string(step);
  return checkpoint;
}

std::string WriteStep(const std::string& dir, uint64_t step) {
  std::string path = JoinPath(dir, CheckpointFileName(step));
  REQUIRE(WriteCheckpoint(Env::Default(), path, MakeCheckpoint(step)).ok());
  return path;
}

std::string ReadBytes(const std::string& path) { return *Env::Default().ReadFile(path); }

void OverwriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::set<std::string> NamesIn(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename());
  return names;
}

}  // namespace

TEST_CASE("checkpoint file names sort by step", "[checkpoint_file]") {
  CHECK(CheckpointFileName(1234) == "ckpt-000000001234.aimass");
  CHECK(CheckpointFileName(9) < CheckpointFileName(10));
}

TEST_CASE("a checkpoint round-trips header and binary payload", "[checkpoint_file]") {
  TempDir dir;
  std::string path = WriteStep(dir.path(), 1234);
  Result<Checkpoint> read = ReadCheckpoint(Env::Default(), path);
  REQUIRE(read.ok());
  Checkpoint expected = MakeCheckpoint(1234);
  CHECK(read->header.step == 1234);
  CHECK(read->header.epoch == 3);
  CHECK(read->header.step_in_epoch == 17);
  CHECK(read->header.world_size == 4);
  CHECK(read->header.model == "cnn");
  CHECK(read->payload == expected.payload);
  CHECK(ReadBytes(path).compare(0, 8, "AIMASSCK") == 0);
}

TEST_CASE("a flipped byte anywhere is a checksum error naming the file", "[checkpoint_file]") {
  TempDir dir;
  std::string path = WriteStep(dir.path(), 5);
  const std::string original = ReadBytes(path);
  for (size_t offset = 0; offset < original.size(); ++offset) {
    std::string damaged = original;
    damaged[offset] = static_cast<char>(damaged[offset] ^ 0x10);
    OverwriteBytes(path, damaged);
    Result<Checkpoint> read = ReadCheckpoint(Env::Default(), path);
    INFO("flipped byte " << offset);
    REQUIRE_FALSE(read.ok());
    CHECK_THAT(read.status().message(), Catch::Contains(path) && Catch::Contains("checksum"));
    CHECK(read.status().code() == StatusCode::kCorruption);
  }
}

TEST_CASE("a truncated checkpoint is an error naming the file", "[checkpoint_file]") {
  TempDir dir;
  std::string path = WriteStep(dir.path(), 5);
  const std::string original = ReadBytes(path);
  for (size_t length : {size_t{0}, size_t{7}, size_t{20}, original.size() / 2,
                        original.size() - 1}) {
    OverwriteBytes(path, original.substr(0, length));
    Result<Checkpoint> read = ReadCheckpoint(Env::Default(), path);
    INFO("truncated to " << length << " bytes");
    REQUIRE_FALSE(read.ok());
    CHECK_THAT(read.status().message(), Catch::Contains(path));
    CHECK(read.status().IsCorruption());
  }
  // Cut inside the payload: the header still declares the full size, which the error reports.
  OverwriteBytes(path, original.substr(0, original.size() - 10));
  CHECK_THAT(ReadCheckpoint(Env::Default(), path).status().message(),
             Catch::Contains("truncated"));
}

TEST_CASE("a checkpoint of an unknown format version is refused even with a valid checksum",
          "[checkpoint_file]") {
  TempDir dir;
  std::string path = WriteStep(dir.path(), 5);
  std::string bytes = ReadBytes(path);
  bytes[8] = 2;  // the version field follows the 8-byte magic
  uint32_t crc = static_cast<uint32_t>(
      crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data()),
            static_cast<uInt>(bytes.size() - 4)));
  for (int i = 0; i < 4; ++i) bytes[bytes.size() - 4 + i] = static_cast<char>(crc >> (8 * i));
  OverwriteBytes(path, bytes);
  Result<Checkpoint> read = ReadCheckpoint(Env::Default(), path);
  REQUIRE_FALSE(read.ok());
  CHECK_THAT(read.status().message(), Catch::Contains(path) && Catch::Contains("version 2"));
  CHECK(read.status().IsCorruption());
}

TEST_CASE("FindNewestValidCheckpoint skips a corrupt newest checkpoint", "[checkpoint_file]") {
  TempDir dir;
  WriteStep(dir.path(), 100);
  std::string middle = WriteStep(dir.path(), 200);
  std::string newest = WriteStep(dir.path(), 300);
  std::string bytes = ReadBytes(newest);
  bytes[bytes.size() / 2] ^= 0x01;
  OverwriteBytes(newest, bytes);

  std::vector<std::string> skipped;
  auto found = FindNewestValidCheckpoint(Env::Default(), dir.path(), &skipped);
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  CHECK((*found)->path == middle);
  CHECK((*found)->header.step == 200);
  CHECK((*found)->header.model == "cnn");
  REQUIRE(skipped.size() == 1);
  CHECK_THAT(skipped[0], Catch::Contains(newest) && Catch::Contains("checksum"));
}

TEST_CASE("FindNewestValidCheckpoint below an epoch passes over the run's last checkpoints", "[checkpoint_file]") {
  TempDir dir;
  WriteStep(dir.path(), 100);
  std::string earlier = WriteStep(dir.path(), 200);  // epoch 3
  Checkpoint last = MakeCheckpoint(300);
  last.header.epoch = 4;
  last.header.step_in_epoch = 0;
  REQUIRE(WriteCheckpoint(Env::Default(), JoinPath(dir.path(), CheckpointFileName(300)), last).ok());

  auto newest = FindNewestValidCheckpoint(Env::Default(), dir.path(), nullptr);
  REQUIRE(newest.ok());
  CHECK((*newest)->header.step == 300);
  std::vector<std::string> skipped;
  auto before = FindNewestValidCheckpoint(Env::Default(), dir.path(), &skipped, 4);
  REQUIRE(before.ok());
  REQUIRE(before->has_value());
  CHECK((*before)->path == earlier);
  CHECK(skipped.empty());  // passed over, not invalid
  auto none = FindNewestValidCheckpoint(Env::Default(), dir.path(), nullptr, 3);
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());
}

TEST_CASE("FindNewestValidCheckpoint refuses a file whose name and header disagree",
          "[checkpoint_file]") {
  TempDir dir;
  std::string genuine = WriteStep(dir.path(), 100);
  fs::copy_file(genuine, JoinPath(dir.path(), CheckpointFileName(500)));
  std::vector<std::string> skipped;
  auto found = FindNewestValidCheckpoint(Env::Default(), dir.path(), &skipped);
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  CHECK((*found)->header.step == 100);
  REQUIRE(skipped.size() == 1);
  CHECK_THAT(skipped[0], Catch::Contains(CheckpointFileName(500)));
}

TEST_CASE("FindNewestValidCheckpoint finds nothing in a missing or empty directory",
          "[checkpoint_file]") {
  TempDir dir;
  auto missing = FindNewestValidCheckpoint(Env::Default(), JoinPath(dir.path(), "none"), nullptr);
  REQUIRE(missing.ok());
  CHECK_FALSE(missing->has_value());

  OverwriteBytes(JoinPath(dir.path(), "notes.txt"), "not a checkpoint");
  auto empty = FindNewestValidCheckpoint(Env::Default(), dir.path(), nullptr);
  REQUIRE(empty.ok());
  CHECK_FALSE(empty->has_value());
}

TEST_CASE("PruneCheckpoints keeps the newest K and removes leftover temporaries",
          "[checkpoint_file]") {
  TempDir dir;
  for (uint64_t step : {10, 20, 30, 40, 50}) WriteStep(dir.path(), step);
  OverwriteBytes(JoinPath(dir.path(), CheckpointFileName(60) + ".tmp.99.0"), "partial");
  OverwriteBytes(JoinPath(dir.path(), "notes.txt"), "not ours to delete");

  REQUIRE(PruneCheckpoints(Env::Default(), dir.path(), 2).ok());
  CHECK(NamesIn(dir.path()) ==
        std::set<std::string>{CheckpointFileName(40), CheckpointFileName(50), "notes.txt"});

  CHECK_FALSE(PruneCheckpoints(Env::Default(), dir.path(), 0).ok());
  CHECK(PruneCheckpoints(Env::Default(), dir.path(), 0).IsInvalidArgument());
  CHECK(PruneCheckpoints(Env::Default(), JoinPath(dir.path(), "none"), 1).ok());
}

TEST_CASE("a failed or interrupted write leaves the previous checkpoint valid and found",
          "[checkpoint_file]") {
  TempDir dir;
  std::string previous = WriteStep(dir.path(), 100);
  const std::string previous_bytes = ReadBytes(previous);

  SECTION("the write fails") {
    FaultyEnv env(FaultyEnv::Fault::kFailWrite);
    CHECK_FALSE(WriteCheckpoint(env, JoinPath(dir.path(), CheckpointFileName(200)),
                                MakeCheckpoint(200)).ok());
    // Overwriting the same path in place must not damage it either.
    CHECK_FALSE(WriteCheckpoint(env, previous, MakeCheckpoint(100)).ok());
  }
  SECTION("the process dies before the rename") {
    FaultyEnv env(FaultyEnv::Fault::kCrashBeforeRename);
    CHECK_FALSE(WriteCheckpoint(env, JoinPath(dir.path(), CheckpointFileName(200)),
                                MakeCheckpoint(200)).ok());
    CHECK(NamesIn(dir.path()).size() == 2);  // the previous one and the partial temporary
  }

  CHECK(ReadBytes(previous) == previous_bytes);
  std::vector<std::string> skipped;
  auto found = FindNewestValidCheckpoint(Env::Default(), dir.path(), &skipped);
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  CHECK((*found)->path == previous);
  CHECK(skipped.empty());
  REQUIRE(PruneCheckpoints(Env::Default(), dir.path(), 3).ok());
  CHECK(NamesIn(dir.path()) == std::set<std::string>{CheckpointFileName(100)});
}

}  // namespace aimass
