// Reads the records of one split of a training table into a RecordBlock: the label (the first
// projected value, see DatasetIndex::table) and the features. The coordinator counts and checks
// splits with it when it indexes a dataset; workers decode the splits they train on with it, so
// both agree on what every record is. Torch-free.
#pragma once

#include <cstdint>

#include "common/data/record_block.h"
#include "common/status.h"
#include "common/tables/table.h"

namespace aimass::data {

struct SplitDecodeOptions {
  tables::TableOptions table;   // feature_columns: label first; feature_count: 1 + features;
                                // leading_values: 1
  uint32_t num_classes = 0;     // labels must be integers in [0, num_classes)
  uint64_t max_records = 0;     // stop after this many (data.limit); 0: the whole split
};

// Decodes into `block` (features and labels appended; nullptr only counts and checks). Returns
// the number of records read. Any record that cannot be trained on is an error naming its file
// and line (or record index) and why; unreadable or corrupt files are errors naming the file.
Result<uint64_t> DecodeSplit(const tables::InputFile& file, const tables::Split& split,
                             const SplitDecodeOptions& options, RecordBlock* block);

}  // namespace aimass::data
