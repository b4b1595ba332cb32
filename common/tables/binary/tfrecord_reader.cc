#include "common/tables/binary/tfrecord_reader.h"

#include <boost/crc.hpp>
#include <string>
#include <utility>
#include <vector>

#include "common/io/input_stream.h"
#include "common/tables/binary/byte_reader.h"
#include "common/tables/binary/reader_support.h"
#include "common/tables/binary/tf_example.pb.h"

namespace aimass::tables {
namespace {

using binary::ByteReader;
using binary::PartitionFeature;

constexpr size_t kHeaderBytes = 12;  // length (8) + masked CRC of the length (4)
constexpr size_t kFooterBytes = 4;   // masked CRC of the data

uint64_t LittleEndian64(const char* bytes) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = value << 8 | static_cast<unsigned char>(bytes[i]);
  return value;
}

uint32_t LittleEndian32(const char* bytes) {
  uint32_t value = 0;
  for (int i = 3; i >= 0; --i) value = value << 8 | static_cast<unsigned char>(bytes[i]);
  return value;
}

const char* KindName(tf::Feature::KindCase kind) {
  switch (kind) {
    case tf::Feature::kBytesList:
      return "bytes_list";
    case tf::Feature::kFloatList:
      return "float_list";
    case tf::Feature::kInt64List:
      return "int64_list";
    case tf::Feature::KIND_NOT_SET:
      break;
  }
  return "no value";
}

struct FeatureColumn {
  std::string name;
  PartitionFeature partition;  // used when an Example has no feature of this name
};

class TfRecordReader : public RecordReader {
 public:
  TfRecordReader(const InputFile& file, const TableOptions& options,
                 std::unique_ptr<io::InputStream> stream)
      : name_(binary::ReportedName(file)),
        input_(std::move(stream)),
        id_column_(options.id_column),
        feature_count_(options.feature_count),
        leading_values_(options.leading_values),
        max_record_bytes_(options.max_record_bytes) {
    if (!id_column_.empty()) {
      const std::string* value = binary::FindPartition(file, id_column_);
      if (value != nullptr) id_partition_ = *value;
      has_id_partition_ = value != nullptr;
    }
    for (const std::string& column : options.feature_columns) {
      columns_.push_back(
          {column, binary::BindPartitionFeature(file, column, "no feature '" + column + "'")});
    }
  }

  Result<Outcome> Next(TableRecord* record, BadRecord* bad) override {
    if (!failed_.ok()) return failed_;
    if (done_) return Outcome::kEnd;
    const uint64_t start = input_.offset();
    Result<Outcome> outcome = ReadRecord(start);
    if (!outcome.ok()) {
      failed_ = outcome.status();
      return failed_;
    }
    if (*outcome == Outcome::kEnd) {
      done_ = true;
      return Outcome::kEnd;
    }
    const uint64_t index = next_index_++;
    std::string reason;
    if (*outcome == Outcome::kBad) {
      reason = "data CRC mismatch in the record at byte " + std::to_string(start);
    } else if (!example_.ParseFromString(data_)) {
      reason = "not a tf.train.Example (" + std::to_string(data_.size()) + " bytes at byte " +
               std::to_string(start) + ")";
    } else if (Extract(index, record, &reason)) {
      return Outcome::kRecord;
    }
    bad->location = name_ + ":record " + std::to_string(index);
    bad->reason = std::move(reason);
    bad->raw = data_;
    return Outcome::kBad;
  }

 private:
  Status Truncated(uint64_t start, const std::string& what) const {
    return Status::Error(name_ + ": truncated TFRecord file: the record at byte " +
                         std::to_string(start) + " (record " + std::to_string(next_index_) +
                         ") ends inside its " + what);
  }

  // Reads the framing and data of the record at `start` into data_: kRecord, kBad for a data CRC
  // mismatch, kEnd at a clean end of the file, or an error for broken framing.
  Result<Outcome> ReadRecord(uint64_t start) {
    char header[kHeaderBytes];
    AIMASS_ASSIGN_OR_RETURN(const size_t header_got, input_.Read(header, sizeof(header)));
    if (header_got == 0) return Outcome::kEnd;
    if (header_got < sizeof(header)) return Truncated(start, "length header");
    if (MaskedCrc32c(header, 8) != LittleEndian32(header + 8)) {
      return Status::Error(name_ + ": corrupt TFRecord file: the length of the record at byte " +
                           std::to_string(start) + " (record " + std::to_string(next_index_) +
                           ") fails its CRC");
    }
    const uint64_t length = LittleEndian64(header);
    if (length > max_record_bytes_) {
      return Status::Corruption(name_ + ": the TFRecord record at byte " + std::to_string(start) +
                                " (record " + std::to_string(next_index_) + ") announces " +
                                std::to_string(length) + " bytes, " +
                                io::RecordCapAdvice(max_record_bytes_));
    }
    AIMASS_ASSIGN_OR_RETURN(const size_t data_got, input_.ReadInto(&data_, length));
    if (data_got < length) {
      return Truncated(start, "data (" + std::to_string(data_got) + " of " +
                                  std::to_string(length) + " bytes)");
    }
    char footer[kFooterBytes];
    AIMASS_ASSIGN_OR_RETURN(const size_t footer_got, input_.Read(footer, sizeof(footer)));
    if (footer_got < sizeof(footer)) return Truncated(start, "data CRC");
    if (MaskedCrc32c(data_.data(), data_.size()) != LittleEndian32(footer)) {
      return Outcome::kBad;
    }
    return Outcome::kRecord;
  }

  // Fills `record` from example_; false with `reason` when the Example does not fit.
  bool Extract(uint64_t index, TableRecord* record, std::string* reason) const {
    const auto& features = example_.features().feature();
    if (id_column_.empty()) {
      record->id = name_ + ":" + std::to_string(index);
    } else if (auto it = features.find(id_column_); it != features.end()) {
      const tf::Feature& feature = it->second;
      if (feature.has_bytes_list() && feature.bytes_list().value_size() > 0) {
        record->id = feature.bytes_list().value(0);
      } else if (feature.has_int64_list() && feature.int64_list().value_size() > 0) {
        record->id = std::to_string(feature.int64_list().value(0));
      } else if (feature.has_bytes_list() || feature.has_int64_list()) {
        *reason = "id feature '" + id_column_ + "' has no value";
        return false;
      } else {
        *reason = "id feature '" + id_column_ + "' has " + KindName(feature.kind_case()) +
                  ", expected bytes_list or int64_list";
        return false;
      }
    } else if (has_id_partition_) {
      record->id = id_partition_;
    } else {
      *reason = "no id feature '" + id_column_ + "'";
      return false;
    }

    record->features.clear();
    for (const FeatureColumn& column : columns_) {
      auto it = features.find(column.name);
      if (it == features.end()) {
        if (!binary::AppendPartitionFeature(column.partition, &record->features, reason)) {
          return false;
        }
        continue;
      }
      const tf::Feature& feature = it->second;
      switch (feature.kind_case()) {
        case tf::Feature::kFloatList:
          record->features.insert(record->features.end(), feature.float_list().value().begin(),
                                  feature.float_list().value().end());
          break;
        case tf::Feature::kInt64List:
          for (const int64_t value : feature.int64_list().value()) {
            record->features.push_back(static_cast<float>(value));
          }
          break;
        case tf::Feature::kBytesList:
          *reason = "feature '" + column.name + "' is a bytes_list, expected float_list or " +
                    "int64_list";
          return false;
        case tf::Feature::KIND_NOT_SET:
          break;  // an empty feature: no values
      }
    }
    return binary::CheckFeatureCount(record->features.size(), feature_count_, leading_values_,
                                     reason);
  }

  const std::string name_;
  ByteReader input_;
  const std::string id_column_;
  std::string id_partition_;
  bool has_id_partition_ = false;
  std::vector<FeatureColumn> columns_;
  const uint32_t feature_count_;
  const uint32_t leading_values_;
  const uint64_t max_record_bytes_;

  tf::Example example_;  // reused: parsing into it keeps its allocations
  std::string data_;     // the current record's bytes
  uint64_t next_index_ = 0;
  bool done_ = false;
  Status failed_;
};

}  // namespace

uint32_t Crc32c(const void* data, size_t size) {
  boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> crc;
  crc.process_bytes(data, size);
  return crc.checksum();
}

uint32_t MaskedCrc32c(const void* data, size_t size) {
  const uint32_t crc = Crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

Result<std::unique_ptr<RecordReader>> OpenTfRecordReader(const InputFile& file,
                                                         const Split& split,
                                                         const TableOptions& options) {
  AIMASS_RETURN_IF_ERROR(binary::CheckWholeFileSplit(file, split, "TFRecord"));
  AIMASS_ASSIGN_OR_RETURN(std::unique_ptr<io::InputStream> stream,
                          io::OpenDecompressedStream(file.path, file.codec,
                                                     options.max_record_bytes,
                                                     ConfinementOf(file, options)));
  return std::unique_ptr<RecordReader>(
      std::make_unique<TfRecordReader>(file, options, std::move(stream)));
}

}  // namespace aimass::tables
