// The record reader for JSON lines: one JSON object per line (LF or CRLF), split by byte ranges
// like delimited text (see line_reader.h).
//
// The id field may be a string or a number (written as text; an integral number without ".0")
// or a boolean. Each feature field is a number, a boolean (0 or 1) or an array of them, possibly
// nested (flattened in order). A configured name that is a partition key of the file's path takes
// its value from the path, not from the record.
//
// Bad records (kBad): a line that is not valid JSON or not an object, a missing or null id or
// feature field, a feature that is a string or object or holds one, a value beyond float range,
// a total number of feature values other than TableOptions::feature_count (when nonzero).
#pragma once

#include <memory>

#include "common/status.h"
#include "common/tables/record_reader.h"
#include "common/tables/table.h"

namespace aimass::tables {

Result<std::unique_ptr<RecordReader>> OpenJsonLinesReader(const InputFile& file,
                                                          const Split& split,
                                                          const TableOptions& options);

}  // namespace aimass::tables
