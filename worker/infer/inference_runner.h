// Batch inference on one worker: the loop that the coordinator's split assignments drive.
// A SplitReader thread decodes assigned splits into batches; this thread runs the model on each
// batch and writes the predictions into the attempt's directory, then reports the attempt
// (SplitDone / SplitFailed) and asks for the next split (WorkRequest). Only the coordinator
// moves an attempt's files into the output (coordinator/infer/output_committer.h).
#pragma once

#include "common/status.h"
#include "worker/control_client.h"
#include "worker/device.h"

namespace aimass::proto {
class StartInference;
}

namespace aimass::worker {

// Runs until the coordinator says there is no more work (Shutdown). Errors are the worker's own
// (the model cannot be loaded, an attempt directory cannot be written); the caller reports them
// as a Failure and the coordinator gives this worker's splits to others.
Status RunInference(const proto::StartInference& start, const Placement& placement,
                    ControlClient& control);

}  // namespace aimass::worker
