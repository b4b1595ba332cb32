#include "coordinator/service/token_cache.h"

#include "common/sha256.h"

namespace aimass::service {

Result<TokenRecord> TokenCache::Authenticate(const std::string& secret) {
  const std::string key = Sha256Hex(secret);
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = entries_.find(key);
    if (found != entries_.end()) {
      if (found->second.expires > now) return found->second.token;
      entries_.erase(found);
    }
  }
  auto token = store_.With([&](StateStore& store) { return store.Authenticate(secret); });
  if (!token.ok()) return token.status();
  std::lock_guard<std::mutex> lock(mutex_);
  if (entries_.size() >= kMaxEntries) entries_.clear();
  entries_[key] = Entry{*token, now + ttl_};
  return token;
}

void TokenCache::Forget() {
  std::lock_guard<std::mutex> lock(mutex_);
  entries_.clear();
}

}  // namespace aimass::service
