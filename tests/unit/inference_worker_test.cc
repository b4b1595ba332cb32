// The worker's inference pieces without a coordinator: the split reader's batches and bad-record
// handling, and the prediction writer's formats.
#include <boost/json.hpp>
#include "tests/catch.h"
#include <zlib.h>

#include <algorithm>
#include <deque>
#include <fstream>
#include <mutex>
#include <thread>

#include <torch/script.h>

#include "tests/temp_dir.h"
#include "worker/infer/prediction_writer.h"
#include "worker/infer/scorer.h"
#include "worker/infer/split_reader.h"

namespace aimass::worker {
namespace {

using testing::TempDir;
using testing::WriteRaw;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Hands out a fixed list of tasks, then reports that no more will come.
SplitReader::NextTask Tasks(std::deque<SplitTask> tasks) {
  auto queue = std::make_shared<std::deque<SplitTask>>(std::move(tasks));
  auto mutex = std::make_shared<std::mutex>();
  return [queue, mutex](const std::atomic<bool>&) -> std::optional<SplitTask> {
    std::lock_guard<std::mutex> lock(*mutex);
    if (queue->empty()) return std::nullopt;
    SplitTask task = queue->front();
    queue->pop_front();
    return task;
  };
}

SplitReaderOptions CsvOptions(const std::string& path, uint64_t size) {
  SplitReaderOptions options;
  tables::InputFile file;
  file.path = path;
  file.relative_path = "part-00000";
  file.size = size;
  options.files = {file};
  options.table.header = true;
  options.table.id_column = "id";
  options.table.feature_columns = {"a", "b"};
  options.table.feature_count = 2;
  options.batch_size = 2;
  options.normalize = {0.5f, 1.0f, 2.0f};
  return options;
}

SplitTask WholeFile(uint64_t attempt, uint64_t size) {
  SplitTask task;
  task.attempt_id = attempt;
  task.split.index = 0;
  task.split.end = size;
  return task;
}

std::vector<WorkItem> Drain(SplitReader& reader) {
  std::vector<WorkItem> items;
  while (true) {
    items.push_back(reader.Pop());
    if (items.back().kind == WorkItem::Kind::kNoMoreWork) return items;
  }
}

TEST_CASE("the split reader batches records, normalizes them and brackets each split",
          "[infer_worker]") {
  TempDir dir;
  const std::string text = "id,a,b\nx,2,4\ny,6,8\nz,10,12\n";
  WriteRaw(dir.Path("t.csv"), text);
  SplitReader reader(CsvOptions(dir.Path("t.csv"), text.size()), Tasks({WholeFile(7, text.size())}));
  auto items = Drain(reader);
  REQUIRE(items.size() == 5);  // start, batch of 2, batch of 1, end, no more work
  REQUIRE(items[0].kind == WorkItem::Kind::kSplitStart);
  REQUIRE(items[0].attempt_id == 7);
  REQUIRE(items[1].ids == std::vector<std::string>{"x", "y"});
  REQUIRE(items[1].features == std::vector<float>{0.0f, 0.5f, 1.0f, 1.5f});  // (v * 0.5 - 1) / 2
  REQUIRE(items[2].ids == std::vector<std::string>{"z"});
  REQUIRE(items[3].kind == WorkItem::Kind::kSplitEnd);
  REQUIRE(items[3].records_in == 3);
  REQUIRE(reader.records_read() == 3);
}

TEST_CASE("with drift edges the split reader bins the raw features of good records only",
          "[infer_worker][drift]") {
  TempDir dir;
  // Raw values 2, 6, 10 (a) and 4, 8, 12 (b); the bad line is not binned.
  const std::string text = "id,a,b\nx,2,4\ny,6,8\nbad,q,1\nz,10,12\n";
  WriteRaw(dir.Path("t.csv"), text);
  SplitReaderOptions options = CsvOptions(dir.Path("t.csv"), text.size());
  options.fail_on_bad_record = false;
  options.drift_edges = {{5, 9}, {5, 9}};  // 3 bins each: < 5, [5, 9), >= 9
  SplitReader reader(options, Tasks({WholeFile(7, text.size())}));
  auto items = Drain(reader);
  const WorkItem& end = items[items.size() - 2];
  REQUIRE(end.kind == WorkItem::Kind::kSplitEnd);
  // Binned before normalization: (v * 0.5 - 1) / 2 would put every value below 5.
  CHECK(end.drift.features == std::vector<std::vector<uint64_t>>{{1, 1, 1}, {1, 1, 1}});
  CHECK(end.drift.predicted.empty());  // classes are the inference thread's to count
  CHECK(end.records_in == 4);
}

TEST_CASE("a bad record ends its split under fail and rides along otherwise", "[infer_worker]") {
  TempDir dir;
  const std::string text = "id,a,b\nx,2,4\ny,oops,8\nz,10,12\n";
  WriteRaw(dir.Path("t.csv"), text);
  SECTION("fail: not retryable, names the line") {
    SplitReader reader(CsvOptions(dir.Path("t.csv"), text.size()), Tasks({WholeFile(1, text.size())}));
    auto items = Drain(reader);
    auto failed = std::find_if(items.begin(), items.end(), [](const WorkItem& item) {
      return item.kind == WorkItem::Kind::kSplitFailed;
    });
    REQUIRE(failed != items.end());
    REQUIRE_FALSE(failed->retryable);
    REQUIRE_THAT(failed->error, Catch::Contains("part-00000:line 3"));
    REQUIRE_THAT(failed->error, Catch::EndsWith("(on_bad_record: fail)"));
  }
  SECTION("skip or quarantine: counted in records_in, kept with the batch") {
    auto options = CsvOptions(dir.Path("t.csv"), text.size());
    options.fail_on_bad_record = false;
    SplitReader reader(options, Tasks({WholeFile(1, text.size())}));
    auto items = Drain(reader);
    size_t good = 0, bad = 0;
    uint64_t records_in = 0;
    for (const auto& item : items) {
      good += item.ids.size();
      bad += item.bad.size();
      if (item.kind == WorkItem::Kind::kSplitEnd) records_in = item.records_in;
    }
    REQUIRE(good == 2);
    REQUIRE(bad == 1);
    REQUIRE(records_in == 3);
  }
}

TEST_CASE("a split of only bad records moves in batch-sized pieces, raw kept only to quarantine",
          "[infer_worker]") {
  TempDir dir;
  std::string text = "id,a,b\n";
  for (int i = 0; i < 5; ++i) text += "r" + std::to_string(i) + ",oops,1\n";
  WriteRaw(dir.Path("t.csv"), text);
  auto options = CsvOptions(dir.Path("t.csv"), text.size());  // batch_size 2
  options.fail_on_bad_record = false;
  const bool quarantine = GENERATE(false, true);
  options.keep_raw_bad_records = quarantine;
  SplitReader reader(options, Tasks({WholeFile(1, text.size())}));
  auto items = Drain(reader);
  size_t batches = 0;
  std::vector<std::string> locations, raws;
  for (const auto& item : items) {
    if (item.kind != WorkItem::Kind::kBatch) continue;
    ++batches;
    REQUIRE(item.ids.empty());
    REQUIRE(item.bad.size() <= 2);
    for (const auto& bad : item.bad) {
      locations.push_back(bad.location);
      raws.push_back(bad.raw);
      REQUIRE_FALSE(bad.reason.empty());
    }
  }
  REQUIRE(batches == 3);  // 2 + 2 + 1
  REQUIRE(locations == std::vector<std::string>{"part-00000:line 2", "part-00000:line 3",
                                                "part-00000:line 4", "part-00000:line 5",
                                                "part-00000:line 6"});
  if (quarantine) {
    REQUIRE(raws == std::vector<std::string>{"r0,oops,1", "r1,oops,1", "r2,oops,1", "r3,oops,1",
                                             "r4,oops,1"});
  } else {
    REQUIRE(raws == std::vector<std::string>(5));
  }
  REQUIRE(items[items.size() - 2].kind == WorkItem::Kind::kSplitEnd);
  REQUIRE(items[items.size() - 2].records_in == 5);
}

TEST_CASE("a file that cannot be read fails its attempt as retryable", "[infer_worker]") {
  TempDir dir;
  auto options = CsvOptions(dir.Path("gone.csv"), 10);
  SplitReader reader(options, Tasks({WholeFile(3, 10)}));
  auto items = Drain(reader);
  REQUIRE(items[1].kind == WorkItem::Kind::kSplitFailed);
  REQUIRE(items[1].retryable);
  REQUIRE_THAT(items[1].error, Catch::Contains("gone.csv"));
}

TEST_CASE("a reader whose consumer leaves early stops waiting for work", "[infer_worker]") {
  std::atomic<bool> asked{false};
  {
    SplitReader reader(SplitReaderOptions(), [&](const std::atomic<bool>& stopping) {
      asked = true;
      while (!stopping) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      return std::optional<SplitTask>();
    });
    while (!asked) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }  // joins: would hang if the reader ignored `stopping`
  REQUIRE(asked);
}

// A list-valued feature (an Avro or JSON array) scored against a model of another width: the
// load refuses the model, saying how many values a record has and what LibTorch expected.
// (Records whose own width differs from the job's input are bad records when they are read:
// bounded_input_test.cc, "a list-valued feature of the wrong width".)
TEST_CASE("a model of another input width is refused at load, naming both widths",
          "[infer_worker]") {
  TempDir dir;
  const std::string path = dir.Path("three.pt");
  {
    // A TorchScript model that takes 3 values per record, saved from C++ (no Python needed).
    torch::jit::Module module("Three");
    module.register_parameter("weight", torch::ones({3, 2}), /*is_buffer=*/false);
    module.define("def forward(self, x):\n    return torch.mm(x, self.weight)\n");
    module.save(path);
  }
  ScorerOptions options;
  options.model_name = "torchscript:" + path;
  options.model_path = path;
  options.num_classes = 2;
  options.input_shape = {3};
  Result<Scorer> right = Scorer::Load(options, torch::kCPU);
  REQUIRE(right.ok());
  REQUIRE(right->width() == 2);

  options.input_shape = {2};
  Result<Scorer> wrong = Scorer::Load(options, torch::kCPU);
  REQUIRE_FALSE(wrong.ok());
  const std::string message = wrong.status().message();
  INFO(message);
  REQUIRE_THAT(message, Catch::StartsWith("model 'torchscript:" + path +
                                          "' does not take this job's records of 2 values (input "
                                          "shape [2]): TorchScript: "));
  REQUIRE_THAT(message, Catch::Contains("1x2 and 3x2"));  // LibTorch: the model takes 3
  REQUIRE(message.find('\n') == std::string::npos);

  std::vector<float> values(12, 1.0f);  // 4 records of 3 values
  Result<torch::Tensor> scored = right->Score(values.data(), 4);
  REQUIRE(scored.ok());
  REQUIRE(scored->sizes() == torch::IntArrayRef({4, 2}));
}

TEST_CASE("predictions are written as CSV or JSON lines with exact scores", "[infer_worker]") {
  TempDir dir;
  const float scores[] = {0.1f, 2.5f, -1.0f, 3.0f, 3.0f, 1e-8f};
  auto csv = PredictionWriter::Create(dir.Path("p.csv"), "csv", 0, 3);
  REQUIRE(csv.ok());
  REQUIRE((*csv)->Write({"a", "with,comma \"q\""}, scores).ok());
  REQUIRE((*csv)->Close().ok());
  REQUIRE(ReadAll(dir.Path("p.csv")) ==
          "id,prediction,score_0,score_1,score_2\n"
          "a,1,0.1,2.5,-1\n"
          "\"with,comma \"\"q\"\"\",0,3,3,1e-08\n");  // a tie goes to the first class
  REQUIRE((*csv)->rows() == 2);
  REQUIRE((*csv)->bytes() == ReadAll(dir.Path("p.csv")).size());

  auto json = PredictionWriter::Create(dir.Path("p.jsonl"), "jsonl", 0, 1);
  REQUIRE(json.ok());
  REQUIRE((*json)->Write({"r\"1", "r2"}, scores).ok());
  REQUIRE((*json)->Close().ok());
  REQUIRE(ReadAll(dir.Path("p.jsonl")) ==
          "{\"id\":\"r\\\"1\",\"prediction\":0.1,\"scores\":[0.1]}\n"
          "{\"id\":\"r2\",\"prediction\":2.5,\"scores\":[2.5]}\n");  // one score: regression

  auto gzip = PredictionWriter::Create(dir.Path("p.csv.gz"), "csv", 6, 3);
  REQUIRE(gzip.ok());
  REQUIRE((*gzip)->Write({"a"}, scores).ok());
  REQUIRE((*gzip)->Close().ok());
  gzFile file = gzopen(dir.Path("p.csv.gz").c_str(), "rb");
  char buffer[256] = {};
  int got = gzread(file, buffer, sizeof(buffer) - 1);
  gzclose(file);
  REQUIRE(std::string(buffer, static_cast<size_t>(got)) ==
          "id,prediction,score_0,score_1,score_2\na,1,0.1,2.5,-1\n");
}

TEST_CASE("quarantined records keep location, reason and raw text", "[infer_worker]") {
  TempDir dir;
  auto writer = BadRecordWriter::Create(dir.Path("bad.jsonl"));
  REQUIRE(writer.ok());
  REQUIRE((*writer)->Write({"part-1:line 3", "field 'a': 'oops' is not a number", "y,oops,8"}).ok());
  REQUIRE((*writer)->Close().ok());
  REQUIRE(ReadAll(dir.Path("bad.jsonl")) ==
          "{\"location\":\"part-1:line 3\",\"reason\":\"field 'a': 'oops' is not a number\","
          "\"raw\":\"y,oops,8\"}\n");
}

TEST_CASE("quarantined raw records that are not UTF-8 are written in base64", "[infer_worker]") {
  TempDir dir;
  auto writer = BadRecordWriter::Create(dir.Path("bad.jsonl"));
  REQUIRE(writer.ok());
  REQUIRE((*writer)->Write({"part-1:record 7", "truncated", std::string("\xff\x00\x01", 3)}).ok());
  REQUIRE((*writer)->Write({"part-1:line 2", "short row", "caf\xc3\xa9"}).ok());  // "café"
  REQUIRE((*writer)->Close().ok());
  const std::string text = ReadAll(dir.Path("bad.jsonl"));
  const size_t newline = text.find('\n');
  REQUIRE(newline != std::string::npos);
  boost::json::object binary = boost::json::parse(text.substr(0, newline)).as_object();
  REQUIRE(binary.at("location").as_string() == "part-1:record 7");
  REQUIRE(binary.at("raw_base64").as_string() == "/wAB");
  REQUIRE_FALSE(binary.contains("raw"));
  boost::json::object utf8 = boost::json::parse(text.substr(newline + 1)).as_object();
  REQUIRE(utf8.at("raw").as_string() == "caf\xc3\xa9");
  REQUIRE_FALSE(utf8.contains("raw_base64"));
}

TEST_CASE("UTF-8 validation rejects overlongs, surrogates and code points past U+10FFFF",
          "[infer_worker]") {
  REQUIRE(IsValidUtf8(""));
  REQUIRE(IsValidUtf8("plain ascii"));
  REQUIRE(IsValidUtf8("\xc3\xa9"));              // U+00E9
  REQUIRE(IsValidUtf8("\xe2\x82\xac"));          // U+20AC
  REQUIRE(IsValidUtf8("\xed\x9f\xbf"));          // U+D7FF, just below the surrogates
  REQUIRE(IsValidUtf8("\xf4\x8f\xbf\xbf"));      // U+10FFFF
  REQUIRE(IsValidUtf8(std::string("a\0b", 3)));
  REQUIRE_FALSE(IsValidUtf8("\xc0\xaf"));         // overlong '/'
  REQUIRE_FALSE(IsValidUtf8("\xe0\x80\xaf"));     // overlong '/'
  REQUIRE_FALSE(IsValidUtf8("\xf0\x82\x82\xac")); // overlong U+20AC
  REQUIRE_FALSE(IsValidUtf8("\xed\xa0\x80"));     // U+D800
  REQUIRE_FALSE(IsValidUtf8("\xf4\x90\x80\x80")); // U+110000
  REQUIRE_FALSE(IsValidUtf8("\xf5\x80\x80\x80"));
  REQUIRE_FALSE(IsValidUtf8("\xe2\x82"));         // truncated
  REQUIRE_FALSE(IsValidUtf8("\x80"));             // lone continuation byte
  REQUIRE_FALSE(IsValidUtf8("\xe9t\xe9"));         // Latin-1 "été"
}

TEST_CASE("JSON-lines ids that are not UTF-8 are written as Latin-1", "[infer_worker]") {
  TempDir dir;
  const float scores[] = {1.0f, 2.0f};
  auto json = PredictionWriter::Create(dir.Path("p.jsonl"), "jsonl", 0, 1);
  REQUIRE(json.ok());
  REQUIRE((*json)->Write({"caf\xe9\"", "caf\xc3\xa9"}, scores).ok());
  REQUIRE((*json)->Close().ok());
  const std::string text = ReadAll(dir.Path("p.jsonl"));
  REQUIRE(text ==
          "{\"id\":\"caf\\u00e9\\\"\",\"prediction\":1,\"scores\":[1]}\n"
          "{\"id\":\"caf\xc3\xa9\",\"prediction\":2,\"scores\":[2]}\n");
  boost::json::object first = boost::json::parse(text.substr(0, text.find('\n'))).as_object();
  REQUIRE(first.at("id").as_string() == "caf\xc3\xa9\"");  // U+00E9 read back as UTF-8

  auto csv = PredictionWriter::Create(dir.Path("p.csv"), "csv", 0, 1);
  REQUIRE(csv.ok());
  REQUIRE((*csv)->Write({"caf\xe9"}, scores).ok());
  REQUIRE((*csv)->Close().ok());
  REQUIRE(ReadAll(dir.Path("p.csv")) == "id,prediction,score_0\ncaf\xe9,1,1\n");  // bytes as read
}

}  // namespace
}  // namespace aimass::worker
