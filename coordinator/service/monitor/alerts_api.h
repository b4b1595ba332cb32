// The routes of alerts and evaluation reports (docs/service.md, "Alerts and evaluation
// reports"): both read-only, for viewers.
//
//   GET /api/v1/alerts?job=ID&model=NAME&kind=KIND&limit=N
//       newest first (limit 1-1000, default 100), with `total`, the count of every alert stored
//   GET /api/v1/models/{name}/versions/{version}/evaluation
//       the version's evaluation report, or 404 (code "no_evaluation") for a version whose
//       train job had no test split
#pragma once

#include "coordinator/service/api_support.h"
#include "coordinator/service/shared_store.h"

namespace aimass::service {

// `store` outlives the routes.
void AddAlertRoutes(RouteTable& routes, SharedStore& store);

}  // namespace aimass::service
