// The checkpoint container: a small header plus an opaque payload (the serialized model and
// optimizer state), checksummed, written atomically. Torch-free, so the coordinator can find the
// newest valid checkpoint of a run without loading a model.
//
// Layout: magic "AIMASSCK", u32 format version, u32 header length, header (JSON),
// u64 payload length, payload, u32 CRC-32 of everything before it. All integers little-endian.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/env.h"
#include "common/status.h"

namespace aimass {

struct CheckpointHeader {
  uint64_t step = 0;           // optimizer steps taken over the whole run
  uint32_t epoch = 0;          // epoch the next step belongs to
  uint64_t step_in_epoch = 0;  // steps of that epoch already taken
  uint32_t world_size = 0;
  std::string model;           // model name, to refuse resuming into another model
};

struct Checkpoint {
  CheckpointHeader header;
  std::string payload;
};

// "ckpt-000000001234.aimass": names sort by step.
std::string CheckpointFileName(uint64_t step);

// Atomic (Env::WriteFileAtomically): a reader sees the old state or the whole checkpoint.
Status WriteCheckpoint(Env& env, const std::string& path, const Checkpoint& checkpoint);

// Validates magic, version, lengths and checksum; errors name the file and what is wrong.
Result<Checkpoint> ReadCheckpoint(Env& env, const std::string& path);

struct CheckpointRef {
  std::string path;
  CheckpointHeader header;
};

// The valid checkpoint of `dir` with the highest step. Each newer one that fails validation is
// skipped, and its problem ("<path>: <why>") appended to `skipped` (when not null). std::nullopt
// when there is none. With `below_epoch`, valid checkpoints whose header.epoch is not below it
// are passed over too (not reported): the newest one from before a run's end.
Result<std::optional<CheckpointRef>> FindNewestValidCheckpoint(Env& env, const std::string& dir,
                                                               std::vector<std::string>* skipped,
                                                               std::optional<uint32_t> below_epoch = std::nullopt);

// Deletes all but the `keep` newest checkpoints of `dir` (keep >= 1), by the step in their names,
// and the temporaries that interrupted writes left behind. Call it from the process that writes
// the checkpoints, between writes: it would delete a write in flight.
Status PruneCheckpoints(Env& env, const std::string& dir, uint32_t keep);

}  // namespace aimass
