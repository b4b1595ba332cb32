#include "common/tables/table_config.h"

namespace aimass::tables {

Result<TableOptions> TableOptionsFromInput(const TableInputConfig& input) {
  TableOptions options;
  const std::string& name = input.format;
  if (name == "csv" || name == "tsv" || name == "hive" || name == "delimited") {
    options.format = TableFormat::kDelimited;
    options.delimiter = DelimiterOf(input);
    if (options.delimiter == 0) return Status::Error("input.delimiter: missing for format delimited");
  } else if (name == "jsonl") {
    options.format = TableFormat::kJsonLines;
  } else if (name == "tfrecord") {
    options.format = TableFormat::kTfRecord;
  } else if (name == "avro") {
    options.format = TableFormat::kAvro;
  } else if (name == "idx") {
    options.format = TableFormat::kIdx;
  } else {
    return Status::Error("input.format: unknown format '" + name + "'");
  }
  options.header = input.header;
  options.columns = input.columns;
  options.max_record_bytes = input.max_record_bytes;
  options.confine_to = input.confine_to;
  return options;
}

ListOptions ListOptionsFromInput(const TableInputConfig& input) {
  ListOptions options;
  options.require_success = input.require_success;
  options.confine_to = input.confine_to;
  return options;
}

}  // namespace aimass::tables
