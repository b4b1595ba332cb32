#include "tests/temp_dir.h"
#include "common/tables/record_reader.h"
#include "common/tables/split_planner.h"
#include "common/tables/table_listing.h"
#include "common/tables/text/delimited_reader.h"

#include "tests/catch.h"
#include <filesystem>
#include <string>
#include <vector>

namespace aimass::tables {
namespace {

using testing::TempDir;
using testing::WriteRaw;

namespace fs = std::filesystem;

void Write(const TempDir& dir, const std::string& relative, const std::string& bytes) {
  fs::create_directories(fs::path(dir.Path(relative)).parent_path());
  WriteRaw(dir.Path(relative), bytes);
}

std::vector<std::string> RelativePaths(const std::vector<InputFile>& files) {
  std::vector<std::string> paths;
  for (const InputFile& file : files) paths.push_back(file.relative_path);
  return paths;
}

TEST_CASE("ListTable: part files below the root, Hadoop bookkeeping skipped, sorted",
          "[tables][listing]") {
  TempDir dir;
  Write(dir, "_SUCCESS", "");
  Write(dir, "part-00001.csv", "a\n");
  Write(dir, "part-00000.csv", "bb\n");
  Write(dir, ".part-00000.csv.crc", "crc");
  Write(dir, "_temporary/0/part-00002.csv", "partial\n");
  Write(dir, ".hidden/part-00003.csv", "hidden\n");
  Write(dir, "part-00004.csv.gz", "not really gzip");
  Write(dir, "sub/part-00005.csv", "x\n");  // a plain subdirectory: walked, no partition

  auto files = ListTable(dir.path(), ListOptions{}, Env::Default());
  REQUIRE(files.ok());
  CHECK(RelativePaths(files.value()) ==
        std::vector<std::string>{"part-00000.csv", "part-00001.csv", "part-00004.csv.gz",
                                 "sub/part-00005.csv"});
  const InputFile& first = files->at(0);
  CHECK(first.path == dir.Path("part-00000.csv"));
  CHECK(first.size == 3);
  CHECK(first.mtime_ns > 0);
  CHECK(first.codec == io::Codec::kNone);
  CHECK(first.partitions.empty());
  CHECK(files->at(2).codec == io::Codec::kGzip);
  CHECK(files->at(3).path == dir.Path("sub/part-00005.csv"));
  CHECK(files->at(3).partitions.empty());
}

TEST_CASE("ListTable: key=value directories are partitions, outermost first, unescaped",
          "[tables][listing]") {
  TempDir dir;
  Write(dir, "_SUCCESS", "");
  Write(dir, "dt=2026-11-22/hr=01/part-00000", "1\n");
  Write(dir, "dt=2026-11-22/hr=01/.part-00000.crc", "");
  Write(dir, "dt=2026-11-22/hr=00/part-00000", "2\n");
  Write(dir, "dt=2026-11-21/hr=23/part-00000.deflate", "3\n");
  Write(dir, "dt=2026-11-21/hr=23/_SUCCESS", "");
  Write(dir, "ts=2026-11-22 10%3A00%2F1/extra/part-00009", "4\n");
  Write(dir, "dt=2026-11-20/_temporary/part-00000", "5\n");

  auto files = ListTable(dir.path(), ListOptions{}, Env::Default());
  REQUIRE(files.ok());
  REQUIRE(RelativePaths(files.value()) ==
          std::vector<std::string>{"dt=2026-11-21/hr=23/part-00000.deflate",
                                   "dt=2026-11-22/hr=00/part-00000",
                                   "dt=2026-11-22/hr=01/part-00000",
                                   "ts=2026-11-22 10%3A00%2F1/extra/part-00009"});
  CHECK(files->at(0).partitions == PartitionValues{{"dt", "2026-11-21"}, {"hr", "23"}});
  CHECK(files->at(0).codec == io::Codec::kDeflate);
  CHECK(files->at(2).partitions == PartitionValues{{"dt", "2026-11-22"}, {"hr", "01"}});
  CHECK(files->at(2).path == dir.Path("dt=2026-11-22/hr=01/part-00000"));
  CHECK(files->at(3).partitions == PartitionValues{{"ts", "2026-11-22 10:00/1"}});

  // The same listing every time.
  auto again = ListTable(dir.path(), ListOptions{}, Env::Default());
  REQUIRE(again.ok());
  CHECK(RelativePaths(again.value()) == RelativePaths(files.value()));
}

TEST_CASE("ParsePartitionDirectory", "[tables][listing]") {
  std::string key, value;
  CHECK(ParsePartitionDirectory("dt=2026-11-22", &key, &value));
  CHECK(key == "dt");
  CHECK(value == "2026-11-22");
  CHECK(ParsePartitionDirectory("k=", &key, &value));
  CHECK(value.empty());
  CHECK(ParsePartitionDirectory("a%3Db=c%3d%zz%4", &key, &value));
  CHECK(key == "a=b");
  CHECK(value == "c=%zz%4");  // malformed escapes stay as they are
  CHECK_FALSE(ParsePartitionDirectory("plain", &key, &value));
  CHECK_FALSE(ParsePartitionDirectory("=value", &key, &value));
}

TEST_CASE("ListTable: errors", "[tables][listing]") {
  TempDir dir;
  SECTION("no _SUCCESS marker, and the relaxed flag") {
    Write(dir, "part-00000", "1\n");
    auto files = ListTable(dir.path(), ListOptions{}, Env::Default());
    REQUIRE_FALSE(files.ok());
    CHECK(files.status().message() ==
          dir.path() +
              ": no _SUCCESS marker: the export is incomplete or still running (set "
              "input.require_success: false to read it anyway)");
    ListOptions relaxed;
    relaxed.require_success = false;
    auto read_anyway = ListTable(dir.path(), relaxed, Env::Default());
    REQUIRE(read_anyway.ok());
    CHECK(RelativePaths(read_anyway.value()) == std::vector<std::string>{"part-00000"});
  }
  SECTION("a _SUCCESS only in a subdirectory does not count") {
    Write(dir, "dt=1/_SUCCESS", "");
    Write(dir, "dt=1/part-00000", "1\n");
    auto files = ListTable(dir.path(), ListOptions{}, Env::Default());
    REQUIRE_FALSE(files.ok());
    CHECK_THAT(files.status().message(), Catch::Contains("no _SUCCESS marker"));
  }
  SECTION("missing root") {
    const std::string root = dir.Path("no-such-table");
    auto files = ListTable(root, ListOptions{}, Env::Default());
    REQUIRE_FALSE(files.ok());
    CHECK_THAT(files.status().message(), Catch::StartsWith(root + ": "));
    CHECK_THAT(files.status().message(), Catch::Contains("does not exist"));
  }
  SECTION("root is a file") {
    Write(dir, "file.csv", "1\n");
    auto files = ListTable(dir.Path("file.csv"), ListOptions{}, Env::Default());
    REQUIRE_FALSE(files.ok());
    CHECK_THAT(files.status().message(), Catch::Contains("not a directory"));
  }
  SECTION("no part files") {
    Write(dir, "_SUCCESS", "");
    Write(dir, "_temporary/part-00000", "1\n");
    Write(dir, "dt=1/.part-00000.crc", "");
    auto files = ListTable(dir.path(), ListOptions{}, Env::Default());
    REQUIRE_FALSE(files.ok());
    CHECK_THAT(files.status().message(), Catch::StartsWith(dir.path() + ": no part files"));
  }
}

InputFile File(uint64_t size, io::Codec codec = io::Codec::kNone) {
  InputFile file;
  file.size = size;
  file.codec = codec;
  return file;
}

TEST_CASE("PlanSplits: byte ranges cover uncompressed line files exactly", "[tables][splits]") {
  const std::vector<InputFile> files = {File(10), File(0), File(3), File(8)};
  for (TableFormat format : {TableFormat::kDelimited, TableFormat::kJsonLines}) {
    const std::vector<Split> splits = PlanSplits(files, format, 4);
    // 10 bytes: [0,4) [4,8) [8,10); the empty file: none; 3 bytes: [0,3); 8 bytes: [0,4) [4,8).
    REQUIRE(splits.size() == 6);
    const std::vector<std::vector<uint64_t>> expected = {
        {0, 0, 4}, {0, 4, 8}, {0, 8, 10}, {2, 0, 3}, {3, 0, 4}, {3, 4, 8}};
    for (size_t i = 0; i < splits.size(); ++i) {
      INFO("split " << i);
      CHECK(splits[i].index == i);
      CHECK(splits[i].file == expected[i][0]);
      CHECK(splits[i].begin == expected[i][1]);
      CHECK(splits[i].end == expected[i][2]);
      CHECK_FALSE(splits[i].whole_file);
    }
  }
  // Every split size: consecutive, non-empty ranges from 0 to the file's size.
  for (uint64_t size : {1u, 2u, 7u, 64u, 1000u}) {
    for (uint64_t split_bytes = 1; split_bytes <= size + 2; ++split_bytes) {
      const std::vector<Split> splits =
          PlanSplits({File(size)}, TableFormat::kDelimited, split_bytes);
      uint64_t at = 0;
      for (const Split& split : splits) {
        REQUIRE(split.begin == at);
        REQUIRE(split.end > split.begin);
        REQUIRE(split.end - split.begin <= split_bytes);
        at = split.end;
      }
      REQUIRE(at == size);
      REQUIRE(splits.size() == (size + split_bytes - 1) / split_bytes);
    }
  }
}

TEST_CASE("PlanSplits: compressed files and binary formats are whole-file splits",
          "[tables][splits]") {
  const std::vector<InputFile> files = {File(100, io::Codec::kGzip), File(0, io::Codec::kGzip),
                                        File(100), File(50, io::Codec::kZstd)};
  std::vector<Split> splits = PlanSplits(files, TableFormat::kDelimited, 30);
  REQUIRE(splits.size() == 6);
  CHECK(splits[0].whole_file);
  CHECK(splits[0].file == 0);
  CHECK(splits[0].begin == 0);
  CHECK(splits[0].end == 100);
  for (size_t i = 1; i <= 4; ++i) {
    CHECK(splits[i].file == 2);
    CHECK_FALSE(splits[i].whole_file);
  }
  CHECK(splits[5].whole_file);
  CHECK(splits[5].file == 3);
  CHECK(splits[5].index == 5);
  CHECK(splits[5].end == 50);

  for (TableFormat format : {TableFormat::kTfRecord, TableFormat::kAvro, TableFormat::kIdx}) {
    splits = PlanSplits(files, format, 30);
    REQUIRE(splits.size() == 3);  // the empty file has none
    for (size_t i = 0; i < splits.size(); ++i) {
      CHECK(splits[i].index == i);
      CHECK(splits[i].whole_file);
      CHECK(splits[i].begin == 0);
      CHECK(splits[i].end == files[splits[i].file].size);
    }
    CHECK(splits[1].file == 2);
  }
  CHECK(PlanSplits({}, TableFormat::kDelimited, 30).empty());
  // split_bytes 0: one split per file.
  splits = PlanSplits({File(100)}, TableFormat::kDelimited, 0);
  REQUIRE(splits.size() == 1);
  CHECK(splits[0].whole_file);
  CHECK(splits[0].end == 100);
}

// A table inside a data root beside a directory outside it holding a secret file.
struct ConfinedTable {
  TempDir dir;
  std::string root;     // the data root
  std::string table;    // root/table
  std::string outside;  // beside the root
  std::string secret;

  ConfinedTable() {
    const std::string base = fs::canonical(dir.path()).string();
    root = base + "/root";
    table = root + "/table";
    outside = base + "/outside";
    fs::create_directories(table);
    fs::create_directories(outside);
    WriteRaw(table + "/_SUCCESS", "");
    WriteRaw(table + "/part-00000.csv", "a,b\n1,2\n");
    secret = outside + "/secret.csv";
    WriteRaw(secret, "password_column,hash_column\nroot,xyz\n");
  }
  ListOptions Confined() const {
    ListOptions options;
    options.confine_to = {root};
    return options;
  }
};

void RequireRefusedQuietly(const Status& status, const ConfinedTable& t, const std::string& name) {
  REQUIRE_FALSE(status.ok());
  CHECK(status.code() == StatusCode::kPermissionDenied);
  CHECK(status.message().find(name) != std::string::npos);
  CHECK(status.message().find(t.outside) == std::string::npos);
  CHECK(status.message().find("password_column") == std::string::npos);
}

TEST_CASE("ListTable with roots: a part file linked outside them fails the listing, naming it by its "
          "path in the table only",
          "[tables][listing][confined]") {
  ConfinedTable t;
  fs::create_symlink(t.secret, t.table + "/part-00001.csv");
  auto files = ListTable(t.table, t.Confined(), Env::Default());
  RequireRefusedQuietly(files.status(), t, "part-00001.csv");

  // Without roots (the CLI) the link is listed as before.
  auto unconfined = ListTable(t.table, ListOptions{}, Env::Default());
  REQUIRE(unconfined.ok());
  CHECK(unconfined->size() == 2);
}

TEST_CASE("ListTable with roots: a directory linked outside them is neither walked nor listed",
          "[tables][listing][confined]") {
  ConfinedTable t;
  fs::create_directory_symlink(t.outside, t.table + "/dt=2026-01-01");
  auto files = ListTable(t.table, t.Confined(), Env::Default());
  RequireRefusedQuietly(files.status(), t, "dt=2026-01-01");
  CHECK(files.status().message().find("secret.csv") == std::string::npos);

  // The table's root itself, linked from inside the roots to outside them.
  fs::create_directory_symlink(t.outside, t.root + "/elsewhere");
  auto root = ListTable(t.root + "/elsewhere", t.Confined(), Env::Default());
  REQUIRE_FALSE(root.ok());
  CHECK(root.status().code() == StatusCode::kPermissionDenied);
  CHECK(root.status().message().find(t.outside) == std::string::npos);
}

TEST_CASE("ListTable with roots: links that stay inside them are listed", "[tables][listing][confined]") {
  ConfinedTable t;
  fs::create_directories(t.root + "/shared/dt=1");
  WriteRaw(t.root + "/shared/dt=1/part.csv", "a,b\n3,4\n");
  fs::create_symlink(t.table + "/part-00000.csv", t.table + "/part-00001.csv");
  fs::create_directory_symlink(t.root + "/shared/dt=1", t.table + "/dt=1");
  auto files = ListTable(t.table, t.Confined(), Env::Default());
  REQUIRE(files.ok());
  CHECK(RelativePaths(*files) ==
        std::vector<std::string>{"dt=1/part.csv", "part-00000.csv", "part-00001.csv"});
}

TEST_CASE("Readers with TableOptions::confine_to refuse a part file linked outside the roots",
          "[tables][confined]") {
  ConfinedTable t;
  fs::create_symlink(t.secret, t.table + "/part-00001.csv");
  // As a job would meet it had the link appeared after the listing: the file as listed unconfined.
  auto files = ListTable(t.table, ListOptions{}, Env::Default());
  REQUIRE(files.ok());
  const InputFile& linked = files->at(1);
  REQUIRE(linked.relative_path == "part-00001.csv");

  TableOptions options;
  options.header = true;
  options.feature_columns = {"a"};
  options.feature_count = 1;
  options.confine_to = {t.root};
  for (bool whole : {true, false}) {
    Split split{0, 1, 0, linked.size, whole};
    auto reader = OpenRecordReader(linked, split, options);
    RequireRefusedQuietly(reader.status(), t, "part-00001.csv");
  }
  auto header = ReadDelimitedHeader(linked, ',', io::kDefaultMaxRecordBytes, options.confine_to);
  RequireRefusedQuietly(header.status(), t, "part-00001.csv");
  for (TableFormat format : {TableFormat::kJsonLines, TableFormat::kTfRecord, TableFormat::kAvro,
                             TableFormat::kIdx}) {
    options.format = format;
    auto reader = OpenRecordReader(linked, Split{0, 1, 0, linked.size, true}, options);
    RequireRefusedQuietly(reader.status(), t, "part-00001.csv");
  }
  // The file inside is read as ever.
  options.format = TableFormat::kDelimited;
  auto inside = OpenRecordReader(files->at(0), Split{0, 0, 0, files->at(0).size, true}, options);
  REQUIRE(inside.ok());
}

}  // namespace
}  // namespace aimass::tables
