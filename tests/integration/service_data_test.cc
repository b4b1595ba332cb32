// Data profiles, drift and the dataset catalogue over real HTTP (docs/service.md, "Data
// profiles, drift and datasets"): a registered model version has its training data's profile;
// a batch inference job over the test data shifted by two standard deviations of each feature
// reports drift in its summary and raises the alerts (written to the job's log, where the
// service's alert sink gets them too), a clean job over the same model raises none; a dataset
// registered through the API gets its schema, record count, profile and lineage.
#include <boost/json.hpp>
#include "tests/catch.h"
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "common/sha256.h"
#include "tests/integration/service_fixture.h"

namespace aimass::testing {
namespace {

std::vector<std::string> SplitCsv(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream in(line);
  std::string field;
  while (std::getline(in, field, ',')) fields.push_back(field);
  return fields;
}

// A copy of the table `from` with every feature column (pixelN) moved by `shift` times the
// training profile's standard deviation of that feature.
// Each profiled feature's name -> `shift` times its standard deviation in `profile`.
std::map<std::string, double> FeatureShifts(const json::object& profile, double shift) {
  std::map<std::string, double> deltas;
  for (const json::value& feature : profile.at("features").as_array()) {
    deltas[std::string(feature.at("name").as_string())] = shift * feature.at("std").to_number<double>();
  }
  return deltas;
}

void WriteShiftedTable(const std::string& from, const std::string& to, const json::object& profile, double shift) {
  const std::map<std::string, double> deltas = FeatureShifts(profile, shift);
  fs::create_directories(to);
  for (const auto& entry : fs::directory_iterator(from)) {
    const std::string name = entry.path().filename().string();
    if (name.find(".csv") == std::string::npos) continue;
    // The slice's shards are gzip CSV (ReadGzipText reads plain files as they are too).
    std::istringstream lines(ReadGzipText(entry.path().string()));
    std::ofstream out(to + "/" + name.substr(0, name.find(".csv")) + ".csv");
    std::string line;
    std::getline(lines, line);
    out << line << "\n";
    const std::vector<std::string> header = SplitCsv(line);
    while (std::getline(lines, line)) {
      const std::vector<std::string> fields = SplitCsv(line);
      for (size_t i = 0; i < fields.size(); ++i) {
        auto delta = deltas.find(header[i]);
        out << (i ? "," : "");
        if (delta == deltas.end()) {
          out << fields[i];
        } else {
          out << std::stod(fields[i]) + delta->second;
        }
      }
      out << "\n";
    }
  }
}

// The first `count` records of the test split's feature columns (pixelN), each moved by `shift`
// times the profile's standard deviation of its feature: the body of a predict request.
json::array TestInstances(const json::object& profile, size_t count, double shift) {
  const std::map<std::string, double> deltas = FeatureShifts(profile, shift);
  json::array rows;
  std::vector<fs::path> shards;
  for (const auto& entry : fs::directory_iterator(FashionMnistSlice() + "/test")) {
    if (entry.path().filename().string().rfind("part-", 0) == 0) shards.push_back(entry.path());
  }
  std::sort(shards.begin(), shards.end());
  for (const fs::path& shard : shards) {
    std::istringstream lines(ReadGzipText(shard.string()));
    std::string line;
    std::getline(lines, line);
    const std::vector<std::string> header = SplitCsv(line);
    while (rows.size() < count && std::getline(lines, line)) {
      const std::vector<std::string> fields = SplitCsv(line);
      json::array values;
      for (size_t i = 0; i < fields.size(); ++i) {
        auto delta = deltas.find(header[i]);
        if (delta != deltas.end()) values.push_back(std::stod(fields[i]) + delta->second);
      }
      rows.push_back(std::move(values));
    }
  }
  REQUIRE(rows.size() == count);
  return rows;
}

// Alerts of `kind` about `model` whose message starts with `source`.
size_t AlertsFrom(Service& service, const std::string& model, const std::string& kind, const std::string& source) {
  json::object alerts = service.Json("GET", "/api/v1/alerts?model=" + model + "&kind=" + kind, 200).as_object();
  size_t found = 0;
  for (const json::value& alert : alerts.at("alerts").as_array()) {
    found += std::string(alert.at("message").as_string()).rfind(source, 0) == 0;
  }
  return found;
}

std::string InferYaml(const std::string& input, const std::string& output) {
  return "model: models:/drifty/1\n"
         "input: {path: " + input + ", format: csv, header: true, require_success: false}\n"
         "schema: {id: id, features: [pixel0..pixel783], shape: [1, 28, 28]}\n"
         "output: {path: " + output + "}\n"
         "drift: {warn: 0.1, alert: 0.25}\n"
         "inference: {device: cpu, threads: 1}\n";
}

std::string JobLog(Service& service, int64_t id) {
  HttpReply log = service.Call("GET", "/api/v1/jobs/" + std::to_string(id) + "/log");
  REQUIRE(log.status == 200);
  return log.body;
}

json::object WaitForDataset(Service& service, const std::string& name) {
  json::object dataset;
  for (int i = 0; i < 600; ++i) {
    dataset = service.Json("GET", "/api/v1/datasets/" + name, 200).as_object();
    if (dataset.at("state") != "profiling") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  INFO(json::serialize(dataset));
  REQUIRE(dataset.at("state") == "ready");
  return dataset;
}

}  // namespace

TEST_CASE("service data: a registered model has its training profile; shifted input drifts, clean "
          "input does not; datasets show their lineage", "[service][service_data]") {
  TempDir dir;
  Service service(dir.Path("state"));
  const int64_t training = service.Submit("train", TrainYaml(10, 512), 2, "drifty");
  service.WaitForState(training, "succeeded");

  // The version's profile: every feature with its statistics and bins, the label distribution.
  json::object profile = service.Json("GET", "/api/v1/models/drifty/versions/1/profile", 200).as_object();
  CHECK(profile.at("records") == 512);
  CHECK(profile.at("label") == "label");
  REQUIRE(profile.at("class_counts").as_array().size() == 10);
  json::array features = profile.at("features").as_array();
  REQUIRE(features.size() == 784);
  CHECK(features[0].at("name") == "pixel0");
  const json::object& middle = features[14 * 28 + 14].as_object();
  CHECK(middle.at("count") == 512);
  CHECK(middle.at("std").to_number<double>() > 0);
  CHECK(middle.at("bins").as_array().size() == 10);
  CHECK(middle.at("edges").as_array().size() == 9);
  CHECK(middle.at("quantiles").as_array().size() == 5);
  CHECK(service.Call("GET", "/api/v1/models/drifty/versions/9/profile").status == 404);
  CHECK(service.Call("GET", "/api/v1/models/nope/versions/1/profile").status == 404);

  // Clean: the test split, scored by the model trained on the train split.
  const int64_t clean = service.Submit("infer", InferYaml("fashion-mnist/test", "clean"), 2);
  json::object clean_job = service.WaitForState(clean, "succeeded");
  const json::object& clean_drift = clean_job.at("summary").at("drift").as_object();
  INFO("clean drift: " << json::serialize(clean_drift));
  CHECK(clean_drift.at("records") == 512);
  CHECK(clean_drift.at("model") == "drifty");
  // A few of 784 pixels reach 0.1 by chance over 512 records; far fewer than the 5% (40) a
  // `drift` alert needs, and none reaches 0.25.
  CHECK(clean_drift.at("features_at_warn").to_number<int>() < 40);
  CHECK(clean_drift.at("features_at_alert") == 0);
  CHECK(clean_drift.at("prediction_psi").to_number<double>() < 0.1);
  CHECK(clean_drift.at("feature_psi").as_object().size() == 784);
  CHECK(JobLog(service, clean).find("aimass: alert:") == std::string::npos);

  // Shifted by two standard deviations: drift alerts for the features and the predictions.
  const std::string shifted_dir = DataRoot() + "/shifted-" + std::to_string(::getpid());
  WriteShiftedTable(FashionMnistSlice() + "/test", shifted_dir, profile, 2.0);
  const int64_t shifted = service.Submit("infer", InferYaml(shifted_dir, "shifted"), 2);
  json::object shifted_job = service.WaitForState(shifted, "succeeded");
  fs::remove_all(shifted_dir);
  const json::object& drift = shifted_job.at("summary").at("drift").as_object();
  INFO("shifted drift: " << json::serialize(drift));
  CHECK(drift.at("max_feature_psi").to_number<double>() >= 0.25);
  CHECK(drift.at("features_at_alert").to_number<int>() >= 40);
  CHECK_FALSE(drift.at("worst_features").as_array().empty());
  const std::string log = JobLog(service, shifted);
  CHECK(log.find("aimass: alert: alert drift: job " + std::to_string(shifted) + "'s input drifted from drifty version 1") !=
        std::string::npos);

  // Online traffic, in windows of 500 records: the test split as it is gives no verdict but
  // "clean"; shifted by two standard deviations it raises drift for the version served.
  service.Json("PUT", "/api/v1/models/drifty/aliases/production", 200, R"({"version": 1})");
  service.Json("PUT", "/api/v1/models/drifty/serving", 200, R"({"threads": 1, "drift_window": 500})");
  auto predict = [&](double shift) {
    json::array rows = TestInstances(profile, 500, shift);
    for (size_t begin = 0; begin < rows.size(); begin += 50) {  // 50 records: under the 1 MiB body cap
      json::array chunk(rows.begin() + static_cast<std::ptrdiff_t>(begin),
                        rows.begin() + static_cast<std::ptrdiff_t>(begin + 50));
      json::object answer = service.Json("POST", "/api/v1/models/drifty/predict", 200,
                                         json::serialize(json::object{{"instances", std::move(chunk)}}))
                                .as_object();
      REQUIRE(answer.at("predictions").as_array().size() == 50);
    }
  };
  predict(0.0);
  predict(2.0);
  // Both windows closed, and the second's alerts raised (a window raises as it closes, and the
  // answered batches are added in order): only the shifted one drifted.
  auto windows_closed = [&] {
    json::object serving = service.Json("GET", "/api/v1/models/drifty/serving", 200).as_object();
    const json::value& watched = serving.at("deployments").as_array().at(0).at("drift");
    return watched.is_null() ? -1 : watched.at("windows_closed").to_number<int64_t>();
  };
  const std::string online = "online traffic drifted from drifty version 1";
  for (int i = 0; i < 100 && (windows_closed() < 2 || AlertsFrom(service, "drifty", "drift", online) == 0); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(windows_closed() == 2);
  CHECK(AlertsFrom(service, "drifty", "drift", online) == 1);

  // The catalogue: the train split was trained on, the test split scored.
  service.Json("POST", "/api/v1/datasets", 201,
               R"({"name": "fmnist-train", "owner": "ml", "input": {"path": "fashion-mnist/train", "format": "csv", "header": true}, "schema": {"id": "id"}})");
  service.Json("POST", "/api/v1/datasets", 201,
               R"({"name": "fmnist-test", "input": {"path": "fashion-mnist/test", "format": "csv", "header": true}})");
  json::object train_set = WaitForDataset(service, "fmnist-train");
  REQUIRE(train_set.at("lineage").at("trained").as_array().size() == 1);
  CHECK(train_set.at("lineage").at("trained").as_array()[0].at("model") == "drifty");
  CHECK(train_set.at("lineage").at("trained").as_array()[0].at("version") == 1);
  json::object test_set = WaitForDataset(service, "fmnist-test");
  REQUIRE(test_set.at("lineage").at("scored").as_array().size() == 1);
  CHECK(test_set.at("lineage").at("scored").as_array()[0].at("job_id") == clean);
}

TEST_CASE("service data: a dataset registered through the API gets its schema, count and profile; "
          "bad registrations are refused", "[service][service_data]") {
  TempDir dir;
  Service service(dir.Path("state"));
  json::object created = service.Json("POST", "/api/v1/datasets", 201,
      R"({"name": "fmnist-test", "description": "the test split", "owner": "ml-team",
          "input": {"path": "fashion-mnist/test", "format": "csv", "header": true}, "schema": {"id": "id"}})")
      .as_object();
  CHECK(created.at("state") == "profiling");
  CHECK(created.at("owner") == "ml-team");

  json::object dataset = WaitForDataset(service, "fmnist-test");
  CHECK(dataset.at("records") == 512);
  json::array schema = dataset.at("schema").as_array();
  REQUIRE(schema.size() == 785);  // the label and 784 pixels; the id is left out
  CHECK(schema[0].at("name") == "label");
  CHECK(schema[0].at("type") == "integer");
  const json::object& profile = dataset.at("profile").as_object();
  CHECK(profile.at("total_records") == 512);
  REQUIRE(profile.at("features").as_array().size() == 785);
  const json::object& label = profile.at("features").as_array()[0].as_object();
  CHECK(label.at("min").to_number<double>() == 0);
  CHECK(label.at("max").to_number<double>() == 9);
  CHECK(label.at("count") == 512);
  CHECK(dataset.at("lineage").at("trained").as_array().empty());

  json::array listed = service.Json("GET", "/api/v1/datasets", 200).at("datasets").as_array();
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].at("records") == 512);

  // Outside the data roots: 403. A taken name: 409. A bad input block: 400 naming the key.
  CHECK(service.Call("POST", "/api/v1/datasets", R"({"name": "etc", "input": {"path": "/etc", "format": "csv"}})").status == 403);
  CHECK(service.Call("POST", "/api/v1/datasets", R"({"name": "fmnist-test", "input": {"path": "fashion-mnist/test"}})").status == 409);
  HttpReply bad = service.Call("POST", "/api/v1/datasets", R"({"name": "x", "input": {"path": "fashion-mnist/test", "colour": 1}})");
  CHECK(bad.status == 400);
  CHECK(bad.body.find("input.colour") != std::string::npos);
  CHECK(service.Call("POST", "/api/v1/datasets", R"({"name": "../x", "input": {"path": "fashion-mnist/test"}})").status == 400);
  CHECK(service.Call("POST", "/api/v1/datasets", R"({"name": "y"})").status == 400);

  // A path that does not exist is registered, and its profiling fails saying why.
  service.Json("POST", "/api/v1/datasets", 201, R"({"name": "missing", "input": {"path": "no-such-table", "format": "csv"}})");
  json::object missing;
  for (int i = 0; i < 100; ++i) {
    missing = service.Json("GET", "/api/v1/datasets/missing", 200).as_object();
    if (missing.at("state") != "profiling") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(missing.at("state") == "failed");
  CHECK(missing.at("error").as_string().find("no-such-table") != std::string::npos);

  CHECK(service.Json("DELETE", "/api/v1/datasets/fmnist-test", 200).at("deleted") == true);
  CHECK(service.Call("GET", "/api/v1/datasets/fmnist-test").status == 404);
  json::array audit = service.Json("GET", "/api/v1/audit", 200).at("entries").as_array();
  int registered = 0, deleted = 0;
  for (const auto& entry : audit) {
    registered += entry.at("action") == "dataset.register";
    deleted += entry.at("action") == "dataset.delete";
  }
  CHECK(registered == 2);
  CHECK(deleted == 1);
}

TEST_CASE("service data: with --master-key-file stored profiles are sealed, and still served",
          "[service][service_data]") {
  TempDir dir;
  const std::string key = dir.Path("master.key");
  WriteRaw(key, std::string(32, '\x22'));
  REQUIRE(::chmod(key.c_str(), 0600) == 0);
  Service service(dir.Path("state"), {"--master-key-file", key});
  const int64_t training = service.Submit("train", TrainYaml(1), 1, "sealed");
  service.WaitForState(training, "succeeded");
  service.Json("POST", "/api/v1/datasets", 201,
               R"({"name": "test", "input": {"path": "fashion-mnist/test", "format": "csv", "header": true}})");
  WaitForDataset(service, "test");

  // Two profiles (the version's, the dataset's), both sealed: no plaintext JSON on disk.
  int sealed = 0;
  for (const auto& entry : fs::directory_iterator(dir.Path("state/profiles"))) {
    const std::string name = entry.path().filename().string();
    INFO(name);
    CHECK(name.size() > 7);
    CHECK(name.substr(name.size() - 7) == ".sealed");
    CHECK(ReadText(entry.path().string()).find("\"features\"") == std::string::npos);
    ++sealed;
  }
  CHECK(sealed == 2);
  json::object profile = service.Json("GET", "/api/v1/models/sealed/versions/1/profile", 200).as_object();
  CHECK(profile.at("features").as_array().size() == 784);
  CHECK(service.Json("GET", "/api/v1/datasets/test", 200).at("profile").at("total_records") == 512);

  // Finding 7 of the second hardening round: the opened (plaintext) copy a serving replica reads
  // survived a kill -9 and the next start. It lives under state/opened/ now, wiped at start.
  const std::string digest(
      service.Json("GET", "/api/v1/models/sealed", 200).at("versions").as_array()[0].at("sha256").as_string());
  service.Json("PUT", "/api/v1/models/sealed/aliases/production", 200, R"({"version": 1})");
  service.Json("PUT", "/api/v1/models/sealed/serving", 200, R"({"replicas": 1, "threads": 1})");
  json::array zeros;
  for (int i = 0; i < 784; ++i) zeros.push_back(0);
  const std::string one = json::serialize(json::object{{"instances", json::array{zeros}}});
  int answered = 0;
  for (int i = 0; i < 300 && answered != 200; ++i) {
    answered = service.Call("POST", "/api/v1/models/sealed/predict", one).status;
    if (answered != 200) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  REQUIRE(answered == 200);
  // Every regular file below the state directory whose bytes are the artifact's model.pt, but
  // the train job's own output (its run directory under jobs/, which the job wrote itself).
  const auto plaintext_copies = [&] {
    std::vector<std::string> found;
    for (const auto& entry : fs::recursive_directory_iterator(dir.Path("state"))) {
      if (entry.path().string().rfind(dir.Path("state/jobs/"), 0) == 0) continue;
      if (entry.is_regular_file() && Sha256Hex(ReadText(entry.path().string())) == digest) {
        found.push_back(entry.path().string());
      }
    }
    return found;
  };
  const std::vector<std::string> while_serving = plaintext_copies();
  REQUIRE(while_serving.size() == 1);  // the replica's, under state/opened/
  CHECK(while_serving[0].find(dir.Path("state/opened/")) == 0);
  service.Signal(SIGKILL);
  service.WaitForExit(seconds(30));
  Service restarted(dir.Path("state"), {"--master-key-file", key});
  // The restarted server serves the model again (a copy of its own); once serving stops, no
  // plaintext copy may be left, the crashed server's included.
  restarted.Json("DELETE", "/api/v1/models/sealed/serving", 200);
  std::vector<std::string> left = plaintext_copies();
  for (int i = 0; i < 100 && !left.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    left = plaintext_copies();
  }
  INFO("plaintext copies left: " << (left.empty() ? "" : left[0]));
  CHECK(left.empty());
  CHECK_FALSE(fs::exists(while_serving[0]));
}

}  // namespace aimass::testing
