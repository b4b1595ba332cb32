#include "coordinator/service/schedules/schedule_routes.h"

#include <boost/json.hpp>

#include <algorithm>

#include "coordinator/service/cron_schedule.h"
#include "coordinator/service/model_registry.h"
#include "coordinator/service/schedules/schedule_config.h"
#include "coordinator/service/schedules/schedule_store.h"

namespace aimass::service {
namespace {

namespace json = boost::json;
using http::Response;

constexpr size_t kMaxConfigBytes = 256 << 10;
constexpr int64_t kMaxWorkers = 1024;
constexpr uint32_t kRecentRuns = 50;

json::object RunJson(const ScheduleFire& fire) {
  return json::object{{"key", fire.key},
                      {"job", fire.job_id},
                      {"state", JobStateName(fire.job_state)},
                      {"fired_at", IsoTime(fire.fired_at_ms)}};
}

json::object ScheduleJson(const ScheduleRecord& schedule, const std::vector<ScheduleFire>& fires,
                          int64_t now_ms) {
  json::value next = nullptr;
  if (!schedule.on_data() && !schedule.paused) {
    if (auto cron = CronSchedule::Parse(schedule.cron); cron.ok()) {
      const int64_t after = std::max(schedule.cron_cursor_ms, now_ms) / 1000;
      if (auto time = cron->NextAfter(after)) next = json::value(IsoTime(*time * 1000));
    }
  }
  json::value on_data = nullptr;
  if (schedule.on_data()) {
    on_data = json::object{{"path", schedule.data_path}, {"partition", schedule.data_partition}};
  }
  return json::object{
      {"id", schedule.id},
      {"name", schedule.name},
      {"kind", schedule.on_data() ? "on_data" : "cron"},
      {"cron", schedule.on_data() ? json::value(nullptr) : json::value(schedule.cron)},
      {"on_data", on_data},
      {"model", schedule.model},
      {"config", schedule.config_yaml},
      {"workers", schedule.workers},
      {"misfire", MisfireName(schedule.misfire)},
      {"state", schedule.paused ? "paused" : "active"},
      {"created_by", schedule.created_by},
      {"created_at", IsoTime(schedule.created_at_ms)},
      {"next_fire", next},
      {"last_run", fires.empty() ? json::value(nullptr) : json::value(RunJson(fires.front()))},
  };
}

class ScheduleRoutes {
 public:
  ScheduleRoutes(SharedStore& store, const JobIntake& intake, WallClock clock)
      : store_(store), intake_(intake), clock_(std::move(clock)) {}

  Response Create(ApiCall& call) {
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(
        json::object body,
        ParseBody(call.request.body, {"name", "model", "config", "workers", "cron", "on_data", "misfire"}));
    NewSchedule schedule;
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(schedule.name, StringField(body, "name", true));
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(schedule.model, StringField(body, "model", true));
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(schedule.config_yaml, StringField(body, "config", true));
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(int64_t workers, IntegerField(body, "workers", 1));
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(schedule.cron, StringField(body, "cron", false));
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(std::string misfire, StringField(body, "misfire", false));
    if (!ValidScheduleName(schedule.name)) {
      return ErrorResponse(400, "invalid_argument",
                           "name: '" + schedule.name + "' is not a schedule name (1-64 of A-Z a-z 0-9 . _ -)");
    }
    if (workers < 1 || workers > kMaxWorkers) {
      return ErrorResponse(400, "invalid_argument", "workers: must be 1 to " + std::to_string(kMaxWorkers));
    }
    schedule.workers = static_cast<uint32_t>(workers);
    if (schedule.config_yaml.size() > kMaxConfigBytes) {
      return ErrorResponse(400, "invalid_argument", "config: at most " + std::to_string(kMaxConfigBytes) + " bytes");
    }
    auto reference = ParseModelReference("models:/" + schedule.model);
    if (!reference.ok() || !*reference || (*reference)->alias.empty()) {
      return ErrorResponse(400, "invalid_argument", "model: '" + schedule.model + "' is not NAME@ALIAS");
    }
    if (!misfire.empty()) {
      AIMASS_ASSIGN_OR_RETURN_RESPONSE(schedule.misfire, ParseMisfire(misfire));
    }
    const bool on_data = body.contains("on_data");
    if (schedule.cron.empty() == !on_data) {
      return ErrorResponse(400, "invalid_argument", "cron, on_data: give exactly one trigger");
    }
    FireValues sample;
    sample.time_ms = clock_();
    if (on_data) {
      const json::value& trigger = body.at("on_data");
      if (!trigger.is_object()) return ErrorResponse(400, "invalid_argument", "on_data: must be an object");
      for (const auto& field : trigger.as_object()) {
        if (field.key() != "path" && field.key() != "partition") {
          return ErrorResponse(400, "invalid_argument",
                               "on_data." + std::string(field.key()) + ": unknown key (path, partition)");
        }
      }
      AIMASS_ASSIGN_OR_RETURN_RESPONSE(std::string path, StringField(trigger.as_object(), "path", true));
      AIMASS_ASSIGN_OR_RETURN_RESPONSE(schedule.data_partition,
                                       StringField(trigger.as_object(), "partition", true));
      if (path.empty()) return ErrorResponse(400, "invalid_argument", "on_data.path: must not be empty");
      if (schedule.data_partition.empty() || schedule.data_partition.size() > 200 ||
          schedule.data_partition.find('/') != std::string::npos) {
        return ErrorResponse(400, "invalid_argument",
                             "on_data.partition: a glob of one directory name (1-200 characters, no /)");
      }
      auto confined = intake_.roots().Confine("on_data.path", path);
      if (!confined.ok()) return Refuse(call, confined.status());
      schedule.data_path = *confined;
      sample.partition = "sample-partition";
      sample.partition_path = schedule.data_path + "/" + sample.partition;
    } else {
      auto cron = CronSchedule::Parse(schedule.cron);
      if (!cron.ok()) return ErrorResponse(400, "invalid_argument", "cron: " + cron.status().message());
    }
    // The config as a fire would render it, checked as a submitted job is.
    auto rendered = RenderScheduledConfig(schedule.config_yaml, schedule.model, sample);
    if (!rendered.ok()) return FromStatus(rendered.status());
    auto checked = intake_.Check("infer", *rendered);
    if (!checked.ok()) return Refuse(call, checked.status());

    schedule.created_by = call.actor;
    const int64_t now_ms = clock_();
    auto created = store_.With([&](StateStore& store) -> Result<json::object> {
      ScheduleStore schedules(store);
      AIMASS_ASSIGN_OR_RETURN(int64_t id, schedules.Create(schedule, now_ms));
      AIMASS_RETURN_IF_ERROR(store.Audit(call.actor, "schedule.create",
                                         "schedule " + std::to_string(id) + " (" + schedule.name + ")",
                                         call.request.remote));
      AIMASS_ASSIGN_OR_RETURN(ScheduleRecord record, schedules.Get(id));
      return ScheduleJson(record, {}, now_ms);
    });
    if (!created.ok()) return FromStatus(created.status());
    return JsonResponse(*created, 201);
  }

  Response List(ApiCall&) {
    const int64_t now_ms = clock_();
    auto list = store_.With([&](StateStore& store) -> Result<json::array> {
      ScheduleStore schedules(store);
      AIMASS_ASSIGN_OR_RETURN(std::vector<ScheduleRecord> records, schedules.List());
      json::array items;
      for (const ScheduleRecord& record : records) {
        AIMASS_ASSIGN_OR_RETURN(std::vector<ScheduleFire> fires, schedules.RecentFires(record.id, 1));
        items.push_back(ScheduleJson(record, fires, now_ms));
      }
      return items;
    });
    if (!list.ok()) return FromStatus(list.status());
    return JsonResponse(json::object{{"schedules", std::move(*list)}});
  }

  Response Get(ApiCall& call) {
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(int64_t id, ParseId(call.params[0], "schedule"));
    const int64_t now_ms = clock_();
    auto found = store_.With([&](StateStore& store) -> Result<json::object> {
      ScheduleStore schedules(store);
      AIMASS_ASSIGN_OR_RETURN(ScheduleRecord record, schedules.Get(id));
      AIMASS_ASSIGN_OR_RETURN(std::vector<ScheduleFire> fires, schedules.RecentFires(id, kRecentRuns));
      json::object result = ScheduleJson(record, fires, now_ms);
      json::array runs;
      for (const ScheduleFire& fire : fires) runs.push_back(RunJson(fire));
      result["runs"] = std::move(runs);
      return result;
    });
    if (!found.ok()) return FromStatus(found.status());
    return JsonResponse(*found);
  }

  Response SetPaused(ApiCall& call, bool paused) {
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(int64_t id, ParseId(call.params[0], "schedule"));
    const int64_t now_ms = clock_();
    auto changed = store_.With([&](StateStore& store) -> Result<json::object> {
      ScheduleStore schedules(store);
      AIMASS_RETURN_IF_ERROR(schedules.SetPaused(id, paused, now_ms));
      AIMASS_ASSIGN_OR_RETURN(ScheduleRecord record, schedules.Get(id));
      AIMASS_RETURN_IF_ERROR(store.Audit(call.actor, paused ? "schedule.pause" : "schedule.resume",
                                         "schedule " + std::to_string(id) + " (" + record.name + ")",
                                         call.request.remote));
      AIMASS_ASSIGN_OR_RETURN(std::vector<ScheduleFire> fires, schedules.RecentFires(id, 1));
      return ScheduleJson(record, fires, now_ms);
    });
    if (!changed.ok()) return FromStatus(changed.status());
    return JsonResponse(*changed);
  }

  Response Delete(ApiCall& call) {
    AIMASS_ASSIGN_OR_RETURN_RESPONSE(int64_t id, ParseId(call.params[0], "schedule"));
    Status deleted = store_.With([&](StateStore& store) -> Status {
      ScheduleStore schedules(store);
      AIMASS_ASSIGN_OR_RETURN(ScheduleRecord record, schedules.Get(id));
      AIMASS_RETURN_IF_ERROR(schedules.Delete(id, clock_()));
      return store.Audit(call.actor, "schedule.delete",
                         "schedule " + std::to_string(id) + " (" + record.name + ")", call.request.remote);
    });
    if (!deleted.ok()) return FromStatus(deleted);
    return JsonResponse(json::object{{"id", id}, {"deleted", true}});
  }

 private:
  // A refused config or path: a path outside the roots is also audited, as for jobs.
  Response Refuse(const ApiCall& call, const Status& status) {
    if (status.code() == StatusCode::kPermissionDenied) {
      AuditCall(store_, call, "denied", "schedule.create: " + status.message());
    }
    return FromStatus(status);
  }

  SharedStore& store_;
  const JobIntake& intake_;
  WallClock clock_;
};

}  // namespace

void AddScheduleRoutes(RouteTable& routes, SharedStore& store, const JobIntake& intake, WallClock clock) {
  auto handlers = std::make_shared<ScheduleRoutes>(store, intake, clock ? std::move(clock) : WallClock(SystemWallClock));
  routes.Add("POST", "/api/v1/schedules", Access::kOperator,
             [handlers](ApiCall& call) { return handlers->Create(call); });
  routes.Add("GET", "/api/v1/schedules", Access::kViewer,
             [handlers](ApiCall& call) { return handlers->List(call); });
  routes.Add("GET", "/api/v1/schedules/{id}", Access::kViewer,
             [handlers](ApiCall& call) { return handlers->Get(call); });
  routes.Add("POST", "/api/v1/schedules/{id}/pause", Access::kOperator,
             [handlers](ApiCall& call) { return handlers->SetPaused(call, true); });
  routes.Add("POST", "/api/v1/schedules/{id}/resume", Access::kOperator,
             [handlers](ApiCall& call) { return handlers->SetPaused(call, false); });
  routes.Add("DELETE", "/api/v1/schedules/{id}", Access::kOperator,
             [handlers](ApiCall& call) { return handlers->Delete(call); });
}

}  // namespace aimass::service
