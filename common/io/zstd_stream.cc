// zstd (.zst, .zstd) input through ZSTD_decompressStream, which reads frame after frame on its
// own, so concatenated frames (`zstd -c a >> f; zstd -c b >> f`) read as one stream.
#include <zstd.h>

#include <utility>

#include "common/io/codec_streams.h"

namespace aimass::io::internal {
namespace {

class ZstdStream : public InputStream {
 public:
  ZstdStream(std::unique_ptr<InputStream> raw, const std::string& path)
      : raw_(std::move(raw)), path_(path), in_(std::make_unique<char[]>(kCompressedBufferSize)) {}
  ~ZstdStream() override { ZSTD_freeDCtx(dctx_); }
  ZstdStream(const ZstdStream&) = delete;
  ZstdStream& operator=(const ZstdStream&) = delete;

  Status Init() {
    dctx_ = ZSTD_createDCtx();
    if (dctx_ == nullptr) return Status::Internal(path_ + ": cannot start zstd: out of memory");
    return Status::Ok();
  }

  Result<size_t> Read(char* data, size_t size) override {
    if (size == 0 || done_) return size_t{0};
    ZSTD_outBuffer out{data, size, 0};
    while (out.pos == 0) {
      if (input_.pos == input_.size && !eof_) AIMASS_RETURN_IF_ERROR(Fill());
      const bool input_exhausted = eof_ && input_.pos == input_.size;
      if (input_exhausted && frame_complete_) {
        done_ = true;
        break;
      }
      const size_t rc = ZSTD_decompressStream(dctx_, &out, &input_);
      if (ZSTD_isError(rc)) {
        return Status::Corruption(path_ + ": corrupt zstd stream (" + ZSTD_getErrorName(rc) + ")");
      }
      // 0 means a frame is decoded and fully flushed; anything else, that more is to come.
      frame_complete_ = rc == 0;
      if (input_exhausted && out.pos == 0 && !frame_complete_) {
        return Status::Corruption(path_ + ": truncated zstd stream (the file ends inside a frame)");
      }
    }
    return out.pos;
  }

 private:
  Status Fill() {
    AIMASS_ASSIGN_OR_RETURN(const size_t n, raw_->Read(in_.get(), kCompressedBufferSize));
    if (n == 0) eof_ = true;
    input_ = ZSTD_inBuffer{in_.get(), n, 0};
    return Status::Ok();
  }

  std::unique_ptr<InputStream> raw_;
  const std::string path_;
  std::unique_ptr<char[]> in_;
  ZSTD_inBuffer input_{nullptr, 0, 0};
  ZSTD_DCtx* dctx_ = nullptr;
  bool eof_ = false;
  bool frame_complete_ = true;  // between frames: where the input may cleanly end
  bool done_ = false;
};

}  // namespace

Result<std::unique_ptr<InputStream>> NewZstdStream(std::unique_ptr<InputStream> raw,
                                                   const std::string& path) {
  auto stream = std::make_unique<ZstdStream>(std::move(raw), path);
  AIMASS_RETURN_IF_ERROR(stream->Init());
  return std::unique_ptr<InputStream>(std::move(stream));
}

}  // namespace aimass::io::internal
