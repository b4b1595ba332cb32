// In-process workers for coordinator tests: one thread per rank instead of one process, and a
// control-plane client that has said hello, so a test can play any worker's part.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/aimass.pb.h"
#include "coordinator/launch/worker_launcher.h"
#include "worker/control_client.h"

namespace aimass::testing {

// Runs one function per worker rank on its own thread, as mpirun would run processes.
class ThreadLauncher final : public coordinator::WorkerLauncher {
 public:
  using WorkerBody = std::function<void(uint32_t rank, const coordinator::CoordinatorContact& contact)>;
  ThreadLauncher(uint32_t workers, WorkerBody body) : workers_(workers), body_(std::move(body)) {}
  ~ThreadLauncher() override { Join(); }

  uint32_t worker_count() const override { return workers_; }
  bool workers_on_this_host() const override { return true; }
  Status Launch(const coordinator::CoordinatorContact& contact) override {
    for (uint32_t rank = 0; rank < workers_; ++rank) {
      threads_.emplace_back([this, rank, contact] { body_(rank, contact); });
    }
    return Status::Ok();
  }
  void Cancel() override {}
  std::optional<std::string> CheckExited() override { return std::nullopt; }
  Status WaitForExit(std::chrono::seconds) override {
    Join();
    return Status::Ok();
  }
  void Abort() override { Join(); }

 private:
  void Join() {
    for (auto& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }
  uint32_t workers_;
  WorkerBody body_;
  std::vector<std::thread> threads_;
};

// Connects to the contact's coordinator and says hello as `rank` of the contact's job, proving
// it holds the contact's secret. Returns the client once connected, also when the coordinator
// refused it: its Shutdown is then the next message Receive returns.
inline std::unique_ptr<worker::ControlClient> ConnectAndGreet(const coordinator::CoordinatorContact& contact,
                                                              uint32_t rank, uint32_t world_size) {
  auto client = worker::ControlClient::Connect(contact.address, std::chrono::seconds(10), nullptr);
  if (!client.ok()) return nullptr;
  proto::WorkerMessage hello;
  hello.mutable_hello()->set_job_id(contact.job_id);
  hello.mutable_hello()->set_rank(rank);
  hello.mutable_hello()->set_world_size(world_size);
  hello.mutable_hello()->set_host("host-" + std::to_string(rank));
  hello.mutable_hello()->set_pid(1000 + rank);
  hello.mutable_hello()->set_device("cpu");
  (void)(*client)->Authenticate(hello, contact.secret, std::chrono::seconds(10));
  return std::move(client).value();
}

}  // namespace aimass::testing
