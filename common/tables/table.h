// Tables exported from Hive, Spark or Hadoop jobs: a directory of part files, possibly in
// partition subdirectories (`dt=2026-11-22/`), in one of several formats. These types describe
// what the coordinator lists and splits and what a worker's record reader yields. Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/io/input_stream.h"

namespace aimass::tables {

enum class TableFormat {
  kDelimited,  // CSV, TSV, Hive's \x01: one record per line (LF or CRLF)
  kJsonLines,  // one JSON object per line
  kTfRecord,   // TFRecord files of tf.train.Example
  kAvro,       // Avro object container files
  kIdx,        // IDX (MNIST-style) files: every record is one item of the first dimension
};

// The format's name on the wire (jsonl, tfrecord, avro, idx, delimited), and back.
const char* TableFormatName(TableFormat format);
TableFormat TableFormatFromName(const std::string& name);  // kDelimited for anything else

// "name=value" path components between the table root and a part file, outermost first.
using PartitionValues = std::vector<std::pair<std::string, std::string>>;

struct InputFile {
  std::string path;           // absolute or as given, usable to open the file
  std::string relative_path;  // below the table root: how errors and manifests name it
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  io::Codec codec = io::Codec::kNone;
  PartitionValues partitions;
};

// A split owns the records that *start* in [begin, end) of an uncompressed line-oriented file,
// as Hadoop's TextInputFormat does; a whole-file split (compressed or container formats) owns
// every record of its file and has begin 0, end = file size.
struct Split {
  uint32_t index = 0;  // position in the job's split list: output part-NNNNN
  uint32_t file = 0;   // index into the InputFile list
  uint64_t begin = 0;
  uint64_t end = 0;
  bool whole_file = false;
};

// How records are read and which of their fields become the model input.
struct TableOptions {
  TableFormat format = TableFormat::kDelimited;
  char delimiter = ',';
  bool header = false;               // delimited: the first line of every file names the columns
  std::vector<std::string> columns;  // delimited without header: names in order (default _c0, _c1...)

  // Field carried to the output as the record's id. May name a partition key. Empty: the id is
  // "<relative_path>:<n>" where n is the byte offset of a line or the index of a record.
  std::string id_column;

  // Fields that make up the feature vector, in order. A field holding a list (JSON array,
  // TFRecord float_list / int64_list, Avro array) contributes all its values; may name a
  // partition key. Empty with kIdx: every value of the item.
  std::vector<std::string> feature_columns;
  uint32_t feature_count = 0;  // values per record once expanded; any other count is a bad record
  // Values at the front of feature_columns that the caller reads besides the features (training's
  // label): counted in feature_count, left out of the counts that bad-record reasons give.
  uint32_t leading_values = 0;

  // The most bytes one record may take (a line, a TFRecord record, an IDX item, an Avro block, a
  // snappy chunk): input.max_record_mb. A longer one fails the split with an error naming the
  // file and byte offset instead of growing a buffer without bound.
  uint64_t max_record_bytes = io::kDefaultMaxRecordBytes;

  // The resolved data roots every file of the table must lie in when it is opened (the service
  // sets them; empty: not confined, the CLI). Travels to workers in TableSpec.confine_to.
  std::vector<std::string> confine_to;
};

// How a reader opens `file` under `options`: confined to options.confine_to, refusals naming
// the file by its relative path.
inline io::ReadConfinement ConfinementOf(const InputFile& file, const TableOptions& options) {
  return io::ReadConfinement{options.confine_to,
                             file.relative_path.empty() ? file.path : file.relative_path};
}

// What a record reader yields.
struct TableRecord {
  std::string id;
  std::vector<float> features;  // feature_count values
};

// A record that could not be turned into a TableRecord. Counted, quarantined or fatal by the
// job's on_bad_record policy.
struct BadRecord {
  std::string location;  // "<relative_path>:line 12" or "<relative_path>:byte 4096" or ":record 7"
  std::string reason;    // "field 'f3': 'abc' is not a number"
  std::string raw;       // the record's bytes as read (a line without its newline), for quarantine
};

}  // namespace aimass::tables
