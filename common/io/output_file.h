// OutputFile: a file written front to back by one thread (an inference output part, a bad-record
// quarantine file), optionally gzip-compressed, with the SHA-256 of the bytes that reach the disk
// so the job manifest can list checksums without reading the parts again.
// Close() flushes and fsyncs; a file never closed is left for its owner to delete.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace aimass::io {

class OutputFile {
 public:
  // Creates (truncates) `path`. `gzip_level` 0 writes plain bytes; 1-9 writes one gzip member.
  static Result<std::unique_ptr<OutputFile>> Create(const std::string& path, int gzip_level = 0);
  virtual ~OutputFile() = default;

  virtual Status Append(std::string_view data) = 0;
  virtual Status Close() = 0;

  // After Close: bytes on disk and their SHA-256 as 64 lowercase hex digits.
  virtual uint64_t bytes_written() const = 0;
  virtual std::string sha256_hex() const = 0;
};

// SHA-256 of a whole file, 64 lowercase hex digits (the model digest in a job manifest).
Result<std::string> Sha256OfFile(const std::string& path);

}  // namespace aimass::io
