// Alerts and evaluation reports over real HTTP (docs/service.md, "Alerts and evaluation
// reports"): a real server runs real train jobs provoked on purpose (a learning rate that
// explodes, a tiny training set trained for many epochs) and the test asserts the alert in
// GET /api/v1/alerts and in /metrics; a clean run raises none, and its registered version has
// an evaluation report whose confusion matrix counts every test record.
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include "tests/catch.h"

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/service_fixture.h"

namespace aimass::testing {
namespace {

// A train config over the Fashion-MNIST slice (its test split is separate from the training
// records), with the lines that differ per test appended.
std::string AlertsYaml(uint32_t epochs, uint64_t limit, const std::string& optimizer,
                       const std::string& extra, uint32_t log_every = 1) {
  return "model: mlp\n"
         "data:\n"
         "  train: fashion-mnist/train\n"
         "  test: fashion-mnist/test\n"
         "  limit: " + std::to_string(limit) + "\n"
         "  normalize: {scale: 0.00392156862745098, mean: 0.2860, std: 0.3530}\n"
         "training: {epochs: " + std::to_string(epochs) + ", batch_size: 16, seed: 7, log_every: " +
         std::to_string(log_every) + "}\n"
         "optimizer: " + optimizer + "\n"
         "checkpoint: {every_steps: 0, every_seconds: 0}\n"
         "worker: {device: cpu, threads: 1}\n" + extra;
}

json::array AlertsOf(Service& service, int64_t job) {
  return service.Json("GET", "/api/v1/alerts?job=" + std::to_string(job), 200).at("alerts").as_array();
}

// A webhook on a loopback port: answers 503 to the first POST and 200 to the others, and
// keeps the bodies it accepted. Serves one connection at a time until destroyed.
class WebhookReceiver {
 public:
  WebhookReceiver() : acceptor_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this] { Serve(); });
  }
  ~WebhookReceiver() {
    stopping_ = true;
    // A blocking accept is not woken by closing the acceptor: a connection of our own is.
    boost::system::error_code ignored;
    boost::asio::ip::tcp::socket poke(io_);
    poke.connect(acceptor_.local_endpoint(), ignored);
    poke.close(ignored);
    thread_.join();
  }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + "/hook"; }
  std::vector<std::string> Bodies() {
    std::lock_guard<std::mutex> lock(mutex_);
    return bodies_;
  }
  int Requests() const { return requests_; }

 private:
  void Serve() {
    namespace http = boost::beast::http;
    while (!stopping_) {
      boost::system::error_code error;
      boost::asio::ip::tcp::socket socket(io_);
      acceptor_.accept(socket, error);
      if (error || stopping_) return;
      boost::beast::flat_buffer buffer;
      http::request<http::string_body> request;
      http::read(socket, buffer, request, error);
      if (error) continue;
      const bool fail = requests_++ == 0;
      if (!fail) {
        std::lock_guard<std::mutex> lock(mutex_);
        bodies_.push_back(request.body());
      }
      http::response<http::string_body> response{fail ? http::status::service_unavailable : http::status::ok, 11};
      response.body() = "{}";
      response.prepare_payload();
      http::write(socket, response, error);
    }
  }

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::mutex mutex_;
  std::vector<std::string> bodies_;
  std::thread thread_;
};

bool IsFinal(const json::object& job) {
  const std::string state(job.at("state").as_string());
  return state == "succeeded" || state == "failed" || state == "cancelled";
}

}  // namespace

TEST_CASE("service alerts: an exploding learning rate raises divergence, counted in /metrics",
          "[service][alerts]") {
  TempDir dir;
  WebhookReceiver webhook;
  Service service(dir.Path("state"), {"--alert-webhook", webhook.Url()});
  // Four ordinary steps, then lr x 1e8: the loss leaps far above its minimum (or turns NaN and
  // fails the job); either is a divergence.
  const int64_t id = service.Submit(
      "train", AlertsYaml(3, 128, "{name: sgd, lr: 0.05, momentum: 0.9}",
                          "schedule: {name: step, step_size: 4, gamma: 1.0e8}\n"
                          "monitor: {warmup_steps: 2}\n"),
      1, "exploding");
  json::object job = service.WaitForJob(id, IsFinal);
  INFO(json::serialize(job) << "\n" << service.Output());

  json::array alerts = AlertsOf(service, id);
  REQUIRE(alerts.size() == 1);  // once per job, and nothing else
  const json::object& alert = alerts[0].as_object();
  CHECK(alert.at("kind") == "divergence");
  CHECK(alert.at("severity") == "alert");
  CHECK(alert.at("job").as_int64() == id);
  CHECK(alert.at("model") == "exploding");
  CHECK(alert.at("details").is_object());
  CHECK(service.Json("GET", "/api/v1/alerts?kind=divergence", 200).at("total").as_int64() == 1);
  CHECK(service.Json("GET", "/api/v1/alerts?kind=overfitting", 200).at("alerts").as_array().empty());
  CHECK(service.Output().find("alert divergence (alert 1): job " + std::to_string(id)) != std::string::npos);

  // The webhook got it after its first attempt failed (the retry waits 1 s).
  const auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (webhook.Bodies().empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE(webhook.Bodies().size() == 1);
  CHECK(webhook.Requests() == 2);
  json::object delivered = json::parse(webhook.Bodies()[0]).as_object();
  CHECK(delivered.at("kind") == "divergence");
  CHECK(delivered.at("job").as_int64() == id);
  CHECK(delivered.at("id") == alert.at("id"));

  HttpReply metrics = service.Call("GET", "/metrics");
  REQUIRE(metrics.status == 200);
  CHECK(metrics.body.find("aimass_alerts_total{kind=\"divergence\",severity=\"alert\"} 1") != std::string::npos);

  // A bad filter names its key.
  HttpReply bad = service.Call("GET", "/api/v1/alerts?job=seven");
  CHECK(bad.status == 400);
  CHECK(ParseJson(bad).at("error").as_string().find("job") != std::string::npos);
  CHECK(service.Call("GET", "/api/v1/alerts?color=red").status == 400);
}

TEST_CASE("service alerts: a tiny training set trained for many epochs raises overfitting",
          "[service][alerts]") {
  TempDir dir;
  Service service(dir.Path("state"));
  // 32 training records memorized within a few epochs; the test loss (512 other records) then
  // climbs epoch after epoch as the model grows sure of what it memorized.
  const int64_t id = service.Submit(
      "train", AlertsYaml(24, 32, "{name: adam, lr: 0.003}", "monitor: {overfit_evaluations: 3}\n"), 1);
  service.WaitForState(id, "succeeded");
  json::array alerts = AlertsOf(service, id);
  INFO(json::serialize(alerts) << "\n" << json::serialize(service.Json("GET", "/api/v1/jobs/" + std::to_string(id) + "/metrics", 200)));
  REQUIRE(alerts.size() == 1);
  CHECK(alerts[0].at("kind") == "overfitting");
  CHECK(alerts[0].at("subject") == "test_loss");
}

TEST_CASE("service alerts: a clean run raises none and its version has an evaluation report",
          "[service][alerts]") {
  TempDir dir;
  Service service(dir.Path("state"), {"--alert-webhook", "http://127.0.0.1:9/unused"});
  const int64_t id = service.Submit(
      "train", AlertsYaml(2, 256, "{name: sgd, lr: 0.05, momentum: 0.9}", "monitor: {warmup_steps: 8}\n"), 2,
      "clean");
  json::object job = service.WaitForState(id, "succeeded");
  CHECK(AlertsOf(service, id).empty());
  CHECK(service.Json("GET", "/api/v1/alerts", 200).at("total").as_int64() == 0);

  const uint64_t test_records = job.at("summary").at("test_records").to_number<uint64_t>();
  REQUIRE(test_records > 0);
  json::object evaluation = service.Json("GET", "/api/v1/models/clean/versions/1/evaluation", 200).as_object();
  CHECK(evaluation.at("job").as_int64() == id);
  const json::object& report = evaluation.at("report").as_object();
  CHECK(report.at("num_classes").as_int64() == 10);
  CHECK(report.at("epoch").as_int64() == 2);
  CHECK(report.at("records").to_number<uint64_t>() == test_records);
  uint64_t cells = 0;
  uint64_t diagonal = 0;
  const json::array& confusion = report.at("confusion").as_array();
  REQUIRE(confusion.size() == 10);
  for (size_t row = 0; row < confusion.size(); ++row) {
    REQUIRE(confusion[row].as_array().size() == 10);
    for (size_t column = 0; column < 10; ++column) {
      const uint64_t count = confusion[row].as_array()[column].to_number<uint64_t>();
      cells += count;
      if (row == column) diagonal += count;
    }
  }
  CHECK(cells == test_records);  // every test record once, summed over both workers
  // The report's accuracy is the evaluation's own.
  const double accuracy = job.at("summary").at("test_accuracy").to_number<double>();
  CHECK(report.at("accuracy").to_number<double>() == Approx(accuracy).epsilon(1e-9));
  CHECK(static_cast<double>(diagonal) / static_cast<double>(test_records) == Approx(accuracy).epsilon(1e-9));
  CHECK(report.at("classes").as_array().size() == 10);

  // A version without a test split says so; unknown versions are plain 404s.
  const std::string no_test = "model: mlp\ndata:\n  train: fashion-mnist/train\n  limit: 64\n"
                              "training: {epochs: 1, batch_size: 16}\nworker: {device: cpu, threads: 1}\n"
                              "checkpoint: {every_steps: 0, every_seconds: 0}\n";
  const int64_t bare = service.Submit("train", no_test, 1, "clean");
  service.WaitForState(bare, "succeeded");
  HttpReply none = service.Call("GET", "/api/v1/models/clean/versions/2/evaluation");
  CHECK(none.status == 404);
  CHECK(ParseJson(none).at("code") == "no_evaluation");
  CHECK(service.Call("GET", "/api/v1/models/clean/versions/3/evaluation").status == 404);
  CHECK(service.Call("GET", "/api/v1/models/nothing/versions/1/evaluation").status == 404);
}

TEST_CASE("service alerts: a job silent for longer than stall_seconds raises stalled", "[service][alerts]") {
  TempDir dir;
  Service service(dir.Path("state"));
  // The whole training set in one epoch with one step report at its end: seconds without a
  // report, so the monitor's first look (after one second) finds the job silent, however fast
  // the steps are.
  const int64_t id = service.Submit("train",
                                    AlertsYaml(1, 60000, "{name: sgd, lr: 0.05, momentum: 0.9}",
                                               "monitor: {stall_seconds: 0.001}\n", /*log_every=*/1000000),
                                    1);
  service.WaitForState(id, "succeeded");
  json::array alerts = AlertsOf(service, id);
  REQUIRE(alerts.size() == 1);
  CHECK(alerts[0].at("kind") == "stalled");
  CHECK(alerts[0].at("subject") == "throughput");
}

TEST_CASE("service alerts: a webhook URL that is not http(s) stops the server at start", "[service][alerts]") {
  TempDir dir;
  ProcessResult result = Run({CoordinatorBinary(), "serve", "--state-dir", dir.Path("state"), "--listen",
                              "127.0.0.1:0", "--alert-webhook", "ftp://hooks.example/x"},
                             dir.path(), seconds(60));
  CHECK(result.exit_code == 1);
  CHECK(result.err.find("--alert-webhook: use an http:// or https:// URL") !=
        std::string::npos);
}

}  // namespace aimass::testing
