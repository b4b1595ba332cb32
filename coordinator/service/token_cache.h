// Bearer tokens checked once and then remembered for a few seconds, so that a prediction (many
// small requests a second) does not take the store's lock and an fsync'd database read each
// time. Only accepted tokens are remembered, under the SHA-256 of the secret (the secret itself
// is not kept). A revocation through this server forgets them all at once, so a revoked token
// is refused on its next request; the time limit bounds how long any other change could be
// missed.
//
// Thread safety: all methods may be called concurrently.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/status.h"
#include "coordinator/service/shared_store.h"

namespace aimass::service {

class TokenCache {
 public:
  explicit TokenCache(SharedStore& store, std::chrono::milliseconds ttl = std::chrono::seconds(10))
      : store_(store), ttl_(ttl) {}

  // The token `secret` belongs to, or kNotFound (unknown and revoked alike).
  [[nodiscard]] Result<TokenRecord> Authenticate(const std::string& secret);

  // Forgets every remembered token (call after a revocation).
  void Forget();

 private:
  struct Entry {
    TokenRecord token;
    std::chrono::steady_clock::time_point expires;
  };
  static constexpr size_t kMaxEntries = 4096;

  SharedStore& store_;
  const std::chrono::milliseconds ttl_;
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;  // GUARDED_BY(mutex_); key: SHA-256 hex
};

}  // namespace aimass::service
