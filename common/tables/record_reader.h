// RecordReader: the records of one split, in file order. Each format has its own reader
// (delimited_reader.h, json_lines_reader.h, tfrecord_reader.h, avro_reader.h, idx_reader.h);
// OpenRecordReader picks by TableOptions::format.
//
// Two kinds of trouble, kept apart on purpose:
//  - a record that does not parse or has the wrong shape is *data*: Next returns kBad and the
//    job's on_bad_record policy decides (the same record is bad on every retry);
//  - a file that cannot be read (I/O error, corrupt compression, a broken container) is an
//    *attempt* failure: Next returns an error, and the split may be retried elsewhere.
// A record with a NaN or infinite feature value is bad data too, whatever the format
// (finite_features.h): OpenRecordReader's readers never yield one.
// Not thread-safe: one thread reads one split.
#pragma once

#include <memory>

#include "common/status.h"
#include "common/tables/table.h"

namespace aimass::tables {

class RecordReader {
 public:
  enum class Outcome { kRecord, kBad, kEnd };
  virtual ~RecordReader() = default;

  // kRecord fills `record`; kBad fills `bad`; kEnd once the split has no more records.
  virtual Result<Outcome> Next(TableRecord* record, BadRecord* bad) = 0;
};

Result<std::unique_ptr<RecordReader>> OpenRecordReader(const InputFile& file, const Split& split,
                                                       const TableOptions& options);

}  // namespace aimass::tables
