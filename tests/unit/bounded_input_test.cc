// Caps on untrusted lengths (input.max_record_mb): a line, a snappy chunk, a TFRecord record, an
// IDX item and an Avro block over the cap each fail with one error naming the file, the byte
// offset, the cap and the key that raises it, before anything of that size is allocated.
#include <snappy-c.h>
#include <zlib.h>

#include "tests/catch.h"
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "common/aimass.pb.h"
#include "common/config/infer_config.h"
#include "common/config/job_config.h"
#include "common/io/input_stream.h"
#include "common/tables/binary/avro_reader.h"
#include "common/tables/binary/idx_reader.h"
#include "common/tables/binary/tfrecord_reader.h"
#include "common/tables/record_reader.h"
#include "common/tables/table_config.h"
#include "common/tables/table_wire.h"
#include "common/tables/text/json_lines_reader.h"
#include "common/tables/text/delimited_reader.h"
#include "tests/temp_dir.h"

namespace aimass {
namespace {

using tables::InputFile;
using tables::RecordReader;
using tables::Split;
using tables::TableFormat;
using tables::TableOptions;
using testing::TempDir;
using testing::WriteRaw;

InputFile FileAt(const std::string& path, const std::string& name,
                 io::Codec codec = io::Codec::kNone) {
  InputFile file;
  file.path = path;
  file.relative_path = name;
  file.size = std::filesystem::file_size(path);
  file.codec = codec;
  return file;
}

Split Whole(const InputFile& file) { return Split{0, 0, 0, file.size, /*whole_file=*/true}; }

// Reads every record of `file` and returns the error that ended it (Ok when none did).
Status ReadToEnd(Result<std::unique_ptr<RecordReader>> reader) {
  if (!reader.ok()) return reader.status();
  for (int i = 0; i < 1'000'000; ++i) {
    tables::TableRecord record;
    tables::BadRecord bad;
    Result<RecordReader::Outcome> outcome = (*reader)->Next(&record, &bad);
    if (!outcome.ok()) return outcome.status();
    if (*outcome == RecordReader::Outcome::kEnd) return Status::Ok();
  }
  return Status::Error("reader never ended");
}

void RequireCapError(const Status& status, const std::string& name, const std::string& offset) {
  INFO(status.message());
  REQUIRE_FALSE(status.ok());
  REQUIRE(status.code() == StatusCode::kCorruption);
  REQUIRE(status.message().rfind(name + ": ", 0) == 0);
  REQUIRE(status.message().find("byte " + offset) != std::string::npos);
  REQUIRE(status.message().find("cap") != std::string::npos);
  REQUIRE(status.message().find("input.max_record_mb") != std::string::npos);
  REQUIRE(status.message().find('\n') == std::string::npos);
}

void AppendU32BigEndian(std::string& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>(value >> shift & 0xff);
}

TEST_CASE("a line longer than max_record_mb is an error naming the file and offset",
          "[bounded][lines]") {
  TempDir dir;
  TableOptions options;
  options.format = TableFormat::kDelimited;
  options.feature_columns = {"_c0"};
  options.max_record_bytes = 4096;

  // Short lines, then one of 10000 bytes at byte 8: the error names where it starts.
  WriteRaw(dir.Path("long.csv"), "1,2,3\n\n" + std::string(10000, '7') + "\n4,5,6\n");
  const InputFile file = FileAt(dir.Path("long.csv"), "t/long.csv");
  Status status = ReadToEnd(tables::OpenDelimitedReader(file, Whole(file), options));
  RequireCapError(status, "t/long.csv", "7 (line 3)");
  REQUIRE(status.message().find("longer than 4096 bytes") != std::string::npos);

  // Exactly at the cap (plus CRLF) is a line like any other.
  WriteRaw(dir.Path("edge.csv"), std::string(4096, '1') + "\r\n2\n");
  const InputFile edge = FileAt(dir.Path("edge.csv"), "edge.csv");
  REQUIRE(ReadToEnd(tables::OpenDelimitedReader(edge, Whole(edge), options)).ok());

  // A file without any newline stops growing at the cap, also through a byte-range split and
  // through a codec (a gzip member of zeros: a small file that inflates without bound).
  WriteRaw(dir.Path("none.jsonl"), std::string(100000, '{'));
  const InputFile none = FileAt(dir.Path("none.jsonl"), "none.jsonl");
  options.format = TableFormat::kJsonLines;
  RequireCapError(ReadToEnd(tables::OpenJsonLinesReader(none, Split{0, 0, 0, 50000, false},
                                                        options)),
                  "none.jsonl", "0");
  testing::WriteGzip(dir.Path("bomb.csv.gz"), std::string(8 << 20, '0'));
  const InputFile bomb = FileAt(dir.Path("bomb.csv.gz"), "bomb.csv.gz", io::Codec::kGzip);
  options.format = TableFormat::kDelimited;
  options.max_record_bytes = 1 << 20;
  RequireCapError(ReadToEnd(tables::OpenDelimitedReader(bomb, Whole(bomb), options)),
                  "bomb.csv.gz", "0 (line 1)");
}

TEST_CASE("a snappy chunk announcing 4 GiB is refused before it is allocated",
          "[bounded][snappy]") {
  TempDir dir;
  const std::string path = dir.Path("huge.snappy");
  // Block: 0xffffffff uncompressed bytes; chunk of 6 bytes whose varint says 0xffffffff.
  std::string framed;
  AppendU32BigEndian(framed, 0xffffffffu);
  AppendU32BigEndian(framed, 6);
  framed += std::string("\xff\xff\xff\xff\x0f", 5) + "x";
  WriteRaw(path, framed);
  auto stream = io::OpenDecompressedStream(path, io::Codec::kSnappy);
  REQUIRE(stream.ok());
  char buffer[64];
  Result<size_t> got = (*stream)->Read(buffer, sizeof buffer);
  REQUIRE_FALSE(got.ok());
  RequireCapError(got.status(), path, "4");
  REQUIRE(got.status().message().find("announces 4294967295 bytes") != std::string::npos);

  // A compressed length past what the cap can compress to: refused from the header alone.
  std::string long_chunk;
  AppendU32BigEndian(long_chunk, 100);
  AppendU32BigEndian(long_chunk, 0x7fffffffu);
  WriteRaw(path, long_chunk);
  stream = io::OpenDecompressedStream(path, io::Codec::kSnappy, /*max_block_bytes=*/1 << 20);
  REQUIRE(stream.ok());
  got = (*stream)->Read(buffer, sizeof buffer);
  RequireCapError(got.status(), path, "4");

  // Under the cap a chunk still decodes: the cap is on the chunk, not on the file.
  std::string text(300000, 'a');
  std::string compressed(snappy_max_compressed_length(text.size()), '\0');
  size_t compressed_length = compressed.size();
  REQUIRE(snappy_compress(text.data(), text.size(), compressed.data(), &compressed_length) ==
          SNAPPY_OK);
  std::string ok;
  AppendU32BigEndian(ok, static_cast<uint32_t>(text.size()));
  AppendU32BigEndian(ok, static_cast<uint32_t>(compressed_length));
  ok += compressed.substr(0, compressed_length);
  WriteRaw(path, ok);
  stream = io::OpenDecompressedStream(path, io::Codec::kSnappy, /*max_block_bytes=*/200000);
  REQUIRE(stream.ok());
  got = (*stream)->Read(buffer, sizeof buffer);
  RequireCapError(got.status(), path, "4");
  stream = io::OpenDecompressedStream(path, io::Codec::kSnappy, /*max_block_bytes=*/300000);
  REQUIRE(stream.ok());
  got = (*stream)->Read(buffer, sizeof buffer);
  REQUIRE(got.ok());
  REQUIRE(*got == sizeof buffer);
}

TEST_CASE("a TFRecord length over the cap is an error naming the file and offset",
          "[bounded][tfrecord]") {
  TempDir dir;
  auto record = [](uint64_t length, const std::string& data) {
    char header[12];
    for (int i = 0; i < 8; ++i) header[i] = static_cast<char>(length >> (8 * i));
    const uint32_t length_crc = tables::MaskedCrc32c(header, 8);
    for (int i = 0; i < 4; ++i) header[8 + i] = static_cast<char>(length_crc >> (8 * i));
    const uint32_t data_crc = tables::MaskedCrc32c(data.data(), data.size());
    std::string footer(4, '\0');
    for (int i = 0; i < 4; ++i) footer[i] = static_cast<char>(data_crc >> (8 * i));
    return std::string(header, 12) + data + footer;
  };
  // A valid empty Example first (17 bytes of framing), then one announcing 1 TiB.
  WriteRaw(dir.Path("big.tfrecord"), record(0, "") + record(uint64_t{1} << 40, "abc"));
  TableOptions options;
  options.format = TableFormat::kTfRecord;
  const InputFile file = FileAt(dir.Path("big.tfrecord"), "big.tfrecord");
  Status status = ReadToEnd(tables::OpenTfRecordReader(file, Whole(file), options));
  RequireCapError(status, "big.tfrecord", "16 (record 1)");
  REQUIRE(status.message().find("announces 1099511627776 bytes") != std::string::npos);
}

TEST_CASE("an IDX item over the cap is refused from its header", "[bounded][idx]") {
  TempDir dir;
  std::string header;
  AppendU32BigEndian(header, 0x00000803);  // uint8, 3 dimensions
  AppendU32BigEndian(header, 2);
  AppendU32BigEndian(header, 10000);
  AppendU32BigEndian(header, 10000);  // 100 MB per item
  WriteRaw(dir.Path("big-idx3-ubyte"), header + "xyz");
  TableOptions options;
  options.format = TableFormat::kIdx;
  const InputFile file = FileAt(dir.Path("big-idx3-ubyte"), "big-idx3-ubyte");
  RequireCapError(ReadToEnd(tables::OpenIdxReader(file, Whole(file), options)), "big-idx3-ubyte",
                  "0");
}

// ---- Avro: containers written by hand, so that their lengths can lie ----------------------

std::string AvroLong(int64_t value) {
  uint64_t zigzag = (static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63);
  std::string out;
  while (zigzag >= 0x80) {
    out += static_cast<char>((zigzag & 0x7f) | 0x80);
    zigzag >>= 7;
  }
  out += static_cast<char>(zigzag);
  return out;
}

std::string AvroBytes(const std::string& bytes) { return AvroLong(int64_t(bytes.size())) + bytes; }

const std::string kSync = "0123456789abcdef";

std::string AvroHeader(const std::string& codec, const std::string& schema) {
  return std::string("Obj\x01", 4) + AvroLong(2) + AvroBytes("avro.codec") + AvroBytes(codec) +
         AvroBytes("avro.schema") + AvroBytes(schema) + AvroLong(0) + kSync;
}

const char* const kFloatSchema =
    R"({"type":"record","name":"r","fields":[{"name":"x","type":"float"}]})";

Status ReadAvro(const TempDir& dir, const std::string& bytes, uint64_t cap) {
  WriteRaw(dir.Path("t.avro"), bytes);
  TableOptions options;
  options.format = TableFormat::kAvro;
  options.feature_columns = {"x"};
  options.max_record_bytes = cap;
  const InputFile file = FileAt(dir.Path("t.avro"), "t.avro");
  return ReadToEnd(tables::OpenAvroReader(file, Whole(file), options));
}

TEST_CASE("Avro block sizes and counts are capped before libavro allocates them",
          "[bounded][avro]") {
  TempDir dir;
  const std::string header = AvroHeader("null", kFloatSchema);
  const std::string at = std::to_string(header.size());
  const std::string one_float = std::string("\0\0\x80\x3f", 4);  // 1.0f

  // A well-formed block reads.
  REQUIRE(ReadAvro(dir, header + AvroLong(1) + AvroLong(4) + one_float + kSync, 1 << 20).ok());

  // A block announcing 1 GiB (libavro would malloc it first), over the cap.
  Status status = ReadAvro(dir, header + AvroLong(1) + AvroLong(1 << 30) + one_float + kSync,
                           64 << 20);
  RequireCapError(status, "t.avro", at);
  REQUIRE(status.message().find("block of 1073741824 bytes") != std::string::npos);
  // Under the cap but past the end of the file: corrupt, named the same way.
  status = ReadAvro(dir, header + AvroLong(1) + AvroLong(1000) + one_float + kSync, 64 << 20);
  REQUIRE(status.code() == StatusCode::kCorruption);
  REQUIRE_THAT(status.message(), Catch::StartsWith("t.avro: corrupt Avro file at byte " + at));
  // A count of 2^62 records.
  RequireCapError(
      ReadAvro(dir, header + AvroLong(int64_t{1} << 62) + AvroLong(4) + one_float + kSync,
               64 << 20),
      "t.avro", at);
  // A negative size.
  status = ReadAvro(dir, header + AvroLong(1) + AvroLong(-5) + one_float + kSync, 64 << 20);
  REQUIRE_THAT(status.message(), Catch::Contains("negative block size"));

  // A snappy block whose varint announces 4 GiB.
  const std::string snappy_header = AvroHeader("snappy", kFloatSchema);
  const std::string snappy_data = std::string("\xff\xff\xff\xff\x0f", 5) + "abcdefgh";
  RequireCapError(ReadAvro(dir,
                           snappy_header + AvroLong(1) + AvroLong(int64_t(snappy_data.size())) +
                               snappy_data + kSync,
                           64 << 20),
                  "t.avro", std::to_string(snappy_header.size()));

  // A deflate block that inflates past the cap (2 MiB of zeros in ~2 KiB, cap 1 MiB).
  const std::string zeros(2 << 20, '\0');
  z_stream z{};
  REQUIRE(deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string deflated(deflateBound(&z, zeros.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(zeros.data()));
  z.avail_in = static_cast<uInt>(zeros.size());
  z.next_out = reinterpret_cast<Bytef*>(deflated.data());
  z.avail_out = static_cast<uInt>(deflated.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  deflated.resize(z.total_out);
  deflateEnd(&z);
  const std::string deflate_header = AvroHeader("deflate", kFloatSchema);
  status = ReadAvro(dir,
                    deflate_header + AvroLong(1) + AvroLong(int64_t(deflated.size())) + deflated +
                        kSync,
                    1 << 20);
  RequireCapError(status, "t.avro", std::to_string(deflate_header.size()));
  REQUIRE_THAT(status.message(), Catch::Contains("inflates past"));
}

TEST_CASE("Avro arrays of zero-byte elements are refused", "[bounded][avro]") {
  TempDir dir;
  // An array of nulls: a count of 2^62 would make libavro append elements without end.
  const std::string header = AvroHeader(
      "null",
      R"({"type":"record","name":"r","fields":[{"name":"x","type":{"type":"array","items":"null"}}]})");
  const std::string array = AvroLong(int64_t{1} << 62) + std::string(1, '\0');
  Status status = ReadAvro(
      dir, header + AvroLong(1) + AvroLong(int64_t(array.size())) + array + kSync, 1 << 20);
  REQUIRE_FALSE(status.ok());
  REQUIRE_THAT(status.message(), Catch::StartsWith("t.avro: the Avro file's schema has field 'x'"));
}

// ---- Avro: lengths inside a block, which libavro would have allocated before checking ------

// The schema of the fuzzer's finding: a nullable string id and an array of floats.
const char* const kIdArraySchema =
    R"({"type":"record","name":"r","fields":[{"name":"Id","type":["null","string"]},)"
    R"({"name":"x","type":{"type":"array","items":"float"}}]})";

std::string AvroFloats(std::initializer_list<float> values) {
  std::string out;
  for (float value : values) out.append(reinterpret_cast<const char*>(&value), 4);  // LE
  return out;
}

std::string AvroBlock(int64_t count, const std::string& data) {
  return AvroLong(count) + AvroLong(int64_t(data.size())) + data + kSync;
}

struct AvroRead {
  Status status;  // what ended the read
  size_t records = 0;
  std::vector<tables::BadRecord> bad;
};

AvroRead ReadAvroRecords(const TempDir& dir, const std::string& bytes, uint32_t feature_count = 0) {
  WriteRaw(dir.Path("t.avro"), bytes);
  TableOptions options;
  options.format = TableFormat::kAvro;
  options.id_column = "Id";
  options.feature_columns = {"x"};
  options.feature_count = feature_count;
  options.max_record_bytes = 1 << 20;
  const InputFile file = FileAt(dir.Path("t.avro"), "t.avro");
  AvroRead read;
  auto reader = tables::OpenAvroReader(file, Whole(file), options);
  if (!reader.ok()) {
    read.status = reader.status();
    return read;
  }
  for (;;) {
    tables::TableRecord record;
    tables::BadRecord bad;
    Result<RecordReader::Outcome> outcome = (*reader)->Next(&record, &bad);
    if (!outcome.ok()) {
      read.status = outcome.status();
      return read;
    }
    if (*outcome == RecordReader::Outcome::kEnd) return read;
    if (*outcome == RecordReader::Outcome::kRecord) ++read.records;
    if (*outcome == RecordReader::Outcome::kBad) read.bad.push_back(bad);
  }
}

// The fuzzer's finding (tests/data/fuzz_regressions/avro/alloc-negative-string-length): a string
// length of -786432 reached libavro, which asked malloc for 2^64 - 786431 bytes (ASan:
// allocation-size-too-big; without it, an out-of-memory error or worse).
TEST_CASE("Avro lengths and counts inside a block are checked before libavro decodes the record",
          "[bounded][avro]") {
  TempDir dir;
  const std::string header = AvroHeader("null", kIdArraySchema);
  const std::string block_at = std::to_string(header.size());
  // Record 0 reads: id "r0", x [1, 2].
  const std::string good = AvroLong(1) + AvroBytes("r0") + AvroLong(2) + AvroFloats({1, 2}) +
                           AvroLong(0);
  const std::string into = std::to_string(good.size());
  // The error that a second record `bad` ends the read with, after the first was read.
  auto second_fails = [&](const std::string& bad) {
    const AvroRead read = ReadAvroRecords(dir, header + AvroBlock(2, good + bad));
    INFO(read.status.message());
    REQUIRE(read.records == 1);
    REQUIRE(read.status.code() == StatusCode::kCorruption);
    REQUIRE(read.status.message().find('\n') == std::string::npos);
    const std::string prefix = "t.avro: corrupt Avro file: record 1 (in the block at byte " +
                               block_at + ", " + into + " bytes into its data): ";
    REQUIRE_THAT(read.status.message(), Catch::StartsWith(prefix));
    return read.status.message().substr(prefix.size());
  };

  REQUIRE(ReadAvroRecords(dir, header + AvroBlock(1, good)).status.ok());
  // Strings and their union.
  REQUIRE(second_fails(AvroLong(1) + AvroLong(-786432) + "abcd" + AvroLong(0)) ==
          "field 'Id': string length -786432 is negative");
  REQUIRE(second_fails(AvroLong(1) + AvroLong(1000) + "ab" + AvroLong(0)) ==
          "field 'Id': string length 1000 runs past the end of the block (3 bytes left)");
  REQUIRE(second_fails(AvroLong(5) + AvroLong(0)) ==
          "field 'Id': union index 5 is not one of its 2 branches");
  REQUIRE(second_fails(AvroLong(-1) + AvroLong(0)) ==
          "field 'Id': union index -1 is not one of its 2 branches");
  REQUIRE(second_fails(AvroLong(1) + std::string(11, '\xff')) ==
          "field 'Id': the string length is a varint longer than 10 bytes");
  // Array block counts: INT64_MIN (its negation overflows), more elements than bytes, a negative
  // block size, a count that runs out of data.
  REQUIRE(second_fails(AvroLong(0) + AvroLong(INT64_MIN) + AvroLong(0)) ==
          "field 'x': array block count -9223372036854775808 is out of range");
  REQUIRE(second_fails(AvroLong(0) + AvroLong(int64_t{1} << 62) + AvroFloats({1, 2}) +
                       AvroLong(0)) ==
          "field 'x': array block count 4611686018427387904 needs more than the 9 bytes left in "
          "the block");
  REQUIRE(second_fails(AvroLong(0) + AvroLong(-2) + AvroLong(-8) + AvroFloats({1, 2}) +
                       AvroLong(0)) ==
          "field 'x': array block size -8 is negative");
  REQUIRE(second_fails(AvroLong(0) + AvroLong(1) + AvroFloats({1})) ==
          "field 'x': the array block count runs past the end of the block (0 bytes left)");
  REQUIRE(second_fails(AvroLong(0) + AvroLong(2) + AvroFloats({1}) + "\x01\x02\x03") ==
          "field 'x': array block count 2 needs more than the 7 bytes left in the block");

  // Bytes after a block's last record: its count is wrong.
  AvroRead read = ReadAvroRecords(dir, header + AvroBlock(1, good + "xyz"));
  REQUIRE(read.records == 1);
  REQUIRE(read.status.message() ==
          "t.avro: corrupt Avro file: the block at byte " + block_at + " holds " +
              std::to_string(good.size() + 3) + " bytes, but its 1 records end after " + into);
  // More records than the block's bytes can hold (each takes a union index and an array count).
  read = ReadAvroRecords(dir, header + AvroBlock(1000, good));
  REQUIRE(read.records == 0);
  REQUIRE(read.status.message() == "t.avro: corrupt Avro file: the block at byte " + block_at +
                                       " claims 1000 records in " + into +
                                       " bytes, and each takes at least 2");
}

TEST_CASE("Avro nested values: the error names the path, enums and ints are checked, depth is "
          "bounded", "[bounded][avro]") {
  TempDir dir;
  // x: an array of records {s: string, e: enum {A, B}, i: int}; Id a plain string.
  const std::string header = AvroHeader(
      "null",
      R"({"type":"record","name":"r","fields":[{"name":"Id","type":"string"},)"
      R"({"name":"x","type":{"type":"array","items":{"type":"record","name":"item","fields":[)"
      R"({"name":"s","type":"string"},{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},)"
      R"({"name":"i","type":"int"}]}}}]})");
  const std::string item = AvroBytes("ok") + AvroLong(1) + AvroLong(-7);
  auto error = [&](const std::string& second_item) {
    const std::string record = AvroBytes("r") + AvroLong(2) + item + second_item + AvroLong(0);
    const AvroRead read = ReadAvroRecords(dir, header + AvroBlock(1, record));
    REQUIRE(read.records == 0);
    const std::string message = read.status.message();
    return message.substr(message.find("): ") + 3);
  };
  REQUIRE(error(AvroLong(-3) + "abc" + AvroLong(0) + AvroLong(0)) ==
          "field 'x[1].s': string length -3 is negative");
  REQUIRE(error(AvroBytes("ok") + AvroLong(2) + AvroLong(0)) ==
          "field 'x[1].e': enum index 2 is not one of its 2 symbols");
  REQUIRE(error(AvroBytes("ok") + AvroLong(0) + AvroLong(int64_t{1} << 31)) ==
          "field 'x[1].i': int value 2147483648 does not fit 32 bits");
  // The record itself reads (as a bad record: x is not a list of numbers).
  const AvroRead good = ReadAvroRecords(
      dir, header + AvroBlock(1, AvroBytes("r") + AvroLong(1) + item + AvroLong(0)));
  REQUIRE(good.status.ok());
  REQUIRE(good.bad.size() == 1);

  // A recursive type nested 300 deep: refused before libavro recurses that far.
  const std::string list_header = AvroHeader(
      "null",
      R"({"type":"record","name":"r","fields":[{"name":"Id","type":"string"},)"
      R"({"name":"next","type":["null","r"]}]})");
  std::string deep;
  for (int i = 0; i < 300; ++i) deep += AvroBytes("n") + AvroLong(1);
  deep += AvroBytes("n") + AvroLong(0);
  const AvroRead nested = ReadAvroRecords(dir, list_header + AvroBlock(1, deep));
  INFO(nested.status.message());
  REQUIRE(nested.status.code() == StatusCode::kCorruption);
  REQUIRE_THAT(nested.status.message(), Catch::EndsWith("data nested deeper than 256 levels"));
  REQUIRE_THAT(nested.status.message(), Catch::Contains("field 'next.next."));
  REQUIRE(nested.status.message().size() < 500);
}

// Found by the avro fuzzer (tests/data/fuzz_regressions/avro/leak-schema-type-defined-twice):
// libavro's schema parser leaks the type it was building when a name is defined a second time.
TEST_CASE("an Avro schema that defines a type name twice is refused before libavro parses it",
          "[bounded][avro]") {
  TempDir dir;
  const std::string twice = AvroHeader(
      "null",
      R"({"type":"record","name":"r","fields":[{"name":"f","type":{"type":"fixed","name":"F","size":4}},)"
      R"({"name":"e","type":{"type":"enum","name":"F","symbols":["A"]}}]})");
  Status status = ReadAvroRecords(dir, twice).status;
  REQUIRE(status.message() ==
          "t.avro: corrupt Avro file at byte 0: the header's avro.schema defines the type 'F' twice");
  // The same name in two namespaces is two types (Spark names nested records after their fields).
  const std::string spaces = AvroHeader(
      "null",
      R"({"type":"record","name":"r","fields":[{"name":"Id","type":"string"},)"
      R"({"name":"a","type":{"type":"record","name":"item","namespace":"a","fields":[{"name":"s","type":"string"}]}},)"
      R"({"name":"b","type":{"type":"record","name":"b.item","fields":[{"name":"s","type":"string"}]}},)"
      R"({"name":"c","type":["null","a.item"]}]})");
  REQUIRE(ReadAvroRecords(dir, spaces).status.ok());
  // ...and a namespace inherited from the enclosing record counts.
  const std::string inherited = AvroHeader(
      "null",
      R"({"type":"record","name":"r","namespace":"n","fields":[)"
      R"({"name":"a","type":{"type":"fixed","name":"F","size":1}},)"
      R"({"name":"b","type":{"type":"array","items":{"type":"fixed","name":"n.F","size":2}}}]})");
  status = ReadAvroRecords(dir, inherited).status;
  REQUIRE_THAT(status.message(), Catch::EndsWith("defines the type 'n.F' twice"));
}

// The fuzzer's container, scored against a model of another width: a list-valued feature whose
// number of values is not the model's is a bad record when it is read, saying both numbers.
TEST_CASE("Avro: a list-valued feature of the wrong width is a bad record at read time",
          "[bounded][avro]") {
  TempDir dir;
  const std::string header = AvroHeader("null", kIdArraySchema);
  const std::string two = AvroLong(1) + AvroBytes("two") + AvroLong(2) + AvroFloats({1, 2}) +
                          AvroLong(0);
  const std::string three = AvroLong(1) + AvroBytes("three") + AvroLong(3) +
                            AvroFloats({1, 2, 3}) + AvroLong(0);
  const AvroRead read = ReadAvroRecords(dir, header + AvroBlock(3, two + three + two), 3);
  REQUIRE(read.status.ok());
  REQUIRE(read.records == 1);
  REQUIRE(read.bad.size() == 2);
  REQUIRE(read.bad[0].location == "t.avro:record 0");
  REQUIRE(read.bad[0].reason == "2 feature values, expected 3");
  REQUIRE(read.bad[1].location == "t.avro:record 2");
}

TEST_CASE("max_record_mb is a key of every table input and travels to the workers",
          "[bounded][config]") {
  auto infer = ParseInferConfig(R"(
model: /m.pt
input: {path: /t, format: jsonl, max_record_mb: 2.5}
schema: {features: [a]}
output: {path: /o}
)",
                                "infer.yaml");
  REQUIRE(infer.ok());
  REQUIRE(infer->input.max_record_bytes == uint64_t(2.5 * (1 << 20)));

  auto train = ParseTrainConfig(R"(
data:
  train: {path: /tr, format: csv, header: true, max_record_mb: 1}
  test: {path: /te, format: csv, header: true}
)",
                                "job.yaml");
  REQUIRE(train.ok());
  REQUIRE(train->data.train.input.max_record_bytes == 1u << 20);
  REQUIRE(train->data.test.input.max_record_bytes == io::kDefaultMaxRecordBytes);  // 64 MiB

  auto zero = ParseTrainConfig("data: {train: {path: d, max_record_mb: 0}}\n", "job.yaml");
  REQUIRE_FALSE(zero.ok());
  REQUIRE_THAT(zero.status().message(),
               Catch::Contains("key 'data.train.max_record_mb': must be greater than 0"));
  auto word = ParseInferConfig(
      "model: m\ninput: {path: t, max_record_mb: lots}\nschema: {features: [a]}\noutput: {path: "
      "o}\n",
      "infer.yaml");
  REQUIRE_FALSE(word.ok());
  REQUIRE_THAT(word.status().message(), Catch::Contains("input.max_record_mb"));

  // Coordinator to worker: TableOptions -> TableSpec -> TableOptions.
  auto options = tables::TableOptionsFromInput(infer->input);
  REQUIRE(options.ok());
  REQUIRE(options->max_record_bytes == infer->input.max_record_bytes);
  proto::TableSpec spec;
  tables::EncodeTable(*options, {}, &spec);
  TableOptions decoded;
  std::vector<InputFile> files;
  tables::DecodeTable(spec, &decoded, &files);
  REQUIRE(decoded.max_record_bytes == infer->input.max_record_bytes);
  spec.clear_max_record_bytes();  // from an older coordinator: the default
  tables::DecodeTable(spec, &decoded, &files);
  REQUIRE(decoded.max_record_bytes == io::kDefaultMaxRecordBytes);
}

}  // namespace
}  // namespace aimass
