#include "common/data/csv_shard.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstring>
#include <string_view>
#include <vector>

#include "common/env.h"

namespace aimass::data {
namespace {

constexpr size_t kReadChunk = 1 << 18;
constexpr size_t kInitialLineBuffer = 1 << 20;
constexpr size_t kMaxFieldInError = 40;

bool EndsWith(const std::string& text, std::string_view suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Streams the lines of a plain or gzip shard through one buffer, so that scanning a large shard
// needs memory for one chunk, not for the whole decoded file. Gzip is inflated here rather than
// with gzread so that a truncated stream is an error instead of a quiet end of file.
class LineReader {
 public:
  explicit LineReader(const std::string& path) : path_(path), gzip_(EndsWith(path, ".gz")) {}
  ~LineReader() {
    if (fd_ >= 0) ::close(fd_);
    if (inflating_) inflateEnd(&zs_);
  }
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  Status Open() {
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return Status::Error(path_ + ": cannot open: " + std::strerror(errno));
    if (gzip_) {
      if (inflateInit2(&zs_, 15 + 16) != Z_OK) return Status::Error(path_ + ": inflateInit failed");
      inflating_ = true;
      input_.resize(kReadChunk);
    }
    buffer_.resize(kInitialLineBuffer);
    return Status::Ok();
  }

  // The next line without its "\n" or "\r\n"; false at the end of the file or on an error, which
  // status() then holds. The view lives until the next call.
  bool Next(std::string_view* line) {
    while (true) {
      const char* start = buffer_.data() + begin_;
      const void* newline = std::memchr(start, '\n', end_ - begin_);
      size_t length;
      if (newline != nullptr) {
        length = static_cast<const char*>(newline) - start;
        begin_ += length + 1;
      } else if (at_eof_) {
        if (begin_ == end_) return false;
        length = end_ - begin_;  // a last line without a newline
        begin_ = end_;
      } else {
        status_ = Fill();
        if (!status_.ok()) return false;
        continue;
      }
      if (length > 0 && start[length - 1] == '\r') --length;
      ++line_number_;
      *line = std::string_view(start, length);
      return true;
    }
  }

  const Status& status() const { return status_; }
  uint64_t line_number() const { return line_number_; }

 private:
  // Keeps the unfinished line, moved to the front, and appends decoded bytes after it.
  Status Fill() {
    if (begin_ > 0) {
      std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (end_ == buffer_.size()) buffer_.resize(buffer_.size() * 2);  // a very long line
    size_t produced = 0;
    AIMASS_RETURN_IF_ERROR(gzip_ ? Inflate(buffer_.data() + end_, buffer_.size() - end_, &produced)
                                 : ReadSome(buffer_.data() + end_, buffer_.size() - end_, &produced));
    end_ += produced;
    if (produced == 0) at_eof_ = true;
    return Status::Ok();
  }

  // Reads up to `capacity` bytes; 0 only at the end of the file.
  Status ReadSome(char* out, size_t capacity, size_t* got) {
    while (true) {
      ssize_t n = ::read(fd_, out, capacity);
      if (n >= 0) {
        *got = static_cast<size_t>(n);
        return Status::Ok();
      }
      if (errno != EINTR) return Status::Error(path_ + ": read failed: " + std::strerror(errno));
    }
  }

  // Fills `out` with inflated bytes; fewer only at the end of the last gzip member. Several
  // concatenated members (what `cat a.gz b.gz` makes) read as one stream.
  Status Inflate(char* out, size_t capacity, size_t* produced) {
    zs_.next_out = reinterpret_cast<Bytef*>(out);
    zs_.avail_out = static_cast<uInt>(std::min<size_t>(capacity, UINT_MAX));
    const uInt avail_out_at_start = zs_.avail_out;
    while (zs_.avail_out > 0) {
      if (zs_.avail_in == 0 && !input_eof_) {
        size_t got = 0;
        AIMASS_RETURN_IF_ERROR(ReadSome(input_.data(), input_.size(), &got));
        zs_.next_in = reinterpret_cast<Bytef*>(input_.data());
        zs_.avail_in = static_cast<uInt>(got);
        input_eof_ = got == 0;
      }
      if (zs_.avail_in == 0) {
        if (in_member_) {
          return Status::Error(path_ + ": truncated gzip stream: unexpected end of file after line " +
                               std::to_string(line_number_));
        }
        break;  // the file ends between members
      }
      if (!in_member_) {
        inflateReset(&zs_);
        in_member_ = true;
      }
      int code = inflate(&zs_, Z_NO_FLUSH);
      if (code == Z_STREAM_END) {
        in_member_ = false;
      } else if (code != Z_OK && code != Z_BUF_ERROR) {  // Z_BUF_ERROR: needs more input
        return Status::Error(path_ + ": corrupt gzip stream: " +
                             (zs_.msg != nullptr ? zs_.msg : "zlib error " + std::to_string(code)));
      }
    }
    *produced = avail_out_at_start - zs_.avail_out;
    return Status::Ok();
  }

  const std::string path_;
  const bool gzip_;
  int fd_ = -1;
  z_stream zs_{};
  bool inflating_ = false;
  bool in_member_ = false;  // inside a gzip member: its end must come before the file's
  bool input_eof_ = false;
  std::vector<char> input_;   // compressed bytes not yet inflated
  std::vector<char> buffer_;  // decoded text; [begin_, end_) not yet returned
  size_t begin_ = 0;
  size_t end_ = 0;
  bool at_eof_ = false;
  uint64_t line_number_ = 0;
  Status status_;
};

std::string_view FieldAt(const char* start, const char* end) {
  const void* comma = std::memchr(start, ',', end - start);
  return std::string_view(start, (comma != nullptr ? static_cast<const char*>(comma) : end) - start);
}

// Parses all of `text`, allowing surrounding blanks and a leading '+' that from_chars refuses.
template <class T>
bool ParseWholeField(std::string_view text, T* value) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  if (text.size() > 1 && text.front() == '+' && text[1] != '-') text.remove_prefix(1);
  if (text.empty()) return false;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *value);
  if (error != std::errc() || end != text.data() + text.size()) return false;
  if constexpr (std::is_floating_point_v<T>) return std::isfinite(*value);
  return true;
}

// Ids and labels are integers; "3.0", what some exporters write for a double column, is accepted.
bool ParseWholeInteger(std::string_view text, int64_t* value) {
  if (ParseWholeField(text, value)) return true;
  double real = 0;
  if (!ParseWholeField(text, &real) || real != std::trunc(real) || std::fabs(real) > 9.0e15) {
    return false;
  }
  *value = static_cast<int64_t>(real);
  return true;
}

// Explains why ParseWholeField refused `text` as a float.
const char* WhyNotAFloat(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '+')) text.remove_prefix(1);
  float value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  while (end != text.data() + text.size() && (*end == ' ' || *end == '\t')) ++end;
  if (end != text.data() + text.size() || text.empty()) return "is not a number";
  if (error == std::errc::result_out_of_range) return "is out of range for a float";
  return "is not a finite number";
}

Status BadField(size_t number, std::string_view text, const char* what) {
  std::string shown(text.substr(0, kMaxFieldInError));
  if (text.size() > kMaxFieldInError) shown += "...";
  return Status::Error("field " + std::to_string(number) + " '" + shown + "' " + what);
}

Status WrongFieldCount(uint32_t expected, uint64_t found) {
  return Status::Error("expected " + std::to_string(expected) + " fields, found " +
                       std::to_string(found));
}

// Runs `on_record(line)` for every record line: blank lines and a header are skipped, errors
// get the file and line prefixed.
template <class OnRecord>
Status ForEachRecord(const std::string& path, OnRecord&& on_record) {
  LineReader reader(path);
  AIMASS_RETURN_IF_ERROR(reader.Open());
  std::string_view line;
  bool first_line = true;
  while (reader.Next(&line)) {
    if (line.empty()) continue;
    if (first_line) {
      first_line = false;
      if (line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);  // UTF-8 byte order mark
      double ignored;
      if (!ParseWholeField(FieldAt(line.data(), line.data() + line.size()), &ignored)) continue;
    }
    Status status = on_record(line);
    if (!status.ok()) {
      return status.WithContext(path + ": line " + std::to_string(reader.line_number()));
    }
  }
  return reader.status();
}

// Decodes records into a RecordBlock; the first record fixes the field count.
class RecordParser {
 public:
  explicit RecordParser(RecordBlock* block) : block_(block) {}

  Status Parse(std::string_view line) {
    const char* cursor = line.data();
    const char* const end = cursor + line.size();
    int64_t id = 0, label = 0;
    AIMASS_RETURN_IF_ERROR(ParseInteger(1, &cursor, end, &id));
    AIMASS_RETURN_IF_ERROR(ParseInteger(2, &cursor, end, &label));
    const uint32_t known = block_->feature_count;  // 0 while parsing the first record
    std::vector<float>& features = block_->features;
    const size_t base = features.size();
    if (known > 0) features.resize(base + known);
    uint32_t count = 0;
    while (true) {
      if (known > 0 && count == known) {
        uint64_t extra = 1 + std::count(cursor, end, ',');
        return WrongFieldCount(known + 2, uint64_t{known} + 2 + extra);
      }
      float value;
      const char* field_end = ParseFeature(cursor, end, &value);
      if (field_end == nullptr) {
        std::string_view text = FieldAt(cursor, end);
        if (!ParseWholeField(text, &value)) return BadField(count + 3, text, WhyNotAFloat(text));
        field_end = cursor + text.size();
      }
      if (known > 0) {
        features[base + count] = value;
      } else {
        features.push_back(value);
      }
      ++count;
      if (field_end == end) break;
      cursor = field_end + 1;
    }
    if (known == 0) {
      block_->feature_count = count;  // at least 1: ParseInteger saw a comma after the label
    } else if (count != known) {
      return WrongFieldCount(known + 2, uint64_t{count} + 2);
    }
    block_->ids.push_back(id);
    block_->labels.push_back(label);
    return Status::Ok();
  }

 private:
  // Reads the integer field `number` at *cursor and moves past its comma.
  static Status ParseInteger(size_t number, const char** cursor, const char* end, int64_t* value) {
    auto [field_end, error] = std::from_chars(*cursor, end, *value);
    if (error != std::errc() || (field_end != end && *field_end != ',')) {
      std::string_view text = FieldAt(*cursor, end);
      if (!ParseWholeInteger(text, value)) return BadField(number, text, "is not an integer");
      field_end = *cursor + text.size();
    }
    if (field_end == end) {
      return Status::Error("found " + std::to_string(number) +
                           " field(s); a record needs id,label and at least one feature");
    }
    *cursor = field_end + 1;
    return Status::Ok();
  }

  // Fast path for the common case of pixel data, a short unsigned integer; anything else goes to
  // from_chars. Returns the end of the field, or nullptr when it needs the careful path.
  static const char* ParseFeature(const char* start, const char* end, float* value) {
    const char* p = start;
    uint32_t integer = 0;
    while (p != end && p - start < 9 && static_cast<unsigned>(*p - '0') < 10) {
      integer = integer * 10 + static_cast<uint32_t>(*p - '0');
      ++p;
    }
    if (p != start && (p == end || *p == ',')) {
      *value = static_cast<float>(integer);
      return p;
    }
    auto [field_end, error] = std::from_chars(start, end, *value);
    if (error != std::errc() || (field_end != end && *field_end != ',') || !std::isfinite(*value)) {
      return nullptr;
    }
    return field_end;
  }

  RecordBlock* block_;
};

}  // namespace

Result<RecordBlock> ReadCsvShard(const std::string& path) {
  RecordBlock block;
  RecordParser parser(&block);
  AIMASS_RETURN_IF_ERROR(ForEachRecord(path, [&](std::string_view line) {
    return parser.Parse(line);
  }));
  block.features.shrink_to_fit();
  return block;
}

Result<CsvShardShape> ScanCsvShard(const std::string& path) {
  CsvShardShape shape;
  AIMASS_RETURN_IF_ERROR(ForEachRecord(path, [&](std::string_view line) {
    const uint64_t fields = 1 + std::count(line.begin(), line.end(), ',');
    if (shape.records == 0) {
      if (fields < 3) {
        return Status::Error("found " + std::to_string(fields) +
                             " field(s); a record needs id,label and at least one feature");
      }
      if (fields - 2 > UINT32_MAX) return Status::Error("too many fields");
      shape.feature_count = static_cast<uint32_t>(fields - 2);
    } else if (fields != uint64_t{shape.feature_count} + 2) {
      return WrongFieldCount(shape.feature_count + 2, fields);
    }
    ++shape.records;
    return Status::Ok();
  }));
  return shape;
}

namespace {

// Integral values (pixels) are written as integers: shorter and faster than the float path.
char* WriteFeature(char* out, char* limit, float value) {
  if (std::fabs(value) < 16777216.0f && value == std::trunc(value) &&
      !(value == 0 && std::signbit(value))) {
    return std::to_chars(out, limit, static_cast<int32_t>(value)).ptr;
  }
  return std::to_chars(out, limit, value).ptr;  // shortest text that reads back exactly
}

Result<std::string> GzipCompress(const std::string& text, int level) {
  z_stream zs{};
  if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return Status::Error("deflateInit failed (level " + std::to_string(level) + ")");
  }
  std::string compressed(deflateBound(&zs, text.size()), '\0');
  constexpr size_t kMaxChunk = 1u << 30;  // avail_in and avail_out are 32-bit
  size_t in_done = 0, out_done = 0;
  int code = Z_OK;
  while (code != Z_STREAM_END) {
    if (compressed.size() - out_done < 64) compressed.resize(compressed.size() * 2);
    const size_t in_chunk = std::min(text.size() - in_done, kMaxChunk);
    const size_t out_chunk = std::min(compressed.size() - out_done, kMaxChunk);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data() + in_done));
    zs.avail_in = static_cast<uInt>(in_chunk);
    zs.next_out = reinterpret_cast<Bytef*>(compressed.data() + out_done);
    zs.avail_out = static_cast<uInt>(out_chunk);
    code = deflate(&zs, in_done + in_chunk == text.size() ? Z_FINISH : Z_NO_FLUSH);
    in_done += in_chunk - zs.avail_in;
    out_done += out_chunk - zs.avail_out;
    if (code != Z_OK && code != Z_STREAM_END && code != Z_BUF_ERROR) {
      deflateEnd(&zs);
      return Status::Error("deflate failed: zlib error " + std::to_string(code));
    }
  }
  deflateEnd(&zs);
  compressed.resize(out_done);
  return compressed;
}

}  // namespace

Result<std::string> EncodeCsvShard(const RecordBlock& block, size_t begin, size_t end, bool gzip,
                                   const CsvWriteOptions& options) {
  const size_t features = block.feature_count;
  if (block.labels.size() != block.size() || block.features.size() != block.size() * features) {
    return Status::Error("inconsistent record block: " + std::to_string(block.size()) + " ids, " +
                         std::to_string(block.labels.size()) + " labels, " +
                         std::to_string(block.features.size()) + " feature values");
  }
  if (begin > end || end > block.size()) return Status::Error("record range out of bounds");
  if (features == 0 && end > begin) return Status::Error("records need at least one feature");

  std::string text;
  if (options.header) {
    text = "id,label";
    for (size_t f = 0; f < features; ++f) {
      text += ',';
      text += options.feature_prefix;
      text += std::to_string(f);
    }
    text += '\n';
  }
  // Each record is written straight into `text` with room for its longest possible form.
  const size_t max_record_chars = 2 * 21 + features * 25 + 1;
  size_t used = text.size();
  text.resize(used + (end - begin) * std::min<size_t>(max_record_chars, 4 * features + 16));
  for (size_t i = begin; i < end; ++i) {
    if (text.size() - used < max_record_chars) {
      text.resize(std::max(text.size() * 3 / 2, used + max_record_chars));
    }
    char* out = text.data() + used;
    char* const limit = text.data() + text.size();
    out = std::to_chars(out, limit, block.ids[i]).ptr;
    *out++ = ',';
    out = std::to_chars(out, limit, block.labels[i]).ptr;
    const float* values = block.record_features(i);
    for (size_t f = 0; f < features; ++f) {
      if (!std::isfinite(values[f])) {
        return Status::Error("record id " + std::to_string(block.ids[i]) + ": feature " +
                             std::to_string(f) + " is not finite");
      }
      *out++ = ',';
      out = WriteFeature(out, limit, values[f]);
    }
    *out++ = '\n';
    used = out - text.data();
  }
  text.resize(used);
  if (!gzip) return text;
  return GzipCompress(text, options.gzip_level);
}

Status WriteCsvShard(const std::string& path, const RecordBlock& block,
                     const CsvWriteOptions& options) {
  auto contents = EncodeCsvShard(block, 0, block.size(), EndsWith(path, ".gz"), options);
  if (!contents.ok()) return contents.status().WithContext(path);
  return Env::Default().WriteFileAtomically(path, contents.value());
}

Status WriteCsvShard(const std::string& path, const RecordBlock& block) {
  return WriteCsvShard(path, block, CsvWriteOptions());
}

}  // namespace aimass::data
