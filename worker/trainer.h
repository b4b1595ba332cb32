// Data-parallel training on one worker: the loop that the coordinator's epoch plans drive.
//
// Each optimizer step: the worker's next samples_per_step samples (micro-batches of batch_size),
// forward and backward, gradients averaged across workers by the GradientSynchronizer (bucketed
// allreduce overlapped with the last micro-batch's backward, sync/gradient_synchronizer.h), then
// the optimizer step. Worker 0 reports metrics and writes checkpoints; every worker evaluates its
// share of the test split after each epoch.
#pragma once

#include "common/status.h"
#include "worker/collective/communicator.h"
#include "worker/control_client.h"
#include "worker/device.h"
#include "worker/job_spec.h"

namespace aimass::proto {
class StartTraining;
}

namespace aimass::worker {

// Runs the job to its end (TrainingDone sent, Shutdown received). `job` is `start`'s spec,
// decoded (DecodeTrainJobSpec). Errors name what failed; the caller reports them to the
// coordinator as a Failure. Never throws: an exception from LibTorch in set-up, a training step,
// evaluation, a checkpoint or the export becomes an error "rank R: training step S: ..."
// (torch_errors.h).
Status RunTraining(const proto::StartTraining& start, const TrainJobSpec& job,
                   const Placement& placement, collective::Communicator& communicator,
                   ControlClient& control);

}  // namespace aimass::worker
