// ByteReader: buffered, exact-size reads over an io::InputStream, with the offset reached in
// the (decompressed) stream, for the binary record readers. Internal to aimass_tables_binary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/io/input_stream.h"
#include "common/status.h"

namespace aimass::tables::binary {

class ByteReader {
 public:
  explicit ByteReader(std::unique_ptr<io::InputStream> stream, size_t buffer_size = 1 << 18);

  // Reads up to `size` bytes into `data`: exactly `size` unless the stream ends first. Returns
  // how many were read (0: the stream had already ended).
  Result<size_t> Read(char* data, size_t size);

  // Replaces `out` with up to `size` bytes. Grows `out` as bytes arrive, so a corrupt length
  // field that promises gigabytes cannot allocate them before the data is there.
  Result<size_t> ReadInto(std::string* out, uint64_t size);

  // Bytes consumed so far: the offset of the next byte in the (decompressed) stream.
  uint64_t offset() const { return offset_; }

 private:
  // Refills the buffer; false at the end of the stream.
  Result<bool> Fill();

  std::unique_ptr<io::InputStream> stream_;
  std::vector<char> buffer_;
  size_t begin_ = 0;  // first unconsumed byte of buffer_
  size_t end_ = 0;    // one past the last valid byte of buffer_
  uint64_t offset_ = 0;
  bool eof_ = false;
};

}  // namespace aimass::tables::binary
