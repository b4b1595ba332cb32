#include "common/tables/binary/avro_container.h"

#include <lzma.h>
#include <snappy-c.h>
#include <zlib.h>

#include <boost/json.hpp>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <optional>
#include <set>
#include <utility>

#include "common/io/record_limit.h"

namespace aimass::tables::binary {
namespace {

// The first size a deflate or lzma block's output buffer gets, before it doubles (to the cap).
constexpr size_t kFirstOutputBytes = size_t{1} << 16;

// The first size of the output buffer of a deflate or lzma block of `in` bytes: room for a
// usual ratio, at most one byte past the cap.
size_t FirstOutputSize(size_t in, uint64_t cap) {
  return static_cast<size_t>(
      std::min<uint64_t>(cap + 1, std::max<uint64_t>(kFirstOutputBytes, uint64_t{in} * 4)));
}

// The next size of an output buffer of `size` bytes that is full: doubled, but at most
// `cap + 1` (one byte past the cap is how a block that decodes past it shows).
size_t Grown(size_t size, uint64_t cap) {
  return static_cast<size_t>(std::min<uint64_t>(uint64_t{size} * 2, cap + 1));
}

// The full names of the named types (record, enum, fixed) a schema defines, formed as libavro
// forms them: a dotted name is its own full name; else "<namespace>.<name>", the namespace being
// the type's own or, failing that, the enclosing record's. An empty namespace counts as none.
class NamedTypeWalk {
 public:
  // The first full name defined twice, or empty.
  const std::string& duplicate() const { return duplicate_; }

  void Walk(const boost::json::value& type, const std::optional<std::string>& space) {
    if (!duplicate_.empty()) return;
    if (type.is_array()) {  // a union
      for (const boost::json::value& branch : type.get_array()) Walk(branch, space);
      return;
    }
    if (!type.is_object()) return;  // a primitive or a reference to a named type
    const boost::json::object& object = type.get_object();
    const boost::json::value* kind = object.if_contains("type");
    if (kind == nullptr || !kind->is_string()) return;
    const std::string_view name_of_kind = kind->get_string();
    if (name_of_kind == "array" || name_of_kind == "map") {
      const boost::json::value* inner =
          object.if_contains(name_of_kind == "array" ? "items" : "values");
      if (inner != nullptr) Walk(*inner, space);
      return;
    }
    if (name_of_kind != "record" && name_of_kind != "enum" && name_of_kind != "fixed") return;
    const boost::json::value* name_value = object.if_contains("name");
    if (name_value == nullptr || !name_value->is_string()) return;
    const std::string name(name_value->get_string());
    std::optional<std::string> own = space;
    std::string full = name;
    if (const size_t dot = name.rfind('.'); dot != std::string::npos) {
      own = name.substr(0, dot);
    } else {
      if (const boost::json::value* given = object.if_contains("namespace");
          given != nullptr && given->is_string()) {
        own = std::string(given->get_string());
      }
      if (own && !own->empty()) full = *own + "." + name;
    }
    if (own && own->empty()) own.reset();
    if (!seen_.insert(full).second) {
      duplicate_ = full;
      return;
    }
    const boost::json::value* fields = object.if_contains("fields");
    if (name_of_kind != "record" || fields == nullptr || !fields->is_array()) return;
    for (const boost::json::value& field : fields->get_array()) {
      if (!field.is_object()) continue;
      if (const boost::json::value* field_type = field.get_object().if_contains("type")) {
        Walk(*field_type, own);
      }
    }
  }

 private:
  std::set<std::string> seen_;
  std::string duplicate_;
};

}  // namespace

AvroContainer::AvroContainer(std::FILE* file, std::string name, uint64_t max_record_bytes)
    : file_(file), name_(std::move(name)), cap_(max_record_bytes) {}

AvroContainer::~AvroContainer() {
  if (schema_ != nullptr) avro_schema_decref(schema_);
  std::fclose(file_);
}

Status AvroContainer::Open() {
  if (::fseeko(file_, 0, SEEK_END) != 0) return IoError();
  const off_t size = ::ftello(file_);
  if (size < 0 || ::fseeko(file_, 0, SEEK_SET) != 0) return IoError();
  size_ = static_cast<uint64_t>(size);
  offset_ = 0;

  char magic[4];
  if (!ReadExact(magic, sizeof magic) || std::memcmp(magic, "Obj\x01", 4) != 0) {
    return Corrupt(0, "not an Avro object container file (no 'Obj\\x01' magic)");
  }
  AIMASS_RETURN_IF_ERROR(ReadMetadata());
  AIMASS_RETURN_IF_ERROR(ParseSchemaAndCodec());
  if (!ReadExact(sync_, kAvroSyncBytes)) return Truncated("the header's sync marker");
  first_block_ = offset_;
  // Every block's framing, seeking over the data: the file is read in full only by NextBlock.
  while (offset_ < size_) {
    const uint64_t at = offset_;
    uint64_t count = 0;
    uint64_t bytes = 0;
    AIMASS_RETURN_IF_ERROR(ReadBlockHeader(&count, &bytes));
    AIMASS_RETURN_IF_ERROR(Seek(offset_ + bytes));
    AIMASS_RETURN_IF_ERROR(ReadSync(at));
  }
  return Seek(first_block_);
}

Result<bool> AvroContainer::NextBlock(AvroBlock* block) {
  if (offset_ >= size_) return false;
  const uint64_t at = offset_;
  uint64_t count = 0;
  uint64_t bytes = 0;
  AIMASS_RETURN_IF_ERROR(ReadBlockHeader(&count, &bytes));
  // `bytes` is at most the cap and within the file (checked above).
  std::string* stored = codec_ == "null" ? &block->data : &raw_;
  stored->resize(static_cast<size_t>(bytes));
  if (!ReadExact(stored->data(), stored->size())) return Truncated("a block's data");
  AIMASS_RETURN_IF_ERROR(ReadSync(at));
  block->offset = at;
  block->count = count;
  if (codec_ != "null") AIMASS_RETURN_IF_ERROR(Decode(at, raw_, &block->data));
  return true;
}

// The header's metadata map: blocks of (key, value) pairs; a negative count is followed by the
// block's byte size. Only avro.codec and avro.schema are kept.
Status AvroContainer::ReadMetadata() {
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
        schema_json_ = std::move(value);
        has_schema_ = true;
      }
    }
  }
}

Status AvroContainer::ParseSchemaAndCodec() {
  if (!has_schema_) return Corrupt(0, "the header has no avro.schema");
  // libavro's schema parser leaks the type it was building when a named type's full name is
  // defined a second time ("Cannot save enum schema"): such a schema is refused here first.
  {
    boost::json::parse_options options;
    options.max_depth = 4096;  // libavro's parser (jansson) stops at 2048
    boost::json::stream_parser parser({}, options);
    boost::system::error_code error;
    const size_t parsed = parser.write(schema_json_.data(), schema_json_.size(), error);
    if (!error) parser.finish(error);
    if (error) {
      return Corrupt(0, "the header's avro.schema is not JSON (" + error.message() +
                            " at byte " + std::to_string(parsed) + " of " +
                            std::to_string(schema_json_.size()) + ")");
    }
    NamedTypeWalk walk;
    walk.Walk(parser.release(), std::nullopt);
    if (!walk.duplicate().empty()) {
      return Corrupt(0, "the header's avro.schema defines the type '" + walk.duplicate() +
                            "' twice");
    }
  }
  if (avro_schema_from_json_length(schema_json_.data(), schema_json_.size(), &schema_) != 0) {
    schema_ = nullptr;
    const char* error = avro_strerror();
    return Corrupt(0, std::string("the header's avro.schema does not parse: ") +
                          (error != nullptr && *error != '\0' ? error : "unknown libavro error"));
  }
  if (codec_ != "null" && codec_ != "deflate" && codec_ != "snappy" && codec_ != "lzma") {
    return Corrupt(0, "unsupported avro.codec '" + codec_ +
                          "' (supported: null, deflate, snappy, lzma)");
  }
  return Status::Ok();
}

Status AvroContainer::ReadBlockHeader(uint64_t* count, uint64_t* size) {
  const uint64_t at = offset_;
  int64_t records = 0;
  int64_t bytes = 0;
  AIMASS_RETURN_IF_ERROR(ReadLong(&records, "block count"));
  AIMASS_RETURN_IF_ERROR(ReadLong(&bytes, "block size"));
  if (records < 0) return Corrupt(at, "negative block count " + std::to_string(records));
  if (bytes < 0) return Corrupt(at, "negative block size " + std::to_string(bytes));
  *size = static_cast<uint64_t>(bytes);
  *count = static_cast<uint64_t>(records);
  if (*size > cap_) return OverCap(at, "block of " + std::to_string(*size) + " bytes");
  if (*count > cap_) return OverCap(at, "block of " + std::to_string(*count) + " records");
  if (*size > size_ - offset_ || size_ - offset_ - *size < kAvroSyncBytes) {
    return Corrupt(at, "block of " + std::to_string(*size) + " bytes runs past the file's end (" +
                           std::to_string(size_) + " bytes)");
  }
  return Status::Ok();
}

Status AvroContainer::ReadSync(uint64_t block_at) {
  char sync[kAvroSyncBytes];
  if (!ReadExact(sync, kAvroSyncBytes)) return Truncated("a block's sync marker");
  if (std::memcmp(sync, sync_, kAvroSyncBytes) != 0) {
    return Corrupt(block_at, "the block's sync marker does not match the header's");
  }
  return Status::Ok();
}

Status AvroContainer::Decode(uint64_t at, const std::string& in, std::string* out) {
  if (codec_ == "deflate") return DecodeDeflate(at, in, out);
  if (codec_ == "snappy") return DecodeSnappy(at, in, out);
  return DecodeLzma(at, in, out);  // the codecs were checked in Open
}

// Raw deflate (no zlib header), as Avro writes it.
Status AvroContainer::DecodeDeflate(uint64_t at, const std::string& in, std::string* out) {
  z_stream z{};
  if (inflateInit2(&z, -15) != Z_OK) return Status::Error(name_ + ": cannot start zlib");
  out->resize(FirstOutputSize(in.size(), cap_));
  size_t consumed = 0;  // of `in`, handed to zlib (in pieces of at most 4 GiB)
  size_t produced = 0;
  Status status;
  for (;;) {
    if (produced == out->size()) {
      if (produced > cap_) {
        status = OverCap(at, "deflate block that inflates past " + std::to_string(cap_) + " bytes");
        break;
      }
      out->resize(Grown(out->size(), cap_));
    }
    if (z.avail_in == 0 && consumed < in.size()) {
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data() + consumed));
      z.avail_in = static_cast<uInt>(std::min<size_t>(in.size() - consumed, UINT_MAX));
      consumed += z.avail_in;
    }
    z.next_out = reinterpret_cast<Bytef*>(out->data() + produced);
    z.avail_out = static_cast<uInt>(std::min<size_t>(out->size() - produced, UINT_MAX));
    const uInt room = z.avail_out;
    const int rc = inflate(&z, Z_NO_FLUSH);
    produced += room - z.avail_out;
    if (rc == Z_STREAM_END) {
      if (produced > cap_) {
        status = OverCap(at, "deflate block that inflates past " + std::to_string(cap_) + " bytes");
      }
      break;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      status = Corrupt(at, std::string("a deflate block that does not inflate (") +
                               (z.msg != nullptr ? z.msg : "zlib error " + std::to_string(rc)) +
                               ")");
      break;
    }
    if (z.avail_out != 0 && z.avail_in == 0 && consumed == in.size()) {
      status = Corrupt(at, "a deflate block cut off inside its stream");
      break;
    }
  }
  inflateEnd(&z);
  out->resize(status.ok() ? produced : 0);
  return status;
}

// Raw snappy, then the CRC-32 (big-endian) of the decoded bytes, as libavro writes it.
Status AvroContainer::DecodeSnappy(uint64_t at, const std::string& in, std::string* out) {
  if (in.size() < 4) return Corrupt(at, "a snappy block of " + std::to_string(in.size()) + " bytes");
  const size_t compressed = in.size() - 4;
  size_t length = 0;
  if (snappy_uncompressed_length(in.data(), compressed, &length) != SNAPPY_OK) {
    return Corrupt(at, "a snappy block without a valid length");
  }
  if (length > cap_) {
    return OverCap(at, "snappy block that decompresses to " + std::to_string(length) + " bytes");
  }
  out->resize(length);
  if (snappy_uncompress(in.data(), compressed, out->data(), &length) != SNAPPY_OK ||
      length != out->size()) {
    return Corrupt(at, "a snappy block that does not decompress");
  }
  const auto* crc_bytes = reinterpret_cast<const unsigned char*>(in.data() + compressed);
  const uint32_t stored = uint32_t{crc_bytes[0]} << 24 | uint32_t{crc_bytes[1]} << 16 |
                          uint32_t{crc_bytes[2]} << 8 | uint32_t{crc_bytes[3]};
  uLong crc = crc32(0L, Z_NULL, 0);
  for (size_t done = 0; done < length;) {
    const auto n = static_cast<uInt>(std::min<size_t>(length - done, UINT_MAX));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(out->data() + done), n);
    done += n;
  }
  if (static_cast<uint32_t>(crc) != stored) return Corrupt(at, "a snappy block that fails its CRC");
  return Status::Ok();
}

// Raw LZMA2 with the default preset's options, as libavro's lzma codec writes it.
Status AvroContainer::DecodeLzma(uint64_t at, const std::string& in, std::string* out) {
  lzma_options_lzma options;
  if (lzma_lzma_preset(&options, LZMA_PRESET_DEFAULT)) {
    return Status::Error(name_ + ": cannot set up the lzma decoder");
  }
  const lzma_filter filters[2] = {{LZMA_FILTER_LZMA2, &options}, {LZMA_VLI_UNKNOWN, nullptr}};
  lzma_stream stream = LZMA_STREAM_INIT;
  if (lzma_raw_decoder(&stream, filters) != LZMA_OK) {
    return Status::Error(name_ + ": cannot start the lzma decoder");
  }
  stream.next_in = reinterpret_cast<const uint8_t*>(in.data());
  stream.avail_in = in.size();
  out->resize(FirstOutputSize(in.size(), cap_));
  size_t produced = 0;
  Status status;
  for (;;) {
    if (produced == out->size()) {
      if (produced > cap_) {
        status = OverCap(at, "lzma block that decompresses past " + std::to_string(cap_) + " bytes");
        break;
      }
      out->resize(Grown(out->size(), cap_));
    }
    stream.next_out = reinterpret_cast<uint8_t*>(out->data() + produced);
    stream.avail_out = out->size() - produced;
    const size_t room = stream.avail_out;
    const lzma_ret rc = lzma_code(&stream, LZMA_FINISH);
    produced += room - stream.avail_out;
    if (rc == LZMA_STREAM_END) {
      if (produced > cap_) {
        status = OverCap(at, "lzma block that decompresses past " + std::to_string(cap_) + " bytes");
      }
      break;
    }
    if (rc == LZMA_OK || (rc == LZMA_BUF_ERROR && stream.avail_out == 0)) continue;
    status = Corrupt(at, rc == LZMA_BUF_ERROR ? "an lzma block cut off inside its stream"
                                              : "an lzma block that does not decompress (liblzma "
                                                "error " + std::to_string(rc) + ")");
    break;
  }
  lzma_end(&stream);
  out->resize(status.ok() ? produced : 0);
  return status;
}

// Avro's long: a zigzag varint of at most 10 bytes.
Status AvroContainer::ReadLong(int64_t* value, const char* what) {
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

Status AvroContainer::ReadBytes(std::string* out, const char* what) {
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

bool AvroContainer::ReadExact(char* data, size_t size) {
  const size_t n = size == 0 ? 0 : std::fread(data, 1, size, file_);
  offset_ += n;
  return n == size;
}

Status AvroContainer::Seek(uint64_t offset) {
  if (::fseeko(file_, static_cast<off_t>(offset), SEEK_SET) != 0) return IoError();
  offset_ = offset;
  return Status::Ok();
}

Status AvroContainer::Corrupt(uint64_t at, const std::string& what) const {
  return Status::Corruption(name_ + ": corrupt Avro file at byte " + std::to_string(at) + ": " +
                            what);
}

Status AvroContainer::OverCap(uint64_t at, const std::string& what) const {
  return Status::Corruption(name_ + ": Avro " + what + " at byte " + std::to_string(at) + " is " +
                            io::RecordCapAdvice(cap_));
}

Status AvroContainer::Truncated(const std::string& what) const {
  return Status::Corruption(name_ + ": truncated Avro file: it ends at byte " +
                            std::to_string(offset_) + " inside " + what);
}

Status AvroContainer::IoError() const {
  return Status::IOError(name_ + ": read failed: " + std::strerror(errno));
}

}  // namespace aimass::tables::binary
