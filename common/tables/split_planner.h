// PlanSplits: the units of work of a batch-inference job over a listed table.
//
// Uncompressed files of line-oriented formats (delimited, JSON lines) are cut into byte ranges
// of `split_bytes`: [k*S, min((k+1)*S, size)). Each range owns the lines that start in it (see
// text/line_reader.h), so a line that straddles a cut is read once, by the split it starts in.
// Everything else (compressed files, TFRecord, Avro, IDX) is one whole-file split, since it
// cannot be entered in the middle. Empty files yield no split.
#pragma once

#include <cstdint>
#include <vector>

#include "common/tables/table.h"

namespace aimass::tables {

// Whether a file of `format` compressed with `codec` may be cut into byte ranges.
bool IsSplittable(TableFormat format, io::Codec codec);

// Splits in file order, then byte order; Split::index is the position in the result and
// Split::file the index into `files`. `split_bytes` 0 means one split per file. Deterministic.
// Byte-range splits have whole_file false, even when one range covers a small file.
std::vector<Split> PlanSplits(const std::vector<InputFile>& files, TableFormat format,
                              uint64_t split_bytes);

}  // namespace aimass::tables
