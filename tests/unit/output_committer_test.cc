#include "coordinator/infer/output_committer.h"

#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <filesystem>
#include <fstream>

#include "tests/temp_dir.h"

namespace aimass::coordinator {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using testing::TempDir;

json::object Identity(const std::string& model) {
  return json::object{{"model_sha256", model}, {"input", "/table"}};
}

std::string WriteAttempt(OutputCommitter& committer, uint64_t attempt, const std::string& text) {
  std::string dir = committer.AttemptDirectory(attempt);
  fs::create_directories(dir);
  std::ofstream(dir + "/part.csv") << text;
  return dir + "/part.csv";
}

CommittedPart Part(OutputCommitter& committer, uint32_t split, uint64_t attempt, uint64_t bytes) {
  CommittedPart part;
  part.split = split;
  part.attempt_id = attempt;
  part.file = committer.PartName(split);
  part.records_in = part.records_out = 1;
  part.bytes = bytes;
  part.sha256 = "ab";
  return part;
}

TEST_CASE("commits rename one attempt into place and job commit leaves no temporaries", "[committer]") {
  TempDir dir;
  OutputCommitter committer(Env::Default(), dir.Path("out"), ".csv.gz");
  REQUIRE(committer.PartName(7) == "part-00007.csv.gz");
  auto state = committer.Open(Identity("m1"), false);
  REQUIRE(state.ok());
  REQUIRE(state->committed.empty());
  std::string attempt = WriteAttempt(committer, 4, "abc");
  REQUIRE(committer.Commit(Part(committer, 0, 4, 3), attempt, "").ok());
  REQUIRE(fs::exists(dir.Path("out/part-00000.csv.gz")));
  REQUIRE_FALSE(fs::exists(committer.AttemptDirectory(4)));
  WriteAttempt(committer, 5, "duplicate");
  committer.Discard(5);
  REQUIRE_FALSE(fs::exists(committer.AttemptDirectory(5)));
  REQUIRE(committer.CommitJob(json::object{{"identity", Identity("m1")}}).ok());
  REQUIRE(fs::exists(dir.Path("out/_SUCCESS")));
  REQUIRE(committer.RemoveTemporary().ok());
  REQUIRE_FALSE(fs::exists(dir.Path("out/_temporary")));
}

TEST_CASE("reopening resumes commits whose parts are intact and drops stale attempts", "[committer]") {
  TempDir dir;
  {
    OutputCommitter committer(Env::Default(), dir.Path("out"), ".csv");
    REQUIRE(committer.Open(Identity("m1"), false).ok());
    REQUIRE(committer.Commit(Part(committer, 0, 1, 3), WriteAttempt(committer, 1, "abc"), "").ok());
    REQUIRE(committer.Commit(Part(committer, 1, 2, 3), WriteAttempt(committer, 2, "def"), "").ok());
    WriteAttempt(committer, 3, "half written");
    fs::resize_file(dir.Path("out/part-00001.csv"), 1);  // not what was committed: not trusted
    std::ofstream(dir.Path("out/_temporary/commits.jsonl"), std::ios::app) << "{\"split\":";  // torn
  }
  OutputCommitter committer(Env::Default(), dir.Path("out"), ".csv");
  auto state = committer.Open(Identity("m1"), false);
  REQUIRE(state.ok());
  REQUIRE(state->committed.size() == 1);
  REQUIRE(state->committed[0].split == 0);
  REQUIRE_FALSE(fs::exists(committer.AttemptDirectory(3)));
}

TEST_CASE("another job's output is refused, naming what differs, unless overwrite", "[committer]") {
  TempDir dir;
  {
    OutputCommitter committer(Env::Default(), dir.Path("out"), ".csv");
    REQUIRE(committer.Open(Identity("m1"), false).ok());
  }
  std::ofstream(dir.Path("out/part-00003.csv")) << "an earlier part";
  std::ofstream(dir.Path("out/README")) << "the user's own file";
  OutputCommitter committer(Env::Default(), dir.Path("out"), ".csv");
  auto refused = committer.Open(Identity("m2"), false);
  REQUIRE_FALSE(refused.ok());
  REQUIRE_THAT(refused.status().message(), Catch::Contains("model_sha256"));
  REQUIRE(committer.Open(Identity("m2"), true).ok());
  REQUIRE_FALSE(fs::exists(dir.Path("out/part-00003.csv")));  // the earlier job's files go ...
  REQUIRE(fs::exists(dir.Path("out/README")));               // ... and only those

  fs::create_directories(dir.Path("other"));
  std::ofstream(dir.Path("other/notes.txt")) << "mine";
  OutputCommitter stranger(Env::Default(), dir.Path("other"), ".csv");
  for (bool overwrite : {false, true}) {
    auto not_ours = stranger.Open(Identity("m1"), overwrite);
    REQUIRE_FALSE(not_ours.ok());
    REQUIRE_THAT(not_ours.status().message(), Catch::Contains("not an aimass inference output"));
  }
  REQUIRE(fs::exists(dir.Path("other/notes.txt")));  // nothing lost, even with --overwrite
}

TEST_CASE("one coordinator at a time writes an output directory", "[committer]") {
  TempDir dir;
  OutputCommitter first(Env::Default(), dir.Path("out"), ".csv");
  REQUIRE(first.Open(Identity("m1"), false).ok());
  OutputCommitter second(Env::Default(), dir.Path("out"), ".csv");
  auto refused = second.Open(Identity("m1"), false);
  REQUIRE_FALSE(refused.ok());
  REQUIRE_THAT(refused.status().message(), Catch::Contains("another aimass job is writing this output"));
  REQUIRE(first.RemoveTemporary().ok());  // the first one is done: the lock is free again
  REQUIRE(second.Open(Identity("m1"), false).ok());
}

}  // namespace
}  // namespace aimass::coordinator
