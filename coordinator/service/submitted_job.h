// A job as the service receives it: the same YAML the CLI takes, parsed by the same code, then
// made safe to run for someone who reached the API — every path it names resolved and confined
// to the data roots (data_roots.h), its run or output directory placed under the job's own
// directory in the state dir unless it names an absolute one inside a data root, and a
// registered model (`models:/NAME@ALIAS`) resolved to its stored artifact.
//
// Called twice per job: at submission, to refuse a bad config with the CLI's message before it
// is queued, and when the job starts, against the roots and registry of that moment.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "common/config/infer_config.h"
#include "common/config/job_config.h"
#include "common/status.h"
#include "coordinator/service/data_roots.h"
#include "coordinator/service/model_registry.h"

namespace aimass::service {

struct PreparedJob {
  std::string kind;  // "train" or "infer"
  std::optional<TrainConfig> train;
  std::optional<InferConfig> infer;
  std::string directory;  // the run directory (train) or the output directory (infer)
  std::string input_path;       // the table it reads (train: data.train), confined
  std::string model_reference;  // infer: the config's `model` before it was resolved
};

// The artifact directory of a registered model.
using ModelResolver = std::function<Result<std::string>(const ModelReference&)>;

// `job_dir`: the job's directory in the state dir (relative run and output directories go
// there). Errors: kInvalidArgument with the CLI's message (the dotted key), kPermissionDenied
// for a path outside the roots, kNotFound for an unknown registered model.
[[nodiscard]] Result<PreparedJob> PrepareSubmittedJob(const std::string& kind, const std::string& yaml,
                                                      const std::string& job_dir,
                                                      const DataRoots& roots,
                                                      const ModelResolver& resolve_model);

// What a restarted server does with a job that was running when the server stopped without
// ending it (SIGKILL, a crash): its config's `on_interrupt` (interrupt_config.h) against how
// often it was resumed already. A config that no longer parses is not resumed.
struct InterruptDecision {
  bool resume = false;
  std::string error;  // when not resumed: why, for the job's `interrupted` state
};
InterruptDecision DecideOnInterrupt(const JobRecord& job);

}  // namespace aimass::service
