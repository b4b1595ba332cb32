// The run directory: what a training job leaves behind for people and tools.
//   config.yaml      the configuration used
//   workers.json     rank, host, pid and device of each worker
//   metrics.jsonl    one line per logged step
//   evals.jsonl      one line per epoch's test-split evaluation
//   checkpoints/     written by worker 0 (common/checkpoint/checkpoint_file.h)
//   model.pt         the final model, written by worker 0
//   summary.json     the final figures, written last
//   train.lock       flock held by the one training job using the directory (LockRunDirectory)
// Not thread-safe: the job's thread owns it.
#pragma once

#include <boost/json/object.hpp>

#include <memory>
#include <string>

#include "common/env.h"
#include "common/status.h"

namespace aimass::coordinator {

// Takes the run directory's lock (creating the directory): one training job at a time writes a
// run directory, as one inference job writes an output (both use Env::LockFile). The lock is the
// caller's until it destroys the returned object or the process ends; the TrainSupervisor holds
// it for the whole job, across restarts. A directory locked by a live job is refused with one
// line naming the directory and, when known, the holder's pid (kFailedPrecondition).
Result<std::unique_ptr<FileLock>> LockRunDirectory(Env& env, const std::string& path);

class RunDirectory {
 public:
  RunDirectory(Env& env, std::string path) : env_(env), path_(std::move(path)) {}

  const std::string& path() const { return path_; }
  std::string CheckpointDirectory() const { return JoinPath(path_, "checkpoints"); }

  // Creates the directory. A fresh (not resumed) run starts new logs, and refuses a directory
  // that holds an earlier run's checkpoints (a later --resume would mix the two runs) unless
  // `overwrite`, which deletes that run's checkpoints, logs and model first.
  Status Prepare(const std::string& config_text, bool resumed, bool overwrite);

  Status AppendMetrics(const boost::json::object& line);
  Status AppendEval(const boost::json::object& line);
  Status WriteWorkers(const boost::json::array& workers);
  Status WriteSummary(const boost::json::object& summary);

 private:
  Env& env_;
  std::string path_;
};

}  // namespace aimass::coordinator
