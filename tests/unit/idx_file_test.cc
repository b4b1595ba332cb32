#include "tests/temp_dir.h"
#include "common/data/idx_file.h"

#include <unistd.h>
#include <zlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace aimass::data {
namespace {

using testing::TempDir;
using testing::WriteRaw;

namespace fs = std::filesystem;

void AppendBigEndian(uint32_t value, std::string* out) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(value >> shift));
}

// An IDX images file of `count` images of rows x cols; pixel p of image i is (i * 10 + p) % 256.
std::string ImagesFile(uint32_t count, uint32_t rows, uint32_t cols, uint32_t magic = 0x803) {
  std::string bytes;
  AppendBigEndian(magic, &bytes);
  for (uint32_t dim : {count, rows, cols}) AppendBigEndian(dim, &bytes);
  for (uint32_t i = 0; i < count; ++i) {
    for (uint32_t p = 0; p < rows * cols; ++p) bytes.push_back(static_cast<char>((i * 10 + p) % 256));
  }
  return bytes;
}

std::string LabelsFile(uint32_t count) {
  std::string bytes;
  AppendBigEndian(0x801, &bytes);
  AppendBigEndian(count, &bytes);
  for (uint32_t i = 0; i < count; ++i) bytes.push_back(static_cast<char>(i % 10));
  return bytes;
}

// Writes `bytes`, gzip-compressed when the name ends in .gz.
std::string ReadError(const std::string& images, const std::string& labels) {
  auto block = ReadIdxPair(images, labels);
  REQUIRE_FALSE(block.ok());
  return block.status().message();
}

TEST_CASE("IDX pairs decode to records, plain or gzip", "[idx]") {
  TempDir dir;
  for (const char* suffix : {"", ".gz"}) {
    SECTION(std::string("files named *") + suffix) {
      const std::string images = dir.Path(std::string("images") + suffix);
      const std::string labels = dir.Path(std::string("labels") + suffix);
      WriteRaw(images, ImagesFile(3, 2, 2));
      WriteRaw(labels, LabelsFile(3));
      auto block = ReadIdxPair(images, labels, /*first_id=*/100);
      REQUIRE(block.ok());
      CHECK(block->feature_count == 4);
      CHECK(block->ids == std::vector<int64_t>{100, 101, 102});
      CHECK(block->labels == std::vector<int64_t>{0, 1, 2});
      CHECK(block->features == std::vector<float>{0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23});

      auto limited = ReadIdxPair(images, labels, 0, /*limit=*/2);
      REQUIRE(limited.ok());
      CHECK(limited->size() == 2);
      CHECK(limited->features.size() == 8);
    }
  }
}

TEST_CASE("IDX errors name the file", "[idx]") {
  TempDir dir;
  const std::string images = dir.Path("images"), labels = dir.Path("labels");
  WriteRaw(labels, LabelsFile(3));

  SECTION("bad magic") {
    WriteRaw(images, ImagesFile(3, 2, 2, /*magic=*/0x801));
    CHECK(ReadError(images, labels) ==
          images + ": bad magic 0x00000801, expected 0x00000803 (an IDX images file)");
    CHECK_THAT(ReadError(labels, labels), Catch::StartsWith(labels + ": bad magic"));
  }
  SECTION("truncated pixel data") {
    std::string bytes = ImagesFile(3, 2, 2);
    WriteRaw(images, bytes.substr(0, bytes.size() - 1));
    CHECK(ReadError(images, labels) == images + ": truncated at record 3 of 3");
  }
  SECTION("truncated header") {
    WriteRaw(images, ImagesFile(3, 2, 2).substr(0, 9));
    CHECK(ReadError(images, labels) == images + ": truncated IDX header");
    WriteRaw(images, "");
    CHECK(ReadError(images, labels) == images + ": too short for an IDX file");
  }
  SECTION("truncated gzip stream") {
    const std::string gz_images = dir.Path("images.gz");
    WriteRaw(gz_images, ImagesFile(300, 28, 28));
    std::string compressed;
    {
      std::ifstream in(gz_images, std::ios::binary);
      compressed.assign(std::istreambuf_iterator<char>(in), {});
    }
    std::ofstream(gz_images, std::ios::binary) << compressed.substr(0, compressed.size() / 2);
    WriteRaw(labels, LabelsFile(300));
    CHECK_THAT(ReadError(gz_images, labels), Catch::StartsWith(gz_images + ": truncated"));
  }
  SECTION("counts that disagree") {
    WriteRaw(images, ImagesFile(4, 2, 2));
    CHECK(ReadError(images, labels) ==
          labels + ": has 3 labels but " + images + " has 4 images");
  }
  SECTION("data after the announced records") {
    WriteRaw(images, ImagesFile(3, 2, 2) + "x");
    CHECK(ReadError(images, labels) ==
          images + ": unexpected data after the 3 records its header announces");
  }
  SECTION("a header announcing absurd sizes neither crashes nor allocates it") {
    std::string bytes;
    AppendBigEndian(0x803, &bytes);
    for (uint32_t dim : {0xffffffffu, 0xffffu, 0xffffu}) AppendBigEndian(dim, &bytes);
    WriteRaw(images, bytes + "abc");
    std::string label_bytes;
    AppendBigEndian(0x801, &label_bytes);
    AppendBigEndian(0xffffffffu, &label_bytes);
    WriteRaw(labels, label_bytes);
    CHECK(ReadError(images, labels) == images + ": truncated at record 1 of 4294967295");
  }
  SECTION("missing file") {
    CHECK_THAT(ReadError(dir.Path("nope"), labels), Catch::StartsWith(dir.Path("nope") + ": "));
  }
}

TEST_CASE("IDX: the installed Fashion-MNIST test split", "[idx]") {
  const std::string root = "/usr/share/datasets/fashion-mnist/";
  if (!fs::exists(root + "t10k-images-idx3-ubyte.gz")) {
    WARN("Fashion-MNIST not installed; skipped");
    return;
  }
  auto block = ReadIdxPair(root + "t10k-images-idx3-ubyte.gz", root + "t10k-labels-idx1-ubyte.gz",
                           0, /*limit=*/50);
  REQUIRE(block.ok());
  CHECK(block->size() == 50);
  CHECK(block->feature_count == 784);
  CHECK(block->labels[0] == 9);  // the first test image is an ankle boot
  for (int64_t label : block->labels) CHECK((label >= 0 && label <= 9));
  for (float pixel : block->features) REQUIRE((pixel >= 0 && pixel <= 255));
}

}  // namespace
}  // namespace aimass::data
