// Non-finite features are bad records, for every table format and every job.
//
// A NaN or Inf in a feature would turn a training step's loss NaN, or an inference prediction
// into NaN, without naming the record that caused it. So a record with a non-finite value is
// *data*, a bad record under the job's on_bad_record policy (training: an error naming file and
// record at indexing time), whichever reader produced it. The text parsers already refuse
// "nan" / "inf" / 1e999 while parsing, which keeps the record's line and raw text; this wrapper
// is the one check every reader's records pass through (OpenRecordReader applies it), so a
// binary format's NaN float (TFRecord float_list, Avro double, IDX float) is caught as well.
// Not thread-safe, like the reader it wraps.
#pragma once

#include <memory>
#include <string>

#include "common/tables/record_reader.h"

namespace aimass::tables {

// The reason `record` cannot be used ("feature 'f3' is NaN"), or empty when all its values are
// finite. `options` names the fields (feature_columns, a list field expanding to several
// values is named by its position).
std::string NonFiniteFeatureReason(const TableRecord& record, const TableOptions& options);

// `reader`'s records, with one holding a non-finite value turned into a bad record located by
// its id (training, and inference without an id column: "<relative_path>:<offset or index>";
// with an id column: "<relative_path>: record with id '<id>'"). Such a record's raw bytes are
// not known here: a quarantine line from this check carries no raw field.
std::unique_ptr<RecordReader> RejectNonFiniteFeatures(std::unique_ptr<RecordReader> reader,
                                                      const InputFile& file,
                                                      const TableOptions& options);

}  // namespace aimass::tables
