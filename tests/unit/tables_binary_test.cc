#include <avro.h>

#include "tests/catch.h"
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/tables/binary/avro_reader.h"
#include "common/tables/binary/idx_reader.h"
#include "common/tables/binary/tf_example.pb.h"
#include "common/tables/binary/tfrecord_reader.h"
#include "tests/temp_dir.h"

namespace aimass::tables {
namespace {

using testing::ReadRaw;
using testing::TempDir;
using testing::WriteGzip;
using testing::WriteRaw;

namespace fs = std::filesystem;

using Outcome = RecordReader::Outcome;

// ---- shared helpers ------------------------------------------------------------------------

InputFile MakeFile(const std::string& path, const std::string& relative_path,
                   io::Codec codec = io::Codec::kNone, PartitionValues partitions = {}) {
  InputFile file;
  file.path = path;
  file.relative_path = relative_path;
  file.size = fs::file_size(path);
  file.codec = codec;
  file.partitions = std::move(partitions);
  return file;
}

Split WholeFile(const InputFile& file) {
  Split split;
  split.begin = 0;
  split.end = file.size;
  split.whole_file = true;
  return split;
}

// Everything one reader yields, in order, and the error that stopped it (ok at a clean end).
struct ReadOutcome {
  std::vector<TableRecord> records;
  std::vector<BadRecord> bad;
  std::vector<char> order;  // 'r' for a record, 'b' for a bad record
  Status error;
};

ReadOutcome ReadAll(RecordReader& reader) {
  ReadOutcome out;
  for (int guard = 0; guard < 100000; ++guard) {
    TableRecord record;
    BadRecord bad;
    Result<Outcome> next = reader.Next(&record, &bad);
    if (!next.ok()) {
      out.error = next.status();
      // A failed reader keeps failing.
      Result<Outcome> again = reader.Next(&record, &bad);
      REQUIRE_FALSE(again.ok());
      return out;
    }
    if (*next == Outcome::kEnd) {
      // The end is sticky.
      Result<Outcome> again = reader.Next(&record, &bad);
      REQUIRE(again.ok());
      REQUIRE(*again == Outcome::kEnd);
      return out;
    }
    if (*next == Outcome::kRecord) {
      out.records.push_back(record);
      out.order.push_back('r');
    } else {
      out.bad.push_back(bad);
      out.order.push_back('b');
    }
  }
  FAIL("reader never ended");
  return out;
}

using Opener = Result<std::unique_ptr<RecordReader>> (*)(const InputFile&, const Split&,
                                                          const TableOptions&);

ReadOutcome OpenAndReadAll(Opener open, const InputFile& file, const TableOptions& options) {
  Result<std::unique_ptr<RecordReader>> reader = open(file, WholeFile(file), options);
  if (!reader.ok()) FAIL("open failed: " << reader.status().message());
  return ReadAll(**reader);
}

// For files that are broken: an error from opening (a reader that checks the file up front)
// lands in `error` like one from reading.
ReadOutcome OpenAndReadUntilError(Opener open, const InputFile& file,
                                  const TableOptions& options) {
  Result<std::unique_ptr<RecordReader>> reader = open(file, WholeFile(file), options);
  if (!reader.ok()) {
    ReadOutcome out;
    out.error = reader.status();
    return out;
  }
  return ReadAll(**reader);
}

std::vector<float> Floats(std::initializer_list<float> values) { return values; }

// ---- TFRecord -------------------------------------------------------------------------------

std::string LittleEndian(uint64_t value, int bytes) {
  std::string out;
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  return out;
}

// One record in TFRecord framing.
std::string Frame(const std::string& data) {
  const std::string length = LittleEndian(data.size(), 8);
  return length + LittleEndian(MaskedCrc32c(length.data(), length.size()), 4) + data +
         LittleEndian(MaskedCrc32c(data.data(), data.size()), 4);
}

tf::Feature& AddFeature(tf::Example* example, const std::string& name) {
  return (*example->mutable_features()->mutable_feature())[name];
}

std::string SampleExample(const std::string& id, std::initializer_list<float> dense,
                          std::initializer_list<int64_t> counts) {
  tf::Example example;
  AddFeature(&example, "id").mutable_bytes_list()->add_value(id);
  for (float value : dense) AddFeature(&example, "dense").mutable_float_list()->add_value(value);
  for (int64_t value : counts) {
    AddFeature(&example, "counts").mutable_int64_list()->add_value(value);
  }
  std::string bytes;
  REQUIRE(example.SerializeToString(&bytes));
  return bytes;
}

TableOptions TfOptions() {
  TableOptions options;
  options.format = TableFormat::kTfRecord;
  options.id_column = "id";
  options.feature_columns = {"counts", "dense"};
  options.feature_count = 3;
  return options;
}

TEST_CASE("CRC-32C matches the Castagnoli test vectors", "[tfrecord]") {
  REQUIRE(Crc32c("123456789", 9) == 0xE3069283u);
  const std::string zeros(32, '\0');
  REQUIRE(Crc32c(zeros.data(), zeros.size()) == 0x8A9136AAu);  // RFC 3720 B.4
  const std::string ones(32, '\xff');
  REQUIRE(Crc32c(ones.data(), ones.size()) == 0x62A8AB43u);
  REQUIRE(Crc32c("", 0) == 0u);
  const uint32_t crc = 0xE3069283u;
  REQUIRE(MaskedCrc32c("123456789", 9) == ((crc >> 15) | (crc << 17)) + 0xa282ead8u);
}

TEST_CASE("TFRecord: ids and features in column order, plain and gzip", "[tfrecord]") {
  TempDir dir;
  std::string bytes;
  bytes += Frame(SampleExample("a", {0.5f, -1.25f}, {7}));
  bytes += Frame(SampleExample("b", {3e-7f, 16777216.f}, {-2}));
  bytes += Frame(SampleExample("c\x01z", {0.f, 1.f}, {1234567}));
  const bool gzip = GENERATE(false, true);
  const std::string name = gzip ? "part-00000.tfrecord.gz" : "part-00000.tfrecord";
  if (gzip) {
    WriteGzip(dir.Path(name), bytes);
  } else {
    WriteRaw(dir.Path(name), bytes);
  }
  const InputFile file =
      MakeFile(dir.Path(name), "t/" + name, gzip ? io::Codec::kGzip : io::Codec::kNone);

  const ReadOutcome out = OpenAndReadAll(OpenTfRecordReader, file, TfOptions());
  REQUIRE(out.error.ok());
  REQUIRE(out.bad.empty());
  REQUIRE(out.records.size() == 3);
  REQUIRE(out.records[0].id == "a");
  REQUIRE(out.records[0].features == Floats({7.f, 0.5f, -1.25f}));
  REQUIRE(out.records[1].id == "b");
  REQUIRE(out.records[1].features == Floats({-2.f, 3e-7f, 16777216.f}));
  REQUIRE(out.records[2].id == "c\x01z");
  REQUIRE(out.records[2].features == Floats({1234567.f, 0.f, 1.f}));
}

TEST_CASE("TFRecord: int64 ids, record-index ids and partition keys", "[tfrecord]") {
  TempDir dir;
  std::string bytes;
  for (int64_t key : {int64_t{42}, int64_t{-9000000000}}) {
    tf::Example example;
    AddFeature(&example, "key").mutable_int64_list()->add_value(key);
    AddFeature(&example, "x").mutable_float_list()->add_value(static_cast<float>(key) / 2);
    AddFeature(&example, "empty");  // a feature with no kind: no values
    bytes += Frame(example.SerializeAsString());
  }
  WriteRaw(dir.Path("f.tfrecord"), bytes);
  const InputFile file = MakeFile(dir.Path("f.tfrecord"), "dt=2026-11-22/hour=7/f.tfrecord",
                                  io::Codec::kNone, {{"dt", "2026-11-22"}, {"hour", "7"}});

  SECTION("int64 id") {
    TableOptions options;
    options.id_column = "key";
    options.feature_columns = {"x", "empty", "hour"};
    const ReadOutcome out = OpenAndReadAll(OpenTfRecordReader, file, options);
    REQUIRE(out.error.ok());
    REQUIRE(out.bad.empty());
    REQUIRE(out.records.size() == 2);
    REQUIRE(out.records[0].id == "42");
    REQUIRE(out.records[0].features == Floats({21.f, 7.f}));
    REQUIRE(out.records[1].id == "-9000000000");
    REQUIRE(out.records[1].features == Floats({-4.5e9f, 7.f}));
  }
  SECTION("no id column: path and record index") {
    TableOptions options;
    options.feature_columns = {"x"};
    const ReadOutcome out = OpenAndReadAll(OpenTfRecordReader, file, options);
    REQUIRE(out.error.ok());
    REQUIRE(out.records.size() == 2);
    REQUIRE(out.records[0].id == "dt=2026-11-22/hour=7/f.tfrecord:0");
    REQUIRE(out.records[1].id == "dt=2026-11-22/hour=7/f.tfrecord:1");
  }
  SECTION("a partition key as id; a non-numeric partition key as feature is bad") {
    TableOptions options;
    options.id_column = "dt";
    options.feature_columns = {"x"};
    ReadOutcome out = OpenAndReadAll(OpenTfRecordReader, file, options);
    REQUIRE(out.error.ok());
    REQUIRE(out.records.size() == 2);
    REQUIRE(out.records[1].id == "2026-11-22");

    options.feature_columns = {"x", "dt"};
    out = OpenAndReadAll(OpenTfRecordReader, file, options);
    REQUIRE(out.error.ok());
    REQUIRE(out.records.empty());
    REQUIRE(out.bad.size() == 2);
    REQUIRE(out.bad[0].reason == "partition 'dt': '2026-11-22' is not a number");
  }
}

TEST_CASE("TFRecord: bad records are reported and reading goes on", "[tfrecord]") {
  TempDir dir;
  const std::string good0 = SampleExample("a", {1.f, 2.f}, {3});
  const std::string crc_broken = SampleExample("b", {1.f, 2.f}, {3});
  const std::string good2 = SampleExample("c", {4.f, 5.f}, {6});
  const std::string not_example = "\xff\xff\xff\xff garbage";
  tf::Example no_dense;
  AddFeature(&no_dense, "id").mutable_bytes_list()->add_value("e");
  AddFeature(&no_dense, "counts").mutable_int64_list()->add_value(1);
  const std::string missing = no_dense.SerializeAsString();
  tf::Example bytes_feature;
  AddFeature(&bytes_feature, "id").mutable_bytes_list()->add_value("f");
  AddFeature(&bytes_feature, "counts").mutable_bytes_list()->add_value("1");
  AddFeature(&bytes_feature, "dense").mutable_float_list()->add_value(1);
  const std::string wrong_kind = bytes_feature.SerializeAsString();
  const std::string too_many = SampleExample("g", {1.f, 2.f, 3.f}, {4});
  tf::Example float_id;
  AddFeature(&float_id, "id").mutable_float_list()->add_value(1);
  const std::string bad_id = float_id.SerializeAsString();

  std::string bytes = Frame(good0);
  std::string broken = Frame(crc_broken);
  broken[broken.size() - 1] ^= 0x01;  // the data CRC
  bytes += broken;
  bytes += Frame(good2) + Frame(not_example) + Frame(missing) + Frame(wrong_kind) +
           Frame(too_many) + Frame(bad_id);
  WriteRaw(dir.Path("bad.tfrecord"), bytes);
  const InputFile file = MakeFile(dir.Path("bad.tfrecord"), "bad.tfrecord");

  const ReadOutcome out = OpenAndReadAll(OpenTfRecordReader, file, TfOptions());
  REQUIRE(out.error.ok());
  REQUIRE(out.order == std::vector<char>{'r', 'b', 'r', 'b', 'b', 'b', 'b', 'b'});
  REQUIRE(out.records[0].id == "a");
  REQUIRE(out.records[1].id == "c");
  REQUIRE(out.records[1].features == Floats({6.f, 4.f, 5.f}));

  REQUIRE(out.bad[0].location == "bad.tfrecord:record 1");
  REQUIRE_THAT(out.bad[0].reason, Catch::Contains("CRC"));
  REQUIRE(out.bad[0].raw == crc_broken);
  REQUIRE(out.bad[1].location == "bad.tfrecord:record 3");
  REQUIRE_THAT(out.bad[1].reason, Catch::Contains("not a tf.train.Example"));
  REQUIRE(out.bad[1].raw == not_example);
  REQUIRE(out.bad[2].location == "bad.tfrecord:record 4");
  REQUIRE(out.bad[2].reason == "no feature 'dense'");
  REQUIRE(out.bad[2].raw == missing);
  REQUIRE_THAT(out.bad[3].reason, Catch::Contains("'counts' is a bytes_list"));
  REQUIRE(out.bad[4].reason == "4 feature values, expected 3");
  REQUIRE_THAT(out.bad[5].reason, Catch::Contains("id feature 'id' has float_list"));
  REQUIRE(out.bad[5].location == "bad.tfrecord:record 7");
}

TEST_CASE("TFRecord: broken framing fails the attempt, naming file and offset", "[tfrecord]") {
  TempDir dir;
  const std::string first = Frame(SampleExample("a", {1.f, 2.f}, {3}));
  const std::string second = Frame(SampleExample("b", {1.f, 2.f}, {3}));
  const std::string offset = std::to_string(first.size());
  std::string bytes = first + second;

  SECTION("truncated inside the data") { bytes.resize(first.size() + 12 + 5); }
  SECTION("truncated inside the length") { bytes.resize(first.size() + 5); }
  SECTION("truncated before the data CRC") { bytes.resize(bytes.size() - 2); }
  SECTION("corrupt length CRC") { bytes[first.size() + 9] ^= 0x40; }
  SECTION("corrupt length") { bytes[first.size() + 1] ^= 0x01; }

  WriteRaw(dir.Path("t.tfrecord"), bytes);
  const InputFile file = MakeFile(dir.Path("t.tfrecord"), "d/t.tfrecord");
  const ReadOutcome out = OpenAndReadAll(OpenTfRecordReader, file, TfOptions());
  REQUIRE(out.records.size() == 1);
  REQUIRE(out.bad.empty());
  REQUIRE_FALSE(out.error.ok());
  REQUIRE_THAT(out.error.message(), Catch::StartsWith("d/t.tfrecord: "));
  REQUIRE_THAT(out.error.message(), Catch::Contains("at byte " + offset));
}

TEST_CASE("TFRecord: empty files, corrupt gzip and partial splits", "[tfrecord]") {
  TempDir dir;
  WriteRaw(dir.Path("empty.tfrecord"), "");
  const InputFile empty = MakeFile(dir.Path("empty.tfrecord"), "empty.tfrecord");
  const ReadOutcome out = OpenAndReadAll(OpenTfRecordReader, empty, TfOptions());
  REQUIRE(out.error.ok());
  REQUIRE(out.order.empty());

  // A gzip file cut short: the stream's error reaches the caller.
  std::string bytes;
  for (int i = 0; i < 200; ++i) bytes += Frame(SampleExample(std::to_string(i), {1, 2}, {i}));
  WriteGzip(dir.Path("cut.tfrecord.gz"), bytes);
  const std::string gz = ReadRaw(dir.Path("cut.tfrecord.gz"));
  WriteRaw(dir.Path("cut.tfrecord.gz"), gz.substr(0, gz.size() / 2));
  const InputFile cut = MakeFile(dir.Path("cut.tfrecord.gz"), "cut.tfrecord.gz",
                                 io::Codec::kGzip);
  const ReadOutcome cut_out = OpenAndReadAll(OpenTfRecordReader, cut, TfOptions());
  REQUIRE_FALSE(cut_out.error.ok());
  REQUIRE(cut_out.records.size() < 200);
  REQUIRE_THAT(cut_out.error.message(), Catch::Contains("cut.tfrecord.gz"));

  WriteRaw(dir.Path("some.tfrecord"), bytes);
  const InputFile some = MakeFile(dir.Path("some.tfrecord"), "some.tfrecord");
  Split half;
  half.begin = 0;
  half.end = some.size / 2;
  Result<std::unique_ptr<RecordReader>> reader = OpenTfRecordReader(some, half, TfOptions());
  REQUIRE_FALSE(reader.ok());
  REQUIRE_THAT(reader.status().message(), Catch::Contains("read whole"));

  const InputFile missing = [&] {
    InputFile f = some;
    f.path = dir.Path("nope.tfrecord");
    return f;
  }();
  REQUIRE_FALSE(OpenTfRecordReader(missing, WholeFile(missing), TfOptions()).ok());
}

// ---- Avro -----------------------------------------------------------------------------------

constexpr const char* kRowSchema = R"({
  "type": "record", "name": "Row", "fields": [
    {"name": "id", "type": "string"},
    {"name": "x", "type": {"type": "array", "items": "float"}},
    {"name": "y", "type": "double"},
    {"name": "n", "type": "long"},
    {"name": "i", "type": "int"},
    {"name": "flag", "type": "boolean"},
    {"name": "hive_opt", "type": ["null", "float"]},
    {"name": "spark_opt", "type": ["float", "null"]},
    {"name": "label", "type": "string"},
    {"name": "nested", "type": {"type": "array", "items": ["null", "double"]}}
  ]})";

struct AvroRow {
  std::string id;
  std::vector<float> x;
  double y = 0;
  int64_t n = 0;
  int32_t i = 0;
  bool flag = false;
  bool hive_null = false;
  float hive_opt = 0;
  bool spark_null = false;
  float spark_opt = 0;
  std::vector<double> nested;
};

// Writes `rows` as an Avro container with `codec` ("null", "deflate", "snappy"...); false when
// this libavro lacks the codec.
bool WriteAvro(const std::string& path, const std::vector<AvroRow>& rows,
               const char* codec = "null") {
  avro_schema_t schema = nullptr;
  REQUIRE(avro_schema_from_json_length(kRowSchema, std::strlen(kRowSchema), &schema) == 0);
  avro_file_writer_t writer = nullptr;
  // A small block size: several blocks per file.
  if (avro_file_writer_create_with_codec(path.c_str(), schema, &writer, codec, 256) != 0) {
    avro_schema_decref(schema);
    return false;
  }
  avro_value_iface_t* iface = avro_generic_class_from_schema(schema);
  REQUIRE(iface != nullptr);
  avro_value_t row;
  REQUIRE(avro_generic_value_new(iface, &row) == 0);
  for (const AvroRow& r : rows) {
    avro_value_t field, element, branch;
    REQUIRE(avro_value_get_by_name(&row, "id", &field, nullptr) == 0);
    REQUIRE(avro_value_set_string_len(&field, r.id.c_str(), r.id.size() + 1) == 0);
    REQUIRE(avro_value_get_by_name(&row, "x", &field, nullptr) == 0);
    REQUIRE(avro_value_reset(&field) == 0);
    for (float v : r.x) {
      REQUIRE(avro_value_append(&field, &element, nullptr) == 0);
      REQUIRE(avro_value_set_float(&element, v) == 0);
    }
    REQUIRE(avro_value_get_by_name(&row, "y", &field, nullptr) == 0);
    REQUIRE(avro_value_set_double(&field, r.y) == 0);
    REQUIRE(avro_value_get_by_name(&row, "n", &field, nullptr) == 0);
    REQUIRE(avro_value_set_long(&field, r.n) == 0);
    REQUIRE(avro_value_get_by_name(&row, "i", &field, nullptr) == 0);
    REQUIRE(avro_value_set_int(&field, r.i) == 0);
    REQUIRE(avro_value_get_by_name(&row, "flag", &field, nullptr) == 0);
    REQUIRE(avro_value_set_boolean(&field, r.flag ? 1 : 0) == 0);
    REQUIRE(avro_value_get_by_name(&row, "hive_opt", &field, nullptr) == 0);
    if (r.hive_null) {
      REQUIRE(avro_value_set_branch(&field, 0, &branch) == 0);
      REQUIRE(avro_value_set_null(&branch) == 0);
    } else {
      REQUIRE(avro_value_set_branch(&field, 1, &branch) == 0);
      REQUIRE(avro_value_set_float(&branch, r.hive_opt) == 0);
    }
    REQUIRE(avro_value_get_by_name(&row, "spark_opt", &field, nullptr) == 0);
    if (r.spark_null) {
      REQUIRE(avro_value_set_branch(&field, 1, &branch) == 0);
      REQUIRE(avro_value_set_null(&branch) == 0);
    } else {
      REQUIRE(avro_value_set_branch(&field, 0, &branch) == 0);
      REQUIRE(avro_value_set_float(&branch, r.spark_opt) == 0);
    }
    REQUIRE(avro_value_get_by_name(&row, "label", &field, nullptr) == 0);
    REQUIRE(avro_value_set_string(&field, "text") == 0);
    REQUIRE(avro_value_get_by_name(&row, "nested", &field, nullptr) == 0);
    REQUIRE(avro_value_reset(&field) == 0);
    for (double v : r.nested) {
      REQUIRE(avro_value_append(&field, &element, nullptr) == 0);
      REQUIRE(avro_value_set_branch(&element, 1, &branch) == 0);
      REQUIRE(avro_value_set_double(&branch, v) == 0);
    }
    REQUIRE(avro_file_writer_append_value(writer, &row) == 0);
  }
  REQUIRE(avro_file_writer_close(writer) == 0);
  avro_value_decref(&row);
  avro_value_iface_decref(iface);
  avro_schema_decref(schema);
  return true;
}

std::vector<AvroRow> SampleRows(int count) {
  std::vector<AvroRow> rows;
  for (int k = 0; k < count; ++k) {
    AvroRow r;
    r.id = "row-" + std::to_string(k);
    r.x = std::vector<float>(static_cast<size_t>(k % 3 + 1), 0.5f * static_cast<float>(k));
    r.y = k + 0.25;
    r.n = int64_t{1} << 40;
    r.i = -k;
    r.flag = k % 2 == 1;
    r.hive_opt = 1.5f;
    r.spark_opt = -2.5f;
    r.nested = {static_cast<double>(k)};
    rows.push_back(r);
  }
  return rows;
}

TableOptions AvroOptions() {
  TableOptions options;
  options.format = TableFormat::kAvro;
  options.id_column = "id";
  options.feature_columns = {"x", "y", "n", "i", "flag", "hive_opt", "spark_opt", "nested"};
  return options;
}

std::vector<float> ExpectedFeatures(const AvroRow& r) {
  std::vector<float> out = r.x;
  out.push_back(static_cast<float>(r.y));
  out.push_back(static_cast<float>(r.n));
  out.push_back(static_cast<float>(r.i));
  out.push_back(r.flag ? 1.f : 0.f);
  out.push_back(r.hive_opt);
  out.push_back(r.spark_opt);
  for (double v : r.nested) out.push_back(static_cast<float>(v));
  return out;
}

TEST_CASE("Avro: every field type, in column order, with the container codecs", "[avro]") {
  TempDir dir;
  const std::vector<AvroRow> rows = SampleRows(300);
  // lzma: libavro's own codec (raw LZMA2), which avro_container.cc decodes with liblzma.
  const char* codec = GENERATE("null", "deflate", "snappy", "lzma");
  const std::string path = dir.Path(std::string("part-0.") + codec + ".avro");
  if (!WriteAvro(path, rows, codec)) {
    REQUIRE(std::string(codec) != "null");
    WARN("this libavro cannot write the " << codec << " codec: " << avro_strerror());
    return;
  }
  const InputFile file = MakeFile(path, "part-0.avro");
  const ReadOutcome out = OpenAndReadAll(OpenAvroReader, file, AvroOptions());
  REQUIRE(out.error.ok());
  REQUIRE(out.bad.empty());
  REQUIRE(out.records.size() == rows.size());
  for (size_t k = 0; k < rows.size(); ++k) {
    INFO("record " << k);
    REQUIRE(out.records[k].id == rows[k].id);
    REQUIRE(out.records[k].features == ExpectedFeatures(rows[k]));
  }
}

TEST_CASE("Avro: nulls, missing fields, wrong types and wrong counts are bad records",
          "[avro]") {
  TempDir dir;
  std::vector<AvroRow> rows = SampleRows(5);
  rows[1].hive_null = true;
  rows[3].spark_null = true;
  if (!WriteAvro(dir.Path("nulls.avro"), rows, "deflate")) {
    REQUIRE(WriteAvro(dir.Path("nulls.avro"), rows));
  }
  const InputFile file = MakeFile(dir.Path("nulls.avro"), "dt=1/nulls.avro", io::Codec::kNone,
                                  {{"dt", "1"}});

  SECTION("null values") {
    const ReadOutcome out = OpenAndReadAll(OpenAvroReader, file, AvroOptions());
    REQUIRE(out.error.ok());
    REQUIRE(out.order == std::vector<char>{'r', 'b', 'r', 'b', 'r'});
    REQUIRE(out.records[1].id == "row-2");
    REQUIRE(out.bad[0].location == "dt=1/nulls.avro:record 1");
    REQUIRE(out.bad[0].reason == "field 'hive_opt' is null");
    REQUIRE_THAT(out.bad[0].raw, Catch::Contains("\"row-1\""));  // the record as JSON
    REQUIRE(out.bad[1].location == "dt=1/nulls.avro:record 3");
    REQUIRE(out.bad[1].reason == "field 'spark_opt' is null");
  }
  SECTION("a field the schema lacks; a partition key instead") {
    TableOptions options = AvroOptions();
    options.feature_columns = {"y", "nope"};
    ReadOutcome out = OpenAndReadAll(OpenAvroReader, file, options);
    REQUIRE(out.error.ok());
    REQUIRE(out.bad.size() == 5);
    REQUIRE(out.bad[4].reason == "no field 'nope' in the file's schema");

    options.feature_columns = {"y", "dt"};
    options.id_column = "dt";
    out = OpenAndReadAll(OpenAvroReader, file, options);
    REQUIRE(out.error.ok());
    REQUIRE(out.records.size() == 5);
    REQUIRE(out.records[2].id == "1");
    REQUIRE(out.records[2].features == Floats({2.25f, 1.f}));
  }
  SECTION("a string feature, an array id") {
    TableOptions options = AvroOptions();
    options.feature_columns = {"label"};
    ReadOutcome out = OpenAndReadAll(OpenAvroReader, file, options);
    REQUIRE(out.bad.size() == 5);
    REQUIRE_THAT(out.bad[0].reason, Catch::StartsWith("field 'label' is a string"));

    options.id_column = "x";
    options.feature_columns = {"y"};
    out = OpenAndReadAll(OpenAvroReader, file, options);
    REQUIRE(out.bad.size() == 5);
    REQUIRE_THAT(out.bad[0].reason, Catch::StartsWith("id field 'x' is an array"));
  }
  SECTION("long ids, record-index ids, feature count") {
    TableOptions options = AvroOptions();
    options.id_column = "n";
    options.feature_columns = {"x"};
    options.feature_count = 2;
    ReadOutcome out = OpenAndReadAll(OpenAvroReader, file, options);
    REQUIRE(out.order == std::vector<char>{'b', 'r', 'b', 'b', 'r'});
    REQUIRE(out.records[0].id == "1099511627776");
    REQUIRE(out.records[0].features == Floats({0.5f, 0.5f}));
    REQUIRE(out.bad[0].reason == "1 feature values, expected 2");

    options.id_column.clear();
    options.feature_count = 0;
    out = OpenAndReadAll(OpenAvroReader, file, options);
    REQUIRE(out.records.size() == 5);
    REQUIRE(out.records[4].id == "dt=1/nulls.avro:4");

    options.id_column = "i";
    out = OpenAndReadAll(OpenAvroReader, file, options);
    REQUIRE(out.records.size() == 5);
    REQUIRE(out.records[4].id == "-4");
  }
}

TEST_CASE("Avro: empty, corrupt, truncated and compressed-around files", "[avro]") {
  TempDir dir;
  REQUIRE(WriteAvro(dir.Path("empty.avro"), {}));
  const ReadOutcome empty =
      OpenAndReadAll(OpenAvroReader, MakeFile(dir.Path("empty.avro"), "empty.avro"),
                     AvroOptions());
  REQUIRE(empty.error.ok());
  REQUIRE(empty.order.empty());

  WriteRaw(dir.Path("junk.avro"), "this is not an Avro container file at all");
  const InputFile junk = MakeFile(dir.Path("junk.avro"), "junk.avro");
  Result<std::unique_ptr<RecordReader>> reader = OpenAvroReader(junk, WholeFile(junk),
                                                                AvroOptions());
  REQUIRE_FALSE(reader.ok());
  REQUIRE_THAT(reader.status().message(), Catch::StartsWith("junk.avro: "));

  REQUIRE(WriteAvro(dir.Path("whole.avro"), SampleRows(400)));
  std::string bytes = ReadRaw(dir.Path("whole.avro"));
  SECTION("truncated") {
    WriteRaw(dir.Path("cut.avro"), bytes.substr(0, bytes.size() - 100));
    const InputFile cut = MakeFile(dir.Path("cut.avro"), "cut.avro");
    // The container is checked before libavro reads it (avro_container_check.h).
    const ReadOutcome out = OpenAndReadUntilError(OpenAvroReader, cut, AvroOptions());
    REQUIRE_FALSE(out.error.ok());
    REQUIRE_THAT(out.error.message(), Catch::StartsWith("cut.avro: "));
    REQUIRE(out.records.size() < 400);
  }
  SECTION("a broken sync marker") {
    // The last 16 bytes of a container are the sync marker after its last block.
    bytes[bytes.size() - 3] ^= 0x5a;
    WriteRaw(dir.Path("sync.avro"), bytes);
    const InputFile sync = MakeFile(dir.Path("sync.avro"), "sync.avro");
    const ReadOutcome out = OpenAndReadUntilError(OpenAvroReader, sync, AvroOptions());
    REQUIRE_FALSE(out.error.ok());
    REQUIRE_THAT(out.error.message(), Catch::StartsWith("sync.avro: corrupt Avro file"));
  }
  SECTION("compressed around the container") {
    WriteGzip(dir.Path("whole.avro.gz"), bytes);
    const InputFile gz = MakeFile(dir.Path("whole.avro.gz"), "whole.avro.gz", io::Codec::kGzip);
    Result<std::unique_ptr<RecordReader>> gz_reader = OpenAvroReader(gz, WholeFile(gz),
                                                                     AvroOptions());
    REQUIRE_FALSE(gz_reader.ok());
    REQUIRE_THAT(gz_reader.status().message(), Catch::Contains("not supported"));
  }
}

// ---- IDX ------------------------------------------------------------------------------------

std::string BigEndian(uint64_t value, int bytes) {
  std::string out;
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  return out;
}

std::string IdxHeader(uint8_t type, std::vector<uint32_t> dims) {
  std::string out;
  out.push_back(0);
  out.push_back(0);
  out.push_back(static_cast<char>(type));
  out.push_back(static_cast<char>(dims.size()));
  for (uint32_t dim : dims) out += BigEndian(dim, 4);
  return out;
}

std::string UbyteImages() {
  std::string out = IdxHeader(0x08, {3, 2, 2});
  for (int v : {0, 1, 2, 255, 10, 20, 30, 40, 128, 127, 0, 9}) out.push_back(static_cast<char>(v));
  return out;
}

TEST_CASE("IDX: ubyte images, plain and gzip, with each id form", "[idx]") {
  TempDir dir;
  const bool gzip = GENERATE(false, true);
  const std::string name = gzip ? "train-images-idx3-ubyte.gz" : "train-images-idx3-ubyte";
  if (gzip) {
    WriteGzip(dir.Path(name), UbyteImages());
  } else {
    WriteRaw(dir.Path(name), UbyteImages());
  }
  const InputFile file = MakeFile(dir.Path(name), "mnist/" + name,
                                  gzip ? io::Codec::kGzip : io::Codec::kNone,
                                  {{"split", "train"}});
  TableOptions options;
  options.format = TableFormat::kIdx;
  options.feature_columns = {"ignored"};
  options.feature_count = 4;
  ReadOutcome out = OpenAndReadAll(OpenIdxReader, file, options);
  REQUIRE(out.error.ok());
  REQUIRE(out.bad.empty());
  REQUIRE(out.records.size() == 3);
  REQUIRE(out.records[0].id == "mnist/" + name + ":0");
  REQUIRE(out.records[0].features == Floats({0, 1, 2, 255}));
  REQUIRE(out.records[1].features == Floats({10, 20, 30, 40}));
  REQUIRE(out.records[2].id == "mnist/" + name + ":2");
  REQUIRE(out.records[2].features == Floats({128, 127, 0, 9}));

  options.id_column = "index";
  out = OpenAndReadAll(OpenIdxReader, file, options);
  REQUIRE(out.records.size() == 3);
  REQUIRE(out.records[1].id == "1");

  options.id_column = "split";
  out = OpenAndReadAll(OpenIdxReader, file, options);
  REQUIRE(out.records.size() == 3);
  REQUIRE(out.records[2].id == "train");

  options.id_column = "label";
  REQUIRE_FALSE(OpenIdxReader(file, WholeFile(file), options).ok());

  options.id_column.clear();
  options.feature_count = 5;  // every item has 4 values: every record is bad
  out = OpenAndReadAll(OpenIdxReader, file, options);
  REQUIRE(out.error.ok());
  REQUIRE(out.bad.size() == 3);
  REQUIRE(out.bad[1].location == "mnist/" + name + ":record 1");
  REQUIRE(out.bad[1].reason == "4 values per item, expected 5");
  REQUIRE(out.bad[1].raw == std::string("\x0a\x14\x1e\x28"));
}

TEST_CASE("IDX: signed, 16/32-bit, float and double values; 1-D labels", "[idx]") {
  TempDir dir;
  TableOptions options;
  options.id_column = "index";

  std::string floats = IdxHeader(0x0D, {3, 2});
  for (float v : {1.5f, -2.25f, 0.f, 3e-7f, 16777216.f, -1e30f}) {
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof(bits));
    floats += BigEndian(bits, 4);
  }
  WriteRaw(dir.Path("f.idx"), floats);
  ReadOutcome out = OpenAndReadAll(OpenIdxReader, MakeFile(dir.Path("f.idx"), "f.idx"), options);
  REQUIRE(out.error.ok());
  REQUIRE(out.records.size() == 3);
  REQUIRE(out.records[0].features == Floats({1.5f, -2.25f}));
  REQUIRE(out.records[1].features == Floats({0.f, 3e-7f}));
  REQUIRE(out.records[2].features == Floats({16777216.f, -1e30f}));

  std::string doubles = IdxHeader(0x0E, {2, 1, 1});
  for (double v : {0.125, -1e10}) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof(bits));
    doubles += BigEndian(bits, 8);
  }
  WriteRaw(dir.Path("d.idx"), doubles);
  out = OpenAndReadAll(OpenIdxReader, MakeFile(dir.Path("d.idx"), "d.idx"), options);
  REQUIRE(out.error.ok());
  REQUIRE(out.records.size() == 2);
  REQUIRE(out.records[0].features == Floats({0.125f}));
  REQUIRE(out.records[1].features == Floats({-1e10f}));

  const std::string ints = IdxHeader(0x0B, {1, 2}) + BigEndian(0xFFFE, 2) + BigEndian(300, 2);
  WriteRaw(dir.Path("s.idx"), ints);
  out = OpenAndReadAll(OpenIdxReader, MakeFile(dir.Path("s.idx"), "s.idx"), options);
  REQUIRE(out.error.ok());
  REQUIRE(out.records.size() == 1);
  REQUIRE(out.records[0].features == Floats({-2.f, 300.f}));

  WriteRaw(dir.Path("b.idx"), IdxHeader(0x09, {1, 2}) + "\xff\x7f");
  out = OpenAndReadAll(OpenIdxReader, MakeFile(dir.Path("b.idx"), "b.idx"), options);
  REQUIRE(out.records.size() == 1);
  REQUIRE(out.records[0].features == Floats({-1.f, 127.f}));

  WriteRaw(dir.Path("i.idx"), IdxHeader(0x0C, {1, 1}) + BigEndian(0x80000000u, 4));
  out = OpenAndReadAll(OpenIdxReader, MakeFile(dir.Path("i.idx"), "i.idx"), options);
  REQUIRE(out.records.size() == 1);
  REQUIRE(out.records[0].features == Floats({-2147483648.f}));

  WriteRaw(dir.Path("labels-idx1-ubyte"), IdxHeader(0x08, {4}) + std::string("\x07\x02\x01\x00", 4));
  out = OpenAndReadAll(OpenIdxReader, MakeFile(dir.Path("labels-idx1-ubyte"), "l"), options);
  REQUIRE(out.error.ok());
  REQUIRE(out.records.size() == 4);
  REQUIRE(out.records[0].features == Floats({7.f}));
  REQUIRE(out.records[3].features == Floats({0.f}));
  REQUIRE(out.records[3].id == "3");
}

TEST_CASE("IDX: truncated, trailing data and bad headers are errors", "[idx]") {
  TempDir dir;
  TableOptions options;
  const std::string images = UbyteImages();

  WriteRaw(dir.Path("cut"), images.substr(0, images.size() - 1));
  ReadOutcome out = OpenAndReadAll(OpenIdxReader, MakeFile(dir.Path("cut"), "cut"), options);
  REQUIRE(out.records.size() == 2);
  REQUIRE_FALSE(out.error.ok());
  REQUIRE_THAT(out.error.message(), Catch::StartsWith("cut: truncated IDX file: item 2 of 3"));

  WriteGzip(dir.Path("cut.gz"), images.substr(0, images.size() - 5));
  out = OpenAndReadAll(OpenIdxReader, MakeFile(dir.Path("cut.gz"), "cut.gz", io::Codec::kGzip),
                       options);
  REQUIRE(out.records.size() == 1);
  REQUIRE_THAT(out.error.message(), Catch::StartsWith("cut.gz: truncated IDX file"));

  WriteRaw(dir.Path("long"), images + "x");
  out = OpenAndReadAll(OpenIdxReader, MakeFile(dir.Path("long"), "long"), options);
  REQUIRE(out.records.size() == 3);
  REQUIRE_THAT(out.error.message(), Catch::Contains("unexpected data after the 3 items"));

  for (const std::string& header :
       {std::string("\x00\x00", 2), std::string("\x00\x00\x08\x03\x00\x00", 6),
        std::string("\x01\x00\x08\x01", 4), std::string("\x00\x00\x07\x01", 4),
        std::string("\x00\x00\x08\x00", 4), IdxHeader(0x08, {3, 0, 5})}) {
    WriteRaw(dir.Path("bad"), header);
    const InputFile bad = MakeFile(dir.Path("bad"), "bad");
    Result<std::unique_ptr<RecordReader>> reader = OpenIdxReader(bad, WholeFile(bad), options);
    REQUIRE_FALSE(reader.ok());
    REQUIRE_THAT(reader.status().message(), Catch::StartsWith("bad: "));
  }

  // No items at all is fine.
  WriteRaw(dir.Path("none"), IdxHeader(0x08, {0, 28, 28}));
  out = OpenAndReadAll(OpenIdxReader, MakeFile(dir.Path("none"), "none"), options);
  REQUIRE(out.error.ok());
  REQUIRE(out.order.empty());
}

}  // namespace
}  // namespace aimass::tables
