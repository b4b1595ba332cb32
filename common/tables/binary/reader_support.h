// Helpers the binary record readers share: the split check, partition values, names in errors.
// Internal to aimass_tables_binary.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "common/tables/table.h"

namespace aimass::tables::binary {

// How errors and bad-record locations name a file: its path below the table root, or the path
// as given when it has none.
const std::string& ReportedName(const InputFile& file);

// The binary formats are read whole: `split` must cover all of `file`.
Status CheckWholeFileSplit(const InputFile& file, const Split& split, const char* format);

// The value of partition key `name` in `file`'s path, or null.
const std::string* FindPartition(const InputFile& file, const std::string& name);

// `text` as a float: the whole text must be a number ("1.5", "-3", "1e-7", "nan", "inf").
bool ParseFloat(std::string_view text, float* value);

// A feature column bound to a partition key: one value, or why it cannot be one.
struct PartitionFeature {
  bool found = false;   // the name is a partition key of the file
  bool numeric = false;
  float value = 0;
  std::string reason;   // when found but not numeric
};
PartitionFeature BindPartitionFeature(const InputFile& file, const std::string& name);

}  // namespace aimass::tables::binary
