#include "coordinator/service/serving/serving_routes.h"

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <unordered_map>

namespace aimass::service {
namespace {

namespace json = boost::json;
using http::Response;

constexpr size_t kMaxRecordsPerRequest = 10000;

Result<float> Number(const json::value& value) {
  if (value.is_double()) return static_cast<float>(value.as_double());
  if (value.is_int64()) return static_cast<float>(value.as_int64());
  if (value.is_uint64()) return static_cast<float>(value.as_uint64());
  return Status::InvalidArgument("not a number");
}

// Appends the numbers of `value` (a number, or arrays of them nested any depth) to `out`.
Status Flatten(const json::value& value, std::vector<float>& out, int depth) {
  if (depth > 8) return Status::InvalidArgument("arrays nested too deep");
  if (value.is_array()) {
    for (const json::value& item : value.as_array()) AIMASS_RETURN_IF_ERROR(Flatten(item, out, depth + 1));
    return Status::Ok();
  }
  AIMASS_ASSIGN_OR_RETURN(float number, Number(value));
  out.push_back(number);
  return Status::Ok();
}

Result<ServingTarget> TargetOf(const ApiCall& call) {
  ServingTarget target;
  target.model = call.params[0];
  if (!ValidModelName(target.model)) return Status::NotFound("no model '" + target.model + "'");
  auto alias = call.request.query.find("alias");
  auto version = call.request.query.find("version");
  if (alias != call.request.query.end() && version != call.request.query.end()) {
    return Status::InvalidArgument("give ?alias or ?version, not both");
  }
  if (alias != call.request.query.end()) target.alias = alias->second;
  if (version != call.request.query.end()) {
    AIMASS_ASSIGN_OR_RETURN(int64_t number, ParseId(version->second, "version"));
    target.version = number;
  }
  return target;
}

// The arg-max class of each row.
std::vector<int64_t> PredictedClasses(const PredictionScores& scores) {
  std::vector<int64_t> classes(scores.rows, -1);
  for (uint32_t row = 0; row < scores.rows && scores.width > 0; ++row) {
    const float* begin = scores.scores.data() + static_cast<size_t>(row) * scores.width;
    classes[row] = std::max_element(begin, begin + scores.width) - begin;
  }
  return classes;
}

json::object PredictionJson(const PredictionScores& scores) {
  json::array predictions;
  json::array rows;
  predictions.reserve(scores.rows);
  rows.reserve(scores.rows);
  for (uint32_t row = 0; row < scores.rows; ++row) {
    const float* begin = scores.scores.data() + static_cast<size_t>(row) * scores.width;
    uint32_t best = 0;
    json::array values;
    values.reserve(scores.width);
    for (uint32_t k = 0; k < scores.width; ++k) {
      if (begin[k] > begin[best]) best = k;
      values.push_back(static_cast<double>(begin[k]));
    }
    predictions.push_back(best);
    rows.push_back(std::move(values));
  }
  return json::object{{"predictions", std::move(predictions)},
                      {"scores", std::move(rows)},
                      {"model_version", scores.model_version}};
}

}  // namespace

Result<std::vector<float>> PredictFeatures(const std::string& body, int64_t values_per_record,
                                           const std::vector<std::string>& feature_columns, uint32_t* rows) {
  boost::system::error_code error;
  json::value value = json::parse(body, error);
  if (error) return Status::InvalidArgument("the request body is not JSON: " + error.message());
  if (!value.is_object()) return Status::InvalidArgument("the request body must be a JSON object");
  const json::object& object = value.as_object();
  for (const auto& field : object) {
    if (field.key() != "instances" && field.key() != "records") {
      return Status::InvalidArgument("unknown key '" + std::string(field.key()) + "' in the request body");
    }
  }
  const json::value* instances = object.if_contains("instances");
  const json::value* records = object.if_contains("records");
  if ((instances == nullptr) == (records == nullptr)) {
    return Status::InvalidArgument("give \"instances\" or \"records\" (one of them)");
  }
  const json::value& list = instances != nullptr ? *instances : *records;
  const char* key = instances != nullptr ? "instances" : "records";
  if (!list.is_array() || list.as_array().empty()) {
    return Status::InvalidArgument(std::string(key) + ": must be a non-empty array");
  }
  if (list.as_array().size() > kMaxRecordsPerRequest) {
    return Status::InvalidArgument(std::string(key) + ": at most " + std::to_string(kMaxRecordsPerRequest) +
                                   " per request");
  }
  std::vector<float> features;
  features.reserve(list.as_array().size() * static_cast<size_t>(values_per_record));
  size_t index = 0;
  if (instances != nullptr) {
    for (const json::value& instance : list.as_array()) {
      const size_t before = features.size();
      Status flattened = Flatten(instance, features, 0);
      if (!flattened.ok()) {
        return Status::InvalidArgument("instances[" + std::to_string(index) + "]: " + flattened.message());
      }
      if (static_cast<int64_t>(features.size() - before) != values_per_record) {
        return Status::InvalidArgument("instances[" + std::to_string(index) + "]: " +
                                       std::to_string(features.size() - before) + " values; the model takes " +
                                       std::to_string(values_per_record));
      }
      ++index;
    }
  } else {
    if (feature_columns.empty()) {
      return Status::FailedPrecondition("this model version's feature columns are not known (its training table "
                                        "is not readable here): send \"instances\"");
    }
    for (const json::value& record : list.as_array()) {
      const std::string where = "records[" + std::to_string(index) + "]";
      if (!record.is_object()) return Status::InvalidArgument(where + ": must be an object");
      const json::object& fields = record.as_object();
      for (const std::string& column : feature_columns) {
        const json::value* cell = fields.if_contains(column);
        if (cell == nullptr) return Status::InvalidArgument(where + ": column '" + column + "' is missing");
        auto number = Number(*cell);
        if (!number.ok()) return Status::InvalidArgument(where + "." + column + ": not a number");
        features.push_back(*number);
      }
      ++index;
    }
  }
  for (size_t i = 0; i < features.size(); ++i) {
    if (!std::isfinite(features[i])) {
      return Status::InvalidArgument(std::string(key) + "[" + std::to_string(i / values_per_record) +
                                     "]: a value is not finite");
    }
  }
  *rows = static_cast<uint32_t>(list.as_array().size());
  return features;
}

void AddServingRoutes(RouteTable& routes, ServingManager& serving, SharedStore& store) {
  routes.Add("POST", "/api/v1/models/{name}/predict", Access::kViewer, [&serving](ApiCall& call) -> Response {
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(ServingTarget target, TargetOf(call));
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(ServingConfig config, serving.ConfigOf(target.model));
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(std::shared_ptr<ReplicaSet> set, serving.Acquire(target));
    auto request = std::make_shared<PendingPrediction>();
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(
        request->features, PredictFeatures(call.request.body, set->served().values_per_record,
                                           set->served().feature_columns, &request->rows));
    const auto timeout = std::chrono::milliseconds(config.timeout_ms);
    Response response;
    // Queued from inside the deferred call: the answer may come the moment it is queued, and
    // the Respond must be in place by then.
    response.deferred = [&serving, target, set, request, timeout](http::Respond respond) {
      auto answer = std::make_shared<http::Respond>(std::move(respond));
      // Answered records feed the version's drift window, after the answer is on its way. The
      // request is held weakly: it owns this callback. A request moved to a successor set (an
      // alias swap while it waited) counts in the window of the version it was sent to.
      std::shared_ptr<DriftWindow> drift = serving.DriftWindowOf(set->served().model, set->served().version);
      std::weak_ptr<PendingPrediction> weak = request;
      request->done = [answer, drift, weak](Result<PredictionScores> scores) {
        (*answer)(scores.ok() ? JsonResponse(PredictionJson(*scores)) : FromStatus(scores.status()));
        if (!scores.ok() || drift == nullptr) return;
        if (auto held = weak.lock()) (void)drift->Add(held->features, PredictedClasses(*scores));
      };
      request->enqueued = PendingPrediction::Clock::now();
      request->deadline = request->enqueued + timeout;
      Status submitted = set->Submit(request);
      if (submitted.code() == StatusCode::kUnavailable && !set->failed()) {
        // The set is being replaced (an alias moved, a new config): its successor takes it.
        auto successor = serving.Acquire(target);
        if (!successor.ok()) {
          submitted = successor.status();
        } else if ((*successor)->served().values_per_record != set->served().values_per_record) {
          submitted = Status::Unavailable("the served model changed its input while this request waited; retry");
        } else {
          submitted = (*successor)->Submit(request);
        }
      }
      if (!submitted.ok()) (*answer)(FromStatus(submitted));
    };
    return response;
  });

  routes.Add("GET", "/api/v1/models/{name}/serving", Access::kViewer, [&serving](ApiCall& call) -> Response {
    const std::string& name = call.params[0];
    if (!ValidModelName(name)) return ErrorResponse(404, "not_found", "no model '" + name + "'");
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(json::object described, serving.Describe(name));
    return JsonResponse(described);
  });

  routes.Add("PUT", "/api/v1/models/{name}/serving", Access::kOperator, [&serving, &store](ApiCall& call) -> Response {
    const std::string& name = call.params[0];
    if (!ValidModelName(name)) return ErrorResponse(404, "not_found", "no model '" + name + "'");
    boost::system::error_code error;
    json::value body = json::parse(call.request.body, error);
    if (error || !body.is_object()) return ErrorResponse(400, "invalid_argument", "the request body must be a JSON object");
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(ServingConfig config, ParseServingConfig(body.as_object()));
    Status configured = serving.Configure(name, config, call.actor);
    if (!configured.ok()) return FromStatus(configured);
    AuditCall(store, call, "model.serve", name + " " + json::serialize(ServingConfigJson(config)));
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(json::object described, serving.Describe(name));
    return JsonResponse(described);
  });

  routes.Add("DELETE", "/api/v1/models/{name}/serving", Access::kOperator, [&serving, &store](ApiCall& call) -> Response {
    const std::string& name = call.params[0];
    if (!ValidModelName(name)) return ErrorResponse(404, "not_found", "no model '" + name + "'");
    Status stopped = serving.Unserve(name);
    if (!stopped.ok()) return FromStatus(stopped);
    AuditCall(store, call, "model.unserve", name);
    return JsonResponse(json::object{{"model", name}, {"serving", false}});
  });
}

}  // namespace aimass::service
