// The second hardening round's probes of `aimass-coordinator serve` (docs/security.md), kept as
// tests against a real server over real HTTP: each failed before its fix.
#include <boost/json.hpp>
#include "tests/catch.h"
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/integration/service_fixture.h"

namespace aimass::testing {
namespace {

// `serve` with `state_dir`, `data_root` and `extra`, expected to refuse to start.
ProcessResult StartRefused(const TempDir& dir, const std::string& state_dir, const std::string& data_root,
                           const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv = {CoordinatorBinary(), "serve",     "--state-dir", state_dir,
                                   "--data-root",       data_root,   "--listen",    "127.0.0.1:0"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return Run(argv, dir.path(), seconds(30));
}

TEST_CASE("service security: column ranges that expand to millions of names are refused at once, "
          "and the server keeps answering", "[service][security]") {
  TempDir dir;
  Service service(dir.Path("state"));
  // Finding 1: 209 bytes that named 60 million columns (12.9 s, 2.15 GB for one request).
  std::string ranges;
  for (int i = 0; i < 6; ++i) {
    ranges += (i ? ", f" : "f") + std::to_string(i) + "_0..f" + std::to_string(i) + "_10000000";
  }
  const std::string infer_yaml = "model: models:/none@production\n"
                                 "input: {path: fashion-mnist/test, format: csv, header: true}\n"
                                 "schema: {features: [" + ranges + "]}\n";
  HttpReply job = service.Call("POST", "/api/v1/jobs", JobBody("infer", infer_yaml, 1));
  INFO(job.body);
  CHECK(job.status == 400);
  CHECK(job.body.find("schema.features") != std::string::npos);
  HttpReply dataset = service.Call(
      "POST", "/api/v1/datasets",
      R"({"name": "wide", "input": {"path": "fashion-mnist/test", "format": "csv", "header": true},
          "schema": {"features": [")" + ranges.substr(0, ranges.find(',')) + R"(", "g0..g300000"]}})");
  INFO(dataset.body);
  CHECK(dataset.status == 400);
  CHECK(dataset.body.find("262144") != std::string::npos);
  CHECK(service.Call("GET", "/healthz").status == 200);
}

TEST_CASE("service security: a state directory or key file that overlaps a data root is refused at start",
          "[service][security]") {
  // Finding 3: with the state directory inside a data root, a dataset registered on it showed
  // the admin token to every viewer.
  TempDir dir;
  fs::create_directories(dir.Path("data/tables"));
  fs::create_directory_symlink(dir.Path("data"), dir.Path("data-link"));

  ProcessResult inside = StartRefused(dir, dir.Path("data/st"), dir.Path("data"));
  CHECK(inside.exit_code == 1);
  CHECK(inside.err.find("overlap") != std::string::npos);
  CHECK_FALSE(fs::exists(dir.Path("data/st/admin.token")));
  // Through a link, and the other way round (a data root inside the state directory).
  ProcessResult linked = StartRefused(dir, dir.Path("data-link/st"), dir.Path("data"));
  CHECK(linked.exit_code == 1);
  CHECK(linked.err.find("overlap") != std::string::npos);
  fs::create_directories(dir.Path("state/inner"));
  ProcessResult around = StartRefused(dir, dir.Path("state"), dir.Path("state/inner"));
  CHECK(around.exit_code == 1);
  CHECK(around.err.find("overlap") != std::string::npos);

  const std::string key = dir.Path("data/tables/master.key");
  WriteRaw(key, std::string(32, '\x33'));
  REQUIRE(::chmod(key.c_str(), 0600) == 0);
  ProcessResult key_inside = StartRefused(dir, dir.Path("state2"), dir.Path("data"), {"--master-key-file", key});
  CHECK(key_inside.exit_code == 1);
  CHECK(key_inside.err.find("--master-key-file") != std::string::npos);
  CHECK(key_inside.err.find("inside --data-root") != std::string::npos);
}

TEST_CASE("service security: --reset-admin-token revokes the lost token, writes a new one, and is audited",
          "[service][security]") {
  TempDir dir;
  std::string lost;
  std::string made_by_hand;
  {
    Service service(dir.Path("state"));
    lost = service.admin();
    made_by_hand = std::string(
        service.Json("POST", "/api/v1/tokens", 201, R"({"role": "admin", "description": "ops"})").at("token").as_string());
  }
  fs::remove(dir.Path("state/admin.token"));
  Service service(dir.Path("state"), {"--reset-admin-token"});
  CHECK(service.admin() != lost);
  struct stat mode {};
  REQUIRE(::stat(dir.Path("state/admin.token").c_str(), &mode) == 0);
  CHECK((mode.st_mode & 0777) == 0600);
  CHECK(service.Call("GET", "/api/v1/jobs", "", lost).status == 401);
  CHECK(service.Call("GET", "/api/v1/jobs", "", made_by_hand).status == 200);  // people's tokens stay
  json::array audit = service.Json("GET", "/api/v1/audit", 200).at("entries").as_array();
  int resets = 0;
  for (const json::value& entry : audit) {
    if (entry.at("action") != "token.reset") continue;
    ++resets;
    CHECK(std::string(entry.at("target").as_string()).find("revoked") != std::string::npos);
  }
  CHECK(resets == 1);
}

}  // namespace
}  // namespace aimass::testing
