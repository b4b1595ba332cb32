// Helpers the binary record readers share: the split check, partition values, names in errors.
// Internal to aimass_tables_binary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

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
  std::string reason;   // unless found and numeric: `missing_reason`, or why not a number
};
// `missing_reason` is the bad-record reason for a record that lacks the field when the name is
// no partition key either.
PartitionFeature BindPartitionFeature(const InputFile& file, const std::string& name,
                                      std::string missing_reason);

// For a feature column the record lacks: appends the partition's value to `out`, or false with
// `reason` set when there is no such partition or its value is not a number.
bool AppendPartitionFeature(const PartitionFeature& partition, std::vector<float>* out,
                            std::string* reason);

// False with `reason` set ("783 feature values, expected 784") when `expected` is set (not 0)
// and differs from `actual`; the first `leading` values (TableOptions::leading_values) are not
// counted in the reason.
bool CheckFeatureCount(size_t actual, uint32_t expected, uint32_t leading, std::string* reason);

}  // namespace aimass::tables::binary
