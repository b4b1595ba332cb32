// bzip2 (.bz2) input through libbz2. Concatenated streams (what pbzip2 writes, and what Hadoop's
// BZip2Codec reads as one) are read as one: libbz2 stops at each stream's end, so the
// decompressor is restarted while input remains.
#include <bzlib.h>

#include <algorithm>
#include <climits>
#include <utility>

#include "common/io/codec_streams.h"

namespace aimass::io::internal {
namespace {

const char* Bzip2ErrorName(int rc) {
  switch (rc) {
    case BZ_DATA_ERROR: return "data integrity error";
    case BZ_DATA_ERROR_MAGIC: return "not a bzip2 stream: bad magic";
    case BZ_MEM_ERROR: return "out of memory";
    case BZ_PARAM_ERROR: return "bad parameter";
    case BZ_CONFIG_ERROR: return "libbz2 misconfigured";
    default: return "libbz2 error";
  }
}

class Bzip2Stream : public InputStream {
 public:
  Bzip2Stream(std::unique_ptr<InputStream> raw, const std::string& path)
      : raw_(std::move(raw)), path_(path), in_(std::make_unique<char[]>(kCompressedBufferSize)) {}
  ~Bzip2Stream() override {
    if (initialized_) BZ2_bzDecompressEnd(&bz_);
  }
  Bzip2Stream(const Bzip2Stream&) = delete;
  Bzip2Stream& operator=(const Bzip2Stream&) = delete;

  Status Init() { return Start(); }

  Result<size_t> Read(char* data, size_t size) override {
    if (size == 0 || done_) return size_t{0};
    const unsigned capacity = static_cast<unsigned>(std::min<size_t>(size, UINT_MAX));
    bz_.next_out = data;
    bz_.avail_out = capacity;
    while (bz_.avail_out == capacity) {
      if (bz_.avail_in == 0 && !eof_) AIMASS_RETURN_IF_ERROR(Fill());
      if (stream_ended_) {
        if (bz_.avail_in == 0) {
          if (!eof_) continue;
          done_ = true;
          break;
        }
        // libbz2 has no reset: end this decompressor and start one on the remaining input.
        char* const next_in = bz_.next_in;
        const unsigned avail_in = bz_.avail_in;
        BZ2_bzDecompressEnd(&bz_);
        initialized_ = false;
        AIMASS_RETURN_IF_ERROR(Start());
        bz_.next_in = next_in;
        bz_.avail_in = avail_in;
        bz_.next_out = data;
        bz_.avail_out = capacity;
        stream_ended_ = false;
      }
      const bool input_exhausted = eof_ && bz_.avail_in == 0;
      const int rc = BZ2_bzDecompress(&bz_);
      if (rc == BZ_STREAM_END) {
        stream_ended_ = true;
      } else if (rc != BZ_OK) {
        return Status::Corruption(path_ + ": corrupt bzip2 stream (" + Bzip2ErrorName(rc) + ")");
      } else if (input_exhausted && bz_.avail_out == capacity) {
        return Status::Corruption(path_ +
                                  ": truncated bzip2 stream (the file ends inside a stream)");
      }
    }
    return static_cast<size_t>(capacity - bz_.avail_out);
  }

 private:
  Status Start() {
    bz_ = bz_stream{};
    const int rc = BZ2_bzDecompressInit(&bz_, /*verbosity=*/0, /*small=*/0);
    if (rc != BZ_OK) {
      return Status::Internal(path_ + ": cannot start bzip2 (" + Bzip2ErrorName(rc) + ")");
    }
    initialized_ = true;
    return Status::Ok();
  }

  Status Fill() {
    AIMASS_ASSIGN_OR_RETURN(const size_t n, raw_->Read(in_.get(), kCompressedBufferSize));
    if (n == 0) {
      eof_ = true;
      // An empty file holds no stream at all: an empty table part, not a cut-off one.
      if (!started_) stream_ended_ = true;
    }
    started_ = true;
    bz_.next_in = in_.get();
    bz_.avail_in = static_cast<unsigned>(n);
    return Status::Ok();
  }

  std::unique_ptr<InputStream> raw_;
  const std::string path_;
  std::unique_ptr<char[]> in_;
  bz_stream bz_{};
  bool initialized_ = false;
  bool started_ = false;
  bool eof_ = false;
  bool stream_ended_ = false;
  bool done_ = false;
};

}  // namespace

Result<std::unique_ptr<InputStream>> NewBzip2Stream(std::unique_ptr<InputStream> raw,
                                                    const std::string& path) {
  auto stream = std::make_unique<Bzip2Stream>(std::move(raw), path);
  AIMASS_RETURN_IF_ERROR(stream->Init());
  return std::unique_ptr<InputStream>(std::move(stream));
}

}  // namespace aimass::io::internal
