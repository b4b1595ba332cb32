// The cap on one record of an exported table (`max_record_mb` of a table's input settings):
// a line, a TFRecord record, an IDX item, an Avro block, a snappy chunk. Every length read from
// a file is untrusted, and a reader that believed it would allocate whatever a corrupt or
// hostile file announces; past the cap the reader stops with one error naming the file and the
// byte offset instead. Torch-free.
#pragma once

#include <cstdint>
#include <string>

namespace aimass::io {

// 64 MiB: far above any real record, small enough that a worker survives a corrupt length.
inline constexpr uint64_t kDefaultMaxRecordBytes = uint64_t{64} << 20;

// "over the 64 MiB cap; raise max_record_mb in the table's input settings (...)": the tail of
// every cap error, so that each names the key that raises it.
std::string RecordCapAdvice(uint64_t max_record_bytes);

}  // namespace aimass::io
