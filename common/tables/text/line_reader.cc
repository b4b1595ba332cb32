#include "common/tables/text/line_reader.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace aimass::tables::text {

Result<std::unique_ptr<LineReader>> LineReader::Open(const InputFile& file, const Split& split,
                                                     size_t buffer_size,
                                                     uint64_t max_line_bytes,
                                                     const std::vector<std::string>& confine_to) {
  const io::ReadConfinement confinement{
      confine_to, file.relative_path.empty() ? file.path : file.relative_path};
  if (split.whole_file) {
    std::unique_ptr<io::InputStream> stream;
    if (file.codec == io::Codec::kNone) {
      AIMASS_ASSIGN_OR_RETURN(stream, io::OpenFileStream(file.path, 0, confinement));
    } else {
      AIMASS_ASSIGN_OR_RETURN(
          stream, io::OpenDecompressedStream(file.path, file.codec, max_line_bytes, confinement));
    }
    return std::make_unique<LineReader>(std::move(stream), file.relative_path, 0, kNoEnd,
                                        /*skip_partial=*/false, /*count_lines=*/true,
                                        buffer_size, max_line_bytes);
  }
  if (file.codec != io::Codec::kNone) {
    return Status::Error(file.relative_path + ": a " + io::CodecName(file.codec) +
                         " file cannot be read from byte " + std::to_string(split.begin) +
                         ": compressed files are read as whole-file splits");
  }
  const uint64_t start = split.begin == 0 ? 0 : split.begin - 1;
  std::unique_ptr<io::InputStream> stream;
  AIMASS_ASSIGN_OR_RETURN(stream, io::OpenFileStream(file.path, start, confinement));
  return std::make_unique<LineReader>(std::move(stream), file.relative_path, start, split.end,
                                      /*skip_partial=*/split.begin > 0,
                                      /*count_lines=*/split.begin == 0, buffer_size,
                                      max_line_bytes);
}

LineReader::LineReader(std::unique_ptr<io::InputStream> stream, std::string name,
                       uint64_t stream_offset, uint64_t end, bool skip_partial, bool count_lines,
                       size_t buffer_size, uint64_t max_line_bytes)
    : stream_(std::move(stream)),
      name_(std::move(name)),
      capacity_(buffer_size < 16 ? 16 : buffer_size),
      base_offset_(stream_offset),
      end_(end),
      max_line_bytes_(max_line_bytes),
      skip_partial_(skip_partial),
      count_lines_(count_lines) {
  buffer_.reset(new char[capacity_]);  // not value-initialized: no 1 MiB memset per split
}

Result<bool> LineReader::Fill() {
  if (eof_) return false;
  if (pos_ > 0) {
    std::memmove(buffer_.get(), buffer_.get() + pos_, limit_ - pos_);
    base_offset_ += pos_;
    limit_ -= pos_;
    scan_ -= pos_;
    pos_ = 0;
  }
  if (limit_ == capacity_) {  // one line fills the buffer: make room for the rest of it
    // The line plus "\r\n" fits in max_line_bytes_ + 2; past that it is too long, and the
    // buffer must not grow on (a file without newlines would otherwise be read into memory).
    const uint64_t most = max_line_bytes_ + 2;
    if (capacity_ >= most) return LineTooLong();
    const size_t grown = static_cast<size_t>(std::min<uint64_t>(uint64_t{capacity_} * 2, most));
    std::unique_ptr<char[]> bigger(new char[grown]);
    std::memcpy(bigger.get(), buffer_.get(), limit_);
    buffer_ = std::move(bigger);
    capacity_ = grown;
  }
  auto got = stream_->Read(buffer_.get() + limit_, capacity_ - limit_);
  if (!got.ok()) return got.status().WithContext(name_);
  if (got.value() == 0) {
    eof_ = true;
    return false;
  }
  limit_ += got.value();
  return true;
}

Status LineReader::LineTooLong() const {
  std::string where = "the line at byte " + std::to_string(base_offset_ + pos_);
  if (count_lines_) where += " (line " + std::to_string(line_number_ + 1) + ")";
  return Status::Corruption(name_ + ": " + where + " is longer than " +
                            std::to_string(max_line_bytes_) + " bytes, " +
                            io::RecordCapAdvice(max_line_bytes_));
}

Result<bool> LineReader::Next(Line* line) {
  if (skip_partial_) {
    // Discard the tail of the line that started before the split (or, when the byte before
    // `begin` is '\n', just that byte).
    while (true) {
      const void* newline = std::memchr(buffer_.get() + pos_, '\n', limit_ - pos_);
      if (newline != nullptr) {
        pos_ = static_cast<size_t>(static_cast<const char*>(newline) - buffer_.get()) + 1;
        scan_ = pos_;
        break;
      }
      pos_ = limit_;
      scan_ = limit_;
      AIMASS_ASSIGN_OR_RETURN(bool more, Fill());
      if (!more) {
        done_ = true;
        break;
      }
    }
    skip_partial_ = false;
  }
  while (!done_) {
    if (base_offset_ + pos_ >= end_) {  // the next line starts in the following split
      done_ = true;
      break;
    }
    const char* data = buffer_.get();
    const void* found = std::memchr(data + scan_, '\n', limit_ - scan_);
    size_t line_end;
    size_t next;
    if (found != nullptr) {
      line_end = static_cast<size_t>(static_cast<const char*>(found) - data);
      next = line_end + 1;
    } else {
      scan_ = limit_;
      AIMASS_ASSIGN_OR_RETURN(bool more, Fill());
      if (more) continue;
      if (pos_ == limit_) {  // the file ended with a newline
        done_ = true;
        break;
      }
      line_end = limit_;  // a last line without a newline
      next = limit_;
      data = buffer_.get();
    }
    const size_t start = pos_;
    size_t length = line_end - start;
    if (length > 0 && data[start + length - 1] == '\r') --length;
    if (length > max_line_bytes_) return LineTooLong();  // a buffer larger than the cap held it
    pos_ = next;
    scan_ = next;
    const uint64_t number = count_lines_ ? ++line_number_ : 0;
    if (length == 0) continue;  // empty lines are no records
    line->text = std::string_view(data + start, length);
    line->offset = base_offset_ + start;
    line->number = number;
    return true;
  }
  return false;
}

}  // namespace aimass::tables::text
