#include "coordinator/service/api.h"

#include <fcntl.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <optional>
#include <sstream>
#include <vector>

#include "coordinator/service/api_support.h"
#include "coordinator/service/auth_limiter.h"
#include "coordinator/service/job_intake.h"
#include "coordinator/service/submitted_job.h"
#include "coordinator/service/token_cache.h"

namespace aimass::service {

namespace json = boost::json;
using http::Request;
using http::Response;

namespace {

constexpr size_t kMaxLogBytes = 4 << 20;      // a plain GET of a log returns at most its tail
constexpr size_t kMaxStreamChunk = 64 << 10;  // a followed log sends at most this per poll
constexpr uint32_t kMaxWorkers = 1024;

std::string ContentType(const std::string& path) {
  auto ends_with = [&](const char* suffix) {
    const size_t n = std::strlen(suffix);
    return path.size() >= n && path.compare(path.size() - n, n, suffix) == 0;
  };
  if (ends_with(".html")) return "text/html; charset=utf-8";
  if (ends_with(".js") || ends_with(".mjs")) return "text/javascript; charset=utf-8";
  if (ends_with(".css")) return "text/css; charset=utf-8";
  if (ends_with(".svg")) return "image/svg+xml";
  if (ends_with(".png")) return "image/png";
  if (ends_with(".ico")) return "image/x-icon";
  if (ends_with(".map") || ends_with(".json")) return "application/json";
  return "application/octet-stream";
}

bool SafeStaticPath(const std::string& path) {
  if (path.empty() || path.size() > 200 || path.front() == '/') return false;
  if (!std::all_of(path.begin(), path.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || c == '/';
      })) {
    return false;
  }
  std::stringstream segments(path);
  std::string segment;
  while (std::getline(segments, segment, '/')) {
    if (segment.empty() || segment == "." || segment == "..") return false;
  }
  return true;
}

// Up to `limit` bytes of `path` from `offset` (or less at the end of the file), read through a
// close-on-exec descriptor (a std::ifstream's is not: a job started meanwhile would inherit it).
std::string ReadFrom(const std::string& path, uint64_t offset, size_t limit) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string data(limit, '\0');
  size_t got = 0;
  while (got < limit) {
    const ssize_t n = ::pread(fd, data.data() + got, limit - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  data.resize(got);
  return data;
}

uint64_t FileSize(const std::string& path) {
  std::error_code error;
  auto size = std::filesystem::file_size(path, error);
  return error ? 0 : size;
}

}  // namespace

class Api::Impl : public RouteTable {
 public:
  using Call = ApiCall;
  struct RouteEntry {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    Access access;
    ApiRoute handler;
  };

  Impl(ApiOptions options, SharedStore& store, JobScheduler& scheduler, ServiceMetrics& metrics,
       const DataRoots& roots)
      : options_(std::move(options)), store_(store), scheduler_(scheduler), metrics_(metrics),
        intake_(options_.state_dir, store, roots,
                [&scheduler](const ModelReference& reference) { return scheduler.ResolveModel(reference); },
                [&scheduler] { scheduler.Wake(); }) {
    Add("GET", "/healthz", Access::kPublic, [](Call&) { return JsonResponse(json::object{{"status", "ok"}}); });
    Add("GET", "/", Access::kPublic, [this](Call&) { return StaticFile("index.html"); });
    Add("GET", "/metrics", Access::kViewer, [this](Call& call) { return Metrics(call); });
    Add("GET", "/api/v1/whoami", Access::kViewer, [](Call& call) {
      return JsonResponse(json::object{{"token_id", call.token.id},
                                       {"role", RoleName(call.token.role)},
                                       {"description", call.token.description}});
    });
    Add("POST", "/api/v1/jobs", Access::kOperator, [this](Call& call) { return SubmitJob(call); });
    Add("GET", "/api/v1/jobs", Access::kViewer, [this](Call& call) { return ListJobs(call); });
    Add("GET", "/api/v1/jobs/{id}", Access::kViewer, [this](Call& call) { return GetJob(call); });
    Add("GET", "/api/v1/jobs/{id}/metrics", Access::kViewer, [this](Call& call) { return JobMetrics(call); });
    Add("GET", "/api/v1/jobs/{id}/log", Access::kViewer, [this](Call& call) { return JobLog(call); });
    Add("POST", "/api/v1/jobs/{id}/cancel", Access::kOperator, [this](Call& call) { return CancelJob(call); });
    Add("GET", "/api/v1/models", Access::kViewer, [this](Call& call) { return ListModels(call); });
    Add("GET", "/api/v1/models/{name}", Access::kViewer, [this](Call& call) { return GetModel(call); });
    Add("POST", "/api/v1/models/{name}/versions", Access::kOperator,
        [this](Call& call) { return RegisterVersion(call); });
    Add("PUT", "/api/v1/models/{name}/aliases/{alias}", Access::kOperator,
        [this](Call& call) { return SetAlias(call); });
    Add("GET", "/api/v1/audit", Access::kAdmin, [this](Call& call) { return Audit(call); });
    Add("GET", "/api/v1/tokens", Access::kAdmin, [this](Call& call) { return ListTokens(call); });
    Add("POST", "/api/v1/tokens", Access::kAdmin, [this](Call& call) { return CreateToken(call); });
    Add("DELETE", "/api/v1/tokens/{id}", Access::kAdmin, [this](Call& call) { return RevokeToken(call); });
  }

  // The request's head alone: refused here (401, 429, 403, 404, 405) before its body is read.
  http::Admission Admit(const Request& head) {
    const auto started = std::chrono::steady_clock::now();
    std::string route_label = "other";
    Resolution resolved = Resolve(head, route_label);
    http::Admission admission;
    admission.authenticated = resolved.authenticated;
    if (resolved.refusal) {
      Response refusal = std::move(*resolved.refusal);
      Decorate(refusal, head.path.rfind("/static/", 0) == 0);
      metrics_.ObserveRequest(route_label, head.method, refusal.status, SecondsSince(started));
      admission.refuse = std::move(refusal);
    }
    return admission;
  }

  Response Handle(const Request& request) {
    const auto started = std::chrono::steady_clock::now();
    std::string route_label = "other";
    Response response = Dispatch(request, route_label);
    if (response.deferred) {
      // Headers and metrics once the answer is there (a prediction answers from another thread).
      auto inner = std::move(response.deferred);
      const bool is_static = request.path.rfind("/static/", 0) == 0;
      response.deferred = [this, inner = std::move(inner), started, route_label, is_static,
                           method = request.method](http::Respond respond) {
        inner([this, respond = std::move(respond), started, route_label, is_static, method](Response answer) {
          Decorate(answer, is_static);
          metrics_.ObserveRequest(route_label, method, answer.status, SecondsSince(started));
          respond(std::move(answer));
        });
      };
      return response;
    }
    Decorate(response, request.path.rfind("/static/", 0) == 0);
    metrics_.ObserveRequest(route_label, request.method, response.status, SecondsSince(started));
    return response;
  }

 private:
  static double SecondsSince(std::chrono::steady_clock::time_point started) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  }

  static void Decorate(Response& response, bool is_static) {
    if (!is_static) response.headers.emplace_back("Cache-Control", "no-store");
    response.headers.emplace_back("X-Content-Type-Options", "nosniff");
    response.headers.emplace_back("X-Frame-Options", "DENY");
    response.headers.emplace_back("Referrer-Policy", "no-referrer");
    // The UI loads only its own files and talks only to this server. Vue 2 compiles its
    // templates in the browser, which needs 'unsafe-eval'; no inline script is allowed.
    response.headers.emplace_back(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'");
  }

 public:
  void Add(const char* method, const char* pattern, Access access, ApiRoute handler) override {
    routes_.push_back(RouteEntry{method, pattern, Split(pattern), access, std::move(handler)});
  }

 private:

  static std::vector<std::string> Split(const std::string& path) {
    std::vector<std::string> segments;
    size_t start = 1;
    while (start <= path.size()) {
      size_t end = path.find('/', start);
      if (end == std::string::npos) end = path.size();
      segments.push_back(path.substr(start, end - start));
      start = end + 1;
    }
    if (path == "/") segments.clear();
    return segments;
  }

  // What a request's head decides: its route and its caller's token, or the answer that
  // refuses it (404, 405, 401, 429, 403). Nothing here needs the body, so the HTTP server asks
  // it (Admit) before reading one, and Dispatch asks it again with the whole request.
  struct Resolution {
    std::optional<Response> refusal;
    const RouteEntry* route = nullptr;  // null without a refusal: a static file
    std::vector<std::string> params;
    TokenRecord token;
    std::string actor;
    bool authenticated = false;  // a valid token came with it
  };

  Resolution Resolve(const Request& request, std::string& route_label) {
    Resolution resolved;
    if (request.path.rfind("/static/", 0) == 0) {
      route_label = "/static";
      if (request.method != "GET") resolved.refusal = ErrorResponse(405, "invalid_argument", "static files are read-only");
      return resolved;
    }
    const std::vector<std::string> segments = Split(request.path);
    const RouteEntry* matched = nullptr;
    bool path_known = false;
    std::vector<std::string> params;
    for (const RouteEntry& route : routes_) {
      if (route.segments.size() != segments.size()) continue;
      std::vector<std::string> found;
      bool same = true;
      for (size_t i = 0; i < segments.size() && same; ++i) {
        const std::string& part = route.segments[i];
        if (part.size() > 2 && part.front() == '{' && part.back() == '}') {
          found.push_back(segments[i]);
        } else {
          same = part == segments[i];
        }
      }
      if (!same) continue;
      path_known = true;
      if (route.method != request.method) continue;
      matched = &route;
      params = std::move(found);
      break;
    }
    if (matched == nullptr) {
      resolved.refusal = path_known
                             ? ErrorResponse(405, "invalid_argument", request.method + " is not allowed on " + request.path)
                             : ErrorResponse(404, "not_found", "no route " + request.method + " " + request.path);
      return resolved;
    }
    route_label = matched->pattern;
    resolved.route = matched;
    resolved.params = std::move(params);
    if (matched->access == Access::kPublic) return resolved;
    const std::string prefix = "Bearer ";
    if (request.authorization.rfind(prefix, 0) != 0) {
      Response refused = ErrorResponse(401, "unauthenticated", "this route needs Authorization: Bearer TOKEN");
      refused.headers.emplace_back("WWW-Authenticate", "Bearer");
      resolved.refusal = std::move(refused);
      return resolved;
    }
    // Failed attempts are counted per address (auth_limiter.h); a blocked one is not even
    // checked, so that a right guess cannot be told from a wrong one.
    const std::string& client = request.client.empty() ? request.remote : request.client;
    if (const int64_t wait = failed_tokens_.RetryAfterSeconds(client); wait > 0) {
      Response refused = ErrorResponse(429, "too_many_requests",
                                       "too many failed token attempts from this address: try again in " +
                                           std::to_string(wait) + " s");
      refused.headers.emplace_back("Retry-After", std::to_string(wait));
      resolved.refusal = std::move(refused);
      return resolved;
    }
    const std::string secret = request.authorization.substr(prefix.size());
    auto token = tokens_.Authenticate(secret);
    if (!token.ok()) {
      if (token.status().code() == StatusCode::kNotFound) failed_tokens_.Failed(client);
      Response refused = ErrorResponse(401, "unauthenticated", "unknown or revoked token");
      refused.headers.emplace_back("WWW-Authenticate", "Bearer error=\"invalid_token\"");
      resolved.refusal = std::move(refused);
      return resolved;
    }
    resolved.authenticated = true;
    resolved.token = *token;
    resolved.actor = ActorName(*token);
    if (!Allowed(token->role, matched->access)) {
      Call call{request, {}, resolved.token, resolved.actor};
      AuditEntry(call, "denied", request.method + " " + request.path);
      resolved.refusal = ErrorResponse(403, "forbidden",
                                       std::string("a ") + RoleName(token->role) + " token may not " +
                                           request.method + " " + matched->pattern);
    }
    return resolved;
  }

  Response Dispatch(const Request& request, std::string& route_label) {
    Resolution resolved = Resolve(request, route_label);
    if (resolved.refusal) return std::move(*resolved.refusal);
    if (resolved.route == nullptr) return StaticFile(request.path.substr(std::strlen("/static/")));
    Call call{request, std::move(resolved.params), std::move(resolved.token), std::move(resolved.actor)};
    return resolved.route->handler(call);
  }

  void AuditEntry(const Call& call, const std::string& action, const std::string& target) {
    AuditCall(store_, call, action, target);
  }

  Response StaticFile(const std::string& path) {
    if (!SafeStaticPath(path)) return ErrorResponse(404, "not_found", "no static file '" + path + "'");
    const std::string full = options_.ui_dir + "/" + path;
    std::error_code error;
    if (!std::filesystem::is_regular_file(full, error)) {
      if (path == "index.html") {
        return ErrorResponse(404, "not_found", "the web UI is not installed in " + options_.ui_dir);
      }
      return ErrorResponse(404, "not_found", "no static file '" + path + "'");
    }
    Response response;
    response.content_type = ContentType(path);
    response.body = ReadFrom(full, 0, 32 << 20);
    return response;
  }

  Response Metrics(Call&) {
    auto counts = store_.With([](StateStore& store) { return store.CountJobsByState(); });
    if (!counts.ok()) return FromStatus(counts.status());
    Response response;
    response.content_type = "text/plain; version=0.0.4; charset=utf-8";
    response.body = metrics_.Render(*counts);
    return response;
  }

  json::object JobJson(const JobRecord& job) {
    json::value progress = nullptr;
    if (job.state == JobState::kRunning) {
      std::string live = scheduler_.Progress(job.id);
      if (!live.empty()) progress = ParseStored(live);
    }
    json::value model = nullptr;
    if (!job.model_name.empty() && job.model_version) {
      model = json::object{{"name", job.model_name}, {"version", *job.model_version}};
    }
    return json::object{
        {"id", job.id},
        {"kind", job.kind},
        {"state", JobStateName(job.state)},
        {"workers", job.workers},
        {"submitted_by", job.submitted_by},
        {"register_as", job.register_as.empty() ? json::value(nullptr) : json::value(job.register_as)},
        {"created_at", IsoTime(job.created_at_ms)},
        {"started_at", OptionalTime(job.started_at_ms)},
        {"finished_at", OptionalTime(job.finished_at_ms)},
        {"progress", progress},
        {"summary", ParseStored(job.summary_json)},
        {"error", job.error.empty() ? json::value(nullptr) : json::value(job.error)},
        {"model", model},
        {"directory", job.directory.empty() ? json::value(nullptr) : json::value(job.directory)},
        {"schedule", job.schedule_id ? json::value(*job.schedule_id) : json::value(nullptr)},
        {"resumes", job.resumes},
    };
  }

  Response SubmitJob(Call& call) {
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(json::object body,
                                     ParseBody(call.request.body, {"kind", "config", "workers", "register_as"}));
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(std::string kind, StringField(body, "kind", true));
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(std::string config, StringField(body, "config", true));
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(int64_t workers, IntegerField(body, "workers", 1));
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(std::string register_as, StringField(body, "register_as", false));
    if (workers < 1 || workers > kMaxWorkers) {
      return ErrorResponse(400, "invalid_argument", "workers: must be 1 to " + std::to_string(kMaxWorkers));
    }
    if (!register_as.empty()) {
      if (kind != "train") return ErrorResponse(400, "invalid_argument", "register_as: only a train job has a model");
      if (!ValidModelName(register_as)) {
        return ErrorResponse(400, "invalid_argument", "register_as: '" + register_as +
                                                          "' is not a model name (1-64 of A-Z a-z 0-9 . _ -)");
      }
    }
    // Checked now with the CLI's messages, and again when the job starts.
    auto prepared = intake_.Check(kind, config);
    if (!prepared.ok()) {
      if (prepared.status().code() == StatusCode::kPermissionDenied) {
        AuditEntry(call, "denied", "job.submit: " + prepared.status().message());
      }
      return FromStatus(prepared.status());
    }
    NewJob job;
    job.kind = kind;
    job.config_yaml = config;
    job.workers = static_cast<uint32_t>(workers);
    job.submitted_by = call.actor;
    job.register_as = register_as;
    job.input_path = prepared->input_path;
    job.model_reference = prepared->model_reference;
    auto id = intake_.Queue(job, AuditNote{call.actor, "job.submit", "", call.request.remote});
    if (!id.ok()) return FromStatus(id.status());
    return JsonResponse(json::object{{"id", **id}, {"state", "queued"}}, 201);
  }

  Response ListJobs(Call& call) {
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(int64_t limit, QueryLimit(call.request, 100, 1000));
    auto jobs = store_.With([&](StateStore& store) { return store.ListJobs(static_cast<uint32_t>(limit)); });
    if (!jobs.ok()) return FromStatus(jobs.status());
    json::array list;
    for (const JobRecord& job : *jobs) list.push_back(JobJson(job));
    return JsonResponse(json::object{{"jobs", std::move(list)}});
  }

  Result<JobRecord> FindJob(const Call& call) {
    AIMASS_ASSIGN_OR_RETURN(int64_t id, ParseId(call.params[0], "job"));
    return store_.With([&](StateStore& store) { return store.GetJob(id); });
  }

  Response GetJob(Call& call) {
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(JobRecord job, FindJob(call));
    return JsonResponse(JobJson(job));
  }

  Response JobMetrics(Call& call) {
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(JobRecord job, FindJob(call));
    auto metrics = store_.With([&](StateStore& store) { return store.ListJobMetrics(job.id); });
    if (!metrics.ok()) return FromStatus(metrics.status());
    json::array steps, evaluations, splits;
    for (const JobMetric& metric : *metrics) {
      json::value body = ParseStored(metric.body_json);
      if (body.is_null()) continue;
      if (metric.kind == "step") steps.push_back(std::move(body));
      if (metric.kind == "evaluation") evaluations.push_back(std::move(body));
      if (metric.kind == "split") splits.push_back(std::move(body));
    }
    return JsonResponse(json::object{{"steps", std::move(steps)},
                                     {"evaluations", std::move(evaluations)},
                                     {"splits", std::move(splits)}});
  }

  std::string LogPath(int64_t id) const {
    return options_.state_dir + "/jobs/" + std::to_string(id) + "/job.log";
  }

  Response JobLog(Call& call) {
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(JobRecord job, FindJob(call));
    const std::string path = LogPath(job.id);
    Response response;
    response.content_type = "text/plain; charset=utf-8";
    const uint64_t size = FileSize(path);
    const uint64_t start = size > kMaxLogBytes ? size - kMaxLogBytes : 0;
    auto follow = call.request.query.find("follow");
    if (follow == call.request.query.end() || follow->second == "0" || IsFinal(job.state)) {
      response.body = ReadFrom(path, start, kMaxLogBytes);
      return response;
    }
    // Followed: whatever the file has now, then what is appended, until the job has ended and
    // its last line was sent.
    auto offset = std::make_shared<uint64_t>(start);
    const int64_t id = job.id;
    response.stream = [this, path, offset, id]() {
      http::StreamChunk chunk;
      auto state = store_.With([&](StateStore& store) { return store.GetJob(id); });
      const bool ended = !state.ok() || IsFinal(state->state);
      chunk.data = ReadFrom(path, *offset, kMaxStreamChunk);
      *offset += chunk.data.size();
      chunk.done = ended && FileSize(path) <= *offset;
      return chunk;
    };
    response.body = ReadFrom(path, start, kMaxStreamChunk);
    *offset += response.body.size();
    return response;
  }

  Response CancelJob(Call& call) {
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(JobRecord job, FindJob(call));
    Status cancelled = scheduler_.Cancel(job.id, call.actor);
    if (!cancelled.ok()) return FromStatus(cancelled);
    AuditEntry(call, "job.cancel", "job " + std::to_string(job.id));
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(JobRecord now, FindJob(call));
    return JsonResponse(JobJson(now));
  }

  json::object ModelJson(const ModelRecord& model, const std::vector<AliasMove>& history) {
    json::array versions;
    for (const ModelVersionRecord& version : model.versions) {
      versions.push_back(json::object{
          {"version", version.version},
          {"job", version.job_id ? json::value(*version.job_id) : json::value(nullptr)},
          {"dataset", version.dataset},
          {"config", version.config_yaml},
          {"metrics", ParseStored(version.metrics_json)},
          {"sha256", version.artifact_sha256},
          {"created_by", version.created_by},
          {"created_at", IsoTime(version.created_at_ms)}});
    }
    json::object aliases;
    for (const auto& [alias, version] : model.aliases) aliases[alias] = version;
    json::array moves;
    for (const AliasMove& move : history) {
      moves.push_back(json::object{
          {"alias", move.alias},
          {"from", move.from_version ? json::value(*move.from_version) : json::value(nullptr)},
          {"to", move.to_version},
          {"by", move.moved_by},
          {"at", IsoTime(move.at_ms)}});
    }
    return json::object{{"name", model.name},
                        {"versions", std::move(versions)},
                        {"aliases", std::move(aliases)},
                        {"alias_history", std::move(moves)}};
  }

  Response ListModels(Call&) {
    auto models = store_.With([](StateStore& store) -> Result<std::vector<ModelRecord>> {
      AIMASS_ASSIGN_OR_RETURN(std::vector<std::string> names, store.ListModels());
      std::vector<ModelRecord> records;
      for (const std::string& name : names) {
        AIMASS_ASSIGN_OR_RETURN(ModelRecord record, store.GetModel(name));
        records.push_back(std::move(record));
      }
      return records;
    });
    if (!models.ok()) return FromStatus(models.status());
    json::array list;
    for (const ModelRecord& model : *models) {
      json::object aliases;
      for (const auto& [alias, version] : model.aliases) aliases[alias] = version;
      list.push_back(json::object{
          {"name", model.name},
          {"latest_version", model.versions.empty() ? 0 : model.versions.back().version},
          {"versions", model.versions.size()},
          {"aliases", std::move(aliases)}});
    }
    return JsonResponse(json::object{{"models", std::move(list)}});
  }

  Response GetModel(Call& call) {
    const std::string& name = call.params[0];
    if (!ValidModelName(name)) return ErrorResponse(404, "not_found", "no model '" + name + "'");
    auto model = store_.With([&](StateStore& store) -> Result<json::object> {
      AIMASS_ASSIGN_OR_RETURN(ModelRecord record, store.GetModel(name));
      AIMASS_ASSIGN_OR_RETURN(std::vector<AliasMove> history, store.AliasHistory(name));
      return ModelJson(record, history);
    });
    if (!model.ok()) return FromStatus(model.status());
    return JsonResponse(*model);
  }

  Response RegisterVersion(Call& call) {
    const std::string& name = call.params[0];
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(json::object body, ParseBody(call.request.body, {"job"}));
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(int64_t job, IntegerField(body, "job", std::nullopt));
    auto version = scheduler_.RegisterModel(job, name, call.actor);
    if (!version.ok()) return FromStatus(version.status());
    return JsonResponse(json::object{{"name", name}, {"version", *version}}, 201);
  }

  Response SetAlias(Call& call) {
    const std::string& name = call.params[0];
    const std::string& alias = call.params[1];
    if (!ValidModelName(name)) return ErrorResponse(404, "not_found", "no model '" + name + "'");
    if (!ValidModelName(alias)) {
      return ErrorResponse(400, "invalid_argument", "alias '" + alias + "': use 1-64 of A-Z a-z 0-9 . _ -");
    }
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(json::object body, ParseBody(call.request.body, {"version"}));
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(int64_t version, IntegerField(body, "version", std::nullopt));
    auto previous = store_.With([&](StateStore& store) -> Result<std::optional<int64_t>> {
      AIMASS_ASSIGN_OR_RETURN(ModelRecord model, store.GetModel(name));
      std::optional<int64_t> before;
      if (auto found = model.aliases.find(alias); found != model.aliases.end()) before = found->second;
      AIMASS_RETURN_IF_ERROR(store.SetAlias(name, alias, version, call.actor));
      AIMASS_RETURN_IF_ERROR(store.Audit(call.actor, "model.alias",
                                         name + " " + alias + " -> " + std::to_string(version) +
                                             (before ? " (was " + std::to_string(*before) + ")" : ""),
                                         call.request.remote));
      return before;
    });
    if (!previous.ok()) return FromStatus(previous.status());
    return JsonResponse(json::object{
        {"name", name},
        {"alias", alias},
        {"version", version},
        {"previous", *previous ? json::value(**previous) : json::value(nullptr)}});
  }

  Response Audit(Call& call) {
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(int64_t limit, QueryLimit(call.request, 200, 10000));
    auto entries = store_.With([&](StateStore& store) { return store.ListAudit(static_cast<uint32_t>(limit)); });
    if (!entries.ok()) return FromStatus(entries.status());
    json::array list;
    for (const auto& entry : *entries) {
      list.push_back(json::object{{"id", entry.id},
                                  {"at", IsoTime(entry.at_ms)},
                                  {"actor", entry.actor},
                                  {"action", entry.action},
                                  {"target", entry.target},
                                  {"remote", entry.remote}});
    }
    return JsonResponse(json::object{{"entries", std::move(list)}});
  }

  Response ListTokens(Call&) {
    auto tokens = store_.With([](StateStore& store) { return store.ListTokens(); });
    if (!tokens.ok()) return FromStatus(tokens.status());
    json::array list;
    for (const TokenRecord& token : *tokens) {
      list.push_back(json::object{{"id", token.id},
                                  {"role", RoleName(token.role)},
                                  {"description", token.description},
                                  {"created_at", IsoTime(token.created_at_ms)}});
    }
    return JsonResponse(json::object{{"tokens", std::move(list)}});
  }

  Response CreateToken(Call& call) {
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(json::object body, ParseBody(call.request.body, {"role", "description"}));
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(std::string role_name, StringField(body, "role", true));
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(std::string description, StringField(body, "description", false));
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(Role role, ParseRole(role_name));
    if (description.size() > 200) return ErrorResponse(400, "invalid_argument", "description: at most 200 characters");
    auto issued = store_.With([&](StateStore& store) -> Result<IssuedToken> {
      AIMASS_ASSIGN_OR_RETURN(IssuedToken token, store.IssueToken(role, description));
      AIMASS_RETURN_IF_ERROR(store.Audit(call.actor, "token.create",
                                         "token " + std::to_string(token.id) + " (" + role_name + ")",
                                         call.request.remote));
      return token;
    });
    if (!issued.ok()) return FromStatus(issued.status());
    return JsonResponse(json::object{{"id", issued->id}, {"token", issued->secret}, {"role", role_name}}, 201);
  }

  Response RevokeToken(Call& call) {
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(int64_t id, ParseId(call.params[0], "token"));
    Status revoked = store_.With([&](StateStore& store) -> Status {
      AIMASS_RETURN_IF_ERROR(store.RevokeToken(id));
      return store.Audit(call.actor, "token.revoke", "token " + std::to_string(id), call.request.remote);
    });
    tokens_.Forget();  // even when the revocation failed: nothing may outlive a revoked token
    if (!revoked.ok()) return FromStatus(revoked);
    return JsonResponse(json::object{{"id", id}, {"revoked", true}});
  }

  ApiOptions options_;
  SharedStore& store_;
  JobScheduler& scheduler_;
  ServiceMetrics& metrics_;
  TokenCache tokens_{store_};
  FailedTokenLimiter failed_tokens_;
  JobIntake intake_;
  std::vector<RouteEntry> routes_;
};

Api::Api(ApiOptions options, SharedStore& store, JobScheduler& scheduler, ServiceMetrics& metrics,
         const DataRoots& roots)
    : impl_(std::make_unique<Impl>(std::move(options), store, scheduler, metrics, roots)) {}
Api::~Api() = default;
http::Response Api::Handle(const http::Request& request) { return impl_->Handle(request); }
http::Admission Api::Admit(const http::Request& head) { return impl_->Admit(head); }
RouteTable& Api::routes() { return *impl_; }

}  // namespace aimass::service
