// OutputCommitter: Hadoop's output-committer contract for an inference job's output directory,
// so that every split appears in the output exactly once, whatever happens to workers or to the
// coordinator itself.
//
//   OUT/part-00007.csv[.gz]        a committed split: written whole by one attempt, then renamed
//   OUT/_bad_records/part-00007.jsonl  its quarantined records, committed with it
//   OUT/_SUCCESS                   the job manifest (JSON), written last
//   OUT/_temporary/job.json        while running: what job this output belongs to
//   OUT/_temporary/commits.jsonl   while running: one line per committed split (for resume)
//   OUT/_temporary/job.lock        while running: flock held by the one coordinator writing OUT
//   OUT/_temporary/attempt-R-N/    while running: a worker's files for attempt N of run R
//
// Only this class moves files into OUT, and it does so on the coordinator's one job thread: a
// split is committed by one atomic rename of one attempt's file; any other attempt of it is
// deleted. A crash between the rename and the commit-log line only means the split runs again
// and its rename replaces the same part file.
//
// Zombies: a worker of an earlier coordinator run may still be writing. R is a random nonce of
// this committer (this coordinator run), so such a worker's attempt N is never this run's
// attempt N; and before the rename every file of an attempt must have the size and SHA-256 its
// worker reported, so a part that anything else touched (truncated, appended) is not committed.
// --overwrite deletes only output whose _SUCCESS is aimass's own manifest. Not thread-safe.
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/env.h"
#include "common/status.h"

namespace aimass::coordinator {

struct CommittedPart {
  uint32_t split = 0;
  uint64_t attempt_id = 0;
  std::string file;              // relative to OUT
  std::string bad_records_file;  // relative to OUT; empty when none were quarantined
  uint64_t records_in = 0;
  uint64_t records_out = 0;
  uint64_t bad_records = 0;
  uint64_t bytes = 0;
  std::string sha256;
  uint64_t bad_records_bytes = 0;  // with bad_records_file
  std::string bad_records_sha256;

  boost::json::object ToJson() const;
  static Result<CommittedPart> FromJson(const boost::json::value& value);
};

struct OutputState {
  std::vector<CommittedPart> committed;                // splits an earlier run already committed
  std::optional<boost::json::object> finished_manifest;  // the output is already complete
};

class OutputCommitter {
 public:
  // `part_suffix` is what follows part-NNNNN: ".csv", ".jsonl.gz", ...
  OutputCommitter(Env& env, std::string output_dir, std::string part_suffix);

  // The "job" value of every manifest (_SUCCESS) aimass writes: how Open knows its own output.
  static constexpr const char* kManifestJob = "aimass infer";

  // Claims the output directory for the job described by `identity` (model digest, input,
  // output options) and locks it against other coordinators. The same job's earlier output is
  // resumed (or found complete); another aimass job's output is refused, naming what differs,
  // unless `overwrite`, which deletes that output's files (and only those). A directory that
  // is not an aimass output is always refused, and so is a _SUCCESS that is not an aimass
  // manifest ({"job": kManifestJob, "identity": {...}}): one line naming the file, nothing
  // deleted.
  Result<OutputState> Open(const boost::json::object& identity, bool overwrite);

  const std::string& output_dir() const { return output_dir_; }
  std::string attempts_dir() const;
  // attempts_dir/attempt-<run nonce>-<attempt_id>; the nonce is random per committer.
  std::string AttemptDirectory(uint64_t attempt_id) const;
  const std::string& run_nonce() const { return run_nonce_; }
  std::string PartName(uint32_t split) const;

  // Checks that each of the attempt's files has the size and SHA-256 in `part` (what its worker
  // reported: bytes / sha256, bad_records_bytes / bad_records_sha256), then moves them into
  // place and records the commit. A mismatch is a kCorruption error and nothing is moved: the
  // caller discards the attempt and runs the split again.
  Status Commit(const CommittedPart& part, const std::string& attempt_output,
                const std::string& attempt_bad_records);
  // Deletes what an uncommitted attempt left behind.
  void Discard(uint64_t attempt_id);
  // Writes `manifest` as _SUCCESS: the output is complete.
  Status CommitJob(const boost::json::object& manifest);
  // Then: removes _temporary (attempts, commit log, lock), so nothing temporary remains.
  Status RemoveTemporary();

 private:
  Result<std::vector<CommittedPart>> LoadCommits();
  // Refuses a _SUCCESS that aimass did not write; sets `manifest` otherwise.
  Status ReadOwnManifest(const std::string& path, boost::json::object* manifest);
  Status RemoveEarlierOutput();
  // The directory holds only what an Open killed before it wrote job.json leaves: _temporary
  // with the lock file and perhaps a half-written job.json temporary.
  bool AbandonedStart();

  Env& env_;
  std::string output_dir_;
  std::string part_suffix_;
  std::string run_nonce_;  // 16 hex digits from OpenSSL's RAND_bytes
  std::unique_ptr<FileLock> lock_;  // held from Open to RemoveTemporary
};

}  // namespace aimass::coordinator
