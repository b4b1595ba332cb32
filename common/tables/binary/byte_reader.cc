#include "common/tables/binary/byte_reader.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace aimass::tables::binary {

ByteReader::ByteReader(std::unique_ptr<io::InputStream> stream, size_t buffer_size)
    : stream_(std::move(stream)), buffer_(std::max<size_t>(buffer_size, 4096)) {}

Result<bool> ByteReader::Fill() {
  begin_ = 0;
  end_ = 0;
  if (eof_) return false;
  AIMASS_ASSIGN_OR_RETURN(const size_t got, stream_->Read(buffer_.data(), buffer_.size()));
  if (got == 0) {
    eof_ = true;
    return false;
  }
  end_ = got;
  return true;
}

Result<size_t> ByteReader::Read(char* data, size_t size) {
  size_t done = 0;
  while (done < size) {
    if (begin_ == end_) {
      // A large read with an empty buffer goes straight to the caller's memory.
      if (size - done >= buffer_.size() && !eof_) {
        AIMASS_ASSIGN_OR_RETURN(const size_t got, stream_->Read(data + done, size - done));
        if (got == 0) {
          eof_ = true;
          break;
        }
        done += got;
        offset_ += got;
        continue;
      }
      AIMASS_ASSIGN_OR_RETURN(const bool more, Fill());
      if (!more) break;
    }
    const size_t take = std::min(size - done, end_ - begin_);
    std::memcpy(data + done, buffer_.data() + begin_, take);
    begin_ += take;
    done += take;
    offset_ += take;
  }
  return done;
}

Result<size_t> ByteReader::ReadInto(std::string* out, uint64_t size) {
  constexpr uint64_t kChunk = 1 << 20;
  out->clear();
  while (out->size() < size) {
    const size_t old_size = out->size();
    const size_t want = static_cast<size_t>(std::min<uint64_t>(size - old_size, kChunk));
    out->resize(old_size + want);
    AIMASS_ASSIGN_OR_RETURN(const size_t got, Read(out->data() + old_size, want));
    out->resize(old_size + got);
    if (got < want) break;
  }
  return out->size();
}

}  // namespace aimass::tables::binary
