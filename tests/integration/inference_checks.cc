#include "tests/integration/inference_checks.h"

#include "tests/catch.h"
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace aimass::testing {

namespace fs = std::filesystem;
namespace json = boost::json;
using std::chrono::seconds;

std::string WriteInferJob(const Fixture& fixture, const std::string& extra,
                          const std::string& input, const std::string& schema) {
  std::string path = fixture.dir + "/infer.yaml";
  WriteText(path, "model: " + fixture.model + "\n" +
                      "input: {path: " + fixture.table + ", " + input + "}\n" +
                      "schema: {" + schema + "}\n" +
                      "output: {path: " + fixture.dir + "/out}\n" + extra);
  return path;
}

std::vector<std::string> LocalInfer(const std::string& job, std::vector<std::string> extra) {
  std::vector<std::string> argv = {CoordinatorBinary(), "infer", "--config", job, "--workers", "2"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

std::vector<std::string> SplitFields(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream stream(line);
  std::string field;
  while (std::getline(stream, field, ',')) fields.push_back(field);
  return fields;
}

// Every row of every CSV output part; an id seen twice fails the test.
Rows ReadOutputParts(const std::string& out) {
  Rows rows;
  for (const auto& entry : fs::directory_iterator(out)) {
    std::string name = entry.path().filename().string();
    if (name.rfind("part-", 0) != 0) continue;
    std::ifstream in(entry.path());
    std::string line;
    std::getline(in, line);
    REQUIRE(line.rfind("id,prediction,score_0", 0) == 0);
    while (std::getline(in, line)) {
      auto fields = SplitFields(line);
      std::string id = fields.front();
      INFO("id " << id << " in " << name);
      REQUIRE(rows.count(id) == 0);
      rows[id] = std::vector<std::string>(fields.begin() + 1, fields.end());
    }
  }
  return rows;
}

void RequireExactlyPythonsPredictions(const Fixture& fixture, const std::string& out) {
  Rows expected;
  std::ifstream in(fixture.expected);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    auto fields = SplitFields(line);
    expected[fields.front()] = std::vector<std::string>(fields.begin() + 1, fields.end());
  }
  Rows actual = ReadOutputParts(out);
  REQUIRE(actual.size() == expected.size());  // with no duplicates: every id exactly once
  double worst = 0;
  for (const auto& [id, want] : expected) {
    auto found = actual.find(id);
    INFO("id " << id);
    REQUIRE(found != actual.end());
    REQUIRE(found->second.size() == want.size());
    REQUIRE(found->second[0] == want[0]);  // the predicted class
    for (size_t k = 1; k < want.size(); ++k) {
      worst = std::max(worst, std::fabs(std::stod(found->second[k]) - std::stod(want[k])));
    }
  }
  CHECK(worst < 1e-4);
  REQUIRE_FALSE(fs::exists(out + "/_temporary"));
}

json::object Manifest(const std::string& out) {
  return json::parse(ReadText(out + "/_SUCCESS")).as_object();
}

size_t CommittedParts(const std::string& out) {
  size_t parts = 0;
  std::error_code ignored;
  for (const auto& entry : fs::directory_iterator(out, ignored)) {
    if (entry.path().filename().string().rfind("part-", 0) == 0) ++parts;
  }
  return parts;
}

// Whole lines of the running job's commit log: splits whose commit is complete (a part file
// appears a moment before its line, so counting parts would race with a kill).
size_t LoggedCommits(const std::string& out) {
  std::error_code ignored;
  if (!fs::exists(out + "/_temporary/commits.jsonl", ignored)) return 0;
  const std::string log = ReadText(out + "/_temporary/commits.jsonl");
  return static_cast<size_t>(std::count(log.begin(), log.end(), '\n'));
}

// Waits until `out` holds at least `parts` committed parts (or the job ended first).
void WaitForCommits(const std::string& out, size_t parts, Process& job) {
  auto deadline = std::chrono::steady_clock::now() + seconds(120);
  while (LoggedCommits(out) < parts && std::chrono::steady_clock::now() < deadline) {
    REQUIRE(::kill(job.pid(), 0) == 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(LoggedCommits(out) >= parts);
}

}  // namespace aimass::testing
