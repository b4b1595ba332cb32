#include "tests/temp_dir.h"
#include "common/env.h"
#include "common/tables/finite_features.h"
#include "common/tables/record_reader.h"
#include "common/tables/split_planner.h"
#include "common/tables/table_listing.h"
#include "common/tables/text/delimited_reader.h"
#include "common/tables/text/field_projection.h"
#include "common/tables/text/json_lines_reader.h"
#include "common/tables/text/line_reader.h"

#include "tests/catch.h"
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace aimass::tables {
namespace {

using testing::TempDir;
using testing::WriteGzip;
using testing::WriteRaw;

namespace fs = std::filesystem;

// An InputFile for `relative` below `dir`, as ListTable would describe it.
InputFile Describe(const TempDir& dir, const std::string& relative,
                   PartitionValues partitions = {}) {
  InputFile file;
  file.path = dir.Path(relative);
  file.relative_path = relative;
  auto info = Env::Default().Stat(file.path);
  REQUIRE(info.ok());
  file.size = info->size;
  file.codec = io::CodecFromPath(relative);
  file.partitions = std::move(partitions);
  return file;
}

InputFile WriteFile(const TempDir& dir, const std::string& relative, const std::string& bytes,
                    PartitionValues partitions = {}) {
  fs::create_directories(fs::path(dir.Path(relative)).parent_path());
  WriteRaw(dir.Path(relative), bytes);
  return Describe(dir, relative, std::move(partitions));
}

Split WholeFile(const InputFile& file) { return Split{0, 0, 0, file.size, true}; }

// ---------------------------------------------------------------------------------------------
// LineReader: split ownership.

struct ExpectedLine {
  std::string text;
  uint64_t offset;
  uint64_t number;
};

// The non-empty lines of `bytes` with their offsets and 1-based numbers, as a reader of the
// whole file reports them.
std::vector<ExpectedLine> LinesOf(const std::string& bytes) {
  std::vector<ExpectedLine> lines;
  size_t start = 0;
  uint64_t number = 0;
  while (start < bytes.size()) {
    size_t newline = bytes.find('\n', start);
    size_t end = newline == std::string::npos ? bytes.size() : newline;
    ++number;
    std::string text = bytes.substr(start, end - start);
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (!text.empty()) lines.push_back({text, start, number});
    start = end + 1;
  }
  return lines;
}

std::vector<ExpectedLine> ReadSplit(const InputFile& file, const Split& split,
                                    size_t buffer_size) {
  auto reader = text::LineReader::Open(file, split, buffer_size);
  REQUIRE(reader.ok());
  std::vector<ExpectedLine> lines;
  text::Line line;
  while (true) {
    auto more = reader.value()->Next(&line);
    REQUIRE(more.ok());
    if (!more.value()) break;
    lines.push_back({std::string(line.text), line.offset, line.number});
  }
  // Once ended, it stays ended.
  auto again = reader.value()->Next(&line);
  REQUIRE(again.ok());
  REQUIRE_FALSE(again.value());
  return lines;
}

// For every split size from 1 byte to past the file's size, the splits' lines together are the
// file's non-empty lines, each once, in order, with their offsets (and numbers where known).
void CheckEverySplitSize(const TempDir& dir, const std::string& bytes) {
  const InputFile file = WriteFile(dir, "lines.txt", bytes);
  const std::vector<ExpectedLine> expected = LinesOf(bytes);
  for (size_t buffer_size : {size_t{16}, text::LineReader::kDefaultBufferSize}) {
    for (uint64_t split_bytes = 1; split_bytes <= bytes.size() + 1; ++split_bytes) {
      INFO("split_bytes " << split_bytes << ", buffer " << buffer_size);
      const std::vector<Split> splits = PlanSplits({file}, TableFormat::kDelimited, split_bytes);
      std::vector<ExpectedLine> all;
      for (const Split& split : splits) {
        for (ExpectedLine& line : ReadSplit(file, split, buffer_size)) {
          REQUIRE(line.offset >= split.begin);  // a split reads only lines that start in it
          REQUIRE(line.offset < split.end);
          all.push_back(std::move(line));
        }
      }
      REQUIRE(all.size() == expected.size());
      for (size_t i = 0; i < all.size(); ++i) {
        INFO("line " << i);
        REQUIRE(all[i].text == expected[i].text);
        REQUIRE(all[i].offset == expected[i].offset);
        // Line numbers are known only to a split that starts at byte 0.
        REQUIRE((all[i].number == expected[i].number || all[i].number == 0));
        if (all[i].offset < split_bytes) REQUIRE(all[i].number == expected[i].number);
      }
    }
    // And the whole file as one whole-file split.
    std::vector<ExpectedLine> whole = ReadSplit(file, WholeFile(file), buffer_size);
    REQUIRE(whole.size() == expected.size());
    for (size_t i = 0; i < whole.size(); ++i) {
      REQUIRE(whole[i].text == expected[i].text);
      REQUIRE(whole[i].offset == expected[i].offset);
      REQUIRE(whole[i].number == expected[i].number);
    }
  }
}

std::string VariedLines(const char* newline) {
  std::string bytes;
  const int lengths[] = {1, 5, 0, 17, 2, 40, 0, 0, 3, 1, 33, 8, 1, 64, 9};
  char c = 'a';
  for (int length : lengths) {
    bytes += std::string(static_cast<size_t>(length), c);
    bytes += newline;
    c = c == 'z' ? 'a' : static_cast<char>(c + 1);
  }
  return bytes;
}

TEST_CASE("LineReader: every split size partitions the lines exactly", "[tables][lines]") {
  TempDir dir;
  SECTION("LF") { CheckEverySplitSize(dir, VariedLines("\n")); }
  SECTION("CRLF") { CheckEverySplitSize(dir, VariedLines("\r\n")); }
  SECTION("no trailing newline") { CheckEverySplitSize(dir, VariedLines("\n") + "tail-line"); }
  SECTION("CRLF, last line without newline") {
    CheckEverySplitSize(dir, VariedLines("\r\n") + "last\r");
  }
  SECTION("leading and only-empty lines") { CheckEverySplitSize(dir, "\n\n\r\nx\n\n"); }
  SECTION("one line") { CheckEverySplitSize(dir, "single"); }
  SECTION("a line longer than the buffer many times over") {
    CheckEverySplitSize(dir, "a\n" + std::string(100, 'L') + "\nb\n" + std::string(50, 'M'));
  }
}

TEST_CASE("LineReader: boundaries exactly at line starts", "[tables][lines]") {
  TempDir dir;
  // "aaa\n" is [0,4), "bbb\n" [4,8), "ccc\n" [8,12).
  const InputFile file = WriteFile(dir, "lines.txt", "aaa\nbbb\nccc\n");
  auto texts = [&](uint64_t begin, uint64_t end) {
    std::vector<std::string> out;
    for (const auto& line : ReadSplit(file, Split{0, 0, begin, end, false}, 1 << 10)) {
      out.push_back(line.text);
    }
    return out;
  };
  CHECK(texts(0, 4) == std::vector<std::string>{"aaa"});
  CHECK(texts(4, 8) == std::vector<std::string>{"bbb"});  // starts exactly at begin: owned
  CHECK(texts(0, 5) == std::vector<std::string>{"aaa", "bbb"});  // bbb starts at 4 < 5
  CHECK(texts(5, 12) == std::vector<std::string>{"ccc"});  // bbb started before 5
  CHECK(texts(1, 4).empty());
  CHECK(texts(3, 5) == std::vector<std::string>{"bbb"});
  CHECK(texts(9, 12).empty());
  const auto later = ReadSplit(file, Split{0, 0, 4, 12, false}, 1 << 10);
  REQUIRE(later.size() == 2);
  CHECK(later[0].offset == 4);
  CHECK(later[0].number == 0);  // unknown past byte 0
  const auto first = ReadSplit(file, Split{0, 0, 0, 6, false}, 1 << 10);
  REQUIRE(first.size() == 2);
  CHECK(first[1].number == 2);
}

TEST_CASE("LineReader: an empty file has no lines", "[tables][lines]") {
  TempDir dir;
  const InputFile file = WriteFile(dir, "empty.txt", "");
  CHECK(PlanSplits({file}, TableFormat::kDelimited, 10).empty());
  CHECK(ReadSplit(file, WholeFile(file), 1 << 10).empty());
  CHECK(ReadSplit(file, Split{0, 0, 0, 0, false}, 1 << 10).empty());
}

TEST_CASE("LineReader: gzip whole-file split reads the decompressed stream", "[tables][lines]") {
  TempDir dir;
  const std::string bytes = VariedLines("\r\n") + "end";
  WriteGzip(dir.Path("lines.txt.gz"), bytes);
  const InputFile file = Describe(dir, "lines.txt.gz");
  REQUIRE(file.codec == io::Codec::kGzip);
  const std::vector<Split> splits = PlanSplits({file}, TableFormat::kJsonLines, 8);
  REQUIRE(splits.size() == 1);
  REQUIRE(splits[0].whole_file);
  const std::vector<ExpectedLine> expected = LinesOf(bytes);
  for (size_t buffer_size : {size_t{16}, size_t{1} << 20}) {
    const auto lines = ReadSplit(file, splits[0], buffer_size);
    REQUIRE(lines.size() == expected.size());
    for (size_t i = 0; i < lines.size(); ++i) {
      CHECK(lines[i].text == expected[i].text);
      CHECK(lines[i].offset == expected[i].offset);  // in the decompressed bytes
      CHECK(lines[i].number == expected[i].number);
    }
  }
  // A byte range of a compressed file is refused.
  auto reader = text::LineReader::Open(file, Split{0, 0, 4, 8, false});
  REQUIRE_FALSE(reader.ok());
  CHECK_THAT(reader.status().message(), Catch::Contains("whole-file"));
}

// ---------------------------------------------------------------------------------------------
// Record readers.

struct Outcomes {
  std::vector<TableRecord> records;
  std::vector<BadRecord> bad;
  std::vector<int> order;  // 1 record, 0 bad, in reading order
};

using Opener = Result<std::unique_ptr<RecordReader>> (*)(const InputFile&, const Split&,
                                                         const TableOptions&);

Outcomes ReadAll(Opener open, const InputFile& file, const Split& split,
                 const TableOptions& options) {
  auto reader = open(file, split, options);
  INFO(reader.status().message());
  REQUIRE(reader.ok());
  Outcomes out;
  while (true) {
    TableRecord record;
    BadRecord bad;
    auto outcome = reader.value()->Next(&record, &bad);
    INFO(outcome.status().message());
    REQUIRE(outcome.ok());
    if (outcome.value() == RecordReader::Outcome::kEnd) break;
    if (outcome.value() == RecordReader::Outcome::kRecord) {
      out.records.push_back(std::move(record));
      out.order.push_back(1);
    } else {
      out.bad.push_back(std::move(bad));
      out.order.push_back(0);
    }
  }
  TableRecord record;
  BadRecord bad;
  auto after = reader.value()->Next(&record, &bad);
  REQUIRE(after.ok());
  REQUIRE(after.value() == RecordReader::Outcome::kEnd);
  return out;
}

Outcomes ReadEverySplit(Opener open, const InputFile& file, TableFormat format,
                        uint64_t split_bytes, const TableOptions& options) {
  Outcomes all;
  for (const Split& split : PlanSplits({file}, format, split_bytes)) {
    Outcomes part = ReadAll(open, file, split, options);
    for (auto& record : part.records) all.records.push_back(std::move(record));
    for (auto& bad : part.bad) all.bad.push_back(std::move(bad));
    all.order.insert(all.order.end(), part.order.begin(), part.order.end());
  }
  return all;
}

TableOptions CsvOptions() {
  TableOptions options;
  options.format = TableFormat::kDelimited;
  options.delimiter = ',';
  options.header = true;
  options.id_column = "id";
  options.feature_columns = {"f0", "f1"};
  options.feature_count = 2;
  return options;
}

TEST_CASE("Delimited: CSV with a header", "[tables][delimited]") {
  TempDir dir;
  const InputFile file =
      WriteFile(dir, "part-00000.csv", "id,label,f0,f1\r\nr1,3,0.5,-2\r\n\r\nr2,4,1e3,+7\r\n");
  const Outcomes out = ReadAll(OpenDelimitedReader, file, WholeFile(file), CsvOptions());
  REQUIRE(out.bad.empty());
  REQUIRE(out.records.size() == 2);
  CHECK(out.records[0].id == "r1");
  CHECK(out.records[0].features == std::vector<float>{0.5f, -2.f});
  CHECK(out.records[1].id == "r2");
  CHECK(out.records[1].features == std::vector<float>{1000.f, 7.f});
}

TEST_CASE("Delimited: the header is learned in every split and never a record",
          "[tables][delimited]") {
  TempDir dir;
  std::string bytes = "\xEF\xBB\xBFid,f1,f0\n";  // a BOM before the header (Excel)
  std::vector<std::string> ids;
  for (int i = 0; i < 40; ++i) {
    const std::string id = "row" + std::to_string(i) + std::string(static_cast<size_t>(i % 7), 'x');
    ids.push_back(id);
    bytes += id + "," + std::to_string(i) + "," + std::to_string(i * 0.25) + "\n";
    if (i % 9 == 0) bytes += "\n";
  }
  const InputFile file = WriteFile(dir, "part-00000.csv", bytes);
  TableOptions options = CsvOptions();
  for (uint64_t split_bytes = 1; split_bytes <= bytes.size(); split_bytes += 1) {
    INFO("split_bytes " << split_bytes);
    const Outcomes out =
        ReadEverySplit(OpenDelimitedReader, file, TableFormat::kDelimited, split_bytes, options);
    REQUIRE(out.bad.empty());
    REQUIRE(out.records.size() == ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      REQUIRE(out.records[i].id == ids[i]);
      REQUIRE(out.records[i].features ==
              std::vector<float>{static_cast<float>(i * 0.25), static_cast<float>(i)});
    }
  }
}

TEST_CASE("Delimited: column names from the configuration, TSV and Hive's \\x01",
          "[tables][delimited]") {
  TempDir dir;
  TableOptions options;
  options.header = false;
  options.feature_columns = {"b", "c"};
  options.id_column = "a";
  options.columns = {"a", "b", "c"};
  SECTION("TSV") {
    options.delimiter = '\t';
    const InputFile file = WriteFile(dir, "t.tsv", "k1\t1\t2\nk2\t\"3\"\t4\n");
    const Outcomes out = ReadAll(OpenDelimitedReader, file, WholeFile(file), options);
    // No quoting in TSV: "3" is not a number.
    REQUIRE(out.records.size() == 1);
    CHECK(out.records[0].id == "k1");
    CHECK(out.records[0].features == std::vector<float>{1, 2});
    REQUIRE(out.bad.size() == 1);
    CHECK(out.bad[0].location == "t.tsv:line 2");
    CHECK(out.bad[0].reason == "field 'b': '\"3\"' is not a number");
    CHECK(out.bad[0].raw == "k2\t\"3\"\t4");
  }
  SECTION("Hive \\x01 with \\N") {
    options.delimiter = '\x01';
    const InputFile file =
        WriteFile(dir, "000000_0",
                  "k1\x01" "1.5\x01" "2\n"
                  "k2\x01\\N\x01" "4\n"
                  "k,3\x01" "5\x01" "6\n");
    const Outcomes out = ReadAll(OpenDelimitedReader, file, WholeFile(file), options);
    REQUIRE(out.order == std::vector<int>{1, 0, 1});
    CHECK(out.records[0].features == std::vector<float>{1.5f, 2});
    CHECK(out.records[1].id == "k,3");  // ',' is an ordinary character here
    CHECK(out.records[1].features == std::vector<float>{5, 6});
    CHECK(out.bad[0].location == "000000_0:line 2");
    CHECK(out.bad[0].reason == "field 'b' is NULL (\\N)");
    CHECK(out.bad[0].raw == "k2\x01\\N\x01" "4");
  }
  SECTION("Spark's _c0, _c1 ... without header or names") {
    options.columns.clear();
    options.id_column = "_c2";
    options.feature_columns = {"_c0", "_c1"};
    const InputFile file = WriteFile(dir, "p.csv", "1,2,x\n3,4,y,extra\n5,6\n");
    const Outcomes out = ReadAll(OpenDelimitedReader, file, WholeFile(file), options);
    REQUIRE(out.order == std::vector<int>{1, 1, 0});
    CHECK(out.records[0].id == "x");
    CHECK(out.records[1].features == std::vector<float>{3, 4});
    CHECK(out.bad[0].reason == "expected at least 3 fields, got 2");
  }
}

TEST_CASE("Delimited: RFC 4180 quoted CSV fields", "[tables][delimited]") {
  TempDir dir;
  TableOptions options = CsvOptions();
  const InputFile file = WriteFile(
      dir, "q.csv",
      "\"id\",\"f0\",f1\n"
      "\"a,b\",\"1.5\",2\n"
      "\"say \"\"hi\"\"\",3,\"4\"\n"
      "\"\",5,6\n"
      "\"open,7,8\n"
      "\"x\"y,9,10\n"
      "\"multi\nline\",11,12\n"
      "\"spark \\\"quote\\\"\",13,14\n"
      "a\"b,15,16\n");
  const Outcomes out = ReadAll(OpenDelimitedReader, file, WholeFile(file), options);
  REQUIRE(out.order == std::vector<int>{1, 1, 1, 0, 0, 0, 0, 1, 0});
  CHECK(out.records[3].id == "spark \"quote\"");
  CHECK(out.records[3].features == std::vector<float>{13, 14});
  CHECK(out.bad[4].location == "q.csv:line 10");
  CHECK(out.bad[4].reason ==
        "field 1: a quote inside an unquoted field (a quoted field spanning lines is not "
        "supported)");
  CHECK(out.records[0].id == "a,b");
  CHECK(out.records[0].features == std::vector<float>{1.5f, 2});
  CHECK(out.records[1].id == "say \"hi\"");
  CHECK(out.records[1].features == std::vector<float>{3, 4});
  CHECK(out.records[2].id.empty());
  CHECK(out.bad[0].location == "q.csv:line 5");
  CHECK_THAT(out.bad[0].reason, Catch::Contains("unterminated quoted field"));
  CHECK(out.bad[1].location == "q.csv:line 6");
  CHECK_THAT(out.bad[1].reason, Catch::Contains("after the closing quote"));
  // A quoted field spanning lines is not supported: both halves are bad records.
  CHECK(out.bad[2].location == "q.csv:line 7");
  CHECK(out.bad[2].raw == "\"multi");
  CHECK(out.bad[3].location == "q.csv:line 8");
  CHECK(out.bad[3].raw == "line\",11,12");
  CHECK_THAT(out.bad[3].reason, Catch::Contains("a quote inside an unquoted field"));
}

TEST_CASE("Delimited: bad records name their location, reason and raw line",
          "[tables][delimited]") {
  TempDir dir;
  const std::string bytes =
      "id,f0,f1\n"   // [0,9)
      "a,1,2\n"      // [9,15) line 2
      "b,x1,2\n"     // [15,22) line 3
      "c,1\n"        // [22,26) line 4
      "d,,2\n"       // [26,31) line 5
      "e,1,\\N\n"    // [31,38) line 6
      "f,1,2,3\n"    // [38,46) line 7
      "g,1e999,2\n"  // [46,56) line 8
      "h, 2 ,3\n";   // [56,64) line 9
  const InputFile file = WriteFile(dir, "bad.csv", bytes);
  const TableOptions options = CsvOptions();
  const std::vector<std::string> reasons = {
      "field 'f0': 'x1' is not a number", "expected 3 fields, got 2",
      "field 'f0' is empty",              "field 'f1' is NULL (\\N)",
      "expected 3 fields, got 4",         "field 'f0': '1e999' is not a number"};
  const std::vector<std::string> raws = {"b,x1,2", "c,1", "d,,2", "e,1,\\N", "f,1,2,3",
                                         "g,1e999,2"};
  SECTION("one split: line numbers") {
    const Outcomes out = ReadAll(OpenDelimitedReader, file, WholeFile(file), options);
    REQUIRE(out.order == std::vector<int>{1, 0, 0, 0, 0, 0, 0, 1});
    CHECK(out.records[1].id == "h");
    CHECK(out.records[1].features == std::vector<float>{2, 3});  // spaces around numbers are fine
    for (size_t i = 0; i < reasons.size(); ++i) {
      CHECK(out.bad[i].location == "bad.csv:line " + std::to_string(i + 3));
      CHECK(out.bad[i].reason == reasons[i]);
      CHECK(out.bad[i].raw == raws[i]);
    }
  }
  SECTION("a later split: byte offsets") {
    const Outcomes out = ReadAll(OpenDelimitedReader, file, Split{1, 0, 20, 40, false}, options);
    // Lines starting in [20,40): c (22), d (26), e (31), f (38).
    REQUIRE(out.order == std::vector<int>{0, 0, 0, 0});
    CHECK(out.bad[0].location == "bad.csv:byte 22");
    CHECK(out.bad[1].location == "bad.csv:byte 26");
    CHECK(out.bad[2].location == "bad.csv:byte 31");
    CHECK(out.bad[3].location == "bad.csv:byte 38");
    CHECK(out.bad[3].reason == "expected 3 fields, got 4");
    CHECK(out.bad[3].raw == "f,1,2,3");
  }
}

TEST_CASE("Delimited: ids default to path and byte offset, partitions as id and feature",
          "[tables][delimited]") {
  TempDir dir;
  const PartitionValues partitions = {{"dt", "2026-11-22"}, {"hr", "07"}};
  const InputFile file =
      WriteFile(dir, "dt=2026-11-22/hr=07/part-0.csv", "f0,f1\n1,2\n3,4\n", partitions);
  TableOptions options = CsvOptions();
  SECTION("default ids") {
    options.id_column.clear();
    const Outcomes out = ReadAll(OpenDelimitedReader, file, WholeFile(file), options);
    REQUIRE(out.records.size() == 2);
    CHECK(out.records[0].id == "dt=2026-11-22/hr=07/part-0.csv:6");
    CHECK(out.records[1].id == "dt=2026-11-22/hr=07/part-0.csv:10");
  }
  SECTION("partition key as id, numeric partition as feature") {
    options.id_column = "dt";
    options.feature_columns = {"f1", "hr", "f0"};
    options.feature_count = 3;
    const Outcomes out = ReadAll(OpenDelimitedReader, file, WholeFile(file), options);
    REQUIRE(out.records.size() == 2);
    CHECK(out.records[0].id == "2026-11-22");
    CHECK(out.records[0].features == std::vector<float>{2, 7, 1});
    CHECK(out.records[1].features == std::vector<float>{4, 7, 3});
  }
  SECTION("a non-numeric partition as a feature is an error") {
    options.id_column.clear();
    options.feature_columns = {"f0", "dt"};
    auto reader = OpenDelimitedReader(file, WholeFile(file), options);
    REQUIRE_FALSE(reader.ok());
    CHECK(reader.status().message() ==
          file.path + ": feature column 'dt' is a partition key whose value '2026-11-22' is not "
                      "a number");
  }
}

TEST_CASE("Delimited: configuration errors name the file and the column", "[tables][delimited]") {
  TempDir dir;
  const InputFile file = WriteFile(dir, "part-0.csv", "id,f0,f1\na,1,2\n", {{"dt", "1"}});
  TableOptions options = CsvOptions();
  SECTION("unknown feature column") {
    options.feature_columns = {"f0", "f9"};
    for (const Split& split : {WholeFile(file), Split{0, 0, 5, file.size, false}}) {
      auto reader = OpenDelimitedReader(file, split, options);
      REQUIRE_FALSE(reader.ok());
      CHECK(reader.status().message() ==
            file.path + ": feature column 'f9' is neither a column of the file (columns: id, f0, "
                        "f1) nor a partition key (partitions: dt)");
    }
  }
  SECTION("unknown id column") {
    options.id_column = "key";
    auto reader = OpenDelimitedReader(file, WholeFile(file), options);
    REQUIRE_FALSE(reader.ok());
    CHECK_THAT(reader.status().message(), Catch::Contains("id column 'key' is neither"));
  }
  SECTION("feature_count disagrees with the feature columns") {
    options.feature_count = 784;
    auto reader = OpenDelimitedReader(file, WholeFile(file), options);
    REQUIRE_FALSE(reader.ok());
    CHECK_THAT(reader.status().message(),
               Catch::Contains("2 feature columns are configured but feature_count is 784"));
  }
  SECTION("no feature columns") {
    options.feature_columns.clear();
    options.feature_count = 0;
    auto reader = OpenDelimitedReader(file, WholeFile(file), options);
    REQUIRE_FALSE(reader.ok());
    CHECK_THAT(reader.status().message(), Catch::Contains("no feature columns"));
  }
  SECTION("missing file") {
    InputFile gone = file;
    gone.path = dir.Path("gone.csv");
    auto reader = OpenDelimitedReader(gone, WholeFile(gone), options);
    REQUIRE_FALSE(reader.ok());
    CHECK_THAT(reader.status().message(), Catch::Contains("gone.csv"));
  }
}

TEST_CASE("Delimited: gzip-compressed whole-file split", "[tables][delimited]") {
  TempDir dir;
  std::string bytes = "id,f0,f1\n";
  for (int i = 0; i < 5000; ++i) {
    bytes += "r" + std::to_string(i) + "," + std::to_string(i) + "," + std::to_string(-i) + "\n";
  }
  bytes += "bad,1\n";
  fs::create_directories(dir.Path("table"));
  WriteRaw(dir.Path("table/_SUCCESS"), "");
  WriteGzip(dir.Path("table/part-00000.csv.gz"), bytes);
  auto files = ListTable(dir.Path("table"), ListOptions{}, Env::Default());
  REQUIRE(files.ok());
  REQUIRE(files->size() == 1);
  const std::vector<Split> splits = PlanSplits(files.value(), TableFormat::kDelimited, 1000);
  REQUIRE(splits.size() == 1);
  REQUIRE(splits[0].whole_file);
  const Outcomes out = ReadAll(OpenDelimitedReader, files->at(0), splits[0], CsvOptions());
  REQUIRE(out.records.size() == 5000);
  for (int i = 0; i < 5000; i += 499) {
    CHECK(out.records[static_cast<size_t>(i)].id == "r" + std::to_string(i));
    CHECK(out.records[static_cast<size_t>(i)].features ==
          std::vector<float>{static_cast<float>(i), static_cast<float>(-i)});
  }
  REQUIRE(out.bad.size() == 1);
  CHECK(out.bad[0].location == "part-00000.csv.gz:line 5002");
}

TEST_CASE("ParseFloat", "[tables][delimited]") {
  float value = 0;
  CHECK(text::ParseFloat("1.5", &value));
  CHECK(value == 1.5f);
  CHECK(text::ParseFloat("-0.25e2", &value));
  CHECK(value == -25.f);
  CHECK(text::ParseFloat(" +3 ", &value));
  CHECK(value == 3.f);
  CHECK(text::ParseFloat("2.5e-45", &value));  // a denormal
  CHECK(value > 0);
  CHECK(text::ParseFloat("1e-50", &value));  // underflows to 0
  CHECK(value == 0.f);
  // Non-finite values are not features (a bad record, common/tables/finite_features.h).
  for (const char* spelling : {"NaN", "nan", "-nan", "inf", "-Infinity", "INF"}) {
    INFO(spelling);
    CHECK_FALSE(text::ParseFloat(spelling, &value));
  }
  CHECK_FALSE(text::ParseFloat("", &value));
  CHECK_FALSE(text::ParseFloat(" ", &value));
  CHECK_FALSE(text::ParseFloat("1.5x", &value));
  CHECK_FALSE(text::ParseFloat("0x10", &value));
  CHECK_FALSE(text::ParseFloat("\\N", &value));
  CHECK_FALSE(text::ParseFloat("1e999", &value));
  CHECK_FALSE(text::ParseFloat("++1", &value));
}

TEST_CASE("ParseFloat: the fast path rounds exactly as from_chars", "[tables][delimited]") {
  std::mt19937 rng(7);
  const char* const patterns[] = {"%u", "-%u", "%u.%0*u", "-%u.%0*u", ".%0*u", "%u."};
  for (int i = 0; i < 200000; ++i) {
    const unsigned whole = rng() % 10000000 / (1u << (rng() % 24));
    const int width = static_cast<int>(rng() % 8);
    const unsigned fraction = width == 0 ? 0 : static_cast<unsigned>(rng() % 10000000) % 10000000;
    char text[64];
    const char* pattern = patterns[rng() % 6];
    if (std::strchr(pattern, '*') != nullptr && std::strncmp(pattern, ".", 1) == 0) {
      std::snprintf(text, sizeof(text), pattern, width, fraction);
    } else if (std::strchr(pattern, '*') != nullptr) {
      std::snprintf(text, sizeof(text), pattern, whole, width, fraction);
    } else {
      std::snprintf(text, sizeof(text), pattern, whole);
    }
    float fast = 0;
    float slow = 0;
    const bool fast_ok = text::ParseFloat(text, &fast);
    const bool slow_ok = text::ParseFloatSlow(text, &slow);
    INFO(text);
    REQUIRE(fast_ok == slow_ok);
    if (fast_ok) {
      REQUIRE(std::memcmp(&fast, &slow, sizeof(float)) == 0);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// JSON lines.

TableOptions JsonOptions() {
  TableOptions options;
  options.format = TableFormat::kJsonLines;
  options.id_column = "id";
  options.feature_columns = {"x", "pixels"};
  options.feature_count = 4;
  return options;
}

TEST_CASE("JSON lines: numbers, arrays, booleans, ids", "[tables][json]") {
  TempDir dir;
  const InputFile file = WriteFile(dir, "part-0.json",
                                   "{\"id\":\"a\",\"x\":1.5,\"pixels\":[1,2,3],\"other\":\"s\"}\n"
                                   "{\"pixels\":[[4],[5,true]],\"x\":-2,\"id\":17}\r\n"
                                   "\n"
                                   "{\"id\":3.0,\"x\":false,\"pixels\":[0,0,1e2]}\n"
                                   "{\"id\":2.5,\"x\":18446744073709551615,\"pixels\":[0,0,0]}");
  const Outcomes out = ReadAll(OpenJsonLinesReader, file, WholeFile(file), JsonOptions());
  REQUIRE(out.bad.empty());
  REQUIRE(out.records.size() == 4);
  CHECK(out.records[0].id == "a");
  CHECK(out.records[0].features == std::vector<float>{1.5f, 1, 2, 3});
  CHECK(out.records[1].id == "17");
  CHECK(out.records[1].features == std::vector<float>{-2, 4, 5, 1});
  CHECK(out.records[2].id == "3");  // integral: no ".0"
  CHECK(out.records[2].features == std::vector<float>{0, 0, 0, 100});
  CHECK(out.records[3].id == "2.5");
  CHECK(out.records[3].features[0] == 18446744073709551615.f);
}

TEST_CASE("JSON lines: bad lines", "[tables][json]") {
  TempDir dir;
  const InputFile file = WriteFile(dir, "part-0.json",
                                   "{\"id\":\"ok\",\"x\":1,\"pixels\":[1,2,3]}\n"  // line 1
                                   "{\"id\":\"a\",\"x\":1,\"pixels\":[1,2]}\n"      // line 2
                                   "{\"id\":\"b\",\"x\":1,\"pixels\":[1,2,3]\n"      // line 3
                                   "[1,2]\n"                                        // line 4
                                   "{\"id\":\"c\",\"pixels\":[1,2,3]}\n"            // line 5
                                   "{\"id\":\"d\",\"x\":null,\"pixels\":[1,2,3]}\n"  // line 6
                                   "{\"id\":\"e\",\"x\":\"1\",\"pixels\":[1,2,3]}\n"  // line 7
                                   "{\"id\":\"f\",\"x\":1,\"pixels\":[1,null,3]}\n"  // line 8
                                   "{\"x\":1,\"pixels\":[1,2,3]}\n"                 // line 9
                                   "{\"id\":[1],\"x\":1,\"pixels\":[1,2,3]}\n"      // line 10
                                   "{\"id\":\"g\",\"x\":1e300,\"pixels\":[1,2,3]}\n"  // line 11
                                   "{\"id\":\"h\",\"x\":{},\"pixels\":[1,2,3]}\n"   // line 12
                                   "{\"id\":\"i\",\"x\":1,\"pixels\":[1,2,3]} x\n"  // line 13
                                   "{\"id\":\"ok2\",\"x\":2,\"pixels\":[1,2,3]}\n");  // line 14
  const Outcomes out = ReadAll(OpenJsonLinesReader, file, WholeFile(file), JsonOptions());
  REQUIRE(out.records.size() == 2);
  CHECK(out.records[0].id == "ok");
  CHECK(out.records[1].id == "ok2");
  REQUIRE(out.bad.size() == 12);
  for (size_t i = 0; i < out.bad.size(); ++i) {
    CHECK(out.bad[i].location == "part-0.json:line " + std::to_string(i + 2));
  }
  CHECK(out.bad[0].reason == "has 3 feature values, expected 4");
  CHECK(out.bad[0].raw == "{\"id\":\"a\",\"x\":1,\"pixels\":[1,2]}");
  CHECK_THAT(out.bad[1].reason, Catch::StartsWith("invalid JSON: "));
  CHECK(out.bad[2].reason == "not a JSON object but an array");
  CHECK(out.bad[3].reason == "field 'x' is missing");
  CHECK(out.bad[4].reason == "field 'x' is null");
  CHECK(out.bad[5].reason == "field 'x': string \"1\" is not a number");
  CHECK(out.bad[6].reason == "field 'pixels' is null");
  CHECK(out.bad[7].reason == "id field 'id' is missing");
  CHECK(out.bad[8].reason == "id field 'id' is an array");
  CHECK_THAT(out.bad[9].reason, Catch::Contains("beyond float range"));
  CHECK(out.bad[10].reason == "field 'x' is an object, not a number");
  CHECK_THAT(out.bad[11].reason, Catch::StartsWith("invalid JSON: "));
}

TEST_CASE("non-finite feature values are bad records, with their line and raw text",
          "[tables][nonfinite]") {
  TempDir dir;
  const InputFile csv = WriteFile(dir, "t.csv",
                                  "id,f0,f1\n"
                                  "a,1,2\n"           // line 2
                                  "b,nan,2\n"         // line 3
                                  "c,1,inf\n"         // line 4
                                  "d,-Infinity,2\n"   // line 5
                                  "e,3,4\n");         // line 6
  // Through OpenRecordReader, as every job reads.
  const Outcomes out = ReadAll(OpenRecordReader, csv, WholeFile(csv), CsvOptions());
  REQUIRE(out.order == std::vector<int>{1, 0, 0, 0, 1});
  REQUIRE(out.bad.size() == 3);
  CHECK(out.bad[0].location == "t.csv:line 3");
  CHECK(out.bad[0].reason == "field 'f0': 'nan' is not a finite number");
  CHECK(out.bad[0].raw == "b,nan,2");
  CHECK(out.bad[1].location == "t.csv:line 4");
  CHECK(out.bad[1].reason == "field 'f1': 'inf' is not a finite number");
  CHECK(out.bad[2].raw == "d,-Infinity,2");

  const InputFile jsonl = WriteFile(dir, "t.json",
                                    "{\"id\":\"a\",\"x\":1e999,\"pixels\":[1,2,3]}\n"
                                    "{\"id\":\"b\",\"x\":1,\"pixels\":[1,-1e999,3]}\n"
                                    "{\"id\":\"c\",\"x\":1,\"pixels\":[1,2,3]}\n");
  const Outcomes from_json = ReadAll(OpenRecordReader, jsonl, WholeFile(jsonl), JsonOptions());
  REQUIRE(from_json.order == std::vector<int>{0, 0, 1});
  CHECK(from_json.bad[0].location == "t.json:line 1");
  CHECK_THAT(from_json.bad[0].reason, Catch::Contains("is not a finite number"));
  CHECK_THAT(from_json.bad[1].reason, Catch::StartsWith("field 'pixels': "));
  CHECK(from_json.bad[1].raw == "{\"id\":\"b\",\"x\":1,\"pixels\":[1,-1e999,3]}");
}

// A reader that yields the records it is given: what a binary format's reader hands over.
class FixedRecords final : public RecordReader {
 public:
  explicit FixedRecords(std::vector<TableRecord> records) : records_(std::move(records)) {}
  Result<Outcome> Next(TableRecord* record, BadRecord*) override {
    if (next_ == records_.size()) return Outcome::kEnd;
    *record = records_[next_++];
    return Outcome::kRecord;
  }

 private:
  std::vector<TableRecord> records_;
  size_t next_ = 0;
};

TEST_CASE("every reader's records pass the one non-finite check", "[tables][nonfinite]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  InputFile file;
  file.relative_path = "images.idx";
  TableOptions by_index;  // no id column: ids are "<file>:<index>", and name the record
  by_index.feature_columns = {"a", "b"};
  auto reader = RejectNonFiniteFeatures(
      std::make_unique<FixedRecords>(std::vector<TableRecord>{
          {"images.idx:0", {1, 2}}, {"images.idx:1", {nan, 2}}, {"images.idx:2", {1, -inf}}}),
      file, by_index);
  TableRecord record;
  BadRecord bad;
  REQUIRE(*reader->Next(&record, &bad) == RecordReader::Outcome::kRecord);
  REQUIRE(*reader->Next(&record, &bad) == RecordReader::Outcome::kBad);
  CHECK(bad.location == "images.idx:1");
  CHECK(bad.reason == "field 'a' is NaN (not a finite number)");
  REQUIRE(*reader->Next(&record, &bad) == RecordReader::Outcome::kBad);
  CHECK(bad.location == "images.idx:2");
  CHECK(bad.reason == "field 'b' is -Inf (not a finite number)");
  REQUIRE(*reader->Next(&record, &bad) == RecordReader::Outcome::kEnd);

  TableOptions with_id;  // a list field: values are named by position, records by their id
  with_id.id_column = "key";
  with_id.feature_columns = {"pixels"};
  reader = RejectNonFiniteFeatures(
      std::make_unique<FixedRecords>(std::vector<TableRecord>{{"k7", {0, 0, inf}}}), file, with_id);
  REQUIRE(*reader->Next(&record, &bad) == RecordReader::Outcome::kBad);
  CHECK(bad.location == "images.idx: record with id 'k7'");
  CHECK(bad.reason == "value 2 of the record is Inf (not a finite number)");
}

TEST_CASE("JSON lines: every split size, partitions, gzip", "[tables][json]") {
  TempDir dir;
  std::string bytes;
  for (int i = 0; i < 30; ++i) {
    bytes += "{\"x\":" + std::to_string(i) + ",\"pixels\":[" + std::to_string(i) +
             ",0,1], \"pad\":\"" + std::string(static_cast<size_t>(i % 5), 'p') + "\"}\n";
  }
  const PartitionValues partitions = {{"day", "5"}};
  TableOptions options = JsonOptions();
  options.id_column = "";
  options.feature_columns = {"day", "pixels"};
  SECTION("byte ranges") {
    const InputFile file = WriteFile(dir, "day=5/part-0.json", bytes, partitions);
    const std::vector<ExpectedLine> lines = LinesOf(bytes);
    for (uint64_t split_bytes = 1; split_bytes <= bytes.size(); split_bytes += 3) {
      INFO("split_bytes " << split_bytes);
      const Outcomes out =
          ReadEverySplit(OpenJsonLinesReader, file, TableFormat::kJsonLines, split_bytes, options);
      REQUIRE(out.bad.empty());
      REQUIRE(out.records.size() == 30);
      for (size_t i = 0; i < 30; ++i) {
        REQUIRE(out.records[i].id == "day=5/part-0.json:" + std::to_string(lines[i].offset));
        REQUIRE(out.records[i].features == std::vector<float>{5, static_cast<float>(i), 0, 1});
      }
    }
  }
  SECTION("gzip") {
    fs::create_directories(dir.Path("day=5"));
    WriteGzip(dir.Path("day=5/part-0.json.gz"), bytes);
    const InputFile file = Describe(dir, "day=5/part-0.json.gz", partitions);
    const std::vector<Split> splits = PlanSplits({file}, TableFormat::kJsonLines, 7);
    REQUIRE(splits.size() == 1);
    options.id_column = "day";
    const Outcomes out = ReadAll(OpenJsonLinesReader, file, splits[0], options);
    REQUIRE(out.bad.empty());
    REQUIRE(out.records.size() == 30);
    CHECK(out.records[29].id == "5");
    CHECK(out.records[29].features == std::vector<float>{5, 29, 0, 1});
  }
  SECTION("a corrupt gzip stream is an error, not a bad record") {
    fs::create_directories(dir.Path("day=5"));
    WriteGzip(dir.Path("day=5/part-0.json.gz"), bytes);
    std::string compressed;
    {
      auto read = Env::Default().ReadFile(dir.Path("day=5/part-0.json.gz"));
      REQUIRE(read.ok());
      compressed = read.value();
    }
    WriteRaw(dir.Path("day=5/part-0.json.gz"), compressed.substr(0, compressed.size() / 2));
    const InputFile file = Describe(dir, "day=5/part-0.json.gz", partitions);
    auto reader = OpenJsonLinesReader(file, WholeFile(file), options);
    REQUIRE(reader.ok());
    bool failed = false;
    for (int i = 0; i < 100 && !failed; ++i) {
      TableRecord record;
      BadRecord bad;
      auto outcome = reader.value()->Next(&record, &bad);
      if (!outcome.ok()) {
        failed = true;
        break;
      }
      REQUIRE(outcome.value() == RecordReader::Outcome::kRecord);
    }
    CHECK(failed);
  }
}

}  // namespace
}  // namespace aimass::tables
