#include "coordinator/run_directory.h"

#include <boost/json.hpp>

#include "common/strict_json.h"

namespace aimass::coordinator {

namespace json = boost::json;

namespace {
constexpr char kLockFile[] = "train.lock";
}  // namespace

Result<std::unique_ptr<FileLock>> LockRunDirectory(Env& env, const std::string& path) {
  AIMASS_RETURN_IF_ERROR(env.CreateDirectories(path));
  auto lock = env.LockFile(JoinPath(path, kLockFile));
  if (lock.ok()) return lock;
  if (lock.status().code() != StatusCode::kFailedPrecondition) return lock.status();
  // "…/train.lock: locked by another process (pid N)": keep only the holder.
  const std::string& reason = lock.status().message();
  const size_t pid = reason.rfind(" (pid ");
  return Status::FailedPrecondition(path + ": another training job is running in this run directory" +
                                    (pid == std::string::npos ? "" : reason.substr(pid)));
}

Status RunDirectory::Prepare(const std::string& config_text, bool resumed, bool overwrite) {
  AIMASS_RETURN_IF_ERROR(env_.CreateDirectories(CheckpointDirectory()));
  if (!resumed) {
    AIMASS_ASSIGN_OR_RETURN(auto entries, env_.ListDirectory(CheckpointDirectory()));
    std::vector<std::string> earlier;
    for (const auto& entry : entries) {
      if (entry.name.rfind("ckpt-", 0) != 0) continue;
      if (entry.name.find(".tmp.") != std::string::npos) {
        // What a writer killed mid-checkpoint left (checkpoint_file.h writes by rename): no
        // checkpoint, so no earlier run to refuse — a job killed while writing its first one
        // starts afresh on --resume rather than being told to pass --resume.
        AIMASS_RETURN_IF_ERROR(env_.RemoveFile(JoinPath(CheckpointDirectory(), entry.name)));
        continue;
      }
      earlier.push_back(entry.name);
    }
    if (!earlier.empty() && !overwrite) {
      return Status::Error(path_ + " holds checkpoints of an earlier run: pass --resume to continue "
                                   "it, or --overwrite to start over");
    }
    for (const auto& name : earlier) {
      AIMASS_RETURN_IF_ERROR(env_.RemoveFile(JoinPath(CheckpointDirectory(), name)));
    }
    for (const char* name : {"metrics.jsonl", "evals.jsonl", "summary.json", "model.pt"}) {
      AIMASS_RETURN_IF_ERROR(env_.RemoveFile(JoinPath(path_, name)));
    }
  }
  return env_.WriteFileAtomically(JoinPath(path_, "config.yaml"), config_text);
}

Status RunDirectory::AppendMetrics(const json::object& line) {
  return env_.AppendToFile(JoinPath(path_, "metrics.jsonl"), SerializeStrictJson(line) + "\n");
}

Status RunDirectory::AppendEval(const json::object& line) {
  return env_.AppendToFile(JoinPath(path_, "evals.jsonl"), SerializeStrictJson(line) + "\n");
}

Status RunDirectory::WriteWorkers(const json::array& workers) {
  return env_.WriteFileAtomically(JoinPath(path_, "workers.json"), SerializeStrictJson(workers) + "\n");
}

Status RunDirectory::WriteSummary(const json::object& summary) {
  return env_.WriteFileAtomically(JoinPath(path_, "summary.json"), SerializeStrictJson(summary) + "\n");
}

}  // namespace aimass::coordinator
