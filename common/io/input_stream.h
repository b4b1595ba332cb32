// InputStream: sequential bytes from a file, raw or decompressed, for the readers of exported
// tables (common/tables/). Compression is chosen by file extension, as Hadoop's
// CompressionCodecFactory does, so `part-00000.gz` and `000000_0.deflate` need no configuration.
//
// Errors name the file and say what is wrong ("data/part-1.gz: corrupt gzip stream: ...").
// Codes: a missing file is NotFound, a failed open/read IOError, bytes that do not decompress
// (corrupt or cut-off streams) Corruption.
// Not thread-safe: one reader thread owns a stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/io/confined_file.h"
#include "common/io/record_limit.h"
#include "common/status.h"

namespace aimass::io {

enum class Codec {
  kNone,
  kGzip,     // .gz: gzip members, concatenated members read as one stream
  kDeflate,  // .deflate: Hadoop's DefaultCodec, a zlib stream
  kZstd,     // .zst / .zstd: zstd frames
  kBzip2,    // .bz2: bzip2 streams, concatenated streams read as one
  kSnappy,   // .snappy: Hadoop's block framing around raw snappy
};

// The codec for a file name by its extension; kNone when it has no known one.
Codec CodecFromPath(const std::string& path);
const char* CodecName(Codec codec);
Codec CodecFromName(const std::string& name);  // CodecName's inverse; kNone for anything else

class InputStream {
 public:
  virtual ~InputStream() = default;

  // Up to `size` bytes into `data`; 0 only at the end of the stream.
  virtual Result<size_t> Read(char* data, size_t size) = 0;
};

// The raw bytes of `path` from byte `offset` to its end. Opened by OpenForReading
// (confined_file.h): a regular file, inside `confinement.roots` when any are given.
Result<std::unique_ptr<InputStream>> OpenFileStream(const std::string& path, uint64_t offset = 0,
                                                    const ReadConfinement& confinement = {});

// The whole of `path`, decompressed with `codec`. `max_block_bytes` caps the lengths a codec
// reads from the file before it allocates (snappy's chunk lengths; the streaming codecs use
// fixed buffers and need none): a length over it is Corruption naming the byte offset.
// Opened as OpenFileStream opens it.
Result<std::unique_ptr<InputStream>> OpenDecompressedStream(
    const std::string& path, Codec codec, uint64_t max_block_bytes = kDefaultMaxRecordBytes,
    const ReadConfinement& confinement = {});

}  // namespace aimass::io
