// The one way a job enters the queue, shared by POST /api/v1/jobs and the schedule runner: the
// config is checked as the CLI would check it and confined to the data roots
// (PrepareSubmittedJob, with the registry of the moment), the job is inserted as queued — with,
// for a scheduled run, the record of its fire in the same transaction — the audit log says who
// queued it, and the scheduler is woken.
//
// Thread safety: immutable after construction; Check and Queue may be called concurrently (the
// store is locked, the resolver and the wake-up are the scheduler's thread-safe calls).
#pragma once

#include <functional>
#include <string>

#include "common/status.h"
#include "coordinator/service/data_roots.h"
#include "coordinator/service/shared_store.h"
#include "coordinator/service/submitted_job.h"

namespace aimass::service {

// Who queued a job, for the audit log: target "job N (kind)", then ", detail" when given.
struct AuditNote {
  std::string actor;
  std::string action;  // e.g. "job.submit", "schedule.fire"
  std::string detail;
  std::string remote;  // client address, or "-"
};

class JobIntake {
 public:
  // `roots`, `store` must outlive the intake. `wake`: the scheduler's Wake (a new job is queued).
  JobIntake(std::string state_dir, SharedStore& store, const DataRoots& roots,
            ModelResolver resolve_model, std::function<void()> wake);

  // PrepareSubmittedJob's verdict on `yaml` now: kInvalidArgument naming the key,
  // kPermissionDenied for a path outside the roots, kNotFound for an unknown registered model.
  [[nodiscard]] Result<PreparedJob> Check(const std::string& kind, const std::string& yaml) const;

  // Inserts `job` as queued, its audit entry, and wakes the scheduler. `insert` replaces the
  // plain StateStore::InsertJob when the caller must write more in the job's transaction (a
  // schedule's fire); it returns nullopt when it decided not to queue (nothing is audited, no
  // wake-up), which Queue passes on.
  using Insert = std::function<Result<std::optional<int64_t>>(StateStore&, const NewJob&)>;
  [[nodiscard]] Result<std::optional<int64_t>> Queue(const NewJob& job, const AuditNote& note,
                                                     const Insert& insert = {}) const;

  const DataRoots& roots() const { return roots_; }

 private:
  std::string state_dir_;
  SharedStore& store_;
  const DataRoots& roots_;
  ModelResolver resolve_model_;
  std::function<void()> wake_;
};

}  // namespace aimass::service
