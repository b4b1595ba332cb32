#include "coordinator/service/job_intake.h"

namespace aimass::service {

JobIntake::JobIntake(std::string state_dir, SharedStore& store, const DataRoots& roots,
                     ModelResolver resolve_model, std::function<void()> wake)
    : state_dir_(std::move(state_dir)), store_(store), roots_(roots),
      resolve_model_(std::move(resolve_model)), wake_(std::move(wake)) {}

Result<PreparedJob> JobIntake::Check(const std::string& kind, const std::string& yaml) const {
  // A relative output goes under the job's own directory, which has no number yet: checked
  // against a stand-in; the job is prepared again, against its real directory, when it starts.
  return PrepareSubmittedJob(kind, yaml, state_dir_ + "/jobs/new", roots_, resolve_model_);
}

Result<std::optional<int64_t>> JobIntake::Queue(const NewJob& job, const AuditNote& note,
                                                const Insert& insert) const {
  auto id = store_.With([&](StateStore& store) -> Result<std::optional<int64_t>> {
    std::optional<int64_t> queued;
    if (insert) {
      AIMASS_ASSIGN_OR_RETURN(queued, insert(store, job));
    } else {
      AIMASS_ASSIGN_OR_RETURN(queued, store.InsertJob(job));
    }
    if (!queued) return queued;
    AIMASS_RETURN_IF_ERROR(store.Audit(
        note.actor, note.action,
        "job " + std::to_string(*queued) + " (" + job.kind + ")" + (note.detail.empty() ? "" : ", " + note.detail),
        note.remote));
    return queued;
  });
  AIMASS_RETURN_IF_ERROR(id.status());
  if (*id && wake_) wake_();
  return id;
}

}  // namespace aimass::service
