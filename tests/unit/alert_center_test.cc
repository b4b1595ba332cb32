// The alert center and its store: an alert is stored (and seen by a reopened store), counted in
// /metrics, filtered by the API's filters, and delivered to a webhook (a local HTTP receiver)
// after a failing first attempt, or given up after N attempts with a logged line; a full
// queue drops deliveries without blocking Raise. Also the webhook URL's validation.
#include "tests/catch.h"

#include <boost/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "coordinator/service/http/http_server.h"
#include "coordinator/service/monitor/alert_center.h"
#include "coordinator/service/monitor/alert_store.h"
#include "coordinator/service/monitor/webhook_client.h"
#include "tests/temp_dir.h"

namespace aimass::service {
namespace {

using aimass::testing::TempDir;
namespace json = boost::json;

std::unique_ptr<StateStore> OpenStore(const TempDir& dir) {
  auto store = StateStore::Open(dir.path() + "/state");
  INFO(store.status().message());
  REQUIRE(store.ok());
  return std::move(store).value();
}

Alert Divergence(int64_t job) {
  Alert alert;
  alert.kind = "divergence";
  alert.job_id = job;
  alert.model = "fashion";
  alert.subject = "loss";
  alert.message = "training diverged";
  alert.details_json = "{\"step\":12}";
  return alert;
}

std::vector<AlertRecord> ListAll(SharedStore& store, AlertFilter filter = {}) {
  auto listed = store.With([&](StateStore& state) { return AlertStore(state.database()).List(filter); });
  REQUIRE(listed.ok());
  return *listed;
}

// A log file the test reads back.
struct CapturedLog {
  std::FILE* file = std::tmpfile();
  ~CapturedLog() { std::fclose(file); }
  std::string Text() {
    std::fflush(file);
    std::rewind(file);
    std::string text;
    char buffer[4096];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) text.append(buffer, n);
    return text;
  }
};

template <class Predicate>
bool WaitFor(Predicate predicate, std::chrono::seconds limit = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!predicate()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

TEST_CASE("alerts are stored, listed by filter and kept by a reopened store", "[alerts]") {
  TempDir dir;
  {
    SharedStore store(OpenStore(dir));
    ServiceMetrics metrics;
    CapturedLog log;
    AlertCenterOptions options;
    options.log = log.file;
    options.clock = [] { return int64_t{1700000000000}; };
    AlertCenter center(options, store, metrics);
    center.Raise(Divergence(1));
    Alert overfit = Divergence(2);
    overfit.kind = "overfitting";
    overfit.severity = AlertSeverity::kWarning;
    overfit.model = "other";
    center.Raise(overfit);
    Alert drift;
    drift.kind = "drift";
    drift.message = "feature p0 drifted";
    center.Raise(drift);

    const std::string text = metrics.Render({});
    CHECK(text.find("aimass_alerts_total{kind=\"divergence\",severity=\"alert\"} 1") != std::string::npos);
    CHECK(text.find("aimass_alerts_total{kind=\"overfitting\",severity=\"warning\"} 1") != std::string::npos);
    CHECK(log.Text().find("alert divergence (alert 1): job 1: training diverged") != std::string::npos);
  }
  SharedStore reopened(OpenStore(dir));
  auto all = ListAll(reopened);
  REQUIRE(all.size() == 3);
  CHECK(all[0].alert.kind == "drift");  // newest first
  CHECK_FALSE(all[0].alert.job_id.has_value());
  CHECK(all[2].id == 1);
  CHECK(all[2].at_ms == 1700000000000);
  CHECK(all[2].alert.job_id == std::optional<int64_t>(1));
  CHECK(all[2].alert.model == "fashion");
  CHECK(all[2].alert.subject == "loss");
  CHECK(all[2].alert.details_json == "{\"step\":12}");
  CHECK(all[1].alert.severity == AlertSeverity::kWarning);

  AlertFilter by_job;
  by_job.job_id = 2;
  CHECK(ListAll(reopened, by_job).size() == 1);
  AlertFilter by_model;
  by_model.model = "fashion";
  CHECK(ListAll(reopened, by_model).size() == 1);
  AlertFilter by_kind;
  by_kind.kind = "drift";
  CHECK(ListAll(reopened, by_kind).size() == 1);
  AlertFilter limited;
  limited.limit = 2;
  CHECK(ListAll(reopened, limited).size() == 2);
  auto count = reopened.With([](StateStore& state) { return AlertStore(state.database()).Count(); });
  REQUIRE(count.ok());
  CHECK(*count == 3);
}

TEST_CASE("a failed alert insert leaves nothing behind", "[alerts]") {
  TempDir dir;
  SharedStore store(OpenStore(dir));
  Status failed = store.With([](StateStore& state) {
    return state.database().InTransaction([&]() -> Status {
      auto inserted = AlertStore(state.database()).Insert(Divergence(1), 5);
      (void)inserted;
      return Status::Error("abandoned");
    });
  });
  // A nested transaction is refused, or the outer one rolls back: either way no row is left.
  CHECK_FALSE(failed.ok());
  CHECK(ListAll(store).empty());
}

// A webhook receiver: answers 500 to the first `failures` requests, 200 after; keeps bodies.
struct Receiver {
  explicit Receiver(int failures_first) : failures(failures_first) {
    http::ServerOptions options;
    options.port = 0;
    auto started = http::Server::Start(options, [this](const http::Request& request) {
      std::lock_guard<std::mutex> lock(mutex);
      http::Response response;
      response.body = "{}";
      if (request.method != "POST" || request.path != "/hook") {
        response.status = 404;
        return response;
      }
      ++requests;
      if (failures > 0) {
        --failures;
        response.status = 500;
        return response;
      }
      bodies.push_back(request.body);
      return response;
    });
    REQUIRE(started.ok());
    server = std::move(started).value();
  }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(server->port()) + "/hook"; }
  int Requests() {
    std::lock_guard<std::mutex> lock(mutex);
    return requests;
  }
  std::vector<std::string> Bodies() {
    std::lock_guard<std::mutex> lock(mutex);
    return bodies;
  }

  std::mutex mutex;
  int failures;
  int requests = 0;
  std::vector<std::string> bodies;
  std::unique_ptr<http::Server> server;
};

AlertCenterOptions WebhookOptions(const std::string& url, std::FILE* log) {
  AlertCenterOptions options;
  auto parsed = ParseWebhookUrl(url);
  REQUIRE(parsed.ok());
  options.webhook = *parsed;
  options.first_backoff = std::chrono::milliseconds(10);
  options.max_backoff = std::chrono::milliseconds(40);
  options.attempt_timeout = std::chrono::milliseconds(5000);
  options.max_attempts = 3;
  options.log = log;
  options.clock = [] { return int64_t{1700000000000}; };
  return options;
}

TEST_CASE("the webhook gets the alert after a failing first attempt", "[alerts][webhook]") {
  TempDir dir;
  SharedStore store(OpenStore(dir));
  ServiceMetrics metrics;
  CapturedLog log;
  Receiver receiver(/*failures_first=*/1);
  AlertCenter center(WebhookOptions(receiver.Url(), log.file), store, metrics);
  center.Raise(Divergence(4));
  REQUIRE(WaitFor([&] { return receiver.Bodies().size() == 1; }));
  CHECK(receiver.Requests() == 2);
  json::value payload = json::parse(receiver.Bodies()[0]);
  const json::object& alert = payload.as_object();
  CHECK(alert.at("id").as_int64() == 1);
  CHECK(alert.at("kind").as_string() == "divergence");
  CHECK(alert.at("severity").as_string() == "alert");
  CHECK(alert.at("job").as_int64() == 4);
  CHECK(alert.at("model").as_string() == "fashion");
  CHECK(alert.at("version").is_null());
  CHECK(alert.at("subject").as_string() == "loss");
  CHECK(alert.at("message").as_string() == "training diverged");
  CHECK(alert.at("details").as_object().at("step").as_int64() == 12);
  CHECK(alert.at("at").as_string() == "2023-11-14T22:13:20.000Z");
  center.Stop();
  CHECK(log.Text().find("alert 1 delivered at attempt 2") != std::string::npos);
}

TEST_CASE("a webhook that keeps failing is given up after N attempts with a logged line",
          "[alerts][webhook]") {
  TempDir dir;
  SharedStore store(OpenStore(dir));
  ServiceMetrics metrics;
  CapturedLog log;
  Receiver receiver(/*failures_first=*/1000);
  AlertCenter center(WebhookOptions(receiver.Url(), log.file), store, metrics);
  center.Raise(Divergence(4));
  REQUIRE(WaitFor([&] { return log.Text().find("giving up alert 1 after 3 attempts") != std::string::npos; }));
  CHECK(receiver.Requests() == 3);
  CHECK(log.Text().find("answered 500") != std::string::npos);
  CHECK(ListAll(store).size() == 1);  // stored all the same
}

TEST_CASE("a full delivery queue drops deliveries, never blocks Raise", "[alerts][webhook]") {
  TempDir dir;
  SharedStore store(OpenStore(dir));
  ServiceMetrics metrics;
  CapturedLog log;
  AlertCenterOptions options = WebhookOptions("http://127.0.0.1:9/hook", log.file);
  options.queue_capacity = 2;
  // A webhook that hangs until released: the first delivery holds the sender.
  std::mutex mutex;
  std::condition_variable released;
  bool release = false;
  std::atomic<int> attempts{0};
  options.post = [&](const WebhookUrl&, const std::string&, std::chrono::milliseconds) {
    ++attempts;
    std::unique_lock<std::mutex> lock(mutex);
    released.wait(lock, [&] { return release; });
    return Status::Ok();
  };
  AlertCenter center(options, store, metrics);
  center.Raise(Divergence(1));
  REQUIRE(WaitFor([&] { return attempts.load() == 1; }));  // taken off the queue, hanging
  for (int job = 2; job <= 5; ++job) center.Raise(Divergence(job));  // 2 queued, 2 dropped
  CHECK(ListAll(store).size() == 5);
  CHECK(log.Text().find("the delivery queue is full (2 alerts): alert 4 is not delivered") != std::string::npos);
  CHECK(log.Text().find("alert 5 is not delivered") != std::string::npos);
  {
    std::lock_guard<std::mutex> lock(mutex);
    release = true;
  }
  released.notify_all();
  REQUIRE(WaitFor([&] { return attempts.load() == 3; }));
  center.Stop();
  CHECK(attempts.load() == 3);
}

TEST_CASE("a webhook attempt is bounded by its timeout", "[alerts][webhook]") {
  // A server that accepts the request and never answers.
  http::ServerOptions options;
  options.port = 0;
  std::mutex mutex;
  std::condition_variable released;
  bool release = false;
  auto server = http::Server::Start(options, [&](const http::Request&) {
    std::unique_lock<std::mutex> lock(mutex);
    released.wait_for(lock, std::chrono::seconds(30), [&] { return release; });
    return http::Response{};
  });
  REQUIRE(server.ok());
  auto url = ParseWebhookUrl("http://127.0.0.1:" + std::to_string((*server)->port()) + "/slow");
  REQUIRE(url.ok());
  Status posted = PostJson(*url, "{}", std::chrono::milliseconds(200));
  CHECK(posted.code() == StatusCode::kDeadlineExceeded);
  {
    std::lock_guard<std::mutex> lock(mutex);
    release = true;
  }
  released.notify_all();
}

TEST_CASE("an https webhook whose certificate the system does not trust is refused", "[alerts][webhook]") {
  TempDir dir;
  const std::string cert = dir.path() + "/cert.pem", key = dir.path() + "/key.pem";
  const std::string command = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout " +
                              key + " -out " + cert + " >/dev/null 2>&1";
  REQUIRE(std::system(command.c_str()) == 0);
  http::ServerOptions options;
  options.port = 0;
  options.tls_cert_file = cert;
  options.tls_key_file = key;
  std::atomic<int> reached{0};
  auto server = http::Server::Start(options, [&](const http::Request&) {
    ++reached;
    return http::Response{};
  });
  REQUIRE(server.ok());
  auto url = ParseWebhookUrl("https://localhost:" + std::to_string((*server)->port()) + "/hook");
  REQUIRE(url.ok());
  Status posted = PostJson(*url, "{}", std::chrono::milliseconds(5000));
  CHECK(posted.code() == StatusCode::kUnavailable);
  CHECK(posted.message().find("TLS handshake") != std::string::npos);
  CHECK(reached.load() == 0);  // the alert never left for an unverified server
}

TEST_CASE("webhook messages name scheme, host and port only, never the path or query", "[alerts][webhook]") {
  // Finding 9 of the second hardening round: the URL's path token and query secret were logged.
  http::ServerOptions options;
  options.port = 0;
  auto server = http::Server::Start(options, [](const http::Request&) {
    http::Response answer;
    answer.status = 500;
    return answer;
  });
  REQUIRE(server.ok());
  const std::string origin = "http://127.0.0.1:" + std::to_string((*server)->port());
  auto url = ParseWebhookUrl(origin + "/hooks/T0KEN-IN-PATH?secret=QUERY-SECRET");
  REQUIRE(url.ok());
  CHECK(url->shown == origin);
  Status posted = PostJson(*url, "{}", std::chrono::milliseconds(5000));
  REQUIRE_FALSE(posted.ok());
  CHECK(posted.message().find(origin) != std::string::npos);
  CHECK(posted.message().find("T0KEN-IN-PATH") == std::string::npos);
  CHECK(posted.message().find("QUERY-SECRET") == std::string::npos);
  auto refused = ParseWebhookUrl("http://h:0/T0KEN-IN-PATH?secret=QUERY-SECRET");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().message().find("QUERY-SECRET") == std::string::npos);
  CHECK(ParseWebhookUrl("https://[::1]:9443/x").value().shown == "https://[::1]:9443");
}

TEST_CASE("webhook URLs: http and https with host, port and path; anything else is refused", "[alerts]") {
  auto plain = ParseWebhookUrl("http://hooks.example:8080/alerts?team=ml");
  REQUIRE(plain.ok());
  CHECK_FALSE(plain->https);
  CHECK(plain->host == "hooks.example");
  CHECK(plain->port == 8080);
  CHECK(plain->target == "/alerts?team=ml");
  auto secure = ParseWebhookUrl("https://hooks.example");
  REQUIRE(secure.ok());
  CHECK(secure->https);
  CHECK(secure->port == 443);
  CHECK(secure->target == "/");
  auto ipv6 = ParseWebhookUrl("http://[::1]:9000/h");
  REQUIRE(ipv6.ok());
  CHECK(ipv6->host == "::1");
  CHECK(ipv6->port == 9000);
  for (const char* bad : {"ftp://h/x", "hooks.example/x", "http://", "http://:80/x", "http://h:0/",
                          "http://h:99999/", "http://h:/x", "http://user@h/", "http://h/a b", "http://h/#x",
                          "http://[::1/x"}) {
    auto refused = ParseWebhookUrl(bad);
    INFO(bad);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.status().code() == StatusCode::kInvalidArgument);
    CHECK(refused.status().message().find("--alert-webhook") != std::string::npos);
  }
}

}  // namespace
}  // namespace aimass::service
