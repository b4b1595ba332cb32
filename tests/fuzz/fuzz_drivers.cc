#include "tests/fuzz/fuzz_drivers.h"

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "common/aimass.pb.h"
#include "common/checkpoint/checkpoint_file.h"
#include "common/config/infer_config.h"
#include "common/config/job_config.h"
#include "common/io/input_stream.h"
#include "common/net/frame.h"
#include "common/tables/record_reader.h"
#include "common/tables/table_config.h"

namespace aimass::fuzz {
namespace {

// A scratch directory for this process, removed at exit.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "aimass-fuzz-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Writes the input to the scratch directory as `name`; returns its path.
std::string WriteInput(const std::string& name, const uint8_t* data, size_t size) {
  static ScratchDir dir;
  const std::string path = dir.path() + "/" + name;
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, file) != size) std::abort();
  if (std::fclose(file) != 0) std::abort();
  return path;
}

tables::InputFile InputAt(const std::string& path, uint64_t size, io::Codec codec) {
  tables::InputFile file;
  file.path = path;
  file.relative_path = std::filesystem::path(path).filename().string();
  file.size = size;
  file.codec = codec;
  return file;
}

// Reads every record of every split; the first error ends it.
Status ReadSplits(const tables::InputFile& file, const std::vector<tables::Split>& splits,
                  const tables::TableOptions& options) {
  for (const tables::Split& split : splits) {
    AIMASS_ASSIGN_OR_RETURN(std::unique_ptr<tables::RecordReader> reader,
                            tables::OpenRecordReader(file, split, options));
    tables::TableRecord record;
    tables::BadRecord bad;
    for (;;) {
      AIMASS_ASSIGN_OR_RETURN(const tables::RecordReader::Outcome outcome,
                              reader->Next(&record, &bad));
      if (outcome == tables::RecordReader::Outcome::kEnd) break;
    }
  }
  return Status::Ok();
}

// ---- control plane -------------------------------------------------------------------------

// A stream of frames as a peer would send them: header, body, header, body...
Status DriveFrames(const uint8_t* data, size_t size) {
  size_t at = 0;
  Status last;
  while (size - at >= net::kFrameHeaderBytes) {
    AIMASS_ASSIGN_OR_RETURN(const uint32_t length, net::DecodeFrameHeader(data + at));
    at += net::kFrameHeaderBytes;
    if (length > size - at) return Status::Corruption("frame body cut short");
    const std::string body(reinterpret_cast<const char*>(data + at), length);
    at += length;
    proto::WorkerMessage from_worker;
    proto::CoordinatorMessage from_coordinator;
    const Status worker = net::DecodeFrameBody(body, &from_worker);
    const Status coordinator = net::DecodeFrameBody(body, &from_coordinator);
    if (!worker.ok() && !coordinator.ok()) return worker;
  }
  return Status::Ok();
}

// ---- codecs --------------------------------------------------------------------------------

Status DriveCodec(io::Codec codec, const char* name, const uint8_t* data, size_t size) {
  const std::string path = WriteInput(name, data, size);
  AIMASS_ASSIGN_OR_RETURN(std::unique_ptr<io::InputStream> stream,
                          io::OpenDecompressedStream(path, codec, kFuzzMaxRecordBytes));
  // An odd read size, and a bound on the time a compression bomb may make one input take.
  static char buffer[65521];
  uint64_t total = 0;
  for (;;) {
    AIMASS_ASSIGN_OR_RETURN(const size_t n, stream->Read(buffer, sizeof buffer));
    if (n == 0) return Status::Ok();
    total += n;
    if (total > (uint64_t{8} << 20)) return Status::Ok();  // 8 MiB out: enough for one input
  }
}

Status DriveGzip(const uint8_t* data, size_t size) {
  return DriveCodec(io::Codec::kGzip, "input.gz", data, size);
}
Status DriveDeflate(const uint8_t* data, size_t size) {
  return DriveCodec(io::Codec::kDeflate, "input.deflate", data, size);
}
Status DriveBzip2(const uint8_t* data, size_t size) {
  return DriveCodec(io::Codec::kBzip2, "input.bz2", data, size);
}
Status DriveZstd(const uint8_t* data, size_t size) {
  return DriveCodec(io::Codec::kZstd, "input.zst", data, size);
}
Status DriveSnappy(const uint8_t* data, size_t size) {
  return DriveCodec(io::Codec::kSnappy, "input.snappy", data, size);
}

// ---- record readers ------------------------------------------------------------------------

// Delimited text. The first byte picks the dialect (csv, tsv, Hive's \x01; header or not) and
// how the file is split (1 to 32 byte ranges of equal size, so that split ownership is
// exercised at fuzzer-chosen boundaries); the rest is the file.
Status DriveDelimited(const uint8_t* data, size_t size) {
  if (size == 0) return Status::Ok();
  const uint8_t control = data[0];
  tables::TableOptions options;
  options.format = tables::TableFormat::kDelimited;
  options.delimiter = ",\t\x01,"[control & 3];
  options.header = (control & 4) != 0;
  options.max_record_bytes = kFuzzMaxRecordBytes;
  if (options.header) {
    options.id_column = "id";
    options.feature_columns = {"a", "b"};
  } else {
    options.id_column = "_c0";
    options.feature_columns = {"_c1", "_c2"};
  }
  options.feature_count = 2;
  const std::string path = WriteInput("part-0.csv", data + 1, size - 1);
  const tables::InputFile file = InputAt(path, size - 1, io::Codec::kNone);
  std::vector<tables::Split> splits;
  const uint64_t count = 1 + (control >> 3);
  const uint64_t split_bytes = std::max<uint64_t>(1, (file.size + count - 1) / count);
  for (uint64_t begin = 0; begin < file.size; begin += split_bytes) {
    splits.push_back({0, 0, begin, std::min(file.size, begin + split_bytes), false});
  }
  return ReadSplits(file, splits, options);
}

Status DriveJsonLines(const uint8_t* data, size_t size) {
  tables::TableOptions options;
  options.format = tables::TableFormat::kJsonLines;
  options.id_column = "id";
  options.feature_columns = {"x", "y"};
  options.max_record_bytes = kFuzzMaxRecordBytes;
  const std::string path = WriteInput("part-0.jsonl", data, size);
  const tables::InputFile file = InputAt(path, size, io::Codec::kNone);
  return ReadSplits(file, {{0, 0, 0, size, /*whole_file=*/true}}, options);
}

// A binary format read whole, as the worker reads it.
Status DriveWholeFile(tables::TableFormat format, const char* name, const uint8_t* data,
                      size_t size) {
  tables::TableOptions options;
  options.format = format;
  if (format != tables::TableFormat::kIdx) {
    options.id_column = "id";
    options.feature_columns = {"x"};
  }
  options.max_record_bytes = kFuzzMaxRecordBytes;
  const std::string path = WriteInput(name, data, size);
  const tables::InputFile file = InputAt(path, size, io::Codec::kNone);
  return ReadSplits(file, {{0, 0, 0, size, /*whole_file=*/true}}, options);
}

Status DriveTfRecord(const uint8_t* data, size_t size) {
  return DriveWholeFile(tables::TableFormat::kTfRecord, "part-0.tfrecord", data, size);
}
Status DriveAvro(const uint8_t* data, size_t size) {
  return DriveWholeFile(tables::TableFormat::kAvro, "part-0.avro", data, size);
}
Status DriveIdx(const uint8_t* data, size_t size) {
  return DriveWholeFile(tables::TableFormat::kIdx, "train-idx3-ubyte", data, size);
}

// ---- configuration -------------------------------------------------------------------------

// The YAML job configs as a submitted job reaches them: the training and the inference reader
// (column lists with "f0..f783" ranges, shapes, the table input keys), then the typed table
// options every reader of the table gets from them.
Status DriveConfig(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  Result<TrainConfig> train = ParseTrainConfig(text, "job.yaml");
  Status train_status = train.status();
  if (train.ok()) {
    for (const DatasetSourceConfig* source : {&train->data.train, &train->data.test}) {
      if (!source->empty() && train_status.ok()) {
        train_status = tables::TableOptionsFromInput(source->input).status();
      }
    }
  }
  Result<InferConfig> infer = ParseInferConfig(text, "infer.yaml");
  Status infer_status = infer.status();
  if (infer.ok()) infer_status = tables::TableOptionsFromInput(infer->input).status();
  return train_status.ok() ? infer_status : train_status;
}

// ---- checkpoints -----------------------------------------------------------------------------

// A checkpoint file as --resume finds it in a run directory (lengths, CRC, JSON header).
Status DriveCheckpoint(const uint8_t* data, size_t size) {
  const std::string path = WriteInput("ckpt-00000001.aimass", data, size);
  return ReadCheckpoint(Env::Default(), path).status();
}

}  // namespace

const std::vector<Target>& AllTargets() {
  static const std::vector<Target> targets = {
      {"frame", DriveFrames},       {"gzip", DriveGzip},           {"deflate", DriveDeflate},
      {"bzip2", DriveBzip2},        {"zstd", DriveZstd},           {"snappy", DriveSnappy},
      {"delimited", DriveDelimited}, {"jsonl", DriveJsonLines},    {"tfrecord", DriveTfRecord},
      {"avro", DriveAvro},          {"idx", DriveIdx},             {"config", DriveConfig},
      {"checkpoint", DriveCheckpoint},
  };
  return targets;
}

Driver FindDriver(const std::string& name) {
  for (const Target& target : AllTargets()) {
    if (name == target.name) return target.drive;
  }
  return nullptr;
}

}  // namespace aimass::fuzz
