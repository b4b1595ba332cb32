// Online serving on a resident worker (`aimass-worker serve`): load one model version, warm it
// with a batch of the largest size it will get, say ServingReady, then answer every
// PredictBatch with a PredictResult until the service sends Shutdown or goes away. Batching is
// the service's (coordinator/service/serving/dynamic_batcher.h): a replica runs one batch at a
// time, so the service never sends it a second before the first is answered.
#pragma once

#include "common/status.h"
#include "worker/control_client.h"
#include "worker/device.h"

namespace aimass::proto {
class StartServing;
}

namespace aimass::worker {

// Ok after a Shutdown. Errors are the replica's own (the model cannot be loaded); a batch that
// fails (a forward error) is answered with its error and serving goes on.
Status RunServing(const proto::StartServing& start, const Placement& placement,
                  ControlClient& control);

}  // namespace aimass::worker
