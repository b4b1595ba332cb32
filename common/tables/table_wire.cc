#include "common/tables/table_wire.h"

#include "common/aimass.pb.h"

namespace aimass::tables {

void EncodeTable(const TableOptions& options, const std::vector<InputFile>& files,
                 proto::TableSpec* spec) {
  spec->set_format(TableFormatName(options.format));
  spec->set_delimiter(std::string(1, options.delimiter));
  spec->set_header(options.header);
  spec->clear_columns();
  for (const auto& column : options.columns) spec->add_columns(column);
  spec->set_id_column(options.id_column);
  spec->clear_feature_columns();
  for (const auto& column : options.feature_columns) spec->add_feature_columns(column);
  spec->set_feature_count(options.feature_count);
  spec->set_leading_values(options.leading_values);
  spec->set_max_record_bytes(options.max_record_bytes);
  spec->clear_confine_to();
  for (const auto& root : options.confine_to) spec->add_confine_to(root);
  spec->clear_files();
  for (const auto& file : files) {
    proto::TableFile* out = spec->add_files();
    out->set_path(file.path);
    out->set_relative_path(file.relative_path);
    out->set_size(file.size);
    out->set_codec(io::CodecName(file.codec));
    for (const auto& [key, value] : file.partitions) {
      proto::PartitionValue* partition = out->add_partitions();
      partition->set_key(key);
      partition->set_value(value);
    }
  }
}

void DecodeTable(const proto::TableSpec& spec, TableOptions* options, std::vector<InputFile>* files) {
  files->clear();
  for (const proto::TableFile& file : spec.files()) {
    InputFile input;
    input.path = file.path();
    input.relative_path = file.relative_path();
    input.size = file.size();
    input.codec = io::CodecFromName(file.codec());
    for (const auto& partition : file.partitions()) {
      input.partitions.emplace_back(partition.key(), partition.value());
    }
    files->push_back(std::move(input));
  }
  options->format = TableFormatFromName(spec.format());
  options->delimiter = spec.delimiter().empty() ? ',' : spec.delimiter()[0];
  options->header = spec.header();
  options->columns.assign(spec.columns().begin(), spec.columns().end());
  options->id_column = spec.id_column();
  options->feature_columns.assign(spec.feature_columns().begin(), spec.feature_columns().end());
  options->feature_count = spec.feature_count();
  options->leading_values = spec.leading_values();
  // 0: a spec from a coordinator that predates the field; the default cap applies.
  options->max_record_bytes =
      spec.max_record_bytes() != 0 ? spec.max_record_bytes() : io::kDefaultMaxRecordBytes;
  options->confine_to.assign(spec.confine_to().begin(), spec.confine_to().end());
}

}  // namespace aimass::tables
