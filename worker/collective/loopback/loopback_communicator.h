// Loopback transport: N ranks inside one process, one thread per rank, for tests of everything
// that sits on a Communicator (GradientSynchronizer, BroadcastTensors) without mpirun.
//
// The ranks of a group meet at a shared rendezvous (mutex, condition variable, a generation
// counter). Each collective call parks its tensor there; the last rank to arrive computes the
// result into every rank's tensor, bumps the generation and wakes the others. So when a call
// returns OK, every rank's tensor holds the result, exactly as after MPI_Allreduce / MPI_Bcast.
//
// Sums fold the ranks in rank order (0 + 1 + ... + N-1), so a result is deterministic and can be
// recomputed exactly by a test. 16-bit floats (bfloat16, float16) are summed the way the MPI
// backend's custom operation does: each pairwise addition in float, rounded back to 16 bits.
// Supported dtypes: float32, float64, bfloat16, float16, int32, int64, uint8 (as the MPI backend).
//
// Failure model (differs from MPI, documented here because the Communicator interface has no
// time-out): with a `timeout`, a rank that waits longer than it for its peers gets
// DeadlineExceeded, and the group is broken from then on: every waiting and every later
// collective of every rank fails with Unavailable, as a communicator with a lost peer would.
// Ranks that call different collectives in one round (allreduce vs. broadcast, other dtype,
// size or root) break the group the same way, with InvalidArgument for everyone in the round.
// Without a timeout a missing rank blocks the others forever, like MPI.
//
// Thread safety: each rank's Communicator is used by one thread at a time (the interface's
// contract); different ranks' communicators are used concurrently by design.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "worker/collective/communicator.h"

namespace aimass::collective {

struct LoopbackOptions {
  // How long a rank waits for its peers in one collective; zero or less: forever.
  std::chrono::milliseconds timeout{0};
};

// One communicator per rank (index = rank) sharing one rendezvous; `size` >= 1. The
// communicators may be destroyed in any order (they share ownership of the rendezvous).
Result<std::vector<std::unique_ptr<Communicator>>> CreateLoopbackGroup(
    int size, const LoopbackOptions& options = {});

}  // namespace aimass::collective
