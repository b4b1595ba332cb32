// Internal to aimass_io: one decompressing InputStream per codec, each over the raw bytes of a
// file. `path` is only for error messages, which all begin "path: ".
//
// The streaming codecs read their input kCompressedBufferSize at a time and snappy a chunk at a
// time, so memory stays bounded however large the file: zlib's window is 32 KiB, bzip2's blocks
// at most 900 kB, and zstd refuses frames whose window is over its default limit (128 MiB,
// ZSTD_WINDOWLOG_LIMIT_DEFAULT) instead of allocating it; snappy chunks are capped by the caller. Each treats a file that ends inside a
// stream, frame or block as an error: a truncated part must not pass for a short one.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "common/io/input_stream.h"
#include "common/status.h"

namespace aimass::io::internal {

// Large enough that a syscall and a codec call are amortised over many records.
inline constexpr size_t kCompressedBufferSize = 1 << 20;

// kGzip and kDeflate both: zlib detects the gzip or zlib header of each member itself.
Result<std::unique_ptr<InputStream>> NewGzipStream(std::unique_ptr<InputStream> raw,
                                                   const std::string& path, Codec codec);
Result<std::unique_ptr<InputStream>> NewZstdStream(std::unique_ptr<InputStream> raw,
                                                   const std::string& path);
Result<std::unique_ptr<InputStream>> NewBzip2Stream(std::unique_ptr<InputStream> raw,
                                                    const std::string& path);
// `max_chunk_bytes` caps a chunk's uncompressed length (and its compressed length, by snappy's
// worst-case expansion of that): both are checked before anything is allocated for the chunk.
Result<std::unique_ptr<InputStream>> NewSnappyStream(std::unique_ptr<InputStream> raw,
                                                     const std::string& path,
                                                     uint64_t max_chunk_bytes);

// Reads until `size` bytes are in `data` or the stream ends; returns how many were read.
Result<size_t> ReadFully(InputStream& stream, char* data, size_t size);

}  // namespace aimass::io::internal
