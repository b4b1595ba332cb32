// The model registry's file side: a registered model's files are copied into the state
// directory, content-addressed by the SHA-256 of model.pt (STATE/artifacts/sha256/ab/abcd...),
// so that deleting or overwriting the training run never breaks a version, and two versions
// with the same weights share one copy. A stored artifact is a directory that `infer` takes as
// its `model:` exactly like a training run directory (model.pt + config.yaml).
//
// Jobs name registered models as `models:/NAME/VERSION` or `models:/NAME@ALIAS`.
//
// With a master key (serve --master-key-file) the files are stored sealed (sealed_file.h):
// model.pt.sealed and config.yaml.sealed, each bound to "sha256:<digest>/<file name>", so a
// sealed file moved into another artifact does not open. The digest stays that of the
// plaintext model.pt, so references and the API are the same either way. A job reads a sealed
// artifact through Materialize, which opens it into a private directory of the job's own.
// Artifacts stored plain before a key was given stay plain and readable (docs/service.md).
//
// Thread safety: AddRun and Materialize may run concurrently (a copy lands by an atomic
// rename); the store is the caller's to lock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/env.h"
#include "common/status.h"
#include "coordinator/service/sealed_file.h"
#include "coordinator/service/store/state_store.h"

namespace aimass::service {

// The one directory every opened (decrypted) copy of a sealed artifact lives under: a job's
// (job_scheduler.h) and a serving replica set's. Wiped at every start of the service, so a
// crash leaves no plaintext model behind past the next start.
inline std::string OpenedCopiesDirectory(const std::string& state_dir) { return state_dir + "/opened"; }

class ArtifactStore {
 public:
  // `key`: seal what is added and open what is sealed; nullopt: plain files only.
  ArtifactStore(std::string root, Env& env, std::optional<MasterKey> key = std::nullopt)
      : root_(std::move(root)), env_(env), key_(std::move(key)) {}

  // Copies model.pt and config.yaml of a finished training run in (sealed when there is a
  // key); returns the SHA-256 of model.pt. Idempotent: the same weights are stored once.
  [[nodiscard]] Result<std::string> AddRun(const std::string& run_dir);
  // The artifact directory of `sha256` (which must be 64 hex digits).
  std::string PathOf(const std::string& sha256) const;
  // A directory a job can read as a run directory (model.pt + config.yaml) for `sha256`: the
  // artifact itself when it is plain; when it is sealed, `private_dir` (created, mode 0700)
  // with the opened files, once the tag of each has verified and the SHA-256 of model.pt is
  // `sha256`. The caller removes `private_dir` when the job is done with it. kCorruption for
  // an altered file, kFailedPrecondition for a sealed artifact and no key.
  [[nodiscard]] Result<std::string> Materialize(const std::string& sha256, const std::string& private_dir);

 private:
  std::string root_;
  Env& env_;
  std::optional<MasterKey> key_;
};

// A reference to a registered model in a job's `model:` key.
struct ModelReference {
  std::string name;
  std::optional<int64_t> version;  // models:/NAME/3
  std::string alias;               // models:/NAME@production
};

// nullopt when `text` does not start with "models:/"; an error when it does but is malformed.
[[nodiscard]] Result<std::optional<ModelReference>> ParseModelReference(const std::string& text);

// The version a reference points at, from the registry.
[[nodiscard]] Result<ModelVersionRecord> ResolveModelReference(StateStore& store,
                                                               const ModelReference& reference);

// "sha256:<hex>" over every file under `dir` (relative path, size and content, in path order):
// the same data gives the same fingerprint wherever it lies.
[[nodiscard]] Result<std::string> DatasetFingerprint(const std::string& dir, Env& env);

}  // namespace aimass::service
