#include "coordinator/service/submitted_job.h"

#include <sys/stat.h>

#include "common/env.h"
#include "common/io/confined_file.h"
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

// A model named as a training run's directory is confined above; the files the job reads in it
// (config.yaml, model.pt) must resolve inside the roots too, or a link there would have the job
// parse and hash a file outside them. Missing files are left to the job, which says why.
Status ConfineRunDirectoryFiles(const std::string& directory, const DataRoots& roots) {
  struct stat info {};
  if (::stat(directory.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) return Status::Ok();
  for (const char* name : {"config.yaml", "model.pt"}) {
    Status confined = io::CheckConfined(JoinPath(directory, name), std::string("model: ") + name, roots.roots());
    if (confined.code() == StatusCode::kPermissionDenied) return confined;
  }
  return Status::Ok();
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
    job.input_path = config.data.train.input.path;
    job.train = std::move(config);
    return job;
  }
  if (kind == "infer") {
    auto parsed = ParseInferConfig(yaml, "config");
    if (!parsed.ok()) return Status::InvalidArgument(parsed.status().message());
    InferConfig config = std::move(parsed).value();
    job.model_reference = config.model;
    AIMASS_ASSIGN_OR_RETURN(std::optional<ModelReference> reference, ParseModelReference(config.model));
    if (reference) {
      AIMASS_ASSIGN_OR_RETURN(config.model, resolve_model(*reference));
    } else {
      AIMASS_ASSIGN_OR_RETURN(config.model, roots.Confine("model", config.model));
      AIMASS_RETURN_IF_ERROR(ConfineRunDirectoryFiles(config.model, roots));
    }
    AIMASS_ASSIGN_OR_RETURN(config.input.path, roots.Confine("input.path", config.input.path));
    config.input.confine_to = roots.roots();  // and its files, wherever they are opened
    AIMASS_ASSIGN_OR_RETURN(config.output.path, PlaceOutput("output.path", config.output.path,
                                                            job_dir + "/output", roots));
    job.directory = config.output.path;
    job.input_path = config.input.path;
    job.infer = std::move(config);
    return job;
  }
  return Status::InvalidArgument("kind: must be train or infer, not '" + kind + "'");
}

InterruptDecision DecideOnInterrupt(const JobRecord& job) {
  const std::string stopped = "the server stopped while the job ran";
  InterruptPolicy policy;
  Status parsed = Status::Ok();
  if (job.kind == "train") {
    auto config = ParseTrainConfig(job.config_yaml, "config");
    if (config.ok()) policy = config->on_interrupt;
    parsed = config.status();
  } else {
    auto config = ParseInferConfig(job.config_yaml, "config");
    if (config.ok()) policy = config->on_interrupt;
    parsed = config.status();
  }
  if (!parsed.ok()) return {false, stopped + "; not resumed: " + parsed.message()};
  if (!policy.resume) return {false, stopped + " (on_interrupt: fail)"};
  if (job.resumes >= policy.max_resumes) {
    return {false, stopped + "; not resumed again: it was resumed " + std::to_string(job.resumes) +
                       (job.resumes == 1 ? " time" : " times") + " already (on_interrupt.max_resumes: " +
                       std::to_string(policy.max_resumes) + ")"};
  }
  return {true, ""};
}

}  // namespace aimass::service
