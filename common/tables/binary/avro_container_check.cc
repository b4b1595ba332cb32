#include "common/tables/binary/avro_container_check.h"

#include <avro.h>
#include <snappy-c.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "common/io/record_limit.h"

namespace aimass::tables::binary {
namespace {

constexpr size_t kSyncBytes = 16;
constexpr uint64_t kDeflateMaxRatio = 1032;  // zlib's technical note: the most deflate expands

// Sequential reads over the container with the offset reached, and the file's size, so that
// every length can be checked against what is left.
class ContainerScanner {
 public:
  ContainerScanner(std::FILE* file, const std::string& name, uint64_t max_record_bytes)
      : file_(file), name_(name), cap_(max_record_bytes) {}

  Status Run() {
    if (::fseeko(file_, 0, SEEK_END) != 0) return IoError();
    const off_t size = ::ftello(file_);
    if (size < 0 || ::fseeko(file_, 0, SEEK_SET) != 0) return IoError();
    size_ = static_cast<uint64_t>(size);

    char magic[4];
    if (!ReadExact(magic, sizeof magic) || std::memcmp(magic, "Obj\x01", 4) != 0) {
      return Corrupt(0, "not an Avro object container file (no 'Obj\\x01' magic)");
    }
    AIMASS_RETURN_IF_ERROR(ReadMetadata());
    AIMASS_RETURN_IF_ERROR(CheckSchemaAndCodec());
    if (!ReadExact(sync_, kSyncBytes)) return Truncated("the header's sync marker");
    while (offset_ < size_) AIMASS_RETURN_IF_ERROR(ReadBlock());
    return Status::Ok();
  }

 private:
  // The header's metadata map: blocks of (key, value) pairs; a negative count is followed by
  // the block's byte size. Only avro.codec is kept.
  Status ReadMetadata() {
    for (;;) {
      const uint64_t at = offset_;
      int64_t count = 0;
      AIMASS_RETURN_IF_ERROR(ReadLong(&count, "metadata count"));
      if (count == 0) return Status::Ok();
      if (count < 0) {
        int64_t bytes = 0;
        AIMASS_RETURN_IF_ERROR(ReadLong(&bytes, "metadata block size"));
        count = count == INT64_MIN ? INT64_MAX : -count;
      }
      // Each entry takes at least two bytes (two empty lengths).
      if (static_cast<uint64_t>(count) > (size_ - offset_) / 2) {
        return Corrupt(at, "metadata count " + std::to_string(count) + " is past the file's end");
      }
      for (int64_t i = 0; i < count; ++i) {
        std::string key;
        std::string value;
        AIMASS_RETURN_IF_ERROR(ReadBytes(&key, "metadata key"));
        AIMASS_RETURN_IF_ERROR(ReadBytes(&value, "metadata value"));
        if (key == "avro.codec") codec_ = value;
        if (key == "avro.schema") {
          schema_ = value;
          has_schema_ = true;
        }
      }
    }
  }

  // What libavro's header reader refuses, refused here first: its error paths leak the reader
  // they were building (libavro 1.11), so a bad header must never reach it.
  Status CheckSchemaAndCodec() {
    if (!has_schema_) return Corrupt(0, "the header has no avro.schema");
    avro_schema_t schema = nullptr;
    if (avro_schema_from_json_length(schema_.data(), schema_.size(), &schema) != 0) {
      const char* error = avro_strerror();
      return Corrupt(0, std::string("the header's avro.schema does not parse: ") +
                            (error != nullptr ? error : "unknown libavro error"));
    }
    avro_schema_decref(schema);
    if (codec_ != "null" && codec_ != "deflate" && codec_ != "snappy" && codec_ != "lzma") {
      return Corrupt(0, "unsupported avro.codec '" + codec_ +
                            "' (supported: null, deflate, snappy, lzma)");
    }
    return Status::Ok();
  }

  Status ReadBlock() {
    const uint64_t at = offset_;
    int64_t count = 0;
    int64_t bytes = 0;
    AIMASS_RETURN_IF_ERROR(ReadLong(&count, "block count"));
    AIMASS_RETURN_IF_ERROR(ReadLong(&bytes, "block size"));
    if (count < 0) return Corrupt(at, "negative block count " + std::to_string(count));
    if (bytes < 0) return Corrupt(at, "negative block size " + std::to_string(bytes));
    const auto size = static_cast<uint64_t>(bytes);
    if (size > cap_) return OverCap(at, "block of " + std::to_string(size) + " bytes");
    if (static_cast<uint64_t>(count) > cap_) {
      return OverCap(at, "block of " + std::to_string(count) + " records");
    }
    if (size > size_ - offset_ || size_ - offset_ - size < kSyncBytes) {
      return Corrupt(at, "block of " + std::to_string(size) + " bytes runs past the file's end (" +
                             std::to_string(size_) + " bytes)");
    }
    const uint64_t data_at = offset_;
    // libavro decodes the first block when it opens the file, and leaks the reader when that
    // fails: the first block is decoded here in full, every later one only as far as its size.
    const bool first = blocks_++ == 0;
    if (codec_ == "snappy") {
      AIMASS_RETURN_IF_ERROR(first ? DecodeSnappy(at, size) : CheckSnappy(at, size));
    } else if (codec_ == "deflate" && (first || size > cap_ / kDeflateMaxRatio)) {
      AIMASS_RETURN_IF_ERROR(CheckDeflate(at, size, /*strict=*/first));
    }
    if (::fseeko(file_, static_cast<off_t>(data_at + size), SEEK_SET) != 0) return IoError();
    offset_ = data_at + size;
    char sync[kSyncBytes];
    if (!ReadExact(sync, kSyncBytes)) return Truncated("a block's sync marker");
    if (std::memcmp(sync, sync_, kSyncBytes) != 0) {
      return Corrupt(at, "the block's sync marker does not match the header's");
    }
    return Status::Ok();
  }

  // A snappy block is raw snappy and a 4-byte CRC; the raw snappy starts with the uncompressed
  // length, a varint of at most 5 bytes, which libavro allocates.
  Status CheckSnappy(uint64_t at, uint64_t size) {
    char head[5];
    const size_t want = static_cast<size_t>(std::min<uint64_t>(size, sizeof head));
    if (!ReadExact(head, want)) return Truncated("a snappy block");
    size_t length = 0;
    // A short head can fail to parse only for a block that libavro refuses as well.
    if (snappy_uncompressed_length(head, want, &length) == SNAPPY_OK && length > cap_) {
      return OverCap(at, "snappy block that decompresses to " + std::to_string(length) + " bytes");
    }
    return Status::Ok();
  }

  // Decodes a snappy block as libavro does: raw snappy, then the CRC-32 (big-endian) of the
  // decoded bytes.
  Status DecodeSnappy(uint64_t at, uint64_t size) {
    if (size < 4) return Corrupt(at, "a snappy block of " + std::to_string(size) + " bytes");
    std::string block(static_cast<size_t>(size), '\0');
    if (!ReadExact(block.data(), block.size())) return Truncated("a snappy block");
    const size_t compressed = block.size() - 4;
    size_t length = 0;
    if (snappy_uncompressed_length(block.data(), compressed, &length) != SNAPPY_OK) {
      return Corrupt(at, "a snappy block without a valid length");
    }
    if (length > cap_) {
      return OverCap(at, "snappy block that decompresses to " + std::to_string(length) + " bytes");
    }
    std::string decoded(length, '\0');
    if (snappy_uncompress(block.data(), compressed, decoded.data(), &length) != SNAPPY_OK) {
      return Corrupt(at, "a snappy block that does not decompress");
    }
    const auto* crc_bytes = reinterpret_cast<const unsigned char*>(block.data() + compressed);
    const uint32_t stored = uint32_t{crc_bytes[0]} << 24 | uint32_t{crc_bytes[1]} << 16 |
                            uint32_t{crc_bytes[2]} << 8 | uint32_t{crc_bytes[3]};
    const auto crc = static_cast<uint32_t>(
        crc32(0L, reinterpret_cast<const Bytef*>(decoded.data()), static_cast<uInt>(length)));
    if (crc != stored) return Corrupt(at, "a snappy block that fails its CRC");
    return Status::Ok();
  }

  // Inflates the block (raw deflate, as Avro writes it) counting its output only. `strict`:
  // a stream that is corrupt or cut off is an error too (else libavro reports it later).
  Status CheckDeflate(uint64_t at, uint64_t size, bool strict) {
    z_stream z{};
    if (inflateInit2(&z, -15) != Z_OK) return Status::Error(name_ + ": cannot start zlib");
    std::vector<unsigned char> in(1 << 16);
    std::vector<unsigned char> out(1 << 16);
    uint64_t left = size;
    uint64_t produced = 0;
    Status status;
    int rc = Z_OK;
    while (rc != Z_STREAM_END && status.ok()) {
      if (z.avail_in == 0) {
        if (left == 0) {
          if (strict) status = Corrupt(at, "a deflate block cut off inside its stream");
          break;
        }
        const size_t n = static_cast<size_t>(std::min<uint64_t>(left, in.size()));
        if (!ReadExact(reinterpret_cast<char*>(in.data()), n)) {
          status = Truncated("a deflate block");
          break;
        }
        left -= n;
        z.next_in = in.data();
        z.avail_in = static_cast<uInt>(n);
      }
      z.next_out = out.data();
      z.avail_out = static_cast<uInt>(out.size());
      rc = inflate(&z, Z_NO_FLUSH);
      produced += out.size() - z.avail_out;
      if (produced > cap_) {
        status = OverCap(at, "deflate block that inflates past " + std::to_string(produced) +
                                 " bytes");
      } else if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
        if (strict) status = Corrupt(at, "a deflate block that does not inflate");
        break;
      }
    }
    inflateEnd(&z);
    return status;
  }

  // Avro's long: a zigzag varint of at most 10 bytes.
  Status ReadLong(int64_t* value, const char* what) {
    const uint64_t at = offset_;
    uint64_t raw = 0;
    for (int shift = 0;; shift += 7) {
      if (shift > 63) return Corrupt(at, std::string("overlong varint for the ") + what);
      const int byte = std::getc(file_);
      if (byte == EOF) {
        if (std::ferror(file_)) return IoError();
        return Truncated(std::string("the ") + what);
      }
      ++offset_;
      raw |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) break;
    }
    *value = static_cast<int64_t>(raw >> 1) ^ -static_cast<int64_t>(raw & 1);
    return Status::Ok();
  }

  Status ReadBytes(std::string* out, const char* what) {
    const uint64_t at = offset_;
    int64_t length = 0;
    AIMASS_RETURN_IF_ERROR(ReadLong(&length, what));
    if (length < 0 || static_cast<uint64_t>(length) > size_ - offset_) {
      return Corrupt(at, std::string(what) + " length " + std::to_string(length) +
                             " is past the file's end");
    }
    if (static_cast<uint64_t>(length) > cap_) {
      return OverCap(at, std::string(what) + " of " + std::to_string(length) + " bytes");
    }
    out->resize(static_cast<size_t>(length));
    if (!ReadExact(out->data(), out->size())) return Truncated(what);
    return Status::Ok();
  }

  bool ReadExact(char* data, size_t size) {
    const size_t n = std::fread(data, 1, size, file_);
    offset_ += n;
    return n == size;
  }

  Status Corrupt(uint64_t at, const std::string& what) const {
    return Status::Corruption(name_ + ": corrupt Avro file at byte " + std::to_string(at) + ": " +
                              what);
  }
  Status OverCap(uint64_t at, const std::string& what) const {
    return Status::Corruption(name_ + ": Avro " + what + " at byte " + std::to_string(at) + " is " +
                              io::RecordCapAdvice(cap_));
  }
  Status Truncated(const std::string& what) const {
    return Status::Corruption(name_ + ": truncated Avro file: it ends at byte " +
                              std::to_string(offset_) + " inside " + what);
  }
  Status IoError() const {
    return Status::IOError(name_ + ": read failed: " + std::strerror(errno));
  }

  std::FILE* const file_;
  const std::string& name_;
  const uint64_t cap_;
  uint64_t size_ = 0;
  uint64_t offset_ = 0;
  char sync_[kSyncBytes] = {};
  std::string codec_ = "null";
  std::string schema_;
  bool has_schema_ = false;
  uint64_t blocks_ = 0;
};

}  // namespace

Status CheckAvroContainer(std::FILE* file, const std::string& name, uint64_t max_record_bytes) {
  return ContainerScanner(file, name, max_record_bytes).Run();
}

}  // namespace aimass::tables::binary
