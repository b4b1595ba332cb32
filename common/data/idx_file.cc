#include "common/data/idx_file.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

namespace aimass::data {
namespace {

constexpr uint32_t kImagesMagic = 0x00000803;  // unsigned bytes, 3 dimensions
constexpr uint32_t kLabelsMagic = 0x00000801;  // unsigned bytes, 1 dimension
constexpr size_t kReadChunk = 1 << 22;

std::string Hex(uint32_t value) {
  char text[16];
  std::snprintf(text, sizeof(text), "0x%08x", value);
  return text;
}

// One IDX file read through zlib, which reads gzip and plain files alike. zlib's gzread reports
// a gzip stream that ends early only through gzerror (Z_BUF_ERROR), so every short read is
// checked there as well.
class IdxReader {
 public:
  explicit IdxReader(std::string path) : path_(std::move(path)) {}
  ~IdxReader() {
    if (file_ != nullptr) gzclose(file_);
  }
  IdxReader(const IdxReader&) = delete;
  IdxReader& operator=(const IdxReader&) = delete;

  const std::string& path() const { return path_; }

  Status Open() {
    errno = 0;
    file_ = gzopen(path_.c_str(), "rb");
    if (file_ == nullptr) {
      return Status::Error(path_ + ": cannot open: " +
                           (errno != 0 ? std::strerror(errno) : "out of memory"));
    }
    gzbuffer(file_, 1 << 18);
    return Status::Ok();
  }

  // Reads the magic number, which must be `magic`, and the dimensions it announces.
  Result<std::vector<uint32_t>> ReadHeader(uint32_t magic, const char* kind) {
    uint8_t bytes[4];
    size_t got = 0;
    AIMASS_RETURN_IF_ERROR(Read(bytes, sizeof(bytes), &got));
    if (got < sizeof(bytes)) return Status::Error(path_ + ": too short for an IDX file");
    const uint32_t found = BigEndian(bytes);
    if (found != magic) {
      return Status::Error(path_ + ": bad magic " + Hex(found) + ", expected " + Hex(magic) +
                           " (an IDX " + kind + " file)");
    }
    std::vector<uint32_t> dims(magic & 0xff);
    for (uint32_t& dim : dims) {
      AIMASS_RETURN_IF_ERROR(Read(bytes, sizeof(bytes), &got));
      if (got < sizeof(bytes)) return Status::Error(path_ + ": truncated IDX header");
      dim = BigEndian(bytes);
    }
    return dims;
  }

  // Reads `records` records of `record_bytes` each. The buffer grows as data arrives, so a
  // corrupt header that announces billions of records cannot make it allocate them up front.
  Status ReadRecords(uint64_t records, uint64_t record_bytes, std::vector<uint8_t>* out) {
    const uint64_t total = records * record_bytes;
    out->clear();
    out->reserve(std::min<uint64_t>(total, 64u << 20));
    while (out->size() < total) {
      const size_t want = std::min<uint64_t>(total - out->size(), kReadChunk);
      const size_t old_size = out->size();
      out->resize(old_size + want);
      size_t got = 0;
      AIMASS_RETURN_IF_ERROR(Read(out->data() + old_size, want, &got));
      out->resize(old_size + got);
      if (got < want) {
        return Status::Error(path_ + ": truncated at record " +
                             std::to_string(out->size() / record_bytes + 1) + " of " +
                             std::to_string(records));
      }
    }
    return Status::Ok();
  }

  // Checks that the data ends where the header says it does.
  Status ExpectEnd(uint64_t records) {
    uint8_t extra;
    size_t got = 0;
    AIMASS_RETURN_IF_ERROR(Read(&extra, 1, &got));
    if (got != 0) {
      return Status::Error(path_ + ": unexpected data after the " + std::to_string(records) +
                           " records its header announces");
    }
    return Status::Ok();
  }

 private:
  static uint32_t BigEndian(const uint8_t* bytes) {
    return uint32_t{bytes[0]} << 24 | uint32_t{bytes[1]} << 16 | uint32_t{bytes[2]} << 8 |
           uint32_t{bytes[3]};
  }

  // Reads up to `size` bytes; fewer only at the end of the data.
  Status Read(void* out, size_t size, size_t* got) {
    const int n = gzread(file_, out, static_cast<unsigned>(size));
    int code = Z_OK;
    const char* message = gzerror(file_, &code);
    if (n < 0 || (code != Z_OK && code != Z_BUF_ERROR)) {
      return Status::Error(path_ + ": corrupt gzip stream: " + message);
    }
    if (code == Z_BUF_ERROR) {
      return Status::Error(path_ + ": truncated gzip stream: " + message);
    }
    *got = static_cast<size_t>(n);
    return Status::Ok();
  }

  const std::string path_;
  gzFile file_ = nullptr;
};

}  // namespace

Result<RecordBlock> ReadIdxPair(const std::string& images_path, const std::string& labels_path,
                                int64_t first_id, uint64_t limit) {
  IdxReader images(images_path);
  IdxReader labels(labels_path);
  AIMASS_RETURN_IF_ERROR(images.Open());
  AIMASS_RETURN_IF_ERROR(labels.Open());
  AIMASS_ASSIGN_OR_RETURN(std::vector<uint32_t> image_dims,
                          images.ReadHeader(kImagesMagic, "images"));
  AIMASS_ASSIGN_OR_RETURN(std::vector<uint32_t> label_dims,
                          labels.ReadHeader(kLabelsMagic, "labels"));
  if (image_dims[0] != label_dims[0]) {
    return Status::Error(labels_path + ": has " + std::to_string(label_dims[0]) + " labels but " +
                         images_path + " has " + std::to_string(image_dims[0]) + " images");
  }
  const uint64_t pixels_per_image = uint64_t{image_dims[1]} * image_dims[2];
  if (pixels_per_image == 0 || pixels_per_image > UINT32_MAX) {
    return Status::Error(images_path + ": bad image size " + std::to_string(image_dims[1]) + "x" +
                         std::to_string(image_dims[2]));
  }
  const uint64_t available = image_dims[0];
  const uint64_t count = limit > 0 ? std::min(available, limit) : available;

  std::vector<uint8_t> pixels, label_bytes;
  AIMASS_RETURN_IF_ERROR(images.ReadRecords(count, pixels_per_image, &pixels));
  AIMASS_RETURN_IF_ERROR(labels.ReadRecords(count, 1, &label_bytes));
  if (count == available) {
    AIMASS_RETURN_IF_ERROR(images.ExpectEnd(available));
    AIMASS_RETURN_IF_ERROR(labels.ExpectEnd(available));
  }

  RecordBlock block;
  block.feature_count = static_cast<uint32_t>(pixels_per_image);
  block.ids.resize(count);
  block.labels.resize(count);
  for (uint64_t i = 0; i < count; ++i) {
    block.ids[i] = first_id + static_cast<int64_t>(i);
    block.labels[i] = label_bytes[i];
  }
  block.features.assign(pixels.begin(), pixels.end());
  return block;
}

Result<RecordBlock> ReadIdxPair(const std::string& images_path, const std::string& labels_path,
                                int64_t first_id) {
  return ReadIdxPair(images_path, labels_path, first_id, 0);
}

}  // namespace aimass::data
