#include "coordinator/service/profile_files.h"

#include <algorithm>

#include "common/sha256.h"

namespace aimass::service {

namespace {

constexpr char kPrefix[] = "sha256:";

std::string SealContext(const std::string& hex) { return "aimass profile sha256:" + hex; }

bool IsHexDigest(const std::string& text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

Result<std::string> ProfileFiles::Put(const std::string& json_text) {
  const std::string hex = Sha256Hex(json_text);
  if (!IsHexDigest(hex)) return Status::Internal("cannot compute SHA-256 (OpenSSL failed)");
  const std::string path = PathOf(hex);
  if (env_.Exists(path) || env_.Exists(path + ".sealed")) return kPrefix + hex;
  AIMASS_RETURN_IF_ERROR(env_.CreateDirectories(root_));
  if (key_) {
    AIMASS_ASSIGN_OR_RETURN(std::string sealed, Seal(*key_, json_text, SealContext(hex)));
    AIMASS_RETURN_IF_ERROR(env_.WriteFileAtomically(path + ".sealed", sealed));
  } else {
    AIMASS_RETURN_IF_ERROR(env_.WriteFileAtomically(path, json_text));
  }
  return kPrefix + hex;
}

Result<std::string> ProfileFiles::Get(const std::string& reference) const {
  const std::string prefix = kPrefix;
  const std::string hex = reference.rfind(prefix, 0) == 0 ? reference.substr(prefix.size()) : "";
  if (!IsHexDigest(hex)) return Status::InvalidArgument("profile reference '" + reference + "' is malformed");
  const std::string path = PathOf(hex);
  if (env_.Exists(path + ".sealed")) {
    if (!key_) return Status::FailedPrecondition(path + ".sealed is sealed and the server has no --master-key-file");
    AIMASS_ASSIGN_OR_RETURN(std::string sealed, env_.ReadFile(path + ".sealed"));
    AIMASS_ASSIGN_OR_RETURN(std::string plain, Open(*key_, sealed, SealContext(hex), path + ".sealed"));
    if (Sha256Hex(plain) != hex) return Status::Corruption(path + ".sealed: its content does not have its SHA-256");
    return plain;
  }
  if (!env_.Exists(path)) return Status::NotFound("profile " + reference + " is not stored");
  AIMASS_ASSIGN_OR_RETURN(std::string plain, env_.ReadFile(path));
  if (Sha256Hex(plain) != hex) return Status::Corruption(path + ": its content does not have its SHA-256");
  return plain;
}

}  // namespace aimass::service
