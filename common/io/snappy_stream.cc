// Hadoop SnappyCodec (.snappy) input. Hadoop does not write the snappy framing format but its
// own BlockCompressorStream framing around raw snappy:
//
//   file  := block*
//   block := u32be uncompressed_length, chunk+   (chunks until uncompressed_length is produced)
//   chunk := u32be compressed_length, raw snappy bytes
//
// A block with uncompressed length 0 ends the stream and whatever follows it is not read, as in
// Hadoop's BlockDecompressorStream: it is how Hadoop writes an empty file (then one empty chunk).
// Memory is one chunk, compressed and uncompressed: Hadoop's chunks are its codec buffer size,
// 256 KiB by default. Every length is checked before it is allocated: a chunk's uncompressed
// length (a varint of up to 5 bytes, so up to 4 GiB) against the caller's cap and its block's
// remainder, its compressed length against snappy's worst case for the cap.
#include <snappy-c.h>
#include <stdint.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "common/io/codec_streams.h"
#include "common/io/record_limit.h"

namespace aimass::io::internal {
namespace {

class SnappyStream : public InputStream {
 public:
  SnappyStream(std::unique_ptr<InputStream> raw, const std::string& path,
               uint64_t max_chunk_bytes)
      : raw_(std::move(raw)),
        path_(path),
        max_chunk_bytes_(max_chunk_bytes),
        max_compressed_bytes_(
            snappy_max_compressed_length(static_cast<size_t>(std::min<uint64_t>(
                max_chunk_bytes, std::numeric_limits<uint32_t>::max() / 2)))) {}

  Result<size_t> Read(char* data, size_t size) override {
    if (size == 0) return size_t{0};
    while (out_pos_ == out_end_) {
      if (done_) return size_t{0};
      AIMASS_RETURN_IF_ERROR(NextChunk());
    }
    const size_t n = std::min(size, out_end_ - out_pos_);
    memcpy(data, out_.data() + out_pos_, n);
    out_pos_ += n;
    return n;
  }

 private:
  // Decodes the next chunk into out_, reading a block header first where one is due.
  Status NextChunk() {
    out_pos_ = out_end_ = 0;
    if (block_remaining_ == 0) {
      block_offset_ = offset_;
      uint32_t block_length = 0;
      AIMASS_ASSIGN_OR_RETURN(const bool has_block, ReadU32(&block_length, /*eof_ok=*/true));
      if (!has_block || block_length == 0) {
        done_ = true;
        return Status::Ok();
      }
      block_remaining_ = block_length;
    }
    const uint64_t chunk_offset = offset_;
    uint32_t compressed_length = 0;
    AIMASS_RETURN_IF_ERROR(ReadU32(&compressed_length, /*eof_ok=*/false).status());
    if (compressed_length > max_compressed_bytes_) {
      return OverCap("compressed chunk", compressed_length, chunk_offset);
    }
    AIMASS_RETURN_IF_ERROR(ReadCompressed(compressed_length));

    size_t uncompressed_length = 0;
    if (snappy_uncompressed_length(compressed_.data(), compressed_.size(), &uncompressed_length) !=
        SNAPPY_OK) {
      return Corrupt("bad chunk at byte " + std::to_string(chunk_offset));
    }
    if (uncompressed_length > max_chunk_bytes_) {
      return OverCap("chunk", uncompressed_length, chunk_offset);
    }
    if (uncompressed_length > block_remaining_) {
      return Corrupt("chunk at byte " + std::to_string(chunk_offset) + " holds " +
                     std::to_string(uncompressed_length) + " bytes, past its block's end");
    }
    // Grown, never shrunk, so that a chunk costs no zero-filling of the buffer.
    if (out_.size() < uncompressed_length) out_.resize(uncompressed_length);
    size_t produced = uncompressed_length;
    if (snappy_uncompress(compressed_.data(), compressed_.size(), out_.data(), &produced) !=
            SNAPPY_OK ||
        produced != uncompressed_length) {
      return Corrupt("bad chunk at byte " + std::to_string(chunk_offset));
    }
    out_end_ = uncompressed_length;
    block_remaining_ -= uncompressed_length;
    return Status::Ok();
  }

  // The chunk's `length` compressed bytes into compressed_, grown as they arrive so that a
  // length past the end of the file costs no allocation of the bytes that are not there.
  Status ReadCompressed(uint32_t length) {
    constexpr size_t kStep = size_t{1} << 20;
    compressed_.clear();
    while (compressed_.size() < length) {
      const size_t have = compressed_.size();
      const size_t want = std::min<size_t>(length - have, kStep);
      compressed_.resize(have + want);
      AIMASS_ASSIGN_OR_RETURN(const size_t n, ReadFully(*raw_, compressed_.data() + have, want));
      offset_ += n;
      if (n < want) return Truncated();
    }
    return Status::Ok();
  }

  // A big-endian u32; false at a clean end of file where `eof_ok`.
  Result<bool> ReadU32(uint32_t* value, bool eof_ok) {
    unsigned char bytes[4];
    AIMASS_ASSIGN_OR_RETURN(const size_t n,
                            ReadFully(*raw_, reinterpret_cast<char*>(bytes), sizeof bytes));
    offset_ += n;
    if (n == 0 && eof_ok) return false;
    if (n < sizeof bytes) return Truncated();
    *value = uint32_t{bytes[0]} << 24 | uint32_t{bytes[1]} << 16 | uint32_t{bytes[2]} << 8 |
             uint32_t{bytes[3]};
    return true;
  }

  Status Truncated() const {
    return Status::Corruption(path_ + ": truncated snappy block at byte " +
                              std::to_string(block_offset_) + " (the file ends at byte " +
                              std::to_string(offset_) + ")");
  }

  Status Corrupt(const std::string& what) const {
    return Status::Corruption(path_ + ": corrupt snappy block at byte " +
                              std::to_string(block_offset_) + " (" + what + ")");
  }

  Status OverCap(const char* what, uint64_t length, uint64_t chunk_offset) const {
    return Corrupt(std::string(what) + " at byte " + std::to_string(chunk_offset) +
                   " announces " + std::to_string(length) + " bytes, " +
                   RecordCapAdvice(max_chunk_bytes_));
  }

  std::unique_ptr<InputStream> raw_;
  const std::string path_;
  const uint64_t max_chunk_bytes_;
  const size_t max_compressed_bytes_;
  std::vector<char> compressed_;
  std::vector<char> out_;
  size_t out_pos_ = 0;  // out_[out_pos_, out_end_) is decoded and not yet read
  size_t out_end_ = 0;
  uint64_t offset_ = 0;        // compressed bytes read so far
  uint64_t block_offset_ = 0;  // where the current block's header starts
  uint64_t block_remaining_ = 0;
  bool done_ = false;
};

}  // namespace

Result<std::unique_ptr<InputStream>> NewSnappyStream(std::unique_ptr<InputStream> raw,
                                                     const std::string& path,
                                                     uint64_t max_chunk_bytes) {
  return std::unique_ptr<InputStream>(new SnappyStream(std::move(raw), path, max_chunk_bytes));
}

}  // namespace aimass::io::internal
