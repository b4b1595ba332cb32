#include "common/io/input_stream.h"
#include "common/io/output_file.h"
#include "tests/temp_dir.h"

#include <bzlib.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "tests/catch.h"
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace aimass::io {
namespace {

using testing::TempDir;
using testing::WriteRaw;

std::string ReadRaw(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// CSV-like lines: compressible as real exports are, but not so much that blocks are trivial.
std::string MakeText(size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> value(0, 99999);
  std::string text;
  text.reserve(size + 64);
  for (int row = 0; text.size() < size; ++row) {
    text += std::to_string(row) + "," + std::to_string(value(rng) % 10);
    for (int i = 0; i < 6; ++i) text += "," + std::to_string(value(rng)) + "." + std::to_string(i);
    text += '\n';
  }
  text.resize(size);
  return text;
}

// Reads to the end in varying piece sizes, so that outputs split anywhere are exercised.
Result<std::string> ReadAll(InputStream& stream) {
  static const size_t kPieces[] = {1, 7, 4096, 65537, 1 << 20, 3};
  std::string out;
  std::vector<char> buffer(1 << 20);
  for (size_t i = 0;; ++i) {
    const size_t want = kPieces[i % (sizeof kPieces / sizeof kPieces[0])];
    AIMASS_ASSIGN_OR_RETURN(const size_t n, stream.Read(buffer.data(), want));
    if (n == 0) return out;
    if (n > want) return Status::Error("Read returned more than asked");
    out.append(buffer.data(), n);
  }
}

Result<std::string> ReadFile(const std::string& path) {
  AIMASS_ASSIGN_OR_RETURN(std::unique_ptr<InputStream> stream,
                          OpenDecompressedStream(path, CodecFromPath(path)));
  return ReadAll(*stream);
}

// windowBits 15+16 writes a gzip member, 15 a zlib stream (Hadoop's DefaultCodec).
std::string Deflate(const std::string& text, int window_bits, int level = 6) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, level, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&z, text.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string Zstd(const std::string& text) {
  std::string out(ZSTD_compressBound(text.size()), '\0');
  const size_t n = ZSTD_compress(out.data(), out.size(), text.data(), text.size(), 3);
  REQUIRE(!ZSTD_isError(n));
  out.resize(n);
  return out;
}

std::string Bzip2(const std::string& text) {
  unsigned int size = static_cast<unsigned int>(text.size() + text.size() / 100 + 600);
  std::string out(size, '\0');
  REQUIRE(BZ2_bzBuffToBuffCompress(out.data(), &size, const_cast<char*>(text.data()),
                                   static_cast<unsigned int>(text.size()), 9, 0, 0) == BZ_OK);
  out.resize(size);
  return out;
}

void AppendU32(std::string& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((value >> shift) & 0xff);
}

// Hadoop's BlockCompressorStream framing: per block its uncompressed length, then chunks of
// [compressed length][raw snappy], each chunk at most `chunk_size` bytes of the block.
std::string HadoopSnappy(const std::string& text, size_t block_size, size_t chunk_size) {
  std::string out;
  for (size_t block = 0; block < text.size(); block += block_size) {
    const size_t block_length = std::min(block_size, text.size() - block);
    AppendU32(out, static_cast<uint32_t>(block_length));
    for (size_t chunk = 0; chunk < block_length; chunk += chunk_size) {
      const size_t length = std::min(chunk_size, block_length - chunk);
      size_t compressed_length = snappy_max_compressed_length(length);
      std::string compressed(compressed_length, '\0');
      REQUIRE(snappy_compress(text.data() + block + chunk, length, compressed.data(),
                              &compressed_length) == SNAPPY_OK);
      AppendU32(out, static_cast<uint32_t>(compressed_length));
      out.append(compressed.data(), compressed_length);
    }
  }
  return out;
}

// For bytes that do not decompress: the error names the file and is Corruption.
void RequireErrorNaming(const Result<std::string>& result, const std::string& path,
                        const std::string& what) {
  REQUIRE_FALSE(result.ok());
  const std::string& message = result.status().message();
  INFO(message);
  REQUIRE(result.status().code() == StatusCode::kCorruption);
  REQUIRE(message.rfind(path + ": ", 0) == 0);
  REQUIRE(message.find(what) != std::string::npos);
  REQUIRE(message.find('\n') == std::string::npos);
}

TEST_CASE("CodecFromPath picks the codec by extension, as Hadoop does", "[io]") {
  CHECK(CodecFromPath("out/part-00000-1a2b-c000.csv.gz") == Codec::kGzip);
  CHECK(CodecFromPath("warehouse/t/000000_0.deflate") == Codec::kDeflate);
  CHECK(CodecFromPath("part-r-00001.zst") == Codec::kZstd);
  CHECK(CodecFromPath("part-r-00001.zstd") == Codec::kZstd);
  CHECK(CodecFromPath("x.bz2") == Codec::kBzip2);
  CHECK(CodecFromPath("x.snappy") == Codec::kSnappy);
  CHECK(CodecFromPath("part-m-00000") == Codec::kNone);
  CHECK(CodecFromPath("data.csv") == Codec::kNone);
  CHECK(CodecFromPath("dir.gz/part-m-00000") == Codec::kNone);
  CHECK(CodecFromPath("gz") == Codec::kNone);
  CHECK(std::string(CodecName(Codec::kGzip)) == "gzip");
  CHECK(std::string(CodecName(Codec::kNone)) == "none");
  CHECK(std::string(CodecName(Codec::kSnappy)) == "snappy");
}

TEST_CASE("OpenFileStream reads raw bytes from an offset", "[io]") {
  TempDir dir;
  const std::string path = dir.Path("part-m-00000");
  const std::string text = MakeText(3 << 20, 1);
  WriteRaw(path, text);

  auto whole = ReadFile(path);
  REQUIRE(whole.ok());
  REQUIRE(*whole == text);

  for (uint64_t offset : {uint64_t{0}, uint64_t{1}, uint64_t{300001}, uint64_t{text.size()},
                          uint64_t{text.size() + 10}}) {
    INFO("offset " << offset);
    auto stream = OpenFileStream(path, offset);
    REQUIRE(stream.ok());
    auto rest = ReadAll(**stream);
    REQUIRE(rest.ok());
    REQUIRE(*rest == (offset < text.size() ? text.substr(offset) : std::string()));
  }
}

TEST_CASE("A missing file is named with the OS's reason", "[io]") {
  TempDir dir;
  const std::string path = dir.Path("absent.gz");
  auto stream = OpenDecompressedStream(path, Codec::kGzip);
  REQUIRE_FALSE(stream.ok());
  REQUIRE(stream.status().message() == path + ": cannot open: No such file or directory");
  REQUIRE(stream.status().IsNotFound());
  auto raw = OpenFileStream(path, 0);
  REQUIRE_FALSE(raw.ok());
  REQUIRE(raw.status().message() == path + ": cannot open: No such file or directory");
  REQUIRE(raw.status().IsNotFound());
  // Something that exists but cannot be read as a file is the OS's refusal, not absence.
  auto directory = OpenDecompressedStream(dir.path(), Codec::kNone);
  if (directory.ok()) {
    char byte = 0;
    auto read = (*directory)->Read(&byte, 1);
    REQUIRE_FALSE(read.ok());
    REQUIRE(read.status().IsIOError());
  } else {
    REQUIRE(directory.status().IsIOError());
  }
}

TEST_CASE("gzip: members concatenated read as one stream", "[io][gzip]") {
  TempDir dir;
  const std::string text = MakeText(3 << 20, 2);
  const std::string path = dir.Path("part-00000-1a2b-c000.csv.gz");

  SECTION("one member") {
    WriteRaw(path, Deflate(text, 15 + 16));
    auto read = ReadFile(path);
    REQUIRE(read.ok());
    REQUIRE(*read == text);
  }
  SECTION("several members, one of them empty") {
    const size_t a = 1000003, b = 2200007;
    WriteRaw(path, Deflate(text.substr(0, a), 15 + 16, 1) + Deflate("", 15 + 16) +
                       Deflate(text.substr(a, b - a), 15 + 16, 9) +
                       Deflate(text.substr(b), 15 + 16));
    auto read = ReadFile(path);
    REQUIRE(read.ok());
    REQUIRE(read->size() == text.size());
    REQUIRE(*read == text);
  }
  SECTION("an empty file is an empty part") {
    WriteRaw(path, "");
    auto read = ReadFile(path);
    REQUIRE(read.ok());
    REQUIRE(read->empty());
  }
}

TEST_CASE("gzip: truncated and corrupt files are errors naming the file", "[io][gzip]") {
  TempDir dir;
  const std::string path = dir.Path("part-1.gz");
  const std::string text = MakeText(1 << 20, 3);
  const std::string gz = Deflate(text, 15 + 16);

  WriteRaw(path, gz.substr(0, gz.size() / 2));
  RequireErrorNaming(ReadFile(path), path, "truncated gzip stream");
  WriteRaw(path, gz.substr(0, gz.size() - 1));  // the trailer's last byte
  RequireErrorNaming(ReadFile(path), path, "truncated gzip stream");
  WriteRaw(path, gz + gz.substr(0, 5));  // a second member cut in its header
  RequireErrorNaming(ReadFile(path), path, "truncated gzip stream");

  std::string corrupt = gz;
  corrupt[corrupt.size() - 6] ^= 0x55;  // the CRC
  WriteRaw(path, corrupt);
  RequireErrorNaming(ReadFile(path), path, "corrupt gzip stream (incorrect data check)");
  WriteRaw(path, "this is not gzip at all\n");
  RequireErrorNaming(ReadFile(path), path, "corrupt gzip stream (incorrect header check)");
  WriteRaw(path, gz + "trailing junk");
  RequireErrorNaming(ReadFile(path), path, "corrupt gzip stream");
}

TEST_CASE("deflate: Hadoop's DefaultCodec zlib stream", "[io][deflate]") {
  TempDir dir;
  const std::string text = MakeText(3 << 20, 4);
  const std::string path = dir.Path("000000_0.deflate");
  const std::string z = Deflate(text, 15);
  WriteRaw(path, z);
  auto read = ReadFile(path);
  REQUIRE(read.ok());
  REQUIRE(*read == text);

  WriteRaw(path, z.substr(0, z.size() - 2));
  RequireErrorNaming(ReadFile(path), path, "truncated deflate stream");
  std::string corrupt = z;
  corrupt[0] = 0x79;  // not a zlib header
  WriteRaw(path, corrupt);
  RequireErrorNaming(ReadFile(path), path, "corrupt deflate stream");
}

TEST_CASE("zstd: frames concatenated read as one stream", "[io][zstd]") {
  TempDir dir;
  const std::string text = MakeText(3 << 20, 5);
  const std::string path = dir.Path("part-r-00001.zst");
  const size_t a = 1500001;
  const std::string frames = Zstd(text.substr(0, a)) + Zstd("") + Zstd(text.substr(a));
  WriteRaw(path, frames);
  auto read = ReadFile(path);
  REQUIRE(read.ok());
  REQUIRE(*read == text);

  WriteRaw(path, frames.substr(0, frames.size() / 2));
  RequireErrorNaming(ReadFile(path), path, "truncated zstd stream");
  WriteRaw(path, frames.substr(0, frames.size() - 1));
  RequireErrorNaming(ReadFile(path), path, "truncated zstd stream");
  WriteRaw(path, frames + "junk");
  RequireErrorNaming(ReadFile(path), path, "corrupt zstd stream");
  std::string corrupt = frames;
  corrupt[1] ^= 0x40;  // the magic number
  WriteRaw(path, corrupt);
  RequireErrorNaming(ReadFile(path), path, "corrupt zstd stream");
}

TEST_CASE("bzip2: streams concatenated read as one stream", "[io][bzip2]") {
  TempDir dir;
  const std::string text = MakeText(3 << 20, 6);
  const std::string path = dir.Path("x.bz2");
  const size_t a = 1700003;
  const std::string streams = Bzip2(text.substr(0, a)) + Bzip2(text.substr(a));
  WriteRaw(path, streams);
  auto read = ReadFile(path);
  REQUIRE(read.ok());
  REQUIRE(*read == text);

  WriteRaw(path, streams.substr(0, streams.size() / 2));
  RequireErrorNaming(ReadFile(path), path, "truncated bzip2 stream");
  WriteRaw(path, streams.substr(0, streams.size() - 3));
  RequireErrorNaming(ReadFile(path), path, "truncated bzip2 stream");
  std::string corrupt = streams;
  corrupt[corrupt.size() / 4] ^= 0x10;  // inside the first stream's data: its block CRC fails
  WriteRaw(path, corrupt);
  RequireErrorNaming(ReadFile(path), path, "corrupt bzip2 stream");
  WriteRaw(path, streams + "junk");
  RequireErrorNaming(ReadFile(path), path, "corrupt bzip2 stream");
}

TEST_CASE("snappy: Hadoop block framing, blocks split into chunks", "[io][snappy]") {
  TempDir dir;
  const std::string text = MakeText(3 << 20, 7);
  const std::string path = dir.Path("x.snappy");

  SECTION("one chunk per block, as Hadoop's default buffer writes") {
    WriteRaw(path, HadoopSnappy(text, 256 << 10, 256 << 10));
    auto read = ReadFile(path);
    REQUIRE(read.ok());
    REQUIRE(*read == text);
  }
  SECTION("blocks of several chunks") {
    WriteRaw(path, HadoopSnappy(text, 1 << 20, 100003));
    auto read = ReadFile(path);
    REQUIRE(read.ok());
    REQUIRE(*read == text);
  }
  SECTION("Hadoop's empty file: a zero-length block then an empty chunk") {
    std::string empty;
    AppendU32(empty, 0);
    AppendU32(empty, 1);
    empty += '\0';
    WriteRaw(path, empty);
    auto read = ReadFile(path);
    REQUIRE(read.ok());
    REQUIRE(read->empty());
  }
}

TEST_CASE("snappy: truncated and corrupt files are errors naming the file", "[io][snappy]") {
  TempDir dir;
  const std::string text = MakeText(1 << 20, 8);
  const std::string path = dir.Path("part-2.snappy");
  const std::string framed = HadoopSnappy(text, 256 << 10, 100000);

  WriteRaw(path, framed.substr(0, framed.size() / 2));
  RequireErrorNaming(ReadFile(path), path, "truncated snappy block at byte ");
  WriteRaw(path, framed.substr(0, framed.size() - 1));
  RequireErrorNaming(ReadFile(path), path, "truncated snappy block at byte ");
  WriteRaw(path, framed + std::string(2, '\0'));  // a block header cut short
  RequireErrorNaming(ReadFile(path), path, "truncated snappy block at byte ");

  // The first block claims fewer bytes than its first chunk holds.
  std::string corrupt = framed;
  corrupt[1] = 0;
  corrupt[2] = 0;
  corrupt[3] = 16;
  WriteRaw(path, corrupt);
  RequireErrorNaming(ReadFile(path), path, "corrupt snappy block at byte 0");
  WriteRaw(path, "this is not snappy at all\n");
  RequireErrorNaming(ReadFile(path), path, "corrupt snappy block at byte 0");
  // A chunk whose raw snappy data is garbage.
  std::string garbage;
  AppendU32(garbage, 100);
  AppendU32(garbage, 4);
  garbage += "\xff\xff\xff\xff";
  WriteRaw(path, garbage);
  RequireErrorNaming(ReadFile(path), path, "corrupt snappy block at byte 0");
}

TEST_CASE("OutputFile writes plain bytes with their SHA-256", "[io][output]") {
  TempDir dir;
  const std::string path = dir.Path("part-00000.csv");
  const std::string text = MakeText(5 << 20, 9);

  auto file = OutputFile::Create(path);
  REQUIRE(file.ok());
  // Pieces below, at and above the buffer size.
  size_t at = 0;
  for (size_t piece : {size_t{1}, size_t{100}, size_t{1} << 20, size_t{3} << 20, size_t{12345}}) {
    REQUIRE((*file)->Append(std::string_view(text).substr(at, piece)).ok());
    at += piece;
  }
  REQUIRE((*file)->Append(std::string_view(text).substr(at)).ok());
  REQUIRE((*file)->Close().ok());
  REQUIRE((*file)->Close().ok());  // twice is harmless

  REQUIRE(ReadRaw(path) == text);
  REQUIRE((*file)->bytes_written() == std::filesystem::file_size(path));
  auto sha = Sha256OfFile(path);
  REQUIRE(sha.ok());
  REQUIRE(sha->size() == 64);
  REQUIRE((*file)->sha256_hex() == *sha);

  const Status late = (*file)->Append("more");
  REQUIRE_FALSE(late.ok());
  REQUIRE(late.message().rfind(path + ": ", 0) == 0);
  REQUIRE(late.code() == StatusCode::kFailedPrecondition);
}

TEST_CASE("OutputFile writes one gzip member with the SHA-256 of the compressed bytes",
          "[io][output]") {
  TempDir dir;
  const std::string path = dir.Path("part-00000.csv.gz");
  const std::string text = MakeText(4 << 20, 10);

  auto file = OutputFile::Create(path, 6);
  REQUIRE(file.ok());
  for (size_t at = 0; at < text.size(); at += 70001) {
    REQUIRE((*file)->Append(std::string_view(text).substr(at, 70001)).ok());
  }
  REQUIRE((*file)->Close().ok());

  auto read = ReadFile(path);
  REQUIRE(read.ok());
  REQUIRE(*read == text);
  const uint64_t size = std::filesystem::file_size(path);
  REQUIRE(size < text.size() / 2);
  REQUIRE((*file)->bytes_written() == size);
  auto sha = Sha256OfFile(path);
  REQUIRE(sha.ok());
  REQUIRE((*file)->sha256_hex() == *sha);

  // An empty gzip file is still one valid member.
  const std::string empty_path = dir.Path("empty.gz");
  auto empty = OutputFile::Create(empty_path, 9);
  REQUIRE(empty.ok());
  REQUIRE((*empty)->Close().ok());
  REQUIRE((*empty)->bytes_written() == std::filesystem::file_size(empty_path));
  REQUIRE((*empty)->bytes_written() > 0);
  auto empty_read = ReadFile(empty_path);
  REQUIRE(empty_read.ok());
  REQUIRE(empty_read->empty());
}

TEST_CASE("SHA-256 matches the known vectors", "[io][output]") {
  TempDir dir;
  const std::string path = dir.Path("abc");
  auto file = OutputFile::Create(path);
  REQUIRE(file.ok());
  REQUIRE((*file)->Append("ab").ok());
  REQUIRE((*file)->Append("c").ok());
  REQUIRE((*file)->Close().ok());
  const std::string abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  REQUIRE((*file)->sha256_hex() == abc);
  REQUIRE((*file)->bytes_written() == 3);
  auto sha = Sha256OfFile(path);
  REQUIRE(sha.ok());
  REQUIRE(*sha == abc);

  WriteRaw(dir.Path("empty"), "");
  auto empty = Sha256OfFile(dir.Path("empty"));
  REQUIRE(empty.ok());
  REQUIRE(*empty == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

  auto missing = Sha256OfFile(dir.Path("absent"));
  REQUIRE_FALSE(missing.ok());
  REQUIRE(missing.status().message() ==
          dir.Path("absent") + ": cannot open: No such file or directory");
}

TEST_CASE("OutputFile reports bad arguments and unwritable paths", "[io][output]") {
  TempDir dir;
  auto bad_level = OutputFile::Create(dir.Path("x.gz"), 10);
  REQUIRE_FALSE(bad_level.ok());
  REQUIRE(bad_level.status().message() == dir.Path("x.gz") + ": gzip level 10 is not 0-9");
  REQUIRE(bad_level.status().IsInvalidArgument());
  REQUIRE_FALSE(std::filesystem::exists(dir.Path("x.gz")));

  const std::string nowhere = dir.Path("no/such/dir/part-0");
  auto unwritable = OutputFile::Create(nowhere);
  REQUIRE_FALSE(unwritable.ok());
  REQUIRE(unwritable.status().message() == nowhere + ": cannot create: No such file or directory");
  REQUIRE(unwritable.status().IsNotFound());
}

}  // namespace
}  // namespace aimass::io
