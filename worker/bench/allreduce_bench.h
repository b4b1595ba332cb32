// `aimass-worker bench allreduce`, under mpirun: an nccl-tests-style table of allreduce over the
// framework's collective layer for message sizes from a few bytes to hundreds of MiB, beside a
// plain MPI_Allreduce on the same buffers so the framework's own overhead is visible, with a
// correctness check of every size.
//   scripts/mpirun.sh -np 2 build/bin/aimass-worker bench allreduce [--json]
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/mpi/mpi_bootstrap.h"
#include "common/status.h"
#include "worker/job_spec.h"

namespace aimass::worker {

struct AllreduceBenchOptions {
  uint64_t min_bytes = 8;
  uint64_t max_bytes = 256ull << 20;
  std::string dtype = "float32";     // float32 | float64 | bfloat16 | float16
  BackendKind backend = BackendKind::kAuto;
  uint64_t bytes_per_size = 1ull << 30;  // sets the iterations: about this much data per size
  bool json = false;
};

// Parses the arguments after `bench allreduce`; errors name the flag.
Result<AllreduceBenchOptions> ParseAllreduceBenchOptions(const std::vector<std::string>& args);

// Collective over the workers of `world`. Worker 0 prints the table (or JSON). Returns an
// error when a size's result is wrong on any worker.
Status RunAllreduceBench(const AllreduceBenchOptions& options, const MpiWorld& world);

}  // namespace aimass::worker
