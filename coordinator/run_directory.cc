#include "coordinator/run_directory.h"

#include <boost/json.hpp>

namespace aimass::coordinator {

namespace json = boost::json;

Status RunDirectory::Prepare(const std::string& config_text, bool resumed) {
  AIMASS_RETURN_IF_ERROR(env_.CreateDirectories(CheckpointDirectory()));
  if (!resumed) {
    AIMASS_RETURN_IF_ERROR(env_.RemoveFile(JoinPath(path_, "metrics.jsonl")));
    AIMASS_RETURN_IF_ERROR(env_.RemoveFile(JoinPath(path_, "evals.jsonl")));
    AIMASS_RETURN_IF_ERROR(env_.RemoveFile(JoinPath(path_, "summary.json")));
  }
  return env_.WriteFileAtomically(JoinPath(path_, "config.yaml"), config_text);
}

Status RunDirectory::AppendMetrics(const json::object& line) {
  return env_.AppendToFile(JoinPath(path_, "metrics.jsonl"), json::serialize(line) + "\n");
}

Status RunDirectory::AppendEval(const json::object& line) {
  return env_.AppendToFile(JoinPath(path_, "evals.jsonl"), json::serialize(line) + "\n");
}

Status RunDirectory::WriteWorkers(const json::array& workers) {
  return env_.WriteFileAtomically(JoinPath(path_, "workers.json"), json::serialize(workers) + "\n");
}

Status RunDirectory::WriteSummary(const json::object& summary) {
  return env_.WriteFileAtomically(JoinPath(path_, "summary.json"), json::serialize(summary) + "\n");
}

}  // namespace aimass::coordinator
