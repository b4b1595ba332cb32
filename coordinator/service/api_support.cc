#include "coordinator/service/api_support.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace aimass::service {

namespace json = boost::json;

// An error on its way to a response: the HTTP status and the API's code come from the Status.
http::Response ErrorResponse(unsigned status, const std::string& code, const std::string& message) {
  http::Response response;
  response.status = status;
  response.body = json::serialize(json::object{{"error", message}, {"code", code}});
  return response;
}

http::Response FromStatus(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument: return ErrorResponse(400, "invalid_argument", status.message());
    case StatusCode::kNotFound: return ErrorResponse(404, "not_found", status.message());
    case StatusCode::kPermissionDenied: return ErrorResponse(403, "forbidden", status.message());
    case StatusCode::kFailedPrecondition:
    case StatusCode::kAlreadyExists: return ErrorResponse(409, "conflict", status.message());
    case StatusCode::kResourceExhausted: {
      http::Response response = ErrorResponse(503, "overloaded", status.message());
      response.headers.emplace_back("Retry-After", "1");
      return response;
    }
    case StatusCode::kUnavailable: return ErrorResponse(503, "unavailable", status.message());
    case StatusCode::kDeadlineExceeded: return ErrorResponse(504, "deadline_exceeded", status.message());
    default: return ErrorResponse(500, "internal", status.message());
  }
}

http::Response JsonResponse(const json::value& value, unsigned status) {
  http::Response response;
  response.status = status;
  response.body = json::serialize(value);
  return response;
}

std::string IsoTime(int64_t ms) {
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[40];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  char millis[8];
  std::snprintf(millis, sizeof millis, ".%03dZ", static_cast<int>(ms % 1000));
  return std::string(text) + millis;
}

json::value OptionalTime(const std::optional<int64_t>& ms) {
  return ms ? json::value(IsoTime(*ms)) : json::value(nullptr);
}

// A JSON text stored by the service (summaries, metrics): an object, or null if absent.
json::value ParseStored(const std::string& text) {
  if (text.empty()) return nullptr;
  boost::system::error_code error;
  json::value value = json::parse(text, error);
  return error ? json::value(nullptr) : value;
}

std::string ActorName(const TokenRecord& token) {
  std::string actor = "token:" + std::to_string(token.id);
  if (!token.description.empty()) actor += " (" + token.description + ")";
  return actor;
}

// A request body that must be a JSON object with only the keys given; each key's type is
// checked where it is read.
Result<json::object> ParseBody(const std::string& body, std::initializer_list<const char*> keys) {
  boost::system::error_code error;
  json::value value = json::parse(body, error);
  if (error) return Status::InvalidArgument("the request body is not JSON: " + error.message());
  if (!value.is_object()) return Status::InvalidArgument("the request body must be a JSON object");
  for (const auto& field : value.as_object()) {
    if (std::find_if(keys.begin(), keys.end(), [&](const char* key) { return field.key() == key; }) ==
        keys.end()) {
      return Status::InvalidArgument("unknown key '" + std::string(field.key()) + "' in the request body");
    }
  }
  return std::move(value.as_object());
}

Result<std::string> StringField(const json::object& body, const char* key, bool required) {
  const json::value* value = body.if_contains(key);
  if (value == nullptr || value->is_null()) {
    if (required) return Status::InvalidArgument(std::string(key) + ": required");
    return std::string();
  }
  if (!value->is_string()) return Status::InvalidArgument(std::string(key) + ": must be a string");
  return std::string(value->as_string());
}

Result<int64_t> IntegerField(const json::object& body, const char* key, std::optional<int64_t> fallback) {
  const json::value* value = body.if_contains(key);
  if (value == nullptr || value->is_null()) {
    if (fallback) return *fallback;
    return Status::InvalidArgument(std::string(key) + ": required");
  }
  if (value->is_int64()) return value->as_int64();
  if (value->is_uint64() && value->as_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
    return static_cast<int64_t>(value->as_uint64());
  }
  return Status::InvalidArgument(std::string(key) + ": must be an integer");
}

Result<int64_t> ParseId(const std::string& text, const char* what) {
  if (text.empty() || text.size() > 18 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return Status::NotFound(std::string("no ") + what + " '" + text + "'");
  }
  return std::stoll(text);
}

// The `limit` query parameter of a list: `fallback` when absent, 1 to `most` when given.
Result<int64_t> QueryLimit(const http::Request& request, int64_t fallback, int64_t most) {
  auto query = request.query.find("limit");
  if (query == request.query.end()) return fallback;
  auto parsed = ParseId(query->second, "limit");
  if (!parsed.ok() || *parsed < 1 || *parsed > most) {
    return Status::InvalidArgument("limit: must be 1 to " + std::to_string(most));
  }
  return *parsed;
}


bool Allowed(Role role, Access access) {
  switch (access) {
    case Access::kPublic:
    case Access::kViewer: return true;
    case Access::kOperator: return role == Role::kOperator || role == Role::kAdmin;
    case Access::kAdmin: return role == Role::kAdmin;
  }
  return false;
}

void AuditCall(SharedStore& store, const ApiCall& call, const std::string& action,
               const std::string& target) {
  Status audited = store.With([&](StateStore& state) {
    return state.Audit(call.actor, action, target, call.request.remote);
  });
  if (!audited.ok()) std::fprintf(stderr, "aimass: warning: audit: %s\n", audited.message().c_str());
}

}  // namespace aimass::service
