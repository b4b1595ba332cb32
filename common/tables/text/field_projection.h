// Shared by the text readers (delimited, JSON lines): which named fields of a record become its
// id and its feature vector, number parsing, and how records are named in ids and bad-record
// locations.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/tables/record_reader.h"
#include "common/tables/table.h"
#include "common/tables/text/line_reader.h"

namespace aimass::tables::text {

// Where one named field's value comes from.
struct FieldRef {
  enum class Kind {
    kColumn,     // a field of the record: `column` indexes the file's columns (delimited), or the
                 // name is looked up in each record (JSON)
    kPartition,  // a partition key of the file's path: the same value for every record
  };
  Kind kind = Kind::kColumn;
  std::string name;
  size_t column = 0;
  std::string partition_value;  // kPartition
  float partition_number = 0;   // kPartition used as a feature
};

struct Projection {
  bool has_id = false;  // false: ids are "<relative_path>:<byte offset>"
  FieldRef id;
  std::vector<FieldRef> features;
};

// Resolves TableOptions::id_column and feature_columns for `file`. With `columns` (delimited), a
// name is a column when it is one of them (the first such), else a partition key, else an error
// naming the file and the column; without (JSON: names are looked up per record) a name is a
// partition key when the file's path has one, else a record field. A partition used as a feature
// must hold a number. An empty feature_columns is an error: text formats have no default.
Result<Projection> ResolveProjection(const InputFile& file, const TableOptions& options,
                                     const std::vector<std::string>* columns);

// `text` as a float: the whole of it (surrounding spaces and a leading '+' allowed), decimal or
// scientific. False for anything else: a value beyond float range, or "NaN"/"Infinity" (a
// non-finite feature is a bad record).
// Correctly rounded, as std::from_chars.
bool ParseFloatSlow(std::string_view text, float* value);

// The hot path of delimited readers: plain decimals of at most 7 significant digits ("0", "255",
// "-0.125") are converted here; anything else goes to ParseFloatSlow. Exact: a mantissa below
// 10^7 < 2^24 and a power of ten up to 10^7 are both exact floats, so the one IEEE division
// rounds correctly (Clinger's fast path).
inline bool ParseFloat(std::string_view text, float* value) {
  static constexpr float kPowersOfTen[] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f, 1e6f, 1e7f};
  const char* p = text.data();
  const char* const end = p + text.size();
  const bool negative = p != end && *p == '-';
  if (negative) ++p;
  uint32_t mantissa = 0;
  const char* const digits_start = p;
  while (p != end && static_cast<unsigned char>(*p - '0') < 10) {
    mantissa = mantissa * 10 + static_cast<uint32_t>(*p - '0');
    ++p;
  }
  std::ptrdiff_t digits = p - digits_start;
  std::ptrdiff_t scale = 0;
  if (p != end && *p == '.') {
    ++p;
    const char* const fraction = p;
    while (p != end && static_cast<unsigned char>(*p - '0') < 10) {
      mantissa = mantissa * 10 + static_cast<uint32_t>(*p - '0');
      ++p;
    }
    scale = p - fraction;
    digits += scale;
  }
  if (p != end || digits == 0 || digits > 7) return ParseFloatSlow(text, value);
  float number = static_cast<float>(mantissa);
  if (scale > 0) number /= kPowersOfTen[scale];
  *value = negative ? -number : number;
  return true;
}

// The reason a feature field is not a number: empty, Hive's NULL (\N), or not numeric.
std::string NotANumberReason(const std::string& field, std::string_view value);

// "<relative_path>:line N" when the line number is known, else "<relative_path>:byte OFFSET".
std::string LineLocation(const std::string& relative_path, uint64_t number, uint64_t offset);

// The id of a record without an id column: "<relative_path>:<byte offset>".
void DefaultLineId(const std::string& relative_path, uint64_t offset, std::string* id);

// Sets `id` when it does not come from a field of the record: DefaultLineId without an id
// column, the partition value when the id column is a partition key. False when the id is a
// field of the record, left for the caller to read. Inline: it runs once a record.
inline bool IdWithoutField(const std::string& relative_path, const Projection& projection,
                           uint64_t offset, std::string* id) {
  if (!projection.has_id) {
    DefaultLineId(relative_path, offset, id);
    return true;
  }
  if (projection.id.kind == FieldRef::Kind::kPartition) {
    *id = projection.id.partition_value;
    return true;
  }
  return false;
}

// Fills `bad` for `line` of the file at `relative_path` (location as LineLocation, the line's
// text as the raw record) and returns kBad.
RecordReader::Outcome BadLine(const std::string& relative_path, const Line& line,
                              std::string reason, BadRecord* bad);

// "has 783 feature values, expected 784"; the first `leading` values of both (a label read as
// the first column) are not counted.
std::string FeatureCountReason(size_t actual, uint32_t expected, uint32_t leading);

}  // namespace aimass::tables::text
