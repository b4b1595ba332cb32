#include "common/tables/binary/idx_reader.h"

#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "common/io/input_stream.h"
#include "common/tables/binary/byte_reader.h"
#include "common/tables/binary/reader_support.h"

namespace aimass::tables {
namespace {

using binary::ByteReader;

// Most values one item may have (4 GiB of doubles): more means a corrupt header.
constexpr uint64_t kMaxItemValues = uint64_t{1} << 29;

enum class ValueType : uint8_t {
  kUint8 = 0x08,
  kInt8 = 0x09,
  kInt16 = 0x0B,
  kInt32 = 0x0C,
  kFloat32 = 0x0D,
  kFloat64 = 0x0E,
};

// Bytes per value of a type; 0 for an unknown type.
size_t ValueBytes(uint8_t type) {
  switch (static_cast<ValueType>(type)) {
    case ValueType::kUint8:
    case ValueType::kInt8:
      return 1;
    case ValueType::kInt16:
      return 2;
    case ValueType::kInt32:
    case ValueType::kFloat32:
      return 4;
    case ValueType::kFloat64:
      return 8;
  }
  return 0;
}

uint64_t BigEndian(const unsigned char* bytes, size_t size) {
  uint64_t value = 0;
  for (size_t i = 0; i < size; ++i) value = value << 8 | bytes[i];
  return value;
}

std::string Hex(uint32_t value) {
  char text[16];
  std::snprintf(text, sizeof(text), "0x%08x", value);
  return text;
}

enum class IdKind { kLocation, kIndex, kPartition };

class IdxReader : public RecordReader {
 public:
  IdxReader(std::string name, ByteReader input, uint8_t type, uint64_t items,
            uint64_t item_values, IdKind id_kind, std::string id_partition,
            uint32_t feature_count)
      : name_(std::move(name)),
        input_(std::move(input)),
        type_(type),
        value_bytes_(ValueBytes(type)),
        items_(items),
        item_values_(item_values),
        id_kind_(id_kind),
        id_partition_(std::move(id_partition)),
        feature_count_(feature_count) {}

  Result<Outcome> Next(TableRecord* record, BadRecord* bad) override {
    if (!failed_.ok()) return failed_;
    if (next_index_ == items_) {
      if (!checked_end_) {
        checked_end_ = true;
        char extra;
        Result<size_t> got = input_.Read(&extra, 1);
        if (!got.ok()) return failed_ = got.status();
        if (*got != 0) {
          return failed_ = Status::Error(name_ + ": unexpected data after the " +
                                         std::to_string(items_) +
                                         " items its IDX header announces");
        }
      }
      return Outcome::kEnd;
    }
    const uint64_t index = next_index_;
    const uint64_t item_bytes = item_values_ * value_bytes_;
    Result<size_t> got = input_.ReadInto(&item_, item_bytes);
    if (!got.ok()) return failed_ = got.status();
    if (*got < item_bytes) {
      return failed_ = Status::Error(name_ + ": truncated IDX file: item " +
                                     std::to_string(index) + " of " + std::to_string(items_) +
                                     " ends at byte " + std::to_string(input_.offset()) +
                                     " after " + std::to_string(*got) + " of its " +
                                     std::to_string(item_bytes) + " bytes");
    }
    ++next_index_;

    if (feature_count_ != 0 && item_values_ != feature_count_) {
      bad->location = name_ + ":record " + std::to_string(index);
      bad->reason = std::to_string(item_values_) + " values per item, expected " +
                    std::to_string(feature_count_);
      bad->raw = item_;
      return Outcome::kBad;
    }
    switch (id_kind_) {
      case IdKind::kLocation:
        record->id = name_ + ":" + std::to_string(index);
        break;
      case IdKind::kIndex:
        record->id = std::to_string(index);
        break;
      case IdKind::kPartition:
        record->id = id_partition_;
        break;
    }
    Decode(&record->features);
    return Outcome::kRecord;
  }

 private:
  void Decode(std::vector<float>* out) const {
    out->resize(item_values_);
    const auto* bytes = reinterpret_cast<const unsigned char*>(item_.data());
    float* values = out->data();
    switch (static_cast<ValueType>(type_)) {
      case ValueType::kUint8:
        for (uint64_t i = 0; i < item_values_; ++i) values[i] = bytes[i];
        break;
      case ValueType::kInt8:
        for (uint64_t i = 0; i < item_values_; ++i) {
          values[i] = static_cast<int8_t>(bytes[i]);
        }
        break;
      case ValueType::kInt16:
        for (uint64_t i = 0; i < item_values_; ++i) {
          values[i] = static_cast<int16_t>(static_cast<uint16_t>(BigEndian(bytes + 2 * i, 2)));
        }
        break;
      case ValueType::kInt32:
        for (uint64_t i = 0; i < item_values_; ++i) {
          values[i] = static_cast<float>(
              static_cast<int32_t>(static_cast<uint32_t>(BigEndian(bytes + 4 * i, 4))));
        }
        break;
      case ValueType::kFloat32:
        for (uint64_t i = 0; i < item_values_; ++i) {
          const auto bits = static_cast<uint32_t>(BigEndian(bytes + 4 * i, 4));
          std::memcpy(&values[i], &bits, sizeof(bits));
        }
        break;
      case ValueType::kFloat64:
        for (uint64_t i = 0; i < item_values_; ++i) {
          const uint64_t bits = BigEndian(bytes + 8 * i, 8);
          double value;
          std::memcpy(&value, &bits, sizeof(bits));
          values[i] = static_cast<float>(value);
        }
        break;
    }
  }

  const std::string name_;
  ByteReader input_;
  const uint8_t type_;
  const size_t value_bytes_;
  const uint64_t items_;
  const uint64_t item_values_;
  const IdKind id_kind_;
  const std::string id_partition_;
  const uint32_t feature_count_;

  std::string item_;  // the current item's bytes
  uint64_t next_index_ = 0;
  bool checked_end_ = false;
  Status failed_;
};

}  // namespace

Result<std::unique_ptr<RecordReader>> OpenIdxReader(const InputFile& file, const Split& split,
                                                    const TableOptions& options) {
  const std::string& name = binary::ReportedName(file);
  AIMASS_RETURN_IF_ERROR(binary::CheckWholeFileSplit(file, split, "IDX"));

  IdKind id_kind = IdKind::kLocation;
  std::string id_partition;
  if (options.id_column == "index") {
    id_kind = IdKind::kIndex;
  } else if (!options.id_column.empty()) {
    const std::string* value = binary::FindPartition(file, options.id_column);
    if (value == nullptr) {
      return Status::Error(name + ": IDX files have no field '" + options.id_column +
                           "': id_column may be empty, \"index\" or a partition key");
    }
    id_kind = IdKind::kPartition;
    id_partition = *value;
  }

  AIMASS_ASSIGN_OR_RETURN(std::unique_ptr<io::InputStream> stream,
                          io::OpenDecompressedStream(file.path, file.codec,
                                                     options.max_record_bytes,
                                                     ConfinementOf(file, options)));
  ByteReader input(std::move(stream));
  unsigned char magic[4];
  AIMASS_ASSIGN_OR_RETURN(const size_t magic_got,
                          input.Read(reinterpret_cast<char*>(magic), sizeof(magic)));
  if (magic_got < sizeof(magic)) return Status::Error(name + ": too short for an IDX file");
  const auto magic_value = static_cast<uint32_t>(BigEndian(magic, 4));
  const uint8_t type = magic[2];
  const uint8_t dims = magic[3];
  if (magic[0] != 0 || magic[1] != 0 || ValueBytes(type) == 0 || dims == 0) {
    return Status::Error(name + ": bad IDX magic " + Hex(magic_value) +
                         " (expected 0x0000TTNN: TT a value type 08, 09, 0B, 0C, 0D or 0E, NN "
                         "at least one dimension)");
  }
  uint64_t items = 0;
  uint64_t item_values = 1;
  std::string shape;
  for (uint8_t i = 0; i < dims; ++i) {
    unsigned char bytes[4];
    AIMASS_ASSIGN_OR_RETURN(const size_t got,
                            input.Read(reinterpret_cast<char*>(bytes), sizeof(bytes)));
    if (got < sizeof(bytes)) return Status::Error(name + ": truncated IDX header");
    const uint64_t dim = BigEndian(bytes, 4);
    shape += (i == 0 ? "" : "x") + std::to_string(dim);
    if (i == 0) {
      items = dim;
      continue;
    }
    item_values *= dim;
    if (item_values > kMaxItemValues) {
      return Status::Error(name + ": IDX items too large (" + Hex(magic_value) +
                           ", dimensions " + shape + "...)");
    }
  }
  if (item_values == 0) {
    return Status::Error(name + ": IDX items have no values (dimensions " + shape + ")");
  }
  // An item is one record: its bytes are read into memory (and its values into floats) at once.
  const uint64_t item_bytes = item_values * ValueBytes(type);
  if (item_bytes > options.max_record_bytes) {
    return Status::Corruption(name + ": the IDX header at byte 0 announces items of " +
                              std::to_string(item_bytes) + " bytes (dimensions " + shape + "), " +
                              io::RecordCapAdvice(options.max_record_bytes));
  }
  return std::unique_ptr<RecordReader>(std::make_unique<IdxReader>(
      name, std::move(input), type, items, item_values, id_kind, std::move(id_partition),
      options.feature_count));
}

}  // namespace aimass::tables
