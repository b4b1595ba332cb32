#include "tests/catch.h"

#include <boost/asio.hpp>
#include <thread>

#include "common/aimass.pb.h"
#include "common/config/train_spec_codec.h"
#include "common/net/frame.h"
#include "common/net/message_codec.h"

namespace aimass {
namespace {

proto::CoordinatorMessage SamplePlan() {
  proto::CoordinatorMessage message;
  auto* plan = message.mutable_epoch_plan();
  plan->set_epoch(3);
  plan->set_start_step(7);
  plan->set_steps(469);
  plan->set_samples(30000);
  plan->set_samples_per_step(64);
  plan->set_seed(42);
  plan->set_shuffle(true);
  plan->set_shuffle_window(1 << 18);
  plan->set_workers(2);
  for (uint32_t i = 0; i < 1000; ++i) plan->add_split_order((i * 17) % 1000);
  return message;
}

TEST_CASE("a frame round-trips a message exactly", "[proto]") {
  proto::CoordinatorMessage sent = SamplePlan();
  auto frame = net::EncodeFrame(sent);
  REQUIRE(frame.ok());
  auto size = net::DecodeFrameHeader(reinterpret_cast<const unsigned char*>(frame->data()));
  REQUIRE(size.ok());
  REQUIRE(*size + net::kFrameHeaderBytes == frame->size());
  proto::CoordinatorMessage received;
  REQUIRE(net::DecodeFrameBody(frame->substr(net::kFrameHeaderBytes), &received).ok());
  CHECK(received.SerializeAsString() == sent.SerializeAsString());
  CHECK(received.epoch_plan().split_order(999) == (999u * 17) % 1000);
}

TEST_CASE("oversized and malformed frames are refused", "[proto]") {
  const unsigned char huge[4] = {0xff, 0xff, 0xff, 0x7f};
  auto size = net::DecodeFrameHeader(huge);
  REQUIRE_FALSE(size.ok());
  CHECK(size.status().message().find("over the limit") != std::string::npos);
  CHECK(size.status().IsCorruption());

  proto::WorkerMessage message;
  Status parsed = net::DecodeFrameBody(std::string("\xff\xff\xff", 3), &message);
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.message().find("malformed aimass.proto.WorkerMessage") != std::string::npos);
  CHECK(parsed.IsCorruption());
}

TEST_CASE("a TrainConfig survives the trip through a TrainSpec", "[proto]") {
  TrainConfig config;
  config.model.name = "resnet";
  config.model.input_shape = {1, 28, 28};
  config.optimizer.name = "adamw";
  config.optimizer.lr = 0.003;
  config.optimizer.beta2 = 0.98;
  config.schedule.name = "step";
  config.schedule.step_size = 77;
  config.schedule.gamma = 0.5;
  config.data.normalize.mean = 0.286f;
  config.data.cache_bytes = 123456789;
  config.batch_size = 48;
  config.grad_accumulation = 3;
  config.seed = 1234567890123ull;
  config.checkpoint.every_steps = 250;
  config.checkpoint.every_seconds = 45.5;
  config.worker.backend = "nccl";
  config.gradient_sync.bucket_mb = 0.25;
  config.gradient_sync.overlap = "false";
  config.gradient_sync.compression = "fp16";
  config.run_dir = "/runs/a";

  proto::TrainSpec spec;
  EncodeTrainConfig(config, &spec);
  proto::TrainSpec reparsed;
  REQUIRE(reparsed.ParseFromString(spec.SerializeAsString()));
  TrainConfig back = DecodeTrainConfig(reparsed);
  CHECK(back.model.name == "resnet");
  CHECK(back.model.input_shape == config.model.input_shape);
  CHECK(back.optimizer.name == "adamw");
  CHECK(back.optimizer.lr == 0.003);
  CHECK(back.optimizer.beta2 == 0.98);
  CHECK(back.schedule.name == "step");
  CHECK(back.schedule.step_size == 77);
  CHECK(back.schedule.gamma == 0.5);
  CHECK(back.data.normalize.mean == 0.286f);
  CHECK(back.data.cache_bytes == 123456789u);
  CHECK(back.batch_size == 48);
  CHECK(back.grad_accumulation == 3);
  CHECK(back.seed == 1234567890123ull);
  CHECK(back.checkpoint.every_steps == 250);
  CHECK(back.checkpoint.every_seconds == 45.5);
  CHECK(back.worker.backend == "nccl");
  CHECK(back.gradient_sync.bucket_mb == 0.25);
  CHECK(back.gradient_sync.overlap == "false");
  CHECK(back.gradient_sync.compression == "fp16");
  CHECK(back.run_dir == "/runs/a");
}

TEST_CASE("messages cross a real TCP connection in order", "[proto]") {
  namespace asio = boost::asio;
  using asio::ip::tcp;
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  tcp::socket server(io);
  std::thread accept([&] { acceptor.accept(server); });
  tcp::socket client(io);
  client.connect(acceptor.local_endpoint());
  accept.join();

  proto::WorkerMessage hello;
  hello.mutable_hello()->set_rank(1);
  hello.mutable_hello()->set_host("node-7");
  REQUIRE(net::WriteMessage(client, hello).ok());
  proto::WorkerMessage metrics;
  metrics.mutable_step_metrics()->set_loss(0.25);
  REQUIRE(net::WriteMessage(client, metrics).ok());

  proto::WorkerMessage first, second;
  REQUIRE(net::ReadMessage(server, &first).ok());
  REQUIRE(net::ReadMessage(server, &second).ok());
  CHECK(first.hello().host() == "node-7");
  CHECK(second.step_metrics().loss() == 0.25);

  client.close();
  proto::WorkerMessage none;
  Status closed = net::ReadMessage(server, &none);
  REQUIRE_FALSE(closed.ok());
  CHECK(closed.message().rfind("connection closed", 0) == 0);
  CHECK(closed.IsUnavailable());
}

}  // namespace
}  // namespace aimass
