// An Avro object container file, read block by block with every length it announces checked
// before anything of that size is allocated. Internal to aimass_tables_binary.
//
// libavro trusts the lengths it reads (a block's byte size, a metadata value's length, a snappy
// block's uncompressed length, a deflate block's output, and inside a block every string and
// bytes length and array or map count), so aimass reads the container itself and hands libavro
// only single records whose encoding avro_datum_check.h has walked first:
//  - Open() reads the header (magic, metadata, schema, codec, sync marker) and walks every
//    block's count, size and sync marker, seeking over the data, so that a container that is
//    corrupt or truncated anywhere is refused before its first record. It refuses a metadata
//    length or block size that is negative, past the end of the file or over the record cap
//    (TableOptions::max_record_bytes), a block count that is negative or over it, a sync marker
//    that is not the header's, a schema that does not parse or defines a type name twice
//    (libavro's parser leaks on that path, so that is checked before it runs), and a codec other
//    than null, deflate, snappy and lzma.
//  - NextBlock() reads one block and undoes its codec into a buffer that never grows past the
//    cap: deflate and lzma are decoded a buffer at a time and refused past the cap; a snappy
//    block's uncompressed length is checked before the buffer is allocated, and its CRC after.
// Errors name the file and the byte offset of the block (or header field) concerned.
#pragma once

#include <avro.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "common/status.h"

namespace aimass::tables::binary {

inline constexpr size_t kAvroSyncBytes = 16;

// One block of records with its codec undone.
struct AvroBlock {
  uint64_t offset = 0;  // of the block's record count in the file
  uint64_t count = 0;   // records in the block
  std::string data;     // the records' encoding; the buffer is reused from block to block
};

class AvroContainer {
 public:
  // Reads `file` (open for reading, at any position; closed by the destructor). `name` prefixes
  // every error; `max_record_bytes` caps every length and every decoded block.
  AvroContainer(std::FILE* file, std::string name, uint64_t max_record_bytes);
  ~AvroContainer();
  AvroContainer(const AvroContainer&) = delete;
  AvroContainer& operator=(const AvroContainer&) = delete;

  // Reads the header and walks the blocks (see above); leaves the file at the first block.
  Status Open();

  // The writer schema (owned by this object; valid after a successful Open) and the codec.
  avro_schema_t schema() const { return schema_; }
  const std::string& codec() const { return codec_; }

  // Reads and decodes the next block into *block; false at the end of the file.
  Result<bool> NextBlock(AvroBlock* block);

 private:
  Status ReadMetadata();
  Status ParseSchemaAndCodec();
  // The count and byte size that start a block, checked against the cap and the file's end.
  Status ReadBlockHeader(uint64_t* count, uint64_t* size);
  Status ReadSync(uint64_t block_at);
  Status Decode(uint64_t at, const std::string& in, std::string* out);
  Status DecodeDeflate(uint64_t at, const std::string& in, std::string* out);
  Status DecodeSnappy(uint64_t at, const std::string& in, std::string* out);
  Status DecodeLzma(uint64_t at, const std::string& in, std::string* out);
  Status ReadLong(int64_t* value, const char* what);
  Status ReadBytes(std::string* out, const char* what);
  bool ReadExact(char* data, size_t size);
  Status Seek(uint64_t offset);

  Status Corrupt(uint64_t at, const std::string& what) const;
  Status OverCap(uint64_t at, const std::string& what) const;
  Status Truncated(const std::string& what) const;
  Status IoError() const;

  std::FILE* const file_;
  const std::string name_;
  const uint64_t cap_;
  uint64_t size_ = 0;
  uint64_t offset_ = 0;
  uint64_t first_block_ = 0;
  char sync_[kAvroSyncBytes] = {};
  std::string codec_ = "null";
  std::string schema_json_;
  bool has_schema_ = false;
  avro_schema_t schema_ = nullptr;
  std::string raw_;  // a block's bytes as stored, when a codec has to undo them
};

}  // namespace aimass::tables::binary
