// The API of data profiles and the dataset catalogue (docs/service.md, "Data profiles, drift
// and datasets"):
//   GET    /api/v1/models/{name}/versions/{version}/profile   viewer: a version's training profile
//   POST   /api/v1/datasets                                  operator: register an export
//   GET    /api/v1/datasets                                  viewer
//   GET    /api/v1/datasets/{name}                           viewer: profile, schema, lineage
//   DELETE /api/v1/datasets/{name}                           operator
// A dataset's path must lie inside a data root (403 otherwise); its input block is read by the
// code that reads a job's `input`. Registering starts its profiling (dataset_profiler.h).
//
// Thread safety: the handlers run on the HTTP server's threads; everything they share locks.
#pragma once

#include "coordinator/service/api_support.h"
#include "coordinator/service/data_monitoring.h"
#include "coordinator/service/data_roots.h"
#include "coordinator/service/dataset_profiler.h"
#include "coordinator/service/shared_store.h"

namespace aimass::service {

// Every reference must outlive the routes (the server).
void AddDataRoutes(RouteTable& routes, SharedStore& store, DataMonitoring& monitoring,
                   DatasetProfiler& profiler, const DataRoots& roots);

}  // namespace aimass::service
