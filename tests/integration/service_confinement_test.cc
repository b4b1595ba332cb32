// Confinement below the named directory (docs/security.md, issue 23 finding 4), over real HTTP:
// a table directory inside a data root holding a part file that is a symbolic link to a file
// outside every root. Registering it as a dataset ends `failed`, and a training job on it fails,
// each with an error that names the part file by its path in the table and reveals neither
// where the link leads nor anything of the outside file. Fails fast: nothing is trained.
#include <boost/json.hpp>
#include "tests/catch.h"

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "tests/integration/service_fixture.h"

namespace aimass::testing {
namespace {

// Checks that `text` gives nothing of the outside away.
void RequireDiscreet(const std::string& text, const std::string& outside) {
  INFO(text);
  CHECK(text.find(outside) == std::string::npos);
  CHECK(text.find("secret.csv") == std::string::npos);
  CHECK(text.find("SECRET_COLUMN") == std::string::npos);
}

TEST_CASE("service confinement: a part file linked outside the data roots fails the dataset and the job "
          "without revealing it", "[service][service_confinement]") {
  TempDir dir;
  const std::string base = fs::canonical(dir.path()).string();
  const std::string root = base + "/root";
  const std::string table = root + "/linked-table";
  const std::string outside = base + "/outside";
  fs::create_directories(table);
  fs::create_directories(outside);
  // Looks like a table, so that reading it would show its header as column names.
  WriteRaw(outside + "/secret.csv", "SECRET_COLUMN_a,SECRET_COLUMN_b\n1,2\n");
  WriteRaw(table + "/_SUCCESS", "");
  WriteRaw(table + "/part-00000.csv", "label,f0\n1,0.5\n0,0.25\n");
  fs::create_symlink(outside + "/secret.csv", table + "/part-00001.csv");
  // A directory inside the root that is itself a link outside: refused when named (403).
  fs::create_directory_symlink(outside, root + "/elsewhere");

  Service service(dir.Path("state"), {"--data-root", root});

  HttpReply named = service.Call("POST", "/api/v1/datasets",
                                 R"({"name": "elsewhere", "input": {"path": ")" + root +
                                     R"(/elsewhere", "format": "csv", "header": true}})");
  CHECK(named.status == 403);
  RequireDiscreet(named.body, outside);

  service.Json("POST", "/api/v1/datasets", 201,
               R"({"name": "linked", "input": {"path": ")" + table + R"(", "format": "csv", "header": true}})");
  json::object dataset;
  for (int i = 0; i < 300; ++i) {
    dataset = service.Json("GET", "/api/v1/datasets/linked", 200).as_object();
    if (dataset.at("state") != "profiling") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  INFO(json::serialize(dataset));
  REQUIRE(dataset.at("state") == "failed");
  const std::string error(dataset.at("error").as_string());
  CHECK(error.find("part-00001.csv") != std::string::npos);
  CHECK(error.find("--data-root") != std::string::npos);
  RequireDiscreet(json::serialize(dataset), outside);

  const std::string yaml = "model: mlp\n"
                           "data:\n"
                           "  train: {path: " + table + ", format: csv, header: true, label: label, features: [f0]}\n"
                           "training: {epochs: 1, batch_size: 2}\n"
                           "worker: {device: cpu, threads: 1}\n";
  const int64_t id = service.Submit("train", yaml, 1);
  json::object job = service.WaitForState(id, "failed", std::chrono::seconds(60));
  const std::string job_error(job.at("error").as_string());
  CHECK(job_error.find("part-00001.csv") != std::string::npos);
  CHECK(job_error.find("--data-root") != std::string::npos);
  RequireDiscreet(json::serialize(job), outside);
  HttpReply log = service.Call("GET", "/api/v1/jobs/" + std::to_string(id) + "/log");
  REQUIRE(log.status == 200);
  RequireDiscreet(log.body, outside);
}

}  // namespace
}  // namespace aimass::testing
