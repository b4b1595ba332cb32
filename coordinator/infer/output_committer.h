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
//   OUT/_temporary/attempt-N/      while running: a worker's files for attempt N
//
// Only this class moves files into OUT, and it does so on the coordinator's one job thread: a
// split is committed by one atomic rename of one attempt's file; any other attempt of it is
// deleted. A crash between the rename and the commit-log line only means the split runs again
// and its rename replaces the same part file. Not thread-safe.
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

  // Claims the output directory for the job described by `identity` (model digest, input,
  // output options) and locks it against other coordinators. The same job's earlier output is
  // resumed (or found complete); another aimass job's output is refused, naming what differs,
  // unless `overwrite`, which deletes that output's files (and only those). A directory that
  // is not an aimass output is always refused.
  Result<OutputState> Open(const boost::json::object& identity, bool overwrite);

  const std::string& output_dir() const { return output_dir_; }
  std::string attempts_dir() const;
  std::string AttemptDirectory(uint64_t attempt_id) const;
  std::string PartName(uint32_t split) const;

  // Moves one attempt's files into place and records the commit.
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
  Status RemoveEarlierOutput();

  Env& env_;
  std::string output_dir_;
  std::string part_suffix_;
  std::unique_ptr<FileLock> lock_;  // held from Open to RemoveTemporary
};

}  // namespace aimass::coordinator
