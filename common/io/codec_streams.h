// Internal to aimass_io: one decompressing InputStream per codec, each over the raw bytes of a
// file. `path` is only for error messages, which all begin "path: ".
//
// The streaming codecs read their input kCompressedBufferSize at a time and snappy a chunk at a
// time, so memory stays bounded however large the file. Each treats a file that ends inside a
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
Result<std::unique_ptr<InputStream>> NewSnappyStream(std::unique_ptr<InputStream> raw,
                                                     const std::string& path);

// Reads until `size` bytes are in `data` or the stream ends; returns how many were read.
Result<size_t> ReadFully(InputStream& stream, char* data, size_t size);

}  // namespace aimass::io::internal
