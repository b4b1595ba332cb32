// What every group of API routes shares: the call a route handler receives, the role a route
// needs, the table routes are added to, and the helpers that turn JSON bodies and Statuses
// into responses. The core routes (jobs, models, tokens, audit) live in api.cc; each further
// part of the platform (serving, schedules, alerts, datasets) adds its routes from a file of
// its own through RouteTable, so that a part is one file to read.
//
// Thread safety: route handlers run concurrently on the HTTP server's threads.
#pragma once

#include <boost/json.hpp>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "coordinator/service/http/http_server.h"
#include "coordinator/service/shared_store.h"

namespace aimass::service {

// The least role a route needs; kPublic needs no token at all.
enum class Access { kPublic, kViewer, kOperator, kAdmin };

bool Allowed(Role role, Access access);

// One authenticated request on its way through a route.
struct ApiCall {
  const http::Request& request;
  std::vector<std::string> params;  // the {placeholders} of the route, in order
  TokenRecord token;                // the caller's token (empty for kPublic routes)
  std::string actor;                // how the audit log names the caller
};

using ApiRoute = std::function<http::Response(ApiCall&)>;

class RouteTable {
 public:
  virtual ~RouteTable() = default;
  // `pattern` is a path whose segments may be {placeholders}, e.g. "/api/v1/models/{name}".
  // Routes are matched in the order they were added.
  virtual void Add(const char* method, const char* pattern, Access access, ApiRoute handler) = 0;
};

// An error response: {"error": message, "code": code}.
http::Response ErrorResponse(unsigned status, const std::string& code, const std::string& message);
// The response a Status maps to (400, 403, 404, 409, 500).
http::Response FromStatus(const Status& status);
http::Response JsonResponse(const boost::json::value& value, unsigned status = 200);

// "2026-11-28T04:10:00.123Z"
std::string IsoTime(int64_t ms);
boost::json::value OptionalTime(const std::optional<int64_t>& ms);
// A JSON text the service stored (summaries, metrics): its value, or null if absent or invalid.
boost::json::value ParseStored(const std::string& text);
std::string ActorName(const TokenRecord& token);

// A request body that must be a JSON object with only the keys given; each key's type is
// checked where it is read.
Result<boost::json::object> ParseBody(const std::string& body, std::initializer_list<const char*> keys);
Result<std::string> StringField(const boost::json::object& body, const char* key, bool required);
Result<int64_t> IntegerField(const boost::json::object& body, const char* key,
                             std::optional<int64_t> fallback);
// A numeric path segment; anything else is kNotFound naming `what`.
Result<int64_t> ParseId(const std::string& text, const char* what);
// The `limit` query parameter of a list: `fallback` when absent, 1 to `most` when given.
Result<int64_t> QueryLimit(const http::Request& request, int64_t fallback, int64_t most);

// Appends to the audit log for a change that already happened; a failure to append is printed
// (stderr) rather than failing the request.
void AuditCall(SharedStore& store, const ApiCall& call, const std::string& action,
               const std::string& target);

}  // namespace aimass::service

// `lhs = value of expr`, or the error response its Status maps to.
#define AIMASS_ASSIGN_OR_RETURN_RESPONSE(lhs, expr) \
  AIMASS_ASSIGN_OR_RETURN_RESPONSE_IMPL(AIMASS_CONCAT(api_result_, __LINE__), lhs, expr)
#define AIMASS_ASSIGN_OR_RETURN_RESPONSE_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                          \
  if (!tmp.ok()) return ::aimass::service::FromStatus(tmp.status()); \
  lhs = std::move(tmp).value()
