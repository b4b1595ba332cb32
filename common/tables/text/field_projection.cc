#include "common/tables/text/field_projection.h"

#include <charconv>
#include <cmath>
#include <utility>

namespace aimass::tables::text {
namespace {

constexpr size_t kMaxValueInReason = 60;
constexpr size_t kMaxColumnsInError = 12;

const std::string* FindPartition(const PartitionValues& partitions, const std::string& name) {
  for (const auto& [key, value] : partitions) {
    if (key == name) return &value;
  }
  return nullptr;
}

std::string DescribeColumns(const std::vector<std::string>& columns) {
  std::string text;
  for (size_t i = 0; i < columns.size() && i < kMaxColumnsInError; ++i) {
    if (i > 0) text += ", ";
    text += columns[i];
  }
  if (columns.size() > kMaxColumnsInError) {
    text += ", ... (" + std::to_string(columns.size()) + " columns)";
  }
  return text;
}

std::string DescribePartitions(const PartitionValues& partitions) {
  if (partitions.empty()) return "none";
  std::string text;
  for (const auto& [key, value] : partitions) {
    if (!text.empty()) text += ", ";
    text += key;
  }
  return text;
}

Result<FieldRef> Resolve(const InputFile& file, const std::string& name, const char* role,
                         const std::vector<std::string>* columns) {
  FieldRef ref;
  ref.name = name;
  if (columns != nullptr) {
    for (size_t i = 0; i < columns->size(); ++i) {
      if ((*columns)[i] == name) {
        ref.kind = FieldRef::Kind::kColumn;
        ref.column = i;
        return ref;
      }
    }
  }
  if (const std::string* value = FindPartition(file.partitions, name)) {
    ref.kind = FieldRef::Kind::kPartition;
    ref.partition_value = *value;
    return ref;
  }
  if (columns == nullptr) {
    ref.kind = FieldRef::Kind::kColumn;
    return ref;
  }
  return Status::Error(file.path + ": " + role + " '" + name +
                       "' is neither a column of the file (columns: " + DescribeColumns(*columns) +
                       ") nor a partition key (partitions: " +
                       DescribePartitions(file.partitions) + ")");
}

}  // namespace

Result<Projection> ResolveProjection(const InputFile& file, const TableOptions& options,
                                     const std::vector<std::string>* columns) {
  Projection projection;
  if (!options.id_column.empty()) {
    AIMASS_ASSIGN_OR_RETURN(projection.id, Resolve(file, options.id_column, "id column", columns));
    projection.has_id = true;
  }
  if (options.feature_columns.empty()) {
    return Status::Error(file.path + ": no feature columns configured");
  }
  projection.features.reserve(options.feature_columns.size());
  for (const std::string& name : options.feature_columns) {
    AIMASS_ASSIGN_OR_RETURN(FieldRef ref, Resolve(file, name, "feature column", columns));
    if (ref.kind == FieldRef::Kind::kPartition &&
        !ParseFloat(ref.partition_value, &ref.partition_number)) {
      return Status::Error(file.path + ": feature column '" + name + "' is a partition key whose "
                           "value '" + ref.partition_value + "' is not a number");
    }
    projection.features.push_back(std::move(ref));
  }
  return projection;
}

bool ParseFloatSlow(std::string_view text, float* value) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *value);
  // "nan", "inf", "infinity" parse, but a non-finite feature is a bad record (record_reader.h):
  // refused here, the record keeps its line and raw text.
  if (ec == std::errc() && ptr == end && !std::isfinite(*value)) return false;
  if (ec != std::errc() || ptr != end) {
    // from_chars reports underflow (1e-50) as out of range; such a value is 0 as a float.
    if (ec == std::errc::result_out_of_range && ptr == end) {
      double wide = 0;
      auto [wide_ptr, wide_ec] = std::from_chars(text.data(), end, wide);
      if (wide_ec == std::errc() && wide_ptr == end && std::fabs(wide) < 1.0) {
        *value = static_cast<float>(wide);
        return true;
      }
    }
    return false;
  }
  return true;
}

std::string NotANumberReason(const std::string& field, std::string_view value) {
  if (value.empty()) return "field '" + field + "' is empty";
  if (value == "\\N") return "field '" + field + "' is NULL (\\N)";
  std::string shown(value.substr(0, kMaxValueInReason));
  if (value.size() > kMaxValueInReason) shown += "...";
  float number = 0;
  const char* end = value.data() + value.size();
  auto [ptr, ec] = std::from_chars(value.data(), end, number);
  if (ec == std::errc() && ptr == end && !std::isfinite(number)) {
    return "field '" + field + "': '" + shown + "' is not a finite number";
  }
  return "field '" + field + "': '" + shown + "' is not a number";
}

std::string LineLocation(const std::string& relative_path, uint64_t number, uint64_t offset) {
  if (number > 0) return relative_path + ":line " + std::to_string(number);
  return relative_path + ":byte " + std::to_string(offset);
}

void DefaultLineId(const std::string& relative_path, uint64_t offset, std::string* id) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), offset);
  (void)ec;
  id->assign(relative_path);
  id->push_back(':');
  id->append(digits, end);
}

RecordReader::Outcome BadLine(const std::string& relative_path, const Line& line,
                              std::string reason, BadRecord* bad) {
  bad->location = LineLocation(relative_path, line.number, line.offset);
  bad->reason = std::move(reason);
  bad->raw.assign(line.text.data(), line.text.size());
  return RecordReader::Outcome::kBad;
}

std::string FeatureCountReason(size_t actual, uint32_t expected, uint32_t leading) {
  const size_t shown = actual > leading ? actual - leading : 0;
  const uint32_t wanted = expected > leading ? expected - leading : 0;
  return "has " + std::to_string(shown) + " feature values, expected " + std::to_string(wanted);
}

}  // namespace aimass::tables::text
