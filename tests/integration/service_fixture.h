// The integration tests' `aimass-coordinator serve`: a real server process on a free loopback
// port with the Fashion-MNIST slice's directory as its data root and the admin token it wrote, a
// client that speaks only HTTP, and the train config and job bodies the service tests submit.
// Shared by service_test.cc and the tests of each part of the service (service_alerts_test.cc,
// service_data_test.cc, ...).
#pragma once

#include <boost/json.hpp>
#include "tests/catch.h"
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/http_client.h"
#include "tests/integration/job_fixture.h"
#include "tests/integration/process_runner.h"
#include "tests/temp_dir.h"

namespace aimass::testing {

namespace service_fixture {
namespace fs = std::filesystem;
namespace json = boost::json;
using std::chrono::seconds;
}  // namespace service_fixture
using namespace service_fixture;  // NOLINT: the tests' own short names

inline json::value ParseJson(const HttpReply& reply) {
  boost::system::error_code error;
  json::value value = json::parse(reply.body, error);
  if (error) FAIL("not JSON (" << reply.status << " " << reply.error << "): " << reply.body);
  return value;
}

// The data root: the directory holding the converted Fashion-MNIST slice.
inline std::string DataRoot() { return std::filesystem::path(FashionMnistSlice()).parent_path().string(); }

// Lands one partition of a data-triggered schedule's export: `events`/`partition` gets the
// Fashion-MNIST test slice's part files first, then its _SUCCESS, as a Spark job commits.
inline void LandPartition(const std::string& events, const std::string& partition) {
  const std::filesystem::path target = std::filesystem::path(events) / partition;
  std::filesystem::create_directories(target);
  for (const auto& entry : std::filesystem::directory_iterator(FashionMnistSlice() + "/test")) {
    if (entry.path().filename() == "_SUCCESS") continue;
    std::filesystem::copy_file(entry.path(), target / entry.path().filename());
  }
  WriteText((target / "_SUCCESS").string(), "");
}

inline std::string TrainYaml(uint32_t epochs, uint64_t limit = 256) {
  return "model: mlp\n"
         "data:\n"
         "  train: fashion-mnist/train\n"
         "  test: fashion-mnist/test\n"
         "  limit: " + std::to_string(limit) + "\n"
         "  normalize: {scale: 0.00392156862745098, mean: 0.2860, std: 0.3530}\n"
         "training: {epochs: " + std::to_string(epochs) + ", batch_size: 16, seed: 7, log_every: 1}\n"
         "optimizer: {name: sgd, lr: 0.05, momentum: 0.9}\n"
         "checkpoint: {every_steps: 0, every_seconds: 0}\n"
         "worker: {device: cpu, threads: 1}\n";
}

inline std::string JobBody(const std::string& kind, const std::string& yaml, int workers,
                           const std::string& register_as = "") {
  json::object body{{"kind", kind}, {"config", yaml}, {"workers", workers}};
  if (!register_as.empty()) body["register_as"] = register_as;
  return json::serialize(body);
}

// A running `aimass-coordinator serve` on a free loopback port.
class Service {
 public:
  Service(const std::string& state_dir, std::vector<std::string> extra = {})
      : state_dir_(state_dir), logs_(std::make_unique<TempDir>()) {
    std::vector<std::string> argv = {CoordinatorBinary(), "serve", "--state-dir", state_dir,
                                     "--data-root", DataRoot(), "--listen", "127.0.0.1:0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    process_ = std::make_unique<Process>(argv, logs_->path());
    const std::regex serving("serving http://127\\.0\\.0\\.1:([0-9]+)/");
    for (int i = 0; i < 300 && port_ == 0; ++i) {
      std::smatch match;
      const std::string out = process_->OutputSoFar();
      if (std::regex_search(out, match, serving)) port_ = static_cast<uint16_t>(std::stoi(match[1]));
      if (port_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    REQUIRE(port_ != 0);
    std::string token = ReadText(state_dir + "/admin.token");
    while (!token.empty() && token.back() == '\n') token.pop_back();
    admin_ = token;
    REQUIRE(admin_.rfind("aimass_", 0) == 0);
  }
  ~Service() {
    if (process_ && !stopped_) {
      ::kill(process_->pid(), SIGTERM);
      process_->Wait(seconds(60));
    }
  }

  uint16_t port() const { return port_; }
  const std::string& admin() const { return admin_; }
  std::string Output() const { return process_->OutputSoFar(); }

  HttpReply Call(const std::string& method, const std::string& target, const std::string& body = "",
                 std::optional<std::string> token = std::nullopt) {
    return HttpCall(port_, method, target, body, token ? *token : admin_);
  }
  json::value Json(const std::string& method, const std::string& target, int expected_status,
                   const std::string& body = "", std::optional<std::string> token = std::nullopt) {
    HttpReply reply = Call(method, target, body, token);
    INFO(method << " " << target << " -> " << reply.status << " " << reply.error << " " << reply.body);
    REQUIRE(reply.status == expected_status);
    return ParseJson(reply);
  }

  int64_t Submit(const std::string& kind, const std::string& yaml, int workers,
                 const std::string& register_as = "") {
    json::value created = Json("POST", "/api/v1/jobs", 201, JobBody(kind, yaml, workers, register_as));
    return created.at("id").as_int64();
  }

  // Polls the job until `done` says so or `limit` passes; returns the last job object.
  json::object WaitForJob(int64_t id, const std::function<bool(const json::object&)>& done,
                          seconds limit = seconds(240)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    json::object job;
    while (std::chrono::steady_clock::now() < deadline) {
      job = Json("GET", "/api/v1/jobs/" + std::to_string(id), 200).as_object();
      if (done(job)) return job;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    FAIL("job " << id << " did not get there within " << limit.count() << " s: " << json::serialize(job)
                << "\nserver output:\n" << Output());
    return job;
  }
  json::object WaitForState(int64_t id, const std::string& state, seconds limit = seconds(240)) {
    return WaitForJob(id, [&](const json::object& job) {
      const std::string now(job.at("state").as_string());
      INFO("job " << id << ": " << json::serialize(job));
      if (state != "failed" && now == "failed") FAIL("job failed: " << json::serialize(job));
      return now == state;
    }, limit);
  }
  // Running, with its workers started (it reported progress).
  json::object WaitUntilTraining(int64_t id) {
    return WaitForJob(id, [](const json::object& job) {
      return job.at("state").as_string() == "running" && !job.at("progress").is_null();
    });
  }

  void Signal(int signal) {
    ::kill(process_->pid(), signal);
  }
  ProcessResult WaitForExit(seconds limit) {
    stopped_ = true;
    return process_->Wait(limit);
  }

 private:
  std::string state_dir_;
  std::unique_ptr<TempDir> logs_;
  std::unique_ptr<Process> process_;
  uint16_t port_ = 0;
  std::string admin_;
  bool stopped_ = false;
};

}  // namespace aimass::testing
