// LibTorch reports failures by throwing (c10::Error for a shape mismatch, an out-of-memory, a
// bad TorchScript call). On the worker every such failure must become a Status, so that the
// process reports a Failure naming its rank and exits, instead of dying in std::terminate with
// its peers left waiting in a collective and the coordinator seeing only a dropped connection.
#pragma once

#include <functional>
#include <string>

#include "common/status.h"

namespace aimass::worker {

// Runs `body` and returns its Status; an exception it throws (c10::Error or any std::exception)
// becomes Internal "rank <rank>: <what>: <the exception's first line>" (without LibTorch's
// backtrace). `what` names the unit of work, e.g. "training step 12" or "evaluation of epoch 3".
// Never throws, except what std::function itself may throw for an empty `body`.
Status GuardTorchErrors(int rank, const std::string& what, const std::function<Status()>& body);

// The same, with `what` built only when there is an error to name: for the training loop, which
// would otherwise format "training step N" on every step.
Status GuardTorchErrors(int rank, const std::function<std::string()>& what,
                        const std::function<Status()>& body);

}  // namespace aimass::worker
