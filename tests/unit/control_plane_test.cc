// The coordinator's hub and the workers' client, talking over loopback inside one process.
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <set>

#include "common/aimass.pb.h"
#include "coordinator/worker_hub.h"
#include "worker/control_client.h"

namespace aimass {
namespace {

using coordinator::HubEvent;
using coordinator::WorkerHub;
using worker::ControlClient;

std::unique_ptr<WorkerHub> StartHub() {
  auto hub = WorkerHub::Start("127.0.0.1", 0);
  REQUIRE(hub.ok());
  return std::move(hub).value();
}

HubEvent NextEvent(WorkerHub& hub) {
  auto event = hub.NextEvent(std::chrono::seconds(10));
  REQUIRE(event.has_value());
  return *event;
}

struct LostLog {
  std::mutex mutex;
  std::vector<std::string> reasons;
  ControlClient::LostHandler Handler() {
    return [this](const std::string& reason, bool aborted) {
      std::lock_guard<std::mutex> lock(mutex);
      reasons.push_back((aborted ? "aborted: " : "lost: ") + reason);
    };
  }
};

// A client connected to `hub` that has said hello as `rank`.
std::unique_ptr<ControlClient> Greet(WorkerHub& hub, LostLog& lost, uint32_t rank) {
  auto client = ControlClient::Connect("127.0.0.1:" + std::to_string(hub.port()),
                                       std::chrono::seconds(5), lost.Handler());
  REQUIRE(client.ok());
  proto::WorkerMessage hello;
  hello.mutable_hello()->set_rank(rank);
  REQUIRE((*client)->Send(hello).ok());
  return std::move(client).value();
}

TEST_CASE("workers say hello and receive their plans", "[control]") {
  auto hub = StartHub();
  LostLog lost;
  std::vector<std::unique_ptr<ControlClient>> clients;
  for (uint32_t rank = 0; rank < 3; ++rank) clients.push_back(Greet(*hub, lost, rank));

  std::map<uint32_t, coordinator::ConnectionId> connection_of_rank;
  for (int i = 0; i < 3; ++i) {
    HubEvent event = NextEvent(*hub);
    REQUIRE(event.kind == HubEvent::Kind::kMessage);
    REQUIRE(event.message->has_hello());
    connection_of_rank[event.message->hello().rank()] = event.connection;
  }
  REQUIRE(connection_of_rank.size() == 3);

  for (uint32_t rank = 0; rank < 3; ++rank) {
    proto::CoordinatorMessage plan;
    plan.mutable_epoch_plan()->set_epoch(rank + 10);
    REQUIRE(hub->Send(connection_of_rank[rank], plan).ok());
  }
  for (uint32_t rank = 0; rank < 3; ++rank) {
    auto message = clients[rank]->Receive(std::chrono::seconds(10));
    REQUIRE(message.ok());
    CHECK((*message)->epoch_plan().epoch() == rank + 10);
  }
  CHECK(lost.reasons.empty());
}

TEST_CASE("a worker that goes away is reported as disconnected", "[control]") {
  auto hub = StartHub();
  LostLog lost;
  auto client = Greet(*hub, lost, 0);
  HubEvent first = NextEvent(*hub);
  REQUIRE(first.kind == HubEvent::Kind::kMessage);

  client.reset();
  HubEvent gone = NextEvent(*hub);
  CHECK(gone.kind == HubEvent::Kind::kDisconnected);
  CHECK(gone.connection == first.connection);
  CHECK(gone.reason == "connection closed");
}

TEST_CASE("an abort from the coordinator reaches the worker's handler", "[control]") {
  auto hub = StartHub();
  LostLog lost;
  auto client = Greet(*hub, lost, 0);
  HubEvent event = NextEvent(*hub);

  proto::CoordinatorMessage abort;
  abort.mutable_shutdown()->set_abort(true);
  abort.mutable_shutdown()->set_reason("worker rank 1 died");
  REQUIRE(hub->Send(event.connection, abort).ok());
  auto received = client->Receive(std::chrono::seconds(10));
  REQUIRE(received.ok());
  CHECK((*received)->shutdown().abort());
  std::lock_guard<std::mutex> lock(lost.mutex);
  REQUIRE(lost.reasons.size() == 1);
  CHECK(lost.reasons[0] == "aborted: job aborted by the coordinator: worker rank 1 died");
}

TEST_CASE("connecting to nobody fails within the timeout", "[control]") {
  auto hub = StartHub();
  uint16_t unused_port = hub->port();
  hub.reset();  // the port is closed again
  auto start = std::chrono::steady_clock::now();
  auto client = ControlClient::Connect("127.0.0.1:" + std::to_string(unused_port),
                                       std::chrono::seconds(1), nullptr);
  REQUIRE_FALSE(client.ok());
  CHECK(client.status().message().find("cannot reach the coordinator") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

TEST_CASE("heartbeats carry the worker's step", "[control]") {
  auto hub = StartHub();
  auto client = ControlClient::Connect("127.0.0.1:" + std::to_string(hub->port()),
                                       std::chrono::seconds(5), nullptr);
  REQUIRE(client.ok());
  (*client)->SetProgress(42);
  (*client)->StartHeartbeat(std::chrono::milliseconds(100));
  HubEvent event = NextEvent(*hub);
  REQUIRE(event.kind == HubEvent::Kind::kMessage);
  REQUIRE(event.message->has_heartbeat());
  CHECK(event.message->heartbeat().step() == 42);
}

}  // namespace
}  // namespace aimass
