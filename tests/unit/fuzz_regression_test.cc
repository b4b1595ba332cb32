// Inputs the fuzzers of tests/fuzz found crashing (or that pin a bound they check), replayed
// through the same drivers in the normal build: tests/data/fuzz_regressions/<target>/<case>.
// Each must now end in an Ok or one single-line error, not a crash (ASan catches the rest when
// scripts/sanitize.sh runs this).
#include "tests/catch.h"
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "common/config/infer_config.h"
#include "common/config/job_config.h"
#include "tests/fuzz/fuzz_drivers.h"

namespace aimass {
namespace {

std::string ReadBytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST_CASE("saved fuzz inputs read to an Ok or one clean error", "[fuzz_regression]") {
  const std::filesystem::path root =
      std::filesystem::path(AIMASS_SOURCE_DIR) / "tests/data/fuzz_regressions";
  REQUIRE(std::filesystem::is_directory(root));
  size_t cases = 0;
  for (const auto& target_dir : std::filesystem::directory_iterator(root)) {
    if (!target_dir.is_directory()) continue;
    const std::string target = target_dir.path().filename().string();
    const fuzz::Driver drive = fuzz::FindDriver(target);
    INFO("target " << target);
    REQUIRE(drive != nullptr);  // a directory per fuzz target, named like it
    for (const auto& entry : std::filesystem::directory_iterator(target_dir.path())) {
      if (!entry.is_regular_file()) continue;
      INFO("case " << entry.path().filename().string());
      const std::string bytes = ReadBytes(entry.path());
      const Status status =
          drive(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
      if (!status.ok()) {
        INFO(status.message());
        REQUIRE_FALSE(status.message().empty());
        REQUIRE(status.message().find('\n') == std::string::npos);
      }
      ++cases;
    }
  }
  REQUIRE(cases > 0);
}

TEST_CASE("every fuzz target has a driver the regression cases can use", "[fuzz_regression]") {
  for (const fuzz::Target& target : fuzz::AllTargets()) {
    INFO(target.name);
    REQUIRE(fuzz::FindDriver(target.name) == target.drive);
    // The empty input is the first every fuzzer tries.
    const Status status = target.drive(nullptr, 0);
    REQUIRE((status.ok() || !status.message().empty()));
  }
}

// Found by the config fuzzer: yaml-cpp's exception for a key that is not a scalar escaped.
TEST_CASE("a YAML key that is a list or mapping is an error naming the line", "[fuzz_regression]") {
  auto infer = ParseInferConfig("model: /m.pt\ninput: {path: /t, [a, b]: 1}\n", "infer.yaml");
  REQUIRE_FALSE(infer.ok());
  REQUIRE(infer.status().message() ==
          "infer.yaml: line 2: key 'input' has a key that is a list, not a name");
  auto train = ParseTrainConfig("{a: 1}: 2\ndata: {train: d}\n", "job.yaml");
  REQUIRE_FALSE(train.ok());
  REQUIRE(train.status().message() ==
          "job.yaml: line 1: the document has a key that is a mapping, not a name");
}

// Found by the avro fuzzer: a string length of -786432 inside a block reached libavro, which
// asked malloc for 2^64 - 786431 bytes (ASan: allocation-size-too-big; without ASan the read
// happened to fail). The record walk refuses it first, naming the file, the record and the field.
TEST_CASE("an Avro string of negative length is an error naming file, record and field",
          "[fuzz_regression]") {
  const std::filesystem::path path = std::filesystem::path(AIMASS_SOURCE_DIR) /
                                     "tests/data/fuzz_regressions/avro/alloc-negative-string-length";
  const std::string bytes = ReadBytes(path);
  REQUIRE_FALSE(bytes.empty());
  const Status status =
      fuzz::FindDriver("avro")(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  INFO(status.message());
  REQUIRE(status.code() == StatusCode::kCorruption);
  REQUIRE_THAT(status.message(), Catch::StartsWith("part-0.avro: corrupt Avro file: record 1 "));
  REQUIRE_THAT(status.message(), Catch::EndsWith("field 'Id': string length -786432 is negative"));
}

}  // namespace
}  // namespace aimass
