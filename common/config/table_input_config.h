// Where a table's records come from: the keys shared by inference's `input` block and training's
// `data.train` / `data.test` mappings, so that both jobs read the same exports the same way.
// Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace aimass {

class YamlSection;

struct TableInputConfig {
  std::string path;               // the exported table's root directory
  std::string format = "csv";     // csv | tsv | hive | delimited | jsonl | tfrecord | avro | idx
  std::string delimiter;          // delimited: one character; csv ',' tsv '\t' hive '\x01'
  bool header = false;            // delimited: every part file starts with a header line
  std::vector<std::string> columns;  // delimited without header: names in order ("f0..f9" expands)
  bool require_success = true;    // refuse an export without its _SUCCESS marker
  uint64_t split_bytes = 64ull << 20;  // target size of a split of an uncompressed text file
  uint64_t max_record_bytes = 64ull << 20;  // max_record_mb: the most one record/line may take
  // Not a config key: the resolved --data-root directories the service confines the table to
  // (every file is opened through io::OpenForReading against them); empty: not confined (CLI).
  std::vector<std::string> confine_to;
};

// Reads the TableInputConfig keys of `section` (path, format, delimiter, header, columns,
// require_success, split_mb, max_record_mb) and checks them against each other; leaves other keys to the caller,
// who calls section.Finish(). Errors name the dotted key.
Status ReadTableInputKeys(YamlSection& section, TableInputConfig& input);

// `key` as a list of column names, or one name; "f0..f783" ranges expanded. Absent: unchanged.
Status ReadColumnList(YamlSection& section, const std::string& key, std::vector<std::string>* columns);

// `key` as a list of positive extents (a per-record shape). Absent: unchanged.
Status ReadShape(YamlSection& section, const std::string& key, std::vector<int64_t>* shape);

// The most column names one list may hold once its ranges are expanded (2^18 = 262144: more
// than a 224x224x3 image as pixel columns, wider than any
// table a job reads as named columns). Checked before expanding, so that a short config cannot
// make its reader build millions of strings.
inline constexpr uint64_t kMaxColumnNames = 1u << 18;

// Expands "f0..f783"-style entries of a column list; other entries are kept as they are.
// kInvalidArgument for a malformed range or a list of more than kMaxColumnNames names.
Result<std::vector<std::string>> ExpandColumnRanges(const std::vector<std::string>& entries);

// The delimiter byte of a delimited format (csv ',', tsv '\t', hive '\x01', delimited: the
// configured one); 0 for formats that are not delimited.
char DelimiterOf(const TableInputConfig& input);

}  // namespace aimass
