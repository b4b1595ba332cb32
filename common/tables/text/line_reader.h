// LineReader: the lines of one split of a line-oriented file (delimited text, JSON lines), with
// Hadoop TextInputFormat's ownership rule so that byte-range splits partition a file's lines
// exactly: a split [begin, end) owns the lines that *start* in [begin, end).
//
//  - begin > 0: reading starts at begin - 1 and discards through the first '\n', so a line that
//    starts exactly at `begin` is kept and one that started earlier belongs to the split before;
//  - the last owned line is read to its end even when that lies past `end`;
//  - a whole-file split (Split::whole_file, e.g. a compressed file) reads the whole
//    (decompressed) stream and ignores begin and end.
//
// Lines lose their "\n" and one trailing "\r" (CRLF files); a last line without a newline is a
// line; empty lines are skipped (they are no records) but are counted in line numbers.
// Reads in large blocks into one buffer and hands out views into it: no per-line allocation.
// The buffer grows for a long line up to the line cap (TableOptions::max_record_bytes) and no
// further: a longer line, or a file without newlines, is an error naming the file and the byte
// offset where the line starts.
// Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/io/input_stream.h"
#include "common/status.h"
#include "common/tables/table.h"

namespace aimass::tables::text {

struct Line {
  std::string_view text;  // without its line terminator; valid until the next call to Next
  uint64_t offset = 0;    // byte offset of the line's start in the (uncompressed) file
  uint64_t number = 0;    // 1-based line number; 0 when unknown (a split that starts past 0)
};

class LineReader {
 public:
  static constexpr size_t kDefaultBufferSize = size_t{1} << 20;
  static constexpr uint64_t kNoEnd = ~uint64_t{0};

  // Opens the split's stream: the raw file from begin - 1 for a byte range (which must be of an
  // uncompressed file), the decompressed whole file for a whole-file split. `confine_to`: the
  // table's TableOptions::confine_to (io::OpenForReading refuses a file outside them).
  static Result<std::unique_ptr<LineReader>> Open(
      const InputFile& file, const Split& split, size_t buffer_size = kDefaultBufferSize,
      uint64_t max_line_bytes = io::kDefaultMaxRecordBytes,
      const std::vector<std::string>& confine_to = {});

  // Over an already open stream whose first byte is at `stream_offset` of the file.
  // `skip_partial`: discard through the first '\n' (the stream starts at begin - 1).
  // `end`: lines starting at or past it are not returned (kNoEnd: read to the end).
  // `count_lines`: the stream starts at offset 0, so line numbers are known.
  // `name` prefixes errors. `max_line_bytes`: the longest line accepted (without terminator).
  LineReader(std::unique_ptr<io::InputStream> stream, std::string name, uint64_t stream_offset,
             uint64_t end, bool skip_partial, bool count_lines,
             size_t buffer_size = kDefaultBufferSize,
             uint64_t max_line_bytes = io::kDefaultMaxRecordBytes);

  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // The next non-empty owned line: true and `line` filled, or false at the end of the split.
  // An error is a read failure of the stream (I/O, corrupt compression).
  Result<bool> Next(Line* line);

 private:
  // Reads more bytes after the buffered ones, moving the unconsumed tail to the front and
  // growing the buffer when one line fills it. False at the end of the stream.
  Result<bool> Fill();

  // The error for the line starting at buffer_[pos_], longer than max_line_bytes_.
  Status LineTooLong() const;

  std::unique_ptr<io::InputStream> stream_;
  std::string name_;
  std::unique_ptr<char[]> buffer_;
  size_t capacity_ = 0;
  size_t pos_ = 0;    // first unconsumed byte
  size_t limit_ = 0;  // end of the buffered bytes
  size_t scan_ = 0;   // bytes in [pos_, scan_) are known to hold no '\n'
  uint64_t base_offset_ = 0;  // file offset of buffer_[0]
  uint64_t end_ = kNoEnd;
  uint64_t max_line_bytes_ = io::kDefaultMaxRecordBytes;
  bool skip_partial_ = false;
  bool count_lines_ = false;
  bool eof_ = false;
  bool done_ = false;
  uint64_t line_number_ = 0;
};

}  // namespace aimass::tables::text
