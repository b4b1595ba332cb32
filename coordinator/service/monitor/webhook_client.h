// The alert webhook's HTTP client: one JSON POST to an http:// or https:// URL, every step
// (resolve, connect, TLS handshake, write, read) bounded by one deadline. HTTPS verifies the
// server's certificate against the system's trust store and its host name.
//
// Thread safety: Post may be called from any thread; each call has its own connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/status.h"

namespace aimass::service {

struct WebhookUrl {
  bool https = false;
  std::string host;
  uint16_t port = 0;
  std::string target;  // path and query, at least "/"
  std::string shown;   // scheme://host[:port], never the path or query: what messages name
};

// kInvalidArgument naming the URL for anything but http(s)://HOST[:PORT][/PATH] (no user
// info, no fragment).
[[nodiscard]] Result<WebhookUrl> ParseWebhookUrl(const std::string& text);

// Posts `json_body`; Ok for a 2xx answer, kUnavailable for a failed connection or another
// status, kDeadlineExceeded when `timeout` passed first.
[[nodiscard]] Status PostJson(const WebhookUrl& url, const std::string& json_body,
                              std::chrono::milliseconds timeout);

}  // namespace aimass::service
