#include "common/tables/text/json_lines_reader.h"

#include <boost/json.hpp>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "common/tables/text/field_projection.h"
#include "common/tables/text/line_reader.h"

namespace aimass::tables {
namespace {

namespace json = boost::json;
using text::FieldRef;
using text::Line;
using text::LineReader;

constexpr size_t kParseBufferSize = size_t{1} << 16;
constexpr size_t kMaxValueInReason = 60;
constexpr double kTwoTo63 = 9223372036854775808.0;

const char* KindName(json::kind kind) {
  switch (kind) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: return "a number";
    case json::kind::string: return "a string";
    case json::kind::array: return "an array";
    case json::kind::object: return "an object";
  }
  return "a value";
}

std::string Shorten(json::string_view text) {
  std::string shown(text.data(), std::min(text.size(), kMaxValueInReason));
  if (text.size() > kMaxValueInReason) shown += "...";
  return shown;
}

// Appends the number(s) of `value` to `out`; false with `reason` set when it holds anything else.
bool AppendFeature(const json::value& value, const std::string& name, std::vector<float>* out,
                   std::string* reason) {
  switch (value.kind()) {
    case json::kind::int64:
      out->push_back(static_cast<float>(value.get_int64()));
      return true;
    case json::kind::uint64:
      out->push_back(static_cast<float>(value.get_uint64()));
      return true;
    case json::kind::double_: {
      const double number = value.get_double();
      if (!std::isfinite(number)) {  // 1e999 parses as Inf: a non-finite feature is bad
        *reason = "field '" + name + "': " + json::serialize(value) + " is not a finite number";
        return false;
      }
      if (std::fabs(number) > FLT_MAX) {
        *reason = "field '" + name + "': " + json::serialize(value) + " is beyond float range";
        return false;
      }
      out->push_back(static_cast<float>(number));
      return true;
    }
    case json::kind::bool_:
      out->push_back(value.get_bool() ? 1.0f : 0.0f);
      return true;
    case json::kind::array:
      for (const json::value& element : value.get_array()) {
        if (!AppendFeature(element, name, out, reason)) return false;
      }
      return true;
    case json::kind::string:
      *reason = "field '" + name + "': string \"" + Shorten(value.get_string()) +
                "\" is not a number";
      return false;
    case json::kind::null:
      *reason = "field '" + name + "' is null";
      return false;
    case json::kind::object:
      *reason = "field '" + name + "' is an object, not a number";
      return false;
  }
  return false;
}

// The record id as text; false with `reason` set when `value` cannot be one.
bool IdText(const json::value& value, const std::string& name, std::string* id,
            std::string* reason) {
  char digits[32];
  switch (value.kind()) {
    case json::kind::string: {
      const json::string& text = value.get_string();
      id->assign(text.data(), text.size());
      return true;
    }
    case json::kind::int64: {
      auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), value.get_int64());
      (void)ec;
      id->assign(digits, end);
      return true;
    }
    case json::kind::uint64: {
      auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), value.get_uint64());
      (void)ec;
      id->assign(digits, end);
      return true;
    }
    case json::kind::double_: {
      const double number = value.get_double();
      char* end;
      if (std::trunc(number) == number && std::fabs(number) < kTwoTo63) {
        end = std::to_chars(digits, digits + sizeof(digits), static_cast<int64_t>(number)).ptr;
      } else {
        end = std::to_chars(digits, digits + sizeof(digits), number).ptr;
      }
      id->assign(digits, end);
      return true;
    }
    case json::kind::bool_:
      *id = value.get_bool() ? "true" : "false";
      return true;
    default:
      *reason = "id field '" + name + "' is " + KindName(value.kind());
      return false;
  }
}

class JsonLinesReader final : public RecordReader {
 public:
  JsonLinesReader(const InputFile& file, const TableOptions& options)
      : relative_path_(file.relative_path),
        feature_count_(options.feature_count),
        leading_values_(options.leading_values),
        buffer_(std::make_unique<unsigned char[]>(kParseBufferSize)),
        arena_(buffer_.get(), kParseBufferSize) {}

  Status Open(const InputFile& file, const Split& split, const TableOptions& options) {
    AIMASS_ASSIGN_OR_RETURN(projection_, text::ResolveProjection(file, options, nullptr));
    AIMASS_ASSIGN_OR_RETURN(lines_, LineReader::Open(file, split, LineReader::kDefaultBufferSize,
                                                     options.max_record_bytes, options.confine_to));
    return Status::Ok();
  }

  Result<Outcome> Next(TableRecord* record, BadRecord* bad) override {
    Line line;
    AIMASS_ASSIGN_OR_RETURN(bool more, lines_->Next(&line));
    if (!more) return Outcome::kEnd;

    // Every line's values live in one arena that starts over at the next line. The parser lets
    // go of what it holds (a failed line's partial values) before the arena is emptied.
    parser_.reset();
    arena_.release();
    parser_.reset(json::storage_ptr(&arena_));
    boost::system::error_code ec;
    parser_.write(line.text.data(), line.text.size(), ec);
    if (ec) return Bad(line, "invalid JSON: " + ec.message(), bad);
    const json::value value = parser_.release();
    if (!value.is_object()) {
      return Bad(line, std::string("not a JSON object but ") + KindName(value.kind()), bad);
    }
    const json::object& object = value.get_object();

    std::string reason;
    features_.clear();
    for (const FieldRef& ref : projection_.features) {
      if (ref.kind == FieldRef::Kind::kPartition) {
        features_.push_back(ref.partition_number);
        continue;
      }
      const json::value* field = object.if_contains(ref.name);
      if (field == nullptr) return Bad(line, "field '" + ref.name + "' is missing", bad);
      if (!AppendFeature(*field, ref.name, &features_, &reason)) {
        return Bad(line, std::move(reason), bad);
      }
    }
    if (feature_count_ != 0 && features_.size() != feature_count_) {
      return Bad(line, text::FeatureCountReason(features_.size(), feature_count_, leading_values_), bad);
    }
    if (!text::IdWithoutField(relative_path_, projection_, line.offset, &record->id)) {
      const json::value* field = object.if_contains(projection_.id.name);
      if (field == nullptr) {
        return Bad(line, "id field '" + projection_.id.name + "' is missing", bad);
      }
      if (!IdText(*field, projection_.id.name, &record->id, &reason)) {
        return Bad(line, std::move(reason), bad);
      }
    }
    record->features.assign(features_.begin(), features_.end());
    return Outcome::kRecord;
  }

 private:
  Outcome Bad(const Line& line, std::string reason, BadRecord* bad) const {
    return text::BadLine(relative_path_, line, std::move(reason), bad);
  }

  std::string relative_path_;
  uint32_t feature_count_;
  uint32_t leading_values_;
  text::Projection projection_;
  std::unique_ptr<LineReader> lines_;
  std::unique_ptr<unsigned char[]> buffer_;
  json::monotonic_resource arena_;  // after buffer_, before parser_: destroyed in reverse
  json::parser parser_;
  std::vector<float> features_;
};

}  // namespace

Result<std::unique_ptr<RecordReader>> OpenJsonLinesReader(const InputFile& file,
                                                          const Split& split,
                                                          const TableOptions& options) {
  auto reader = std::make_unique<JsonLinesReader>(file, options);
  AIMASS_RETURN_IF_ERROR(reader->Open(file, split, options));
  return std::unique_ptr<RecordReader>(std::move(reader));
}

}  // namespace aimass::tables
