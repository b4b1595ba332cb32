#include "common/tables/text/delimited_reader.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "common/tables/text/field_projection.h"
#include "common/tables/text/line_reader.h"

namespace aimass::tables {
namespace {

using text::FieldRef;
using text::Line;
using text::LineReader;

constexpr size_t kHeaderBufferSize = size_t{1} << 16;
constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

// The fields of one line: views into the line, or into `scratch` for quoted fields with escapes.
// `views` only grows, so that splitting a line allocates nothing once the widest line was seen;
// `count` says how many of them this line has.
struct Fields {
  std::vector<std::string_view> views;
  size_t count = 0;
  std::string scratch;

  std::string_view operator[](size_t i) const { return views[i]; }
  void Push(const char* data, size_t size) {
    if (count == views.size()) views.resize(std::max<size_t>(16, views.size() * 2));
    views[count++] = std::string_view(data, size);
  }
};

// Splits `line` at `delimiter` into `fields`. With `quoting`, RFC 4180 quoted fields are unquoted.
// False with `error` set on a malformed quoted field.
bool SplitFields(std::string_view line, char delimiter, bool quoting, Fields* fields,
                 std::string* error) {
  fields->count = 0;
  const char* p = line.data();
  const char* const end = p + line.size();
  if (!quoting || std::memchr(p, '"', line.size()) == nullptr) {
    // The hot path: no quotes in the line. Delimiters are found 16 bytes at a time.
    std::string_view* views = fields->views.data();
    size_t count = 0;
    size_t capacity = fields->views.size();
    const char* field = p;
    auto push = [&](const char* field_end) {
      if (count == capacity) {
        fields->views.resize(std::max<size_t>(16, capacity * 2));
        views = fields->views.data();
        capacity = fields->views.size();
      }
      views[count++] = std::string_view(field, static_cast<size_t>(field_end - field));
      field = field_end + 1;
    };
#if defined(__SSE2__)
    const __m128i needle = _mm_set1_epi8(delimiter);
    for (; end - p >= 16; p += 16) {
      const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(block, needle)));
      while (mask != 0) {
        push(p + __builtin_ctz(mask));
        mask &= mask - 1;
      }
    }
#endif
    for (; p != end; ++p) {
      if (*p == delimiter) push(p);
    }
    if (count == capacity) fields->views.resize(capacity + 1);
    fields->views[count++] = std::string_view(field, static_cast<size_t>(end - field));
    fields->count = count;
    return true;
  }
  std::string* scratch = &fields->scratch;
  scratch->clear();
  scratch->reserve(line.size());  // unquoted text is never longer: views into it stay valid
  while (true) {
    if (p != end && *p == '"') {
      const char* content = p + 1;
      const char* q = content;
      bool escaped = false;
      size_t scratch_start = scratch->size();
      while (true) {
        q = std::find(q, end, '"');
        if (q == end) {
          *error = "field " + std::to_string(fields->count + 1) +
                   ": unterminated quoted field (a quoted field spanning lines is not supported)";
          return false;
        }
        if (q != content && q[-1] == '\\') {  // \" is one quote (Spark's and OpenCSV's escape)
          scratch->append(content, static_cast<size_t>(q - 1 - content));
          scratch->push_back('"');
          content = q + 1;
          q = content;
          escaped = true;
          continue;
        }
        if (q + 1 != end && q[1] == '"') {  // "" is one quote (RFC 4180)
          scratch->append(content, static_cast<size_t>(q + 1 - content));
          content = q + 2;
          q = content;
          escaped = true;
          continue;
        }
        break;
      }
      if (escaped) {
        scratch->append(content, static_cast<size_t>(q - content));
        fields->Push(scratch->data() + scratch_start, scratch->size() - scratch_start);
      } else {
        fields->Push(content, static_cast<size_t>(q - content));
      }
      p = q + 1;
      if (p != end && *p != delimiter) {
        *error = "field " + std::to_string(fields->count) +
                 ": unexpected character after the closing quote";
        return false;
      }
    } else {
      const char* start = p;
      while (p != end && *p != delimiter) ++p;
      if (std::find(start, p, '"') != p) {
        // Not valid CSV, and most likely the rest of a quoted field that began on an earlier
        // line: refuse it rather than read a wrong record.
        *error = "field " + std::to_string(fields->count + 1) +
                 ": a quote inside an unquoted field (a quoted field spanning lines is not "
                 "supported)";
        return false;
      }
      fields->Push(start, static_cast<size_t>(p - start));
    }
    if (p == end) return true;
    ++p;
  }
}

// "_c12" -> 12; -1 when `name` is not of that form.
long ImplicitColumnIndex(const std::string& name) {
  if (name.size() < 3 || name.compare(0, 2, "_c") != 0) return -1;
  long index = -1;
  auto [ptr, ec] = std::from_chars(name.data() + 2, name.data() + name.size(), index);
  if (ec != std::errc() || ptr != name.data() + name.size() || index < 0) return -1;
  return index;
}

class DelimitedReader final : public RecordReader {
 public:
  DelimitedReader(const InputFile& file, const TableOptions& options)
      : relative_path_(file.relative_path),
        delimiter_(options.delimiter),
        quoting_(options.delimiter == ','),
        feature_count_(options.feature_count) {}

  Status Open(const InputFile& file, const Split& split, const TableOptions& options) {
    AIMASS_ASSIGN_OR_RETURN(lines_, LineReader::Open(file, split, LineReader::kDefaultBufferSize,
                                                     options.max_record_bytes, options.confine_to));
    std::vector<std::string> columns;
    if (options.header) {
      Line header;
      bool found = false;
      if (split.begin == 0 || split.whole_file) {
        AIMASS_ASSIGN_OR_RETURN(found, lines_->Next(&header));
        // Any later line at this offset cannot come back: the header is consumed.
      } else {
        Split first{split.index, split.file, 0, file.size, /*whole_file=*/true};
        AIMASS_ASSIGN_OR_RETURN(header_lines_, LineReader::Open(file, first, kHeaderBufferSize,
                                                                options.max_record_bytes,
                                                                options.confine_to));
        AIMASS_ASSIGN_OR_RETURN(found, header_lines_->Next(&header));
        skip_header_ = found;
      }
      if (!found) {  // no non-empty line in the file, so none in this split
        ended_ = true;
        return Status::Ok();
      }
      header_offset_ = header.offset;
      std::string_view text = header.text;
      if (text.substr(0, kUtf8Bom.size()) == kUtf8Bom) text.remove_prefix(kUtf8Bom.size());
      std::string error;
      if (!SplitFields(text, delimiter_, quoting_, &fields_, &error)) {
        return Status::Error(file.path + ": header line: " + error);
      }
      for (size_t i = 0; i < fields_.count; ++i) columns.emplace_back(fields_[i]);
      header_lines_.reset();
      expected_fields_ = columns.size();
    } else if (!options.columns.empty()) {
      columns = options.columns;
      expected_fields_ = columns.size();
    } else {
      // Spark's names for the columns of a file without a header: _c0, _c1, ...
      long highest = -1;
      auto note = [&](const std::string& name) {
        highest = std::max(highest, ImplicitColumnIndex(name));
      };
      note(options.id_column);
      for (const std::string& name : options.feature_columns) note(name);
      for (long i = 0; i <= highest; ++i) columns.push_back("_c" + std::to_string(i));
      expected_fields_ = columns.size();
      at_least_ = true;
    }
    AIMASS_ASSIGN_OR_RETURN(projection_, text::ResolveProjection(file, options, &columns));
    if (feature_count_ != 0 && projection_.features.size() != feature_count_) {
      return Status::Error(file.path + ": " + std::to_string(projection_.features.size()) +
                           " feature columns are configured but feature_count is " +
                           std::to_string(feature_count_));
    }
    for (const FieldRef& ref : projection_.features) {
      if (ref.kind == FieldRef::Kind::kPartition) {
        slots_.push_back(Slot{-1, ref.partition_number});
      } else {
        slots_.push_back(Slot{static_cast<long>(ref.column), 0});
      }
    }
    return Status::Ok();
  }

  Result<Outcome> Next(TableRecord* record, BadRecord* bad) override {
    if (ended_) return Outcome::kEnd;
    Line line;
    while (true) {
      AIMASS_ASSIGN_OR_RETURN(bool more, lines_->Next(&line));
      if (!more) {
        ended_ = true;
        return Outcome::kEnd;
      }
      if (skip_header_ && line.offset == header_offset_) continue;
      break;
    }
    std::string error;
    if (!SplitFields(line.text, delimiter_, quoting_, &fields_, &error)) {
      return Bad(line, std::move(error), bad);
    }
    const size_t fields = fields_.count;
    if (fields != expected_fields_ && (!at_least_ || fields < expected_fields_)) {
      return Bad(line,
                 std::string(at_least_ ? "expected at least " : "expected ") +
                     std::to_string(expected_fields_) + " fields, got " + std::to_string(fields),
                 bad);
    }
    const size_t count = slots_.size();
    record->features.resize(count);
    float* out = record->features.data();
    const Slot* slots = slots_.data();
    const std::string_view* views = fields_.views.data();
    for (size_t k = 0; k < count; ++k) {
      if (slots[k].column < 0) {
        out[k] = slots[k].constant;
      } else if (!text::ParseFloat(views[slots[k].column], &out[k])) {
        return Bad(line,
                   text::NotANumberReason(projection_.features[k].name, views[slots[k].column]),
                   bad);
      }
    }
    if (!text::IdWithoutField(relative_path_, projection_, line.offset, &record->id)) {
      const std::string_view id = fields_[projection_.id.column];
      record->id.assign(id.data(), id.size());
    }
    return Outcome::kRecord;
  }

 private:
  Outcome Bad(const Line& line, std::string reason, BadRecord* bad) const {
    return text::BadLine(relative_path_, line, std::move(reason), bad);
  }

  std::string relative_path_;
  char delimiter_;
  bool quoting_;
  uint32_t feature_count_;
  std::unique_ptr<LineReader> lines_;
  std::unique_ptr<LineReader> header_lines_;
  bool skip_header_ = false;
  uint64_t header_offset_ = 0;
  bool ended_ = false;
  size_t expected_fields_ = 0;
  bool at_least_ = false;
  text::Projection projection_;
  struct Slot {
    long column;     // index into the line's fields; -1: a partition value
    float constant;  // the partition value
  };
  std::vector<Slot> slots_;  // one per feature, in order
  Fields fields_;
};

}  // namespace

Result<std::unique_ptr<RecordReader>> OpenDelimitedReader(const InputFile& file,
                                                          const Split& split,
                                                          const TableOptions& options) {
  auto reader = std::make_unique<DelimitedReader>(file, options);
  AIMASS_RETURN_IF_ERROR(reader->Open(file, split, options));
  return std::unique_ptr<RecordReader>(std::move(reader));
}

Result<std::vector<std::string>> ReadDelimitedHeader(const InputFile& file, char delimiter,
                                                     uint64_t max_line_bytes,
                                                     const std::vector<std::string>& confine_to) {
  Split whole{0, 0, 0, file.size, /*whole_file=*/true};
  AIMASS_ASSIGN_OR_RETURN(auto lines, text::LineReader::Open(file, whole, kHeaderBufferSize,
                                                             max_line_bytes, confine_to));
  text::Line header;
  AIMASS_ASSIGN_OR_RETURN(bool found, lines->Next(&header));
  std::vector<std::string> columns;
  if (!found) return columns;
  std::string_view text = header.text;
  if (text.substr(0, kUtf8Bom.size()) == kUtf8Bom) text.remove_prefix(kUtf8Bom.size());
  Fields fields;
  std::string error;
  if (!SplitFields(text, delimiter, delimiter == ',', &fields, &error)) {
    return Status::Error(file.path + ": header line: " + error);
  }
  for (size_t i = 0; i < fields.count; ++i) columns.emplace_back(fields[i]);
  return columns;
}

}  // namespace aimass::tables
