// Writes training records as the CSV part files `data convert` makes (and tests use):
// `id,label,<prefix>0,...,<prefix>{n-1}`, one record per line, gzip-compressed when the name ends
// in `.gz`. They read back through the table readers like any Spark CSV export with a header.
#pragma once

#include <cstddef>
#include <string>

#include "common/data/record_block.h"
#include "common/status.h"

namespace aimass::data {

struct CsvWriteOptions {
  bool header = true;                // `id,label,<prefix>0,...`
  std::string feature_prefix = "f";  // "pixel" for image datasets
  int gzip_level = 6;                // zlib level, used for `.gz` paths
};

// The CSV text of records [begin, end) of `block` (ids taken from block.ids, or the record
// index when it has none). Features are written with the shortest text that reads back exactly.
Result<std::string> EncodeCsvRecords(const RecordBlock& block, size_t begin, size_t end,
                                     const CsvWriteOptions& options);

// Writes records [begin, end) of `block` to `path` atomically: a hidden temp file beside it
// (which table listings skip), fsync, rename.
Status WriteCsvShard(const std::string& path, const RecordBlock& block, size_t begin, size_t end,
                     const CsvWriteOptions& options);
Status WriteCsvShard(const std::string& path, const RecordBlock& block,
                     const CsvWriteOptions& options = CsvWriteOptions());

}  // namespace aimass::data
