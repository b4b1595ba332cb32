#include "common/tables/record_reader.h"

#include "common/tables/binary/avro_reader.h"
#include "common/tables/binary/idx_reader.h"
#include "common/tables/binary/tfrecord_reader.h"
#include "common/tables/finite_features.h"
#include "common/tables/text/delimited_reader.h"
#include "common/tables/text/json_lines_reader.h"

namespace aimass::tables {

const char* TableFormatName(TableFormat format) {
  switch (format) {
    case TableFormat::kJsonLines:
      return "jsonl";
    case TableFormat::kTfRecord:
      return "tfrecord";
    case TableFormat::kAvro:
      return "avro";
    case TableFormat::kIdx:
      return "idx";
    case TableFormat::kDelimited:
      break;
  }
  return "delimited";
}

TableFormat TableFormatFromName(const std::string& name) {
  for (TableFormat format : {TableFormat::kJsonLines, TableFormat::kTfRecord, TableFormat::kAvro,
                             TableFormat::kIdx}) {
    if (name == TableFormatName(format)) return format;
  }
  return TableFormat::kDelimited;
}

namespace {

Result<std::unique_ptr<RecordReader>> OpenFormatReader(const InputFile& file, const Split& split,
                                                       const TableOptions& options) {
  switch (options.format) {
    case TableFormat::kDelimited:
      return OpenDelimitedReader(file, split, options);
    case TableFormat::kJsonLines:
      return OpenJsonLinesReader(file, split, options);
    case TableFormat::kTfRecord:
      return OpenTfRecordReader(file, split, options);
    case TableFormat::kAvro:
      return OpenAvroReader(file, split, options);
    case TableFormat::kIdx:
      return OpenIdxReader(file, split, options);
  }
  return Status::Error(file.relative_path + ": unknown table format");
}

}  // namespace

Result<std::unique_ptr<RecordReader>> OpenRecordReader(const InputFile& file, const Split& split,
                                                       const TableOptions& options) {
  AIMASS_ASSIGN_OR_RETURN(auto reader, OpenFormatReader(file, split, options));
  return RejectNonFiniteFeatures(std::move(reader), file, options);
}

}  // namespace aimass::tables
