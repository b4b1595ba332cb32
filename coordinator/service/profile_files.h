// Stored data profiles (common/data/data_profile.h): a model version's training profile and a
// catalogued dataset's profile are JSON files in STATE/profiles, content-addressed by the
// SHA-256 of their JSON text, so that a row in the store refers to one by "sha256:<hex>".
// With a master key they are sealed (sealed_file.h) like model artifacts, bound to
// "aimass profile sha256:<hex>", so a sealed profile copied under another name does not open;
// without one they are plain. A profile stored plain before a key was given stays readable.
//
// Thread safety: Put and Get may run concurrently (a file lands by an atomic rename).
#pragma once

#include <optional>
#include <string>

#include "common/env.h"
#include "common/status.h"
#include "coordinator/service/sealed_file.h"

namespace aimass::service {

class ProfileFiles {
 public:
  ProfileFiles(std::string root, Env& env, std::optional<MasterKey> key = std::nullopt)
      : root_(std::move(root)), env_(env), key_(std::move(key)) {}

  // Stores `json_text`; returns its reference "sha256:<hex>". Idempotent.
  [[nodiscard]] Result<std::string> Put(const std::string& json_text);
  // The JSON text of `reference`. kInvalidArgument for a malformed reference, kNotFound when no
  // such profile is stored, kCorruption when a sealed one fails its tag or its digest,
  // kFailedPrecondition for a sealed one and no key.
  [[nodiscard]] Result<std::string> Get(const std::string& reference) const;

 private:
  std::string PathOf(const std::string& hex) const { return root_ + "/" + hex + ".json"; }

  std::string root_;
  Env& env_;
  std::optional<MasterKey> key_;
};

}  // namespace aimass::service
