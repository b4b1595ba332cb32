// The IDX format of (Fashion-)MNIST: big-endian magic, dimensions, then uint8 values;
// optionally gzip-compressed (`.gz`).
#pragma once

#include <cstdint>
#include <string>

#include "common/data/record_block.h"
#include "common/status.h"

namespace aimass::data {

// Reads an images file (magic 0x803, N x rows x cols) and its labels file (magic 0x801, N).
// Record i gets id `first_id + i`; features are the raw pixel values 0..255 as floats.
// Errors name the file: bad magic, truncated data, mismatched counts.
Result<RecordBlock> ReadIdxPair(const std::string& images_path, const std::string& labels_path,
                                int64_t first_id = 0);

// The same, keeping only the first `limit` records (0: all); the rest of the files is not read.
Result<RecordBlock> ReadIdxPair(const std::string& images_path, const std::string& labels_path,
                                int64_t first_id, uint64_t limit);

}  // namespace aimass::data
