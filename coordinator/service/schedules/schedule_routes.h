// The schedules' REST routes (docs/service.md, "Schedules"): viewers list and read, operators
// create, pause, resume and delete; every change is audited.
//
//   POST   /api/v1/schedules             {"name", "model": "NAME@ALIAS", "config", "workers"?,
//                                         "cron": "0 2 * * *" | "on_data": {"path", "partition"},
//                                         "misfire"?: "run_once" | "skip"}
//   GET    /api/v1/schedules             every live schedule, with its last run
//   GET    /api/v1/schedules/{id}        one, with its recent runs (fire key, job, job state)
//   POST   /api/v1/schedules/{id}/pause
//   POST   /api/v1/schedules/{id}/resume
//   DELETE /api/v1/schedules/{id}
//
// A new schedule's config is rendered with sample values and checked as a submitted job is
// (400 naming the key, 403 for a path outside the data roots, 404 for an unknown model), and
// its on_data path must lie inside a data root: a bad schedule is refused when it is made,
// not found out at 2 a.m.
#pragma once

#include "coordinator/service/api_support.h"
#include "coordinator/service/job_intake.h"
#include "coordinator/service/schedules/schedule_runner.h"
#include "coordinator/service/shared_store.h"

namespace aimass::service {

// `store` and `intake` must outlive the routes; `clock` is the runner's.
void AddScheduleRoutes(RouteTable& routes, SharedStore& store, const JobIntake& intake, WallClock clock);

}  // namespace aimass::service
