// SHA-256 through OpenSSL's EVP interface (not the deprecated SHA256_*), as lowercase hex:
// output part checksums, API token digests.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace aimass {

// Bytes fed in pieces. Not thread-safe; one digest per object.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(const char* data, size_t size);
  // 64 lowercase hex digits, or empty where OpenSSL failed.
  std::string FinalHex();

 private:
  evp_md_ctx_st* ctx_;
  bool ok_ = false;
};

// The hex digest of `bytes` in one call; empty where OpenSSL failed.
std::string Sha256Hex(std::string_view bytes);

}  // namespace aimass
