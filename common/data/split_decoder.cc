#include "common/data/split_decoder.h"

#include <cmath>
#include <cstdio>

#include "common/tables/record_reader.h"

namespace aimass::data {
namespace {

std::string NumberText(float value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", static_cast<double>(value));
  return text;
}

}  // namespace

Result<uint64_t> DecodeSplit(const tables::InputFile& file, const tables::Split& split,
                             const SplitDecodeOptions& options, RecordBlock* block) {
  const uint32_t values = options.table.feature_count;  // label + features
  if (values < 2) return Status::Error(file.relative_path + ": a record needs a label and features");
  AIMASS_ASSIGN_OR_RETURN(auto reader, tables::OpenRecordReader(file, split, options.table));
  if (block != nullptr) block->feature_count = values - 1;
  tables::TableRecord record;
  tables::BadRecord bad;
  uint64_t count = 0;
  while (options.max_records == 0 || count < options.max_records) {
    AIMASS_ASSIGN_OR_RETURN(auto outcome, reader->Next(&record, &bad));
    if (outcome == tables::RecordReader::Outcome::kEnd) break;
    if (outcome == tables::RecordReader::Outcome::kBad) {
      return Status::Error(bad.location + ": " + bad.reason);
    }
    const float label = record.features[0];
    if (!(label >= 0) || label >= static_cast<float>(options.num_classes) || std::floor(label) != label) {
      // Training reads no id column: the id names the record by file and position.
      return Status::Error(record.id + ": label '" +
                           options.table.feature_columns.front() + "' is " + NumberText(label) +
                           ", not a class in 0.." + std::to_string(options.num_classes - 1));
    }
    if (block != nullptr) {
      block->labels.push_back(static_cast<int64_t>(label));
      block->features.insert(block->features.end(), record.features.begin() + 1, record.features.end());
    }
    ++count;
  }
  return count;
}

}  // namespace aimass::data
