#include "coordinator/service/submitted_job.h"

#include "models/model_catalog.h"

namespace aimass::service {
namespace {

// An output location: absolute ones must be inside a root; a relative one (the config's
// default included) goes under the job's directory.
Result<std::string> PlaceOutput(const std::string& key, const std::string& path,
                                const std::string& default_dir, const DataRoots& roots) {
  if (!path.empty() && path.front() == '/') return roots.Confine(key, path);
  return default_dir;
}

}  // namespace

Result<PreparedJob> PrepareSubmittedJob(const std::string& kind, const std::string& yaml,
                                        const std::string& job_dir, const DataRoots& roots,
                                        const ModelResolver& resolve_model) {
  PreparedJob job;
  job.kind = kind;
  if (kind == "train") {
    auto parsed = ParseTrainConfig(yaml, "config");
    if (!parsed.ok()) return Status::InvalidArgument(parsed.status().message());
    TrainConfig config = std::move(parsed).value();
    AIMASS_ASSIGN_OR_RETURN(config.data.train.input.path,
                            roots.Confine("data.train", config.data.train.input.path));
    // The table's directory is confined above; its files are checked as they are listed and
    // opened, by the coordinator and by every worker (common/io/confined_file.h).
    config.data.train.input.confine_to = roots.roots();
    if (!config.data.test.input.path.empty()) {
      AIMASS_ASSIGN_OR_RETURN(config.data.test.input.path,
                              roots.Confine("data.test", config.data.test.input.path));
      config.data.test.input.confine_to = roots.roots();
    }
    if (models::IsTorchScriptName(config.model.name)) {
      AIMASS_ASSIGN_OR_RETURN(std::string file,
                              roots.Confine("model", models::TorchScriptPath(config.model.name)));
      config.model.name = "torchscript:" + file;
    }
    AIMASS_ASSIGN_OR_RETURN(config.run_dir,
                            PlaceOutput("output.run_dir", config.run_dir, job_dir + "/run", roots));
    job.directory = config.run_dir;
    job.train = std::move(config);
    return job;
  }
  if (kind == "infer") {
    auto parsed = ParseInferConfig(yaml, "config");
    if (!parsed.ok()) return Status::InvalidArgument(parsed.status().message());
    InferConfig config = std::move(parsed).value();
    AIMASS_ASSIGN_OR_RETURN(std::optional<ModelReference> reference, ParseModelReference(config.model));
    if (reference) {
      AIMASS_ASSIGN_OR_RETURN(config.model, resolve_model(*reference));
    } else {
      AIMASS_ASSIGN_OR_RETURN(config.model, roots.Confine("model", config.model));
    }
    AIMASS_ASSIGN_OR_RETURN(config.input.path, roots.Confine("input.path", config.input.path));
    config.input.confine_to = roots.roots();  // and its files, wherever they are opened
    AIMASS_ASSIGN_OR_RETURN(config.output.path, PlaceOutput("output.path", config.output.path,
                                                            job_dir + "/output", roots));
    job.directory = config.output.path;
    job.infer = std::move(config);
    return job;
  }
  return Status::InvalidArgument("kind: must be train or infer, not '" + kind + "'");
}

}  // namespace aimass::service
