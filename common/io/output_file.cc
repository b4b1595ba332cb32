#include "common/io/output_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <utility>

#include "common/io/input_stream.h"
#include "common/sha256.h"

namespace aimass::io {
namespace {

// Output parts are written in records of a few hundred bytes; one syscall per MiB keeps the
// writer off the profile, and a bound keeps many open parts cheap.
constexpr size_t kBufferSize = 1 << 20;

class PosixOutputFile : public OutputFile {
 public:
  PosixOutputFile(std::string path, int fd)
      : path_(std::move(path)), fd_(fd), buffer_(std::make_unique<char[]>(kBufferSize)) {}
  ~PosixOutputFile() override {
    if (deflating_) deflateEnd(&z_);
    if (fd_ >= 0) ::close(fd_);
  }
  PosixOutputFile(const PosixOutputFile&) = delete;
  PosixOutputFile& operator=(const PosixOutputFile&) = delete;

  Status StartGzip(int level) {
    // windowBits 15+16: a gzip header and trailer around the deflate data, one member.
    const int rc = deflateInit2(&z_, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    if (rc != Z_OK) {
      return Fail("cannot start gzip (" + std::string(zError(rc)) + ")", StatusCode::kInternal);
    }
    deflating_ = true;
    return Status::Ok();
  }

  Status Append(std::string_view data) override {
    AIMASS_RETURN_IF_ERROR(CheckWritable());
    if (deflating_) {
      while (!data.empty()) {
        const size_t piece = std::min<size_t>(data.size(), UINT_MAX);
        z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
        z_.avail_in = static_cast<uInt>(piece);
        while (z_.avail_in > 0) AIMASS_RETURN_IF_ERROR(Deflate(Z_NO_FLUSH));
        data.remove_prefix(piece);
      }
      return Status::Ok();
    }
    if (buffered_ + data.size() > kBufferSize) AIMASS_RETURN_IF_ERROR(Flush());
    if (data.size() >= kBufferSize) return WriteToDisk(data.data(), data.size());
    memcpy(buffer_.get() + buffered_, data.data(), data.size());
    buffered_ += data.size();
    return Status::Ok();
  }

  Status Close() override {
    if (closed_) return Status::Ok();
    AIMASS_RETURN_IF_ERROR(CheckWritable());
    if (deflating_) {
      z_.next_in = nullptr;
      z_.avail_in = 0;
      while (!finished_) AIMASS_RETURN_IF_ERROR(Deflate(Z_FINISH));
      deflateEnd(&z_);
      deflating_ = false;
    }
    AIMASS_RETURN_IF_ERROR(Flush());
    // Durable before the manifest that lists its checksum is written.
    while (::fsync(fd_) != 0) {
      if (errno != EINTR) return Fail(std::string("fsync failed: ") + strerror(errno));
    }
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0 && errno != EINTR) {
      return Fail(std::string("close failed: ") + strerror(errno));
    }
    sha256_hex_ = sha256_.FinalHex();
    if (sha256_hex_.empty()) {
      return Fail("cannot compute SHA-256 (OpenSSL failed)", StatusCode::kInternal);
    }
    closed_ = true;
    return Status::Ok();
  }

  uint64_t bytes_written() const override { return bytes_written_; }
  std::string sha256_hex() const override { return sha256_hex_; }

 private:
  Status CheckWritable() const {
    if (!status_.ok()) return status_;
    if (closed_) return Status::FailedPrecondition(path_ + ": written after Close");
    return Status::Ok();
  }

  // One deflate call into the free part of the buffer, flushing the buffer when it fills.
  Status Deflate(int flush) {
    if (buffered_ == kBufferSize) AIMASS_RETURN_IF_ERROR(Flush());
    z_.next_out = reinterpret_cast<Bytef*>(buffer_.get() + buffered_);
    z_.avail_out = static_cast<uInt>(kBufferSize - buffered_);
    const int rc = deflate(&z_, flush);
    buffered_ = kBufferSize - z_.avail_out;
    if (rc == Z_STREAM_END) {
      finished_ = true;
    } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return Fail("gzip compression failed (" + std::string(zError(rc)) + ")",
                  StatusCode::kInternal);
    }
    return Status::Ok();
  }

  Status Flush() {
    const size_t n = buffered_;
    buffered_ = 0;
    return WriteToDisk(buffer_.get(), n);
  }

  Status WriteToDisk(const char* data, size_t size) {
    sha256_.Update(data, size);
    while (size > 0) {
      const ssize_t n = ::write(fd_, data, size);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Fail(std::string("write failed: ") + strerror(errno));
      }
      data += n;
      size -= static_cast<size_t>(n);
      bytes_written_ += static_cast<uint64_t>(n);
    }
    return Status::Ok();
  }

  // Every later call reports the first failure: the file is incomplete from here on.
  // Most failures here are the OS refusing a write, fsync or close: IOError unless told otherwise.
  Status Fail(const std::string& what, StatusCode code = StatusCode::kIOError) {
    status_ = Status::FromCode(code, path_ + ": " + what);
    return status_;
  }

  const std::string path_;
  int fd_;
  std::unique_ptr<char[]> buffer_;
  size_t buffered_ = 0;
  z_stream z_{};
  bool deflating_ = false;
  bool finished_ = false;  // deflate has written the gzip trailer
  Sha256 sha256_;
  uint64_t bytes_written_ = 0;
  std::string sha256_hex_;
  bool closed_ = false;
  Status status_;
};

}  // namespace

Result<std::unique_ptr<OutputFile>> OutputFile::Create(const std::string& path, int gzip_level) {
  if (gzip_level < 0 || gzip_level > 9) {
    return Status::InvalidArgument(path + ": gzip level " + std::to_string(gzip_level) +
                                   " is not 0-9");
  }
  int fd;
  do {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    const int error = errno;
    return Status::FromCode(error == ENOENT ? StatusCode::kNotFound : StatusCode::kIOError,
                            path + ": cannot create: " + strerror(error));
  }
  auto file = std::make_unique<PosixOutputFile>(path, fd);
  if (gzip_level > 0) AIMASS_RETURN_IF_ERROR(file->StartGzip(gzip_level));
  return std::unique_ptr<OutputFile>(std::move(file));
}

Result<std::string> Sha256OfFile(const std::string& path) {
  AIMASS_ASSIGN_OR_RETURN(std::unique_ptr<InputStream> in, OpenFileStream(path));
  Sha256 sha256;
  auto buffer = std::make_unique<char[]>(kBufferSize);
  for (;;) {
    AIMASS_ASSIGN_OR_RETURN(const size_t n, in->Read(buffer.get(), kBufferSize));
    if (n == 0) break;
    sha256.Update(buffer.get(), n);
  }
  std::string hex = sha256.FinalHex();
  if (hex.empty()) return Status::Internal(path + ": cannot compute SHA-256 (OpenSSL failed)");
  return hex;
}

}  // namespace aimass::io
