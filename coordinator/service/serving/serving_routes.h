// The online-prediction routes (docs/service.md, "Online prediction"):
//   POST   /api/v1/models/{name}/predict   [?alias=A | ?version=N]   viewer
//   GET    /api/v1/models/{name}/serving                              viewer
//   PUT    /api/v1/models/{name}/serving                              operator (audited)
//   DELETE /api/v1/models/{name}/serving                              operator (audited)
// A prediction answers from the batcher's thread (a deferred response), so a waiting request
// holds no server thread.
#pragma once

#include "coordinator/service/api_support.h"
#include "coordinator/service/serving/serving_manager.h"
#include "coordinator/service/shared_store.h"

namespace aimass::service {

void AddServingRoutes(RouteTable& routes, ServingManager& serving, SharedStore& store);

// The records of a predict body as raw features, row-major: {"instances": [[...], ...]} (each
// instance `values_per_record` numbers, nested arrays flattened) or {"records": [{column:
// value}, ...]} with every one of `feature_columns`. Errors name the instance or record and
// the column. Exposed for tests.
[[nodiscard]] Result<std::vector<float>> PredictFeatures(const std::string& body, int64_t values_per_record,
                                                         const std::vector<std::string>& feature_columns,
                                                         uint32_t* rows);

}  // namespace aimass::service
