// Sealed files: encryption at rest for what the platform service stores (registered model
// artifacts), with AES-256-GCM through OpenSSL's EVP interface under one master key.
//
// A sealed file (format version 1, docs/formats.md) is
//
//   offset  size  field
//        0     7  magic "AIMSEAL"
//        7     1  format version (1)
//        8     8  key id: the first 8 bytes of SHA-256("aimass sealed-file key id v1\0" || key)
//       16    12  nonce: 96 random bits, fresh for every file sealed
//       28     N  ciphertext (as long as the plaintext)
//     28+N    16  GCM tag
//
// The 28-byte header and a caller's `context` string are authenticated as additional data:
// a changed header byte fails the tag like a changed ciphertext byte, and a file copied to a
// place with another context (another artifact's digest, another file name) does not open.
// The key id only lets a wrong key be named as such before the tag is checked; it is a hash
// of the key under its own label, so it tells nothing about the key.
//
// Thread safety: every function is safe to call concurrently (no shared state). MasterKey is
// an immutable value once loaded.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace aimass::service {

constexpr size_t kMasterKeyBytes = 32;    // AES-256
constexpr size_t kSealedHeaderBytes = 28;
constexpr size_t kSealedTagBytes = 16;

class MasterKey {
 public:
  // `bytes` must be kMasterKeyBytes long (InvalidArgument otherwise; the message never
  // repeats key material).
  [[nodiscard]] static Result<MasterKey> FromBytes(std::string bytes);
  // Reads a key file: 32 raw bytes, or 64 hex digits and an optional newline. Refused
  // (PermissionDenied) when the group or others may read or write it (the mode must be 0600
  // or stricter), InvalidArgument when it is of another size; one line naming the file.
  [[nodiscard]] static Result<MasterKey> Load(const std::string& path);

  // The bytes are wiped when a MasterKey goes (copies wipe their own).
  ~MasterKey();
  MasterKey(const MasterKey&) = default;
  MasterKey(MasterKey&&) = default;
  MasterKey& operator=(const MasterKey&) = default;
  MasterKey& operator=(MasterKey&&) = default;

  const std::string& bytes() const { return bytes_; }
  // The 8-byte key id, as stored in every sealed file.
  const std::string& id() const { return id_; }

 private:
  MasterKey(std::string bytes, std::string id) : bytes_(std::move(bytes)), id_(std::move(id)) {}
  std::string bytes_;
  std::string id_;
};

// Encrypts `plaintext` with a fresh random nonce; `context` is bound as additional data and
// must be given again to open the file. Internal only if OpenSSL fails.
[[nodiscard]] Result<std::string> Seal(const MasterKey& key, std::string_view plaintext,
                                       std::string_view context);

// Verifies and decrypts a sealed file; `name` (its path) names it in errors. kCorruption when
// it is not a sealed file, or when the tag does not verify ("... authentication failed: the
// file was altered or the key is wrong"): a changed byte, the wrong key, another context.
// kFailedPrecondition when its format version is newer than this build reads.
[[nodiscard]] Result<std::string> Open(const MasterKey& key, std::string_view sealed,
                                       std::string_view context, const std::string& name);

}  // namespace aimass::service
