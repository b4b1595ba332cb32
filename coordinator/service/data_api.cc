#include "coordinator/service/data_api.h"

#include <boost/json.hpp>

#include <chrono>

#include "coordinator/service/store/data_catalog_store.h"

namespace aimass::service {

namespace json = boost::json;

namespace {

constexpr size_t kMaxTextField = 2000;
// Lineage entries shown per kind (the newest).
constexpr uint32_t kLineageEntries = 1000;

Result<std::string> BoundedText(const json::object& body, const char* key, bool required) {
  AIMASS_ASSIGN_OR_RETURN(std::string text, StringField(body, key, required));
  if (text.size() > kMaxTextField) {
    return Status::InvalidArgument(std::string(key) + ": at most " + std::to_string(kMaxTextField) + " characters");
  }
  return text;
}

json::object DatasetSummary(const DatasetRecord& dataset) {
  json::value request = ParseStored(dataset.input_yaml);
  json::value input = request.is_object() && request.as_object().contains("input") ? request.as_object().at("input")
                                                                                   : json::value(nullptr);
  return json::object{{"name", dataset.name},
                      {"description", dataset.description},
                      {"owner", dataset.owner},
                      {"path", dataset.input_path},
                      {"input", input},
                      {"created_by", dataset.created_by},
                      {"created_at", IsoTime(dataset.created_at_ms)},
                      {"state", dataset.state},
                      {"error", dataset.error},
                      {"records", dataset.records ? json::value(*dataset.records) : json::value(nullptr)},
                      {"schema", dataset.schema_json.empty() ? json::value(nullptr) : ParseStored(dataset.schema_json)}};
}

json::object LineageJson(const TableLineage& lineage) {
  json::array trained;
  for (const TrainedVersion& version : lineage.trained) {
    trained.push_back(json::object{{"model", version.model},
                                   {"version", version.version},
                                   {"job_id", version.job_id ? json::value(*version.job_id) : json::value(nullptr)},
                                   {"created_at", IsoTime(version.created_at_ms)}});
  }
  json::array scored;
  for (const ScoringJob& job : lineage.scored) {
    scored.push_back(json::object{{"job_id", job.job_id},
                                  {"model", job.model},
                                  {"state", job.state},
                                  {"created_at", IsoTime(job.created_at_ms)}});
  }
  return json::object{{"trained", std::move(trained)}, {"scored", std::move(scored)}};
}

}  // namespace

void AddDataRoutes(RouteTable& routes, SharedStore& store, DataMonitoring& monitoring,
                   DatasetProfiler& profiler, const DataRoots& roots) {
  routes.Add("GET", "/api/v1/models/{name}/versions/{version}/profile", Access::kViewer,
             [&monitoring](ApiCall& call) -> http::Response {
               const std::string& name = call.params[0];
               if (!ValidModelName(name)) return ErrorResponse(404, "not_found", "no model '" + name + "'");
               AIMASS_ASSIGN_OR_RETURN_RESPONSE(int64_t version, ParseId(call.params[1], "model version"));
               AIMASS_ASSIGN_OR_RETURN_RESPONSE(data::DataProfile profile, monitoring.ModelProfile(name, version));
               json::value body = data::ProfileToJson(profile);
               body.as_object()["model"] = name;
               body.as_object()["model_version"] = version;
               return JsonResponse(body);
             });

  routes.Add("POST", "/api/v1/datasets", Access::kOperator,
             [&store, &profiler, &roots](ApiCall& call) -> http::Response {
               AIMASS_ASSIGN_OR_RETURN_RESPONSE(
                   json::object body,
                   ParseBody(call.request.body, {"name", "description", "owner", "input", "schema"}));
               NewDataset dataset;
               AIMASS_ASSIGN_OR_RETURN_RESPONSE(dataset.name, BoundedText(body, "name", true));
               AIMASS_ASSIGN_OR_RETURN_RESPONSE(dataset.description, BoundedText(body, "description", false));
               AIMASS_ASSIGN_OR_RETURN_RESPONSE(dataset.owner, BoundedText(body, "owner", false));
               if (!ValidDatasetName(dataset.name)) {
                 return ErrorResponse(400, "invalid_argument",
                                      "name: '" + dataset.name + "': use 1-64 of A-Z a-z 0-9 . _ -");
               }
               const json::value* input = body.if_contains("input");
               if (input == nullptr || !input->is_object()) {
                 return ErrorResponse(400, "invalid_argument", "input: missing or not an object (path, format, ...)");
               }
               const json::value* schema = body.if_contains("schema");
               if (schema != nullptr && !schema->is_object()) {
                 return ErrorResponse(400, "invalid_argument", "schema: not an object (features, id)");
               }
               json::object request{{"input", *input}};
               if (schema != nullptr) request["schema"] = *schema;
               dataset.input_yaml = json::serialize(request);
               AIMASS_ASSIGN_OR_RETURN_RESPONSE(DatasetSource source, ParseDatasetSource(dataset.input_yaml));
               AIMASS_ASSIGN_OR_RETURN_RESPONSE(dataset.input_path, roots.Confine("input.path", source.input.path));
               dataset.created_by = call.actor;
               dataset.created_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count();
               if (dataset.owner.empty()) dataset.owner = call.actor;
               AIMASS_ASSIGN_OR_RETURN_RESPONSE(DatasetRecord stored, store.With([&](StateStore& state) -> Result<DatasetRecord> {
                 DataCatalogStore catalog(state.database());
                 AIMASS_RETURN_IF_ERROR(catalog.InsertDataset(dataset));
                 return catalog.GetDataset(dataset.name);
               }));
               AuditCall(store, call, "dataset.register", "dataset " + dataset.name + " (" + dataset.input_path + ")");
               profiler.Enqueue(dataset.name);
               return JsonResponse(DatasetSummary(stored), 201);
             });

  routes.Add("GET", "/api/v1/datasets", Access::kViewer, [&store](ApiCall&) -> http::Response {
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(std::vector<DatasetRecord> datasets, store.With([](StateStore& state) {
      return DataCatalogStore(state.database()).ListDatasets();
    }));
    json::array list;
    for (const DatasetRecord& dataset : datasets) list.push_back(DatasetSummary(dataset));
    return JsonResponse(json::object{{"datasets", std::move(list)}});
  });

  routes.Add("GET", "/api/v1/datasets/{name}", Access::kViewer,
             [&store, &monitoring](ApiCall& call) -> http::Response {
               const std::string& name = call.params[0];
               if (!ValidDatasetName(name)) return ErrorResponse(404, "not_found", "no dataset '" + name + "'");
               TableLineage lineage;
               AIMASS_ASSIGN_OR_RETURN_RESPONSE(DatasetRecord dataset, store.With([&](StateStore& state) -> Result<DatasetRecord> {
                 DataCatalogStore catalog(state.database());
                 AIMASS_ASSIGN_OR_RETURN(DatasetRecord found, catalog.GetDataset(name));
                 AIMASS_ASSIGN_OR_RETURN(lineage, catalog.Lineage(found.input_path, kLineageEntries));
                 return found;
               }));
               json::object body = DatasetSummary(dataset);
               body["profile"] = nullptr;
               if (!dataset.profile.empty()) {
                 auto text = monitoring.profiles().Get(dataset.profile);
                 if (!text.ok()) return FromStatus(text.status());
                 body["profile"] = ParseStored(*text);
               }
               body["lineage"] = LineageJson(lineage);
               return JsonResponse(body);
             });

  routes.Add("DELETE", "/api/v1/datasets/{name}", Access::kOperator, [&store](ApiCall& call) -> http::Response {
    const std::string& name = call.params[0];
    if (!ValidDatasetName(name)) return ErrorResponse(404, "not_found", "no dataset '" + name + "'");
    Status deleted = store.With([&](StateStore& state) { return DataCatalogStore(state.database()).DeleteDataset(name); });
    if (!deleted.ok()) return FromStatus(deleted);
    AuditCall(store, call, "dataset.delete", "dataset " + name);
    return JsonResponse(json::object{{"name", name}, {"deleted", true}});
  });
}

}  // namespace aimass::service
