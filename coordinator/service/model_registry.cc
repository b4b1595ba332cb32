#include "coordinator/service/model_registry.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "common/io/output_file.h"
#include "common/net/handshake.h"
#include "common/sha256.h"

namespace aimass::service {

namespace {

bool IsHexDigest(const std::string& text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// Every regular file under `dir`, as paths relative to it with their sizes.
Status ListFiles(Env& env, const std::string& dir, const std::string& prefix,
                 std::vector<std::pair<std::string, uint64_t>>& files) {
  AIMASS_ASSIGN_OR_RETURN(auto entries, env.ListDirectory(dir));
  for (const FileInfo& entry : entries) {
    const std::string relative = prefix.empty() ? entry.name : prefix + "/" + entry.name;
    if (entry.is_directory) {
      AIMASS_RETURN_IF_ERROR(ListFiles(env, dir + "/" + entry.name, relative, files));
    } else {
      files.emplace_back(relative, entry.size);
    }
  }
  return Status::Ok();
}

// The additional data of an artifact's sealed file: which artifact, which file.
std::string SealContext(const std::string& sha256, const std::string& file) {
  return "aimass artifact sha256:" + sha256 + "/" + file;
}

constexpr const char* kArtifactFiles[] = {"model.pt", "config.yaml"};

}  // namespace

std::string ArtifactStore::PathOf(const std::string& sha256) const {
  return root_ + "/sha256/" + sha256.substr(0, 2) + "/" + sha256;
}

Result<std::string> ArtifactStore::AddRun(const std::string& run_dir) {
  AIMASS_ASSIGN_OR_RETURN(std::string model, env_.ReadFile(run_dir + "/model.pt"));
  AIMASS_ASSIGN_OR_RETURN(std::string config, env_.ReadFile(run_dir + "/config.yaml"));
  const std::string digest = Sha256Hex(model);
  if (!IsHexDigest(digest)) return Status::Internal("cannot compute SHA-256 (OpenSSL failed)");
  const std::string final_dir = PathOf(digest);
  // A plain copy made before the server had a key is kept as it is (docs/service.md).
  const auto stored = [&] {
    return env_.Exists(final_dir + "/model.pt") || env_.Exists(final_dir + "/model.pt.sealed");
  };
  if (stored()) return digest;
  // Written whole under a private name, then renamed into place: a crash leaves a stray
  // temporary directory, never a half-written artifact under its digest.
  AIMASS_ASSIGN_OR_RETURN(std::string random, net::RandomBytes(8));
  const std::string temporary = root_ + "/tmp-" + net::ToHex(random);
  AIMASS_RETURN_IF_ERROR(env_.CreateDirectories(temporary));
  for (const char* file : kArtifactFiles) {
    const std::string& contents = std::string(file) == "model.pt" ? model : config;
    if (key_) {
      AIMASS_ASSIGN_OR_RETURN(std::string sealed, Seal(*key_, contents, SealContext(digest, file)));
      AIMASS_RETURN_IF_ERROR(env_.WriteFileAtomically(temporary + "/" + file + ".sealed", sealed));
    } else {
      AIMASS_RETURN_IF_ERROR(env_.WriteFileAtomically(temporary + "/" + file, contents));
    }
  }
  AIMASS_RETURN_IF_ERROR(env_.CreateDirectories(root_ + "/sha256/" + digest.substr(0, 2)));
  Status renamed = env_.RenameFile(temporary, final_dir);
  if (!renamed.ok()) {
    (void)env_.RemoveTree(temporary);
    if (stored()) return digest;  // a concurrent copy won
    return renamed;
  }
  return digest;
}

Result<std::string> ArtifactStore::Materialize(const std::string& sha256, const std::string& private_dir) {
  if (!IsHexDigest(sha256)) return Status::InvalidArgument("artifact '" + sha256 + "' is not a SHA-256 digest");
  const std::string artifact = PathOf(sha256);
  if (!env_.Exists(artifact + "/model.pt.sealed")) return artifact;  // stored plain
  if (!key_) {
    return Status::FailedPrecondition(artifact + " is sealed and the server has no --master-key-file");
  }
  // Private before anything is written into it: other users of the host never see the weights.
  AIMASS_RETURN_IF_ERROR(env_.CreateDirectories(private_dir));
  if (::chmod(private_dir.c_str(), 0700) != 0) {
    return Status::IOError(private_dir + ": " + std::strerror(errno));
  }
  for (const char* file : kArtifactFiles) {
    const std::string path = artifact + "/" + file + ".sealed";
    AIMASS_ASSIGN_OR_RETURN(std::string sealed, env_.ReadFile(path));
    AIMASS_ASSIGN_OR_RETURN(std::string plain, Open(*key_, sealed, SealContext(sha256, file), path));
    // The tag vouches for the bytes; the digest also vouches that they are this artifact's.
    if (std::string(file) == "model.pt" && Sha256Hex(plain) != sha256) {
      return Status::Corruption(path + ": the opened model.pt does not have the artifact's SHA-256");
    }
    AIMASS_RETURN_IF_ERROR(env_.WriteFileAtomically(private_dir + "/" + file, plain));
  }
  return private_dir;
}

Result<std::optional<ModelReference>> ParseModelReference(const std::string& text) {
  const std::string prefix = "models:/";
  if (text.rfind(prefix, 0) != 0) return std::optional<ModelReference>();
  const std::string rest = text.substr(prefix.size());
  ModelReference reference;
  const size_t at = rest.find('@');
  const size_t slash = rest.find('/');
  auto malformed = [&] {
    return Status::InvalidArgument("model: '" + text +
                                   "' is not models:/NAME/VERSION or models:/NAME@ALIAS");
  };
  if (at != std::string::npos && slash == std::string::npos) {
    reference.name = rest.substr(0, at);
    reference.alias = rest.substr(at + 1);
    if (!ValidModelName(reference.alias)) return malformed();
  } else if (slash != std::string::npos && at == std::string::npos) {
    reference.name = rest.substr(0, slash);
    const std::string number = rest.substr(slash + 1);
    if (number.empty() || number.size() > 9 ||
        !std::all_of(number.begin(), number.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return malformed();
    }
    reference.version = std::stoll(number);
  } else {
    return malformed();
  }
  if (!ValidModelName(reference.name)) return malformed();
  return std::optional<ModelReference>(reference);
}

Result<ModelVersionRecord> ResolveModelReference(StateStore& store, const ModelReference& reference) {
  AIMASS_ASSIGN_OR_RETURN(ModelRecord model, store.GetModel(reference.name));
  int64_t version = 0;
  if (reference.version) {
    version = *reference.version;
  } else {
    auto alias = model.aliases.find(reference.alias);
    if (alias == model.aliases.end()) {
      return Status::NotFound("model '" + reference.name + "' has no alias '" + reference.alias + "'");
    }
    version = alias->second;
  }
  for (const ModelVersionRecord& record : model.versions) {
    if (record.version == version) return record;
  }
  return Status::NotFound("model '" + reference.name + "' has no version " + std::to_string(version));
}

Result<std::string> DatasetFingerprint(const std::string& dir, Env& env) {
  std::vector<std::pair<std::string, uint64_t>> files;
  AIMASS_RETURN_IF_ERROR(ListFiles(env, dir, "", files));
  std::sort(files.begin(), files.end());
  std::string listing;
  for (const auto& [file, size] : files) {
    // Streamed: a training table may be far larger than memory.
    AIMASS_ASSIGN_OR_RETURN(std::string digest, io::Sha256OfFile(dir + "/" + file));
    listing += file + "\t" + std::to_string(size) + "\t" + digest + "\n";
  }
  return "sha256:" + Sha256Hex(listing);
}

}  // namespace aimass::service
