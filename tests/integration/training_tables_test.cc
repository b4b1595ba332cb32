// Training reads what batch inference reads: Spark, TFRecord and partitioned JSON-lines exports
// of a Fashion-MNIST slice, each trained on for one epoch by real workers, with every record
// counted exactly once.
#include "tests/catch.h"

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/data/dataset_index.h"
#include "common/data/split_decoder.h"
#include "common/tables/binary/tf_example.pb.h"
#include "common/tables/binary/tfrecord_reader.h"
#include "tests/integration/job_fixture.h"
#include "tests/temp_dir.h"

namespace aimass::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr uint64_t kRecords = 512;  // the slice's training records

// The slice's training records, decoded as a job reads them.
data::RecordBlock SliceRecords() {
  data::IndexOptions options;
  options.feature_count = 784;
  options.num_classes = 10;
  auto index = data::IndexDataset(ShardDirectorySource(FashionMnistSlice() + "/train"), options,
                                  Env::Default());
  REQUIRE(index.ok());
  data::RecordBlock block;
  data::SplitDecodeOptions decode;
  decode.table = index->table;
  decode.num_classes = 10;
  for (const data::DatasetSplit& split : index->splits) {
    REQUIRE(data::DecodeSplit(index->files[split.split.file], split.split, decode, &block).ok());
  }
  REQUIRE(block.size() == kRecords);
  return block;
}

std::string Number(float value) {
  std::string text = std::to_string(static_cast<int>(value));
  REQUIRE(static_cast<float>(std::stoi(text)) == value);  // pixels are integers 0..255
  return text;
}

// A Spark CSV export: part-NNNNN-<uuid>-c000.csv.gz with a header (label first, no id), Hadoop's
// hidden .crc files beside them (garbage to any CSV reader), _SUCCESS.
void WriteSparkCsv(const data::RecordBlock& block, const std::string& dir) {
  fs::create_directories(dir);
  std::string header = "label";
  for (int p = 0; p < 784; ++p) header += ",p" + std::to_string(p);
  for (size_t part = 0; part < 4; ++part) {
    std::string text = header + "\n";
    for (size_t i = part * kRecords / 4; i < (part + 1) * kRecords / 4; ++i) {
      text += std::to_string(block.labels[i]);
      for (int p = 0; p < 784; ++p) text += "," + Number(block.record_features(i)[p]);
      text += "\n";
    }
    const std::string name = "part-0000" + std::to_string(part) + "-5f1c2a-c000.csv.gz";
    WriteGzip(dir + "/" + name, text);
    WriteRaw(dir + "/." + name + ".crc", "crc\x01\x02not,a,record\n");
  }
  WriteRaw(dir + "/_SUCCESS", "");
}

std::string LittleEndian(uint64_t value, int bytes) {
  std::string out;
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  return out;
}

// TFRecord files of tf.train.Example {label: int64_list, image: float_list}, one gzip-compressed.
void WriteTfRecords(const data::RecordBlock& block, const std::string& dir) {
  fs::create_directories(dir);
  for (size_t part = 0; part < 3; ++part) {
    std::string bytes;
    for (size_t i = part; i < kRecords; i += 3) {
      tables::tf::Example example;
      auto& features = *example.mutable_features()->mutable_feature();
      features["label"].mutable_int64_list()->add_value(block.labels[i]);
      for (int p = 0; p < 784; ++p) {
        features["image"].mutable_float_list()->add_value(block.record_features(i)[p]);
      }
      std::string data;
      REQUIRE(example.SerializeToString(&data));
      const std::string length = LittleEndian(data.size(), 8);
      bytes += length + LittleEndian(tables::MaskedCrc32c(length.data(), length.size()), 4) + data +
               LittleEndian(tables::MaskedCrc32c(data.data(), data.size()), 4);
    }
    const std::string name = dir + "/part-r-0000" + std::to_string(part) + ".tfrecord";
    if (part == 2) {
      WriteGzip(name + ".gz", bytes);
    } else {
      WriteRaw(name, bytes);
    }
  }
  WriteRaw(dir + "/_SUCCESS", "");
}

// JSON lines in Hive partitions dt=.../ : {"id": ..., "label": ..., "pixels": [...]}.
void WritePartitionedJson(const data::RecordBlock& block, const std::string& dir) {
  for (size_t part = 0; part < 2; ++part) {
    const std::string partition = dir + "/dt=2026-11-2" + std::to_string(part);
    fs::create_directories(partition);
    std::string text;
    for (size_t i = part * kRecords / 2; i < (part + 1) * kRecords / 2; ++i) {
      json::array pixels;
      for (int p = 0; p < 784; ++p) pixels.push_back(static_cast<int>(block.record_features(i)[p]));
      text += json::serialize(json::object{{"id", "r" + std::to_string(i)},
                                           {"label", block.labels[i]},
                                           {"pixels", pixels}}) + "\n";
    }
    WriteRaw(partition + "/part-00000.json", text);
  }
  WriteRaw(dir + "/_SUCCESS", "");
}

json::object TrainOn(const std::string& dir, const std::string& table, const std::string& name) {
  JobSettings settings;
  settings.limit = 0;  // all of it
  settings.train_dir = table;
  const std::string job_dir = dir + "/" + name + "-job";
  fs::create_directories(job_dir);
  ProcessResult result = Run(LocalTrain(WriteJob(job_dir, settings, job_dir + "/run"), 2), dir);
  INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
  REQUIRE(result.exit_code == 0);
  return json::parse(ReadRaw(job_dir + "/run/summary.json")).as_object();
}

void CheckCounts(const json::object& summary) {
  INFO(json::serialize(summary));
  CHECK(summary.at("train_records").to_number<uint64_t>() == kRecords);
  CHECK(summary.at("test_records").to_number<uint64_t>() == kRecords);
  CHECK(summary.at("steps").to_number<uint64_t>() == kRecords / (2 * 8));  // 2 workers x batch 8
  CHECK(summary.at("test_accuracy").to_number<double>() > 0.3);  // it learnt something
}

TEST_CASE("mlp trains for an epoch on a Spark CSV export with .crc files", "[integration][tables]") {
  TempDir scratch;
  const std::string table = scratch.Path("spark");
  WriteSparkCsv(SliceRecords(), table);
  CheckCounts(TrainOn(scratch.path(), "{path: " + table +
                                          ", format: csv, header: true, label: label, features: [p0..p783]}",
                      "spark"));
}

TEST_CASE("mlp trains for an epoch on a TFRecord export", "[integration][tables]") {
  TempDir scratch;
  const std::string table = scratch.Path("tfrecord");
  WriteTfRecords(SliceRecords(), table);
  CheckCounts(TrainOn(scratch.path(),
                      "{path: " + table + ", format: tfrecord, label: label, features: [image]}",
                      "tfrecord"));
}

TEST_CASE("mlp trains for an epoch on a partitioned JSON-lines export", "[integration][tables]") {
  TempDir scratch;
  const std::string table = scratch.Path("jsonl");
  WritePartitionedJson(SliceRecords(), table);
  CheckCounts(TrainOn(scratch.path(),
                      "{path: " + table + ", format: jsonl, label: label, features: [pixels], "
                      "id: id, split_mb: 0.25}",
                      "jsonl"));
}

}  // namespace
}  // namespace aimass::testing
