#include "coordinator/infer/output_committer.h"

#include "tests/catch.h"

#include <boost/json.hpp>

#include <filesystem>
#include <fstream>

#include "common/io/output_file.h"
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

// What a worker reports for the attempt file at `path`: its size and SHA-256 as they are now.
CommittedPart Part(OutputCommitter& committer, uint32_t split, uint64_t attempt,
                   const std::string& path) {
  CommittedPart part;
  part.split = split;
  part.attempt_id = attempt;
  part.file = committer.PartName(split);
  part.records_in = part.records_out = 1;
  part.bytes = fs::file_size(path);
  auto sha256 = io::Sha256OfFile(path);
  REQUIRE(sha256.ok());
  part.sha256 = *sha256;
  return part;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

TEST_CASE("commits rename one attempt into place and job commit leaves no temporaries", "[committer]") {
  TempDir dir;
  OutputCommitter committer(Env::Default(), dir.Path("out"), ".csv.gz");
  REQUIRE(committer.PartName(7) == "part-00007.csv.gz");
  auto state = committer.Open(Identity("m1"), false);
  REQUIRE(state.ok());
  REQUIRE(state->committed.empty());
  std::string attempt = WriteAttempt(committer, 4, "abc");
  REQUIRE(committer.Commit(Part(committer, 0, 4, attempt), attempt, "").ok());
  REQUIRE(fs::exists(dir.Path("out/part-00000.csv.gz")));
  REQUIRE_FALSE(fs::exists(committer.AttemptDirectory(4)));
  WriteAttempt(committer, 5, "duplicate");
  committer.Discard(5);
  REQUIRE_FALSE(fs::exists(committer.AttemptDirectory(5)));
  REQUIRE(committer.CommitJob(json::object{{"job", OutputCommitter::kManifestJob},
                                           {"identity", Identity("m1")}}).ok());
  REQUIRE(fs::exists(dir.Path("out/_SUCCESS")));
  REQUIRE(committer.RemoveTemporary().ok());
  REQUIRE_FALSE(fs::exists(dir.Path("out/_temporary")));
}

TEST_CASE("reopening resumes commits whose parts are intact and drops stale attempts", "[committer]") {
  TempDir dir;
  {
    OutputCommitter committer(Env::Default(), dir.Path("out"), ".csv");
    REQUIRE(committer.Open(Identity("m1"), false).ok());
    std::string first = WriteAttempt(committer, 1, "abc");
    REQUIRE(committer.Commit(Part(committer, 0, 1, first), first, "").ok());
    std::string second = WriteAttempt(committer, 2, "def");
    REQUIRE(committer.Commit(Part(committer, 1, 2, second), second, "").ok());
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

TEST_CASE("an output whose first run was killed before it recorded its job starts afresh", "[committer]") {
  // Open took the lock (creating _temporary/job.lock) and died before job.json was written:
  // nothing of the output exists yet, and the same job run again (the CLI's rerun, a restarted
  // server's resume) must not take the directory for someone else's.
  TempDir dir;
  fs::create_directories(dir.Path("out/_temporary"));
  std::ofstream(dir.Path("out/_temporary/job.lock")) << "4242\n";
  std::ofstream(dir.Path("out/_temporary/job.json.tmp.4242.0")) << "{\"mod";
  OutputCommitter committer(Env::Default(), dir.Path("out"), ".csv");
  auto state = committer.Open(Identity("m1"), false);
  INFO(state.status().message());
  REQUIRE(state.ok());
  CHECK(state->committed.empty());
  CHECK(fs::exists(dir.Path("out/_temporary/job.json")));
  CHECK_FALSE(fs::exists(dir.Path("out/_temporary/job.json.tmp.4242.0")));

  // Anything more than that is not an abandoned start: still refused.
  TempDir other;
  fs::create_directories(other.Path("out/_temporary"));
  std::ofstream(other.Path("out/_temporary/job.lock")) << "1\n";
  std::ofstream(other.Path("out/notes.txt")) << "mine";
  OutputCommitter refused(Env::Default(), other.Path("out"), ".csv");
  CHECK_FALSE(refused.Open(Identity("m1"), false).ok());
  CHECK(fs::exists(other.Path("out/notes.txt")));
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

TEST_CASE("a part whose size or SHA-256 is not what the worker reported is not committed",
          "[committer]") {
  TempDir dir;
  OutputCommitter committer(Env::Default(), dir.Path("out"), ".csv");
  REQUIRE(committer.Open(Identity("m1"), false).ok());

  // A zombie truncated the part after its worker reported it.
  std::string truncated = WriteAttempt(committer, 1, "id,prediction\nrow,1\n");
  CommittedPart reported = Part(committer, 0, 1, truncated);
  fs::resize_file(truncated, 5);
  Status refused = committer.Commit(reported, truncated, "");
  REQUIRE(refused.IsCorruption());
  REQUIRE_THAT(refused.message(), Catch::Contains("5 bytes, the worker reported 20"));
  REQUIRE_FALSE(fs::exists(dir.Path("out/part-00000.csv")));

  // Same size, other bytes: only the SHA-256 tells.
  std::string rewritten = WriteAttempt(committer, 2, "id,prediction\nrow,1\n");
  reported = Part(committer, 0, 2, rewritten);
  std::ofstream(rewritten) << "id,prediction\nrow,7\n";
  refused = committer.Commit(reported, rewritten, "");
  REQUIRE(refused.IsCorruption());
  REQUIRE_THAT(refused.message(), Catch::Contains("SHA-256"));
  REQUIRE_FALSE(fs::exists(dir.Path("out/part-00000.csv")));

  // The quarantine file is checked too, and before any rename: the part stays where it was.
  std::string part = WriteAttempt(committer, 3, "id,prediction\nrow,1\n");
  std::string bad = committer.AttemptDirectory(3) + "/bad_records.jsonl";
  std::ofstream(bad) << "{\"location\":\"t.csv:line 2\"}\n";
  reported = Part(committer, 0, 3, part);
  reported.bad_records_file = "_bad_records/part-00000.jsonl";
  reported.bad_records_bytes = fs::file_size(bad);
  reported.bad_records_sha256 = std::string(64, '0');
  refused = committer.Commit(reported, part, bad);
  REQUIRE(refused.IsCorruption());
  REQUIRE(fs::exists(part));
  REQUIRE_FALSE(fs::exists(dir.Path("out/part-00000.csv")));

  // What the worker reported, exactly: committed.
  reported.bad_records_sha256 = *io::Sha256OfFile(bad);
  REQUIRE(committer.Commit(reported, part, bad).ok());
  REQUIRE(ReadText(dir.Path("out/part-00000.csv")) == "id,prediction\nrow,1\n");
  REQUIRE(fs::exists(dir.Path("out/_bad_records/part-00000.jsonl")));
}

TEST_CASE("attempt directories carry a nonce of their coordinator run", "[committer]") {
  TempDir dir;
  OutputCommitter first(Env::Default(), dir.Path("out"), ".csv");
  OutputCommitter second(Env::Default(), dir.Path("out"), ".csv");
  REQUIRE(first.run_nonce().size() == 16);
  REQUIRE(first.run_nonce() != second.run_nonce());
  REQUIRE(first.AttemptDirectory(1) != second.AttemptDirectory(1));
  REQUIRE(first.AttemptDirectory(1) ==
          dir.Path("out/_temporary/attempt-" + first.run_nonce() + "-1"));
}

TEST_CASE("overwrite never replaces output whose _SUCCESS aimass did not write", "[committer]") {
  const std::vector<std::string> foreign_manifests{
      "",                                              // Hadoop's and Spark's: empty
      "not json at all",                               // some other tool's text
      "{\"identity\":{\"model_sha256\":\"m1\"}}",      // JSON with an identity but no aimass job
      "{\"job\":\"aimass infer\"}",                   // the job, but no identity
      "{\"job\":\"spark\",\"identity\":{}}",           // someone else's job
  };
  for (const std::string& manifest : foreign_manifests) {
    TempDir dir;
    fs::create_directories(dir.Path("out"));
    std::ofstream(dir.Path("out/_SUCCESS")) << manifest;
    std::ofstream(dir.Path("out/part-00000.csv")) << "someone else's part";
    for (bool overwrite : {false, true}) {
      OutputCommitter committer(Env::Default(), dir.Path("out"), ".csv");
      auto refused = committer.Open(Identity("m1"), overwrite);
      REQUIRE_FALSE(refused.ok());
      const std::string& message = refused.status().message();
      REQUIRE_THAT(message, Catch::StartsWith(dir.Path("out/_SUCCESS") + ": not an aimass manifest"));
      REQUIRE(message.find('\n') == std::string::npos);  // one line
    }
    REQUIRE(ReadText(dir.Path("out/part-00000.csv")) == "someone else's part");
    REQUIRE(ReadText(dir.Path("out/_SUCCESS")) == manifest);
    REQUIRE_FALSE(fs::exists(dir.Path("out/_temporary")));
  }
}

TEST_CASE("overwrite replaces an aimass manifest's output", "[committer]") {
  TempDir dir;
  {
    OutputCommitter committer(Env::Default(), dir.Path("out"), ".csv");
    REQUIRE(committer.Open(Identity("m1"), false).ok());
    std::string attempt = WriteAttempt(committer, 1, "abc");
    REQUIRE(committer.Commit(Part(committer, 0, 1, attempt), attempt, "").ok());
    REQUIRE(committer.CommitJob(json::object{{"job", OutputCommitter::kManifestJob},
                                             {"identity", Identity("m1")}}).ok());
    REQUIRE(committer.RemoveTemporary().ok());
  }
  OutputCommitter committer(Env::Default(), dir.Path("out"), ".csv");
  REQUIRE_FALSE(committer.Open(Identity("m2"), false).ok());
  REQUIRE(committer.Open(Identity("m2"), true).ok());
  REQUIRE_FALSE(fs::exists(dir.Path("out/part-00000.csv")));
  REQUIRE_FALSE(fs::exists(dir.Path("out/_SUCCESS")));
}

}  // namespace
}  // namespace aimass::coordinator
