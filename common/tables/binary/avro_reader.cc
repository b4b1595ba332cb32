#include "common/tables/binary/avro_reader.h"

#include <avro.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include "common/tables/binary/avro_container.h"
#include "common/tables/binary/avro_datum_check.h"
#include "common/tables/binary/reader_support.h"

namespace aimass::tables {
namespace {

using binary::PartitionFeature;

const char* TypeName(avro_type_t type) {
  switch (type) {
    case AVRO_STRING:
      return "a string";
    case AVRO_BYTES:
      return "bytes";
    case AVRO_INT32:
      return "an int";
    case AVRO_INT64:
      return "a long";
    case AVRO_FLOAT:
      return "a float";
    case AVRO_DOUBLE:
      return "a double";
    case AVRO_BOOLEAN:
      return "a boolean";
    case AVRO_NULL:
      return "null";
    case AVRO_RECORD:
      return "a record";
    case AVRO_ENUM:
      return "an enum";
    case AVRO_FIXED:
      return "a fixed";
    case AVRO_MAP:
      return "a map";
    case AVRO_ARRAY:
      return "an array";
    case AVRO_UNION:
      return "a union";
    case AVRO_LINK:
      return "a recursive type";
  }
  return "an unknown type";
}

std::string AvroError() {
  const char* message = avro_strerror();
  return message != nullptr && *message != '\0' ? message : "unknown libavro error";
}

// True when a value of `schema` can be encoded in zero bytes (null, a fixed of size 0, a record of
// such fields). libavro reads an array's elements one by one for as many as the array's count
// claims, which a corrupt file sets to up to 2^63: elements of zero bytes never run out of input
// and the array grows without bound, so schemas with such arrays are refused up front.
bool EncodesInZeroBytes(avro_schema_t schema, int depth) {
  if (depth > 64) return false;  // a recursive record: it has a non-empty branch somewhere
  if (is_avro_null(schema)) return true;
  if (is_avro_fixed(schema)) return avro_schema_fixed_size(schema) == 0;
  if (is_avro_link(schema)) return EncodesInZeroBytes(avro_schema_link_target(schema), depth + 1);
  if (is_avro_record(schema)) {
    for (size_t i = 0; i < avro_schema_record_size(schema); ++i) {
      avro_schema_t field = avro_schema_record_field_get_by_index(schema, static_cast<int>(i));
      if (!EncodesInZeroBytes(field, depth + 1)) return false;
    }
    return true;
  }
  return false;  // everything else takes at least one byte (a length, count, index or value)
}

// The name of an array field whose elements encode in zero bytes, or empty when there is none.
std::string ArrayOfZeroByteElements(avro_schema_t schema, int depth) {
  if (depth > 64 || schema == nullptr) return {};
  if (is_avro_array(schema)) {
    avro_schema_t items = avro_schema_array_items(schema);
    if (EncodesInZeroBytes(items, depth + 1)) return "an array";
    return ArrayOfZeroByteElements(items, depth + 1);
  }
  if (is_avro_map(schema)) return ArrayOfZeroByteElements(avro_schema_map_values(schema), depth + 1);
  if (is_avro_union(schema)) {
    for (size_t i = 0; i < avro_schema_union_size(schema); ++i) {
      std::string found =
          ArrayOfZeroByteElements(avro_schema_union_branch(schema, static_cast<int>(i)), depth + 1);
      if (!found.empty()) return found;
    }
    return {};
  }
  if (is_avro_record(schema)) {
    for (size_t i = 0; i < avro_schema_record_size(schema); ++i) {
      avro_schema_t field = avro_schema_record_field_get_by_index(schema, static_cast<int>(i));
      std::string found = ArrayOfZeroByteElements(field, depth + 1);
      if (!found.empty()) {
        return "field '" + std::string(avro_schema_record_field_name(schema, static_cast<int>(i))) +
               "' (" + found + ")";
      }
    }
  }
  return {};
}

// A field the reader looks up in every record: by its index in the schema, or a partition
// value when the schema has no such field.
struct Column {
  std::string name;
  int index = -1;              // in the record schema; -1: not in the schema
  PartitionFeature partition;  // features only
  const std::string* id_partition = nullptr;
};

class AvroReader : public RecordReader {
 public:
  // Takes over `container`, `checker`, `iface` and `value` (made from the container's schema).
  AvroReader(const InputFile& file, const TableOptions& options,
             std::unique_ptr<binary::AvroContainer> container,
             std::unique_ptr<binary::AvroDatumChecker> checker, avro_value_iface_t* iface,
             avro_value_t value)
      : name_(binary::ReportedName(file)),
        container_(std::move(container)),
        checker_(std::move(checker)),
        iface_(iface),
        value_(value),
        feature_count_(options.feature_count),
        leading_values_(options.leading_values) {
    avro_schema_t schema = container_->schema();
    if (!options.id_column.empty()) {
      has_id_column_ = true;
      id_.name = options.id_column;
      id_.index = avro_schema_record_field_get_index(schema, id_.name.c_str());
      id_.id_partition = binary::FindPartition(file, id_.name);
    }
    for (const std::string& name : options.feature_columns) {
      Column column;
      column.name = name;
      column.index = avro_schema_record_field_get_index(schema, name.c_str());
      column.partition = binary::BindPartitionFeature(
          file, name, "no field '" + name + "' in the file's schema");
      columns_.push_back(std::move(column));
    }
  }

  ~AvroReader() override {
    if (memory_ != nullptr) avro_reader_free(memory_);
    avro_value_decref(&value_);
    avro_value_iface_decref(iface_);
  }
  AvroReader(const AvroReader&) = delete;
  AvroReader& operator=(const AvroReader&) = delete;

  Result<Outcome> Next(TableRecord* record, BadRecord* bad) override {
    if (!failed_.ok()) return failed_;
    if (done_) return Outcome::kEnd;
    Result<bool> decoded = NextValue();
    if (!decoded.ok()) {
      failed_ = decoded.status();
      return failed_;
    }
    if (!*decoded) {
      done_ = true;
      return Outcome::kEnd;
    }
    const uint64_t index = next_index_++;
    std::string reason;
    if (Extract(index, record, &reason)) return Outcome::kRecord;
    bad->location = name_ + ":record " + std::to_string(index);
    bad->reason = std::move(reason);
    bad->raw.clear();
    char* json = nullptr;
    if (avro_value_to_json(&value_, 1, &json) == 0 && json != nullptr) bad->raw = json;
    std::free(json);
    return Outcome::kBad;
  }

 private:
  // Decodes record next_index_ into value_; false at the end of the file. Its encoding is walked
  // first (avro_datum_check.h), and libavro gets exactly its bytes.
  Result<bool> NextValue() {
    while (left_ == 0) {
      AIMASS_RETURN_IF_ERROR(CheckBlockEnd());
      AIMASS_ASSIGN_OR_RETURN(const bool more, container_->NextBlock(&block_));
      if (!more) return false;
      pos_ = 0;
      left_ = block_.count;
      const uint64_t min_bytes = checker_->min_bytes();
      if (min_bytes > 0 && block_.count > block_.data.size() / min_bytes) {
        return Corrupt("the block at byte " + std::to_string(block_.offset) + " claims " +
                       std::to_string(block_.count) + " records in " +
                       std::to_string(block_.data.size()) + " bytes, and each takes at least " +
                       std::to_string(min_bytes));
      }
    }
    const char* data = block_.data.data() + pos_;
    size_t length = 0;
    std::string why;
    if (!checker_->Check(data, block_.data.size() - pos_, &length, &why)) {
      return Corrupt("record " + std::to_string(next_index_) + " " + InBlock() + ": " + why);
    }
    if (memory_ == nullptr) {
      memory_ = avro_reader_memory(data, static_cast<int64_t>(length));
      if (memory_ == nullptr) return Status::Error(name_ + ": " + AvroError());
    } else {
      avro_reader_memory_set_source(memory_, data, static_cast<int64_t>(length));
    }
    if (avro_value_read(memory_, &value_) != 0) {
      return Corrupt("cannot decode record " + std::to_string(next_index_) + " " + InBlock() +
                     ": " + AvroError());
    }
    pos_ += length;
    --left_;
    return true;
  }

  // A block's records take exactly its bytes: bytes left after the last one mean a corrupt count
  // (checked when the next block is due, so that the block's last record is read first).
  Status CheckBlockEnd() const {
    if (pos_ == block_.data.size()) return Status::Ok();
    return Corrupt("the block at byte " + std::to_string(block_.offset) + " holds " +
                   std::to_string(block_.data.size()) + " bytes, but its " +
                   std::to_string(block_.count) + " records end after " + std::to_string(pos_));
  }

  std::string InBlock() const {
    return "(in the block at byte " + std::to_string(block_.offset) + ", " +
           std::to_string(pos_) + " bytes into its data)";
  }

  Status Corrupt(const std::string& what) const {
    return Status::Corruption(name_ + ": corrupt Avro file: " + what);
  }

  // `value` with unions resolved to their current branch.
  static bool Resolve(avro_value_t* value) {
    while (avro_value_get_type(value) == AVRO_UNION) {
      avro_value_t branch;
      if (avro_value_get_current_branch(value, &branch) != 0) return false;
      *value = branch;
    }
    return true;
  }

  bool Field(const Column& column, avro_value_t* field, std::string* reason) {
    if (avro_value_get_by_index(&value_, static_cast<size_t>(column.index), field, nullptr) !=
            0 ||
        !Resolve(field)) {
      *reason = "field '" + column.name + "': " + AvroError();
      return false;
    }
    return true;
  }

  bool ExtractId(uint64_t index, std::string* id, std::string* reason) {
    if (!has_id_column_) {
      *id = name_ + ":" + std::to_string(index);
      return true;
    }
    if (id_.index < 0) {
      if (id_.id_partition != nullptr) {
        *id = *id_.id_partition;
        return true;
      }
      *reason = "no id field '" + id_.name + "' in the file's schema";
      return false;
    }
    avro_value_t field;
    if (!Field(id_, &field, reason)) return false;
    const avro_type_t type = avro_value_get_type(&field);
    switch (type) {
      case AVRO_STRING: {
        const char* text = nullptr;
        size_t size = 0;  // counts the terminating NUL
        if (avro_value_get_string(&field, &text, &size) != 0) break;
        id->assign(text, size > 0 ? size - 1 : 0);
        return true;
      }
      case AVRO_BYTES: {
        const void* bytes = nullptr;
        size_t size = 0;
        if (avro_value_get_bytes(&field, &bytes, &size) != 0) break;
        id->assign(static_cast<const char*>(bytes), size);
        return true;
      }
      case AVRO_INT32: {
        int32_t number = 0;
        if (avro_value_get_int(&field, &number) != 0) break;
        *id = std::to_string(number);
        return true;
      }
      case AVRO_INT64: {
        int64_t number = 0;
        if (avro_value_get_long(&field, &number) != 0) break;
        *id = std::to_string(number);
        return true;
      }
      case AVRO_NULL:
        *reason = "id field '" + id_.name + "' is null";
        return false;
      default:
        *reason = "id field '" + id_.name + "' is " + TypeName(type) +
                  ", expected a string, bytes, an int or a long";
        return false;
    }
    *reason = "id field '" + id_.name + "': " + AvroError();
    return false;
  }

  // Appends the values of `value` (a number, a boolean or an array of them) to `out`.
  static bool AppendValues(const std::string& name, avro_value_t* value, bool in_array,
                           std::vector<float>* out, std::string* reason) {
    if (!Resolve(value)) {
      *reason = "field '" + name + "': " + AvroError();
      return false;
    }
    const avro_type_t type = avro_value_get_type(value);
    int rc = 0;
    switch (type) {
      case AVRO_FLOAT: {
        float number = 0;
        rc = avro_value_get_float(value, &number);
        out->push_back(number);
        break;
      }
      case AVRO_DOUBLE: {
        double number = 0;
        rc = avro_value_get_double(value, &number);
        out->push_back(static_cast<float>(number));
        break;
      }
      case AVRO_INT32: {
        int32_t number = 0;
        rc = avro_value_get_int(value, &number);
        out->push_back(static_cast<float>(number));
        break;
      }
      case AVRO_INT64: {
        int64_t number = 0;
        rc = avro_value_get_long(value, &number);
        out->push_back(static_cast<float>(number));
        break;
      }
      case AVRO_BOOLEAN: {
        int flag = 0;
        rc = avro_value_get_boolean(value, &flag);
        out->push_back(flag != 0 ? 1.0f : 0.0f);
        break;
      }
      case AVRO_NULL:
        *reason = in_array ? "field '" + name + "' holds a null element"
                           : "field '" + name + "' is null";
        return false;
      case AVRO_ARRAY: {
        if (in_array) {
          *reason = "field '" + name + "' is an array of arrays";
          return false;
        }
        size_t size = 0;
        rc = avro_value_get_size(value, &size);
        for (size_t i = 0; rc == 0 && i < size; ++i) {
          avro_value_t element;
          rc = avro_value_get_by_index(value, i, &element, nullptr);
          if (rc == 0 && !AppendValues(name, &element, true, out, reason)) return false;
        }
        break;
      }
      default:
        *reason = "field '" + name + "' is " + TypeName(type) +
                  (in_array ? std::string(" inside an array") : std::string()) +
                  ", expected a float, double, int, long, boolean or an array of them";
        return false;
    }
    if (rc != 0) {
      *reason = "field '" + name + "': " + AvroError();
      return false;
    }
    return true;
  }

  bool Extract(uint64_t index, TableRecord* record, std::string* reason) {
    if (!ExtractId(index, &record->id, reason)) return false;
    record->features.clear();
    for (const Column& column : columns_) {
      if (column.index < 0) {
        if (!binary::AppendPartitionFeature(column.partition, &record->features, reason)) {
          return false;
        }
        continue;
      }
      avro_value_t field;
      if (!Field(column, &field, reason)) return false;
      if (!AppendValues(column.name, &field, false, &record->features, reason)) return false;
    }
    return binary::CheckFeatureCount(record->features.size(), feature_count_, leading_values_,
                                     reason);
  }

  const std::string name_;
  const std::unique_ptr<binary::AvroContainer> container_;
  const std::unique_ptr<binary::AvroDatumChecker> checker_;
  avro_value_iface_t* iface_;
  avro_value_t value_;  // reused for every record
  avro_reader_t memory_ = nullptr;  // over one record's bytes in block_
  binary::AvroBlock block_;
  size_t pos_ = 0;     // of the next record in block_.data
  uint64_t left_ = 0;  // records of block_ not read yet
  const uint32_t feature_count_;
  const uint32_t leading_values_;
  bool has_id_column_ = false;
  Column id_;
  std::vector<Column> columns_;
  uint64_t next_index_ = 0;
  bool done_ = false;
  Status failed_;
};

}  // namespace

Result<std::unique_ptr<RecordReader>> OpenAvroReader(const InputFile& file, const Split& split,
                                                     const TableOptions& options) {
  const std::string& name = binary::ReportedName(file);
  AIMASS_RETURN_IF_ERROR(binary::CheckWholeFileSplit(file, split, "Avro"));
  if (file.codec != io::Codec::kNone) {
    return Status::Error(name + ": Avro files compressed as a whole (" +
                         io::CodecName(file.codec) +
                         ") are not supported; Avro compresses its blocks inside the container "
                         "(avro.codec deflate or snappy)");
  }
  // Opened as every table file is (io::OpenForReading: a regular file inside the data roots),
  // then handed to stdio for the container reader.
  AIMASS_ASSIGN_OR_RETURN(const int fd, io::OpenForReading(file.path, ConfinementOf(file, options)));
  FILE* fp = ::fdopen(fd, "rb");
  if (fp == nullptr) {
    const int error = errno;
    ::close(fd);
    return Status::Error(name + ": cannot open: " + std::strerror(error));
  }
  // libavro allocates whatever lengths the file announces: the container is read here, every
  // length checked, and libavro decodes single records that were walked first.
  auto container = std::make_unique<binary::AvroContainer>(fp, name, options.max_record_bytes);
  AIMASS_RETURN_IF_ERROR(container->Open());
  avro_schema_t schema = container->schema();
  if (!is_avro_record(schema)) {
    return Status::Error(name + ": the Avro file's schema is " + TypeName(avro_typeof(schema)) +
                         ", expected a record");
  }
  if (const std::string zero = ArrayOfZeroByteElements(schema, 0); !zero.empty()) {
    return Status::Error(name + ": the Avro file's schema has " + zero +
                         " whose elements encode in zero bytes (null or empty); such arrays are "
                         "not read, as a corrupt count could make them grow without bound");
  }
  std::string why;
  std::unique_ptr<binary::AvroDatumChecker> checker =
      binary::AvroDatumChecker::Compile(schema, &why);
  if (checker == nullptr) return Status::Error(name + ": unsupported Avro schema: " + why);
  avro_value_iface_t* iface = avro_generic_class_from_schema(schema);
  if (iface == nullptr) return Status::Error(name + ": unsupported Avro schema: " + AvroError());
  avro_value_t value;
  if (avro_generic_value_new(iface, &value) != 0) {
    avro_value_iface_decref(iface);
    return Status::Error(name + ": " + AvroError());
  }
  return std::unique_ptr<RecordReader>(std::make_unique<AvroReader>(
      file, options, std::move(container), std::move(checker), iface, value));
}

}  // namespace aimass::tables
