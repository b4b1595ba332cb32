// Training shards as delimited text part files, the kind a Hadoop/Spark export contains:
// one record per line, `id,label,f0,...,f{n-1}`; an optional header line (its first field is not
// a number); gzip-compressed when the name ends in `.gz`, plain text otherwise.
#pragma once

#include <string>

#include "common/data/record_block.h"
#include "common/status.h"

namespace aimass::data {

// Decodes a whole shard. Errors name the file and the 1-based line: a field that is not a
// number, a record whose feature count differs from the first record's, a corrupt gzip stream.
Result<RecordBlock> ReadCsvShard(const std::string& path);

// Counts records and checks that every record has the same number of fields, without keeping
// the features. Cheaper than ReadCsvShard; used to index a dataset.
struct CsvShardShape {
  uint64_t records = 0;
  uint32_t feature_count = 0;
};
Result<CsvShardShape> ScanCsvShard(const std::string& path);

// Writes `block` (gzip when `path` ends in `.gz`) atomically: temp file, fsync, rename.
// Features are written with the shortest representation that reads back exactly.
Status WriteCsvShard(const std::string& path, const RecordBlock& block);

// How shards are encoded. The defaults are what WriteCsvShard(path, block) uses.
struct CsvWriteOptions {
  bool header = true;                // `id,label,<prefix>0,...,<prefix>{n-1}`
  std::string feature_prefix = "f";  // "pixel" for image datasets
  int gzip_level = 6;                // zlib level, used for `.gz` paths
};

// The file contents for records [begin, end) of `block`, gzip-compressed when `gzip`. Lets a
// caller write through its own Env, and several shards be cut from one block without copies.
Result<std::string> EncodeCsvShard(const RecordBlock& block, size_t begin, size_t end, bool gzip,
                                   const CsvWriteOptions& options);

Status WriteCsvShard(const std::string& path, const RecordBlock& block,
                     const CsvWriteOptions& options);

}  // namespace aimass::data
