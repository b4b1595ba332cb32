// gzip (.gz) and zlib (.deflate) input through zlib's inflate.
//
// A .gz file may hold several members back to back (`cat a.gz b.gz`, or a writer that starts a
// member per flush); gzip(1) and Hadoop read them as one stream, so after each member's end the
// inflater is reset and goes on while input remains. Hadoop's DefaultCodec writes one zlib
// stream; the same loop reads it, and windowBits 15+32 accepts either header in either file.
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <utility>

#include "common/io/codec_streams.h"

namespace aimass::io::internal {
namespace {

class GzipStream : public InputStream {
 public:
  GzipStream(std::unique_ptr<InputStream> raw, const std::string& path, Codec codec)
      : raw_(std::move(raw)),
        path_(path),
        name_(CodecName(codec)),
        in_(std::make_unique<char[]>(kCompressedBufferSize)) {}
  ~GzipStream() override {
    if (initialized_) inflateEnd(&z_);
  }
  GzipStream(const GzipStream&) = delete;
  GzipStream& operator=(const GzipStream&) = delete;

  Status Init() {
    const int rc = inflateInit2(&z_, 15 + 32);
    if (rc != Z_OK) return Error("cannot start zlib", rc, StatusCode::kInternal);
    initialized_ = true;
    return Status::Ok();
  }

  Result<size_t> Read(char* data, size_t size) override {
    if (size == 0 || done_) return size_t{0};
    const uInt capacity = static_cast<uInt>(std::min<size_t>(size, UINT_MAX));
    z_.next_out = reinterpret_cast<Bytef*>(data);
    z_.avail_out = capacity;
    while (z_.avail_out == capacity) {
      if (z_.avail_in == 0 && !eof_) AIMASS_RETURN_IF_ERROR(Fill());
      if (member_ended_) {
        if (z_.avail_in == 0) {
          if (!eof_) continue;
          done_ = true;
          break;
        }
        inflateReset(&z_);
        member_ended_ = false;
      }
      const int rc = inflate(&z_, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        member_ended_ = true;
      } else if (rc == Z_BUF_ERROR) {
        // No progress without more input: at the end of the file that is a cut-off member.
        if (eof_ && z_.avail_in == 0) {
          return Status::Corruption(path_ + ": truncated " + name_ +
                                    " stream (the file ends inside a compressed member)");
        }
      } else if (rc != Z_OK) {
        return Error("corrupt " + std::string(name_) + " stream", rc, StatusCode::kCorruption);
      }
    }
    return static_cast<size_t>(capacity - z_.avail_out);
  }

 private:
  Status Fill() {
    AIMASS_ASSIGN_OR_RETURN(const size_t n, raw_->Read(in_.get(), kCompressedBufferSize));
    if (n == 0) {
      eof_ = true;
      // An empty file holds no member at all: an empty table part, not a cut-off one.
      if (!started_) member_ended_ = true;
    }
    started_ = true;
    z_.next_in = reinterpret_cast<Bytef*>(in_.get());
    z_.avail_in = static_cast<uInt>(n);
    return Status::Ok();
  }

  Status Error(const std::string& what, int rc, StatusCode code) const {
    std::string detail = z_.msg != nullptr ? z_.msg : zError(rc);
    return Status::FromCode(code, path_ + ": " + what + " (" + detail + ")");
  }

  std::unique_ptr<InputStream> raw_;
  const std::string path_;
  const char* const name_;
  std::unique_ptr<char[]> in_;
  z_stream z_{};
  bool initialized_ = false;
  bool started_ = false;        // some input has been read
  bool eof_ = false;            // the raw file is exhausted
  bool member_ended_ = false;   // the last member ended; the next input starts a new one
  bool done_ = false;
};

}  // namespace

Result<std::unique_ptr<InputStream>> NewGzipStream(std::unique_ptr<InputStream> raw,
                                                   const std::string& path, Codec codec) {
  auto stream = std::make_unique<GzipStream>(std::move(raw), path, codec);
  AIMASS_RETURN_IF_ERROR(stream->Init());
  return std::unique_ptr<InputStream>(std::move(stream));
}

}  // namespace aimass::io::internal
