#include "common/io/input_stream.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "common/io/codec_streams.h"

namespace aimass::io {
namespace {

bool EndsWith(const std::string& s, const char* suffix) {
  const size_t n = strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// Small reads (a snappy block header, a caller's short buffer) are served from a buffer so
// that they cost no syscall; reads at least as large as the buffer go straight to the caller.
constexpr size_t kFileBufferSize = 256 << 10;

class FileStream : public InputStream {
 public:
  FileStream(std::string path, int fd, uint64_t offset)
      : path_(std::move(path)), fd_(fd), offset_(offset) {}
  ~FileStream() override { ::close(fd_); }
  FileStream(const FileStream&) = delete;
  FileStream& operator=(const FileStream&) = delete;

  Result<size_t> Read(char* data, size_t size) override {
    if (size == 0) return size_t{0};
    if (begin_ == end_) {
      if (size >= kFileBufferSize) return ReadAt(data, size);
      if (!buffer_) buffer_ = std::make_unique<char[]>(kFileBufferSize);
      AIMASS_ASSIGN_OR_RETURN(const size_t n, ReadAt(buffer_.get(), kFileBufferSize));
      begin_ = 0;
      end_ = n;
      if (n == 0) return size_t{0};
    }
    const size_t n = std::min(size, end_ - begin_);
    memcpy(data, buffer_.get() + begin_, n);
    begin_ += n;
    return n;
  }

 private:
  Result<size_t> ReadAt(char* data, size_t size) {
    for (;;) {
      const ssize_t n = ::pread(fd_, data, size, static_cast<off_t>(offset_));
      if (n >= 0) {
        offset_ += static_cast<uint64_t>(n);
        return static_cast<size_t>(n);
      }
      if (errno != EINTR) return Status::IOError(path_ + ": read failed: " + strerror(errno));
    }
  }

  const std::string path_;
  const int fd_;
  uint64_t offset_;
  std::unique_ptr<char[]> buffer_;
  size_t begin_ = 0;
  size_t end_ = 0;
};

}  // namespace

Codec CodecFromPath(const std::string& path) {
  // Suffixes as Hadoop's codecs declare them, matched case-sensitively as Hadoop matches them.
  if (EndsWith(path, ".gz")) return Codec::kGzip;
  if (EndsWith(path, ".deflate")) return Codec::kDeflate;
  if (EndsWith(path, ".zst") || EndsWith(path, ".zstd")) return Codec::kZstd;
  if (EndsWith(path, ".bz2")) return Codec::kBzip2;
  if (EndsWith(path, ".snappy")) return Codec::kSnappy;
  return Codec::kNone;
}

Codec CodecFromName(const std::string& name) {
  for (Codec codec : {Codec::kGzip, Codec::kDeflate, Codec::kZstd, Codec::kBzip2, Codec::kSnappy}) {
    if (name == CodecName(codec)) return codec;
  }
  return Codec::kNone;
}

const char* CodecName(Codec codec) {
  switch (codec) {
    case Codec::kNone: return "none";
    case Codec::kGzip: return "gzip";
    case Codec::kDeflate: return "deflate";
    case Codec::kZstd: return "zstd";
    case Codec::kBzip2: return "bzip2";
    case Codec::kSnappy: return "snappy";
  }
  return "unknown";
}

Result<std::unique_ptr<InputStream>> OpenFileStream(const std::string& path, uint64_t offset,
                                                    const ReadConfinement& confinement) {
  AIMASS_ASSIGN_OR_RETURN(const int fd, OpenForReading(path, confinement));
  // A hint only: readers go front to back, so a larger readahead pays.
  (void)::posix_fadvise(fd, static_cast<off_t>(offset), 0, POSIX_FADV_SEQUENTIAL);
  return std::unique_ptr<InputStream>(new FileStream(path, fd, offset));
}

Result<std::unique_ptr<InputStream>> OpenDecompressedStream(const std::string& path, Codec codec,
                                                            uint64_t max_block_bytes,
                                                            const ReadConfinement& confinement) {
  AIMASS_ASSIGN_OR_RETURN(std::unique_ptr<InputStream> raw, OpenFileStream(path, 0, confinement));
  switch (codec) {
    case Codec::kNone: return raw;
    case Codec::kGzip:
    case Codec::kDeflate: return internal::NewGzipStream(std::move(raw), path, codec);
    case Codec::kZstd: return internal::NewZstdStream(std::move(raw), path);
    case Codec::kBzip2: return internal::NewBzip2Stream(std::move(raw), path);
    case Codec::kSnappy: return internal::NewSnappyStream(std::move(raw), path, max_block_bytes);
  }
  return Status::InvalidArgument(path + ": unknown codec " +
                                 std::to_string(static_cast<int>(codec)));
}

namespace internal {

Result<size_t> ReadFully(InputStream& stream, char* data, size_t size) {
  size_t done = 0;
  while (done < size) {
    AIMASS_ASSIGN_OR_RETURN(const size_t n, stream.Read(data + done, size - done));
    if (n == 0) break;
    done += n;
  }
  return done;
}

}  // namespace internal
}  // namespace aimass::io
