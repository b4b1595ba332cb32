// Online serving's parts that need no model: the dynamic batcher (batches fill to the size,
// wait at most the delay, the queue is bounded, expired requests are answered, a failed
// replica's requests go back to the front), the predict body's parser, and the serving config.
#include <boost/json.hpp>
#include "tests/catch.h"

#include <atomic>
#include <chrono>
#include <thread>

#include "coordinator/service/http/http_server.h"
#include "coordinator/service/serving/dynamic_batcher.h"
#include "coordinator/service/serving/serving_config.h"
#include "coordinator/service/serving/serving_routes.h"

namespace aimass::service {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

struct Outcome {
  std::atomic<int> calls{0};
  StatusCode code = StatusCode::kOk;
};

std::shared_ptr<PendingPrediction> Request(uint32_t rows, std::shared_ptr<Outcome> outcome,
                                           milliseconds timeout = milliseconds(10000)) {
  auto request = std::make_shared<PendingPrediction>();
  request->rows = rows;
  request->features.assign(rows * 2, 1.0f);
  request->enqueued = Clock::now();
  request->deadline = request->enqueued + timeout;
  request->done = [outcome](Result<PredictionScores> scores) {
    outcome->code = scores.ok() ? StatusCode::kOk : scores.status().code();
    ++outcome->calls;
  };
  return request;
}

TEST_CASE("batcher: a full batch goes at once; a partial one after max_delay", "[serving]") {
  BatcherOptions options;
  options.max_batch_size = 4;
  options.max_delay = milliseconds(200);
  DynamicBatcher batcher(options);
  auto outcome = std::make_shared<Outcome>();
  for (int i = 0; i < 5; ++i) REQUIRE(batcher.Enqueue(Request(1, outcome)).ok());
  const auto started = Clock::now();
  auto first = batcher.NextBatch(milliseconds(1000));
  CHECK(first.size() == 4);
  CHECK(Clock::now() - started < milliseconds(150));  // full: not held for the delay
  auto second = batcher.NextBatch(milliseconds(1000));
  CHECK(second.size() == 1);
  CHECK(Clock::now() - started >= milliseconds(190));  // alone: held up to the delay to fill
  CHECK(batcher.NextBatch(milliseconds(50)).empty());
  CHECK(outcome->calls == 0);  // the batcher answers nothing it hands out
}

TEST_CASE("batcher: a request larger than the batch is a batch of its own, and batches keep "
          "requests whole", "[serving]") {
  BatcherOptions options;
  options.max_batch_size = 4;
  options.max_delay = milliseconds(0);
  DynamicBatcher batcher(options);
  auto outcome = std::make_shared<Outcome>();
  REQUIRE(batcher.Enqueue(Request(3, outcome)).ok());
  REQUIRE(batcher.Enqueue(Request(3, outcome)).ok());
  REQUIRE(batcher.Enqueue(Request(9, outcome)).ok());
  CHECK(batcher.NextBatch(milliseconds(100)).size() == 1);  // 3 + 3 > 4
  CHECK(batcher.NextBatch(milliseconds(100)).size() == 1);
  auto big = batcher.NextBatch(milliseconds(100));
  REQUIRE(big.size() == 1);
  CHECK(big[0]->rows == 9);
}

TEST_CASE("batcher: the queue is bounded; what does not fit is refused at once", "[serving]") {
  BatcherOptions options;
  options.max_queued_records = 3;
  DynamicBatcher batcher(options);
  auto outcome = std::make_shared<Outcome>();
  REQUIRE(batcher.Enqueue(Request(2, outcome)).ok());
  REQUIRE(batcher.Enqueue(Request(1, outcome)).ok());
  Status refused = batcher.Enqueue(Request(1, outcome));
  CHECK(refused.code() == StatusCode::kResourceExhausted);
  CHECK(batcher.queued_records() == 3);
  CHECK(outcome->calls == 0);  // a refused request is the caller's to answer
  // Room again once a batch is taken.
  CHECK(batcher.NextBatch(milliseconds(100)).size() == 2);
  CHECK(batcher.Enqueue(Request(3, outcome)).ok());
}

TEST_CASE("batcher: a request past its deadline is answered, not batched", "[serving]") {
  DynamicBatcher batcher(BatcherOptions{});
  auto late = std::make_shared<Outcome>();
  auto fine = std::make_shared<Outcome>();
  REQUIRE(batcher.Enqueue(Request(1, late, milliseconds(1))).ok());
  REQUIRE(batcher.Enqueue(Request(1, fine)).ok());
  std::this_thread::sleep_for(milliseconds(20));
  auto batch = batcher.NextBatch(milliseconds(100));
  REQUIRE(batch.size() == 1);
  CHECK(late->calls == 1);
  CHECK(late->code == StatusCode::kDeadlineExceeded);
  CHECK(fine->calls == 0);
}

TEST_CASE("batcher: requeued requests come first; close answers everything once", "[serving]") {
  BatcherOptions options;
  options.max_batch_size = 1;
  options.max_delay = milliseconds(0);
  DynamicBatcher batcher(options);
  auto first = std::make_shared<Outcome>();
  auto second = std::make_shared<Outcome>();
  REQUIRE(batcher.Enqueue(Request(1, first)).ok());
  REQUIRE(batcher.Enqueue(Request(1, second)).ok());
  auto taken = batcher.NextBatch(milliseconds(100));
  REQUIRE(taken.size() == 1);
  batcher.Requeue(taken);  // its replica died
  auto again = batcher.NextBatch(milliseconds(100));
  REQUIRE(again.size() == 1);
  CHECK(again[0] == taken[0]);
  batcher.Requeue(again);
  batcher.Close(Status::Unavailable("stopping"));
  CHECK(first->calls == 1);
  CHECK(first->code == StatusCode::kUnavailable);
  CHECK(second->calls == 1);
  CHECK(batcher.Enqueue(Request(1, first)).code() == StatusCode::kUnavailable);
  CHECK(batcher.NextBatch(milliseconds(10)).empty());
}

TEST_CASE("batcher: a waiting NextBatch wakes for a request from another thread", "[serving]") {
  BatcherOptions options;
  options.max_batch_size = 1;
  DynamicBatcher batcher(options);
  auto outcome = std::make_shared<Outcome>();
  std::thread producer([&] {
    std::this_thread::sleep_for(milliseconds(50));
    REQUIRE(batcher.Enqueue(Request(1, outcome)).ok());
  });
  auto batch = batcher.NextBatch(milliseconds(5000));
  producer.join();
  CHECK(batch.size() == 1);
}

TEST_CASE("predict body: instances, nested instances and named records", "[serving]") {
  uint32_t rows = 0;
  auto flat = PredictFeatures(R"({"instances": [[1, 2, 3, 4], [5, 6.5, 7, 8]]})", 4, {}, &rows);
  REQUIRE(flat.ok());
  CHECK(rows == 2);
  CHECK(*flat == std::vector<float>{1, 2, 3, 4, 5, 6.5f, 7, 8});
  auto nested = PredictFeatures(R"({"instances": [[[1, 2], [3, 4]]]})", 4, {}, &rows);
  REQUIRE(nested.ok());
  CHECK(rows == 1);
  CHECK(*nested == std::vector<float>{1, 2, 3, 4});
  auto named = PredictFeatures(R"({"records": [{"b": 2, "a": 1, "extra": "x"}]})", 2, {"a", "b"}, &rows);
  REQUIRE(named.ok());
  CHECK(*named == std::vector<float>{1, 2});
}

TEST_CASE("predict body: each mistake is one error naming the record and column", "[serving]") {
  uint32_t rows = 0;
  auto error = [&](const std::string& body, std::vector<std::string> columns = {"a", "b"}) {
    auto parsed = PredictFeatures(body, 2, columns, &rows);
    REQUIRE_FALSE(parsed.ok());
    return parsed.status();
  };
  CHECK(error("{").message().find("not JSON") != std::string::npos);
  CHECK(error("[]").message().find("JSON object") != std::string::npos);
  CHECK(error(R"({"inputs": []})").message().find("'inputs'") != std::string::npos);
  CHECK(error(R"({"instances": [[1,2]], "records": []})").message().find("one of them") != std::string::npos);
  CHECK(error(R"({"instances": []})").message().find("non-empty") != std::string::npos);
  CHECK(error(R"({"instances": [[1, 2], [1, 2, 3]]})").message() == "instances[1]: 3 values; the model takes 2");
  CHECK(error(R"({"instances": [[1, "x"]]})").message() == "instances[0]: not a number");
  CHECK(error(R"({"records": [{"a": 1, "b": 2}, {"a": 1}]})").message() == "records[1]: column 'b' is missing");
  CHECK(error(R"({"records": [{"a": 1, "b": true}]})").message() == "records[0].b: not a number");
  CHECK(error(R"({"records": [{"a": 1, "b": 2}]})", {}).code() == StatusCode::kFailedPrecondition);
  CHECK(error(R"({"instances": [[1, 1e39]]})").message().find("not finite") != std::string::npos);
}

TEST_CASE("serving config: defaults, every key, and refusals naming the key", "[serving]") {
  auto parse = [](const std::string& text) {
    return ParseServingConfig(boost::json::parse(text).as_object());
  };
  auto defaults = parse("{}");
  REQUIRE(defaults.ok());
  CHECK(defaults->alias == "production");
  CHECK(defaults->replicas == 1);
  CHECK(defaults->max_batch_size == 32);
  CHECK(defaults->drift_window == 1000);
  CHECK(defaults->drift_window_seconds == 300);
  auto full = parse(R"({"alias": "staging", "replicas": 2, "device": "cuda", "threads": 4,
                        "max_batch_size": 64, "max_delay_ms": 2, "max_queue": 100,
                        "scores": "softmax", "timeout_ms": 500, "drift_window": 0,
                        "drift_window_seconds": 60})");
  REQUIRE(full.ok());
  CHECK(full->device == "cuda");
  CHECK(full->max_queue == 100);
  CHECK(full->drift_window == 0);
  CHECK(full->drift_window_seconds == 60);
  auto round_trip = ParseServingConfig(ServingConfigJson(*full));
  REQUIRE(round_trip.ok());
  CHECK(*round_trip == *full);
  CHECK(parse(R"({"replicas": 0})").status().message() == "replicas: must be 1 to 64");
  CHECK(parse(R"({"device": "tpu"})").status().message() == "device: must be one of auto, cpu, cuda");
  CHECK(parse(R"({"max_batch_size": "big"})").status().message() == "max_batch_size: must be an integer");
  CHECK(parse(R"({"alias": "a/b"})").status().message().find("alias") == 0);
  CHECK(parse(R"({"drift_window_seconds": 0})").status().message() == "drift_window_seconds: must be 1 to 86400");
  CHECK(parse(R"({"batch": 3})").status().message() == "unknown key 'batch' in the serving config");
}

}  // namespace
}  // namespace aimass::service
