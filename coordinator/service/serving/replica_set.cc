#include "coordinator/service/serving/replica_set.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>

#include "common/aimass.pb.h"
#include "common/net/handshake.h"
#include "coordinator/launch/spawn_process.h"
#include "coordinator/worker_hub.h"


namespace aimass::service {
namespace {

using Clock = std::chrono::steady_clock;
using coordinator::ConnectionId;
using coordinator::HubEvent;

constexpr auto kEventPoll = std::chrono::milliseconds(20);
constexpr auto kDispatchPoll = std::chrono::milliseconds(100);
constexpr auto kStartLimit = std::chrono::seconds(120);  // spawn to ServingReady
constexpr auto kStopGrace = std::chrono::seconds(5);
constexpr auto kMaxBackoff = std::chrono::seconds(30);

enum class ReplicaState { kStarting, kLoading, kReady, kDead };

struct Replica {
  uint32_t index = 0;
  pid_t pid = -1;  // also its process group; -1 once reaped
  ReplicaState state = ReplicaState::kDead;
  std::optional<ConnectionId> connection;
  Clock::time_point started;
  bool busy = false;
  uint64_t batch_id = 0;
  std::vector<std::shared_ptr<PendingPrediction>> in_flight;
  Clock::time_point sent_at;
  Clock::time_point restart_at;
  uint32_t failures_in_row = 0;  // deaths since it was last ready
  std::string last_failure;
};

void Say(const std::string& line) { std::fprintf(stderr, "aimass: serving: %s\n", line.c_str()); }

std::string ExitDescription(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("was killed by signal ") + std::to_string(WTERMSIG(status));
  return "ended";
}

}  // namespace

class ReplicaSet::Impl {
 public:
  explicit Impl(ReplicaSetOptions options) : options_(std::move(options)), batcher_(options_.batching) {}

  ~Impl() { Stop(); }

  Status Open() {
    AIMASS_ASSIGN_OR_RETURN(secret_, net::NewJobSecret());
    AIMASS_ASSIGN_OR_RETURN(std::string nonce, net::RandomBytes(4));
    job_id_ = "serve-" + options_.served.model + "-v" + std::to_string(options_.served.version) + "-" +
              net::ToHex(nonce);
    coordinator::HubOptions hub;
    hub.bind_address = "127.0.0.1";
    hub.job_id = job_id_;
    hub.secret = secret_;
    AIMASS_ASSIGN_OR_RETURN(hub_, coordinator::WorkerHub::Start(hub));
    std::error_code error;
    std::filesystem::create_directories(options_.log_dir, error);
    if (error) return Status::IOError(options_.log_dir + ": " + error.message());
    replicas_.resize(std::max<uint32_t>(1, options_.replicas));
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (uint32_t i = 0; i < replicas_.size(); ++i) {
        replicas_[i].index = i;
        AIMASS_RETURN_IF_ERROR(Spawn(replicas_[i]));
      }
    }
    events_ = std::thread([this] { EventLoop(); });
    dispatch_ = std::thread([this] { DispatchLoop(); });
    return Status::Ok();
  }

  const ServedModel& served() const { return options_.served; }

  Status Submit(std::shared_ptr<PendingPrediction> request) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (failed_) return *failed_;
      if (draining_ || stopping_) return Status::Unavailable("this deployment is being replaced");
    }
    return batcher_.Enqueue(std::move(request));
  }

  bool ready() const {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const Replica& replica : replicas_) {
      if (replica.state == ReplicaState::kReady) return true;
    }
    return false;
  }

  std::optional<Status> failed() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return failed_;
  }

  void Drain() {
    std::lock_guard<std::mutex> lock(mutex_);
    draining_ = true;
  }

  bool drained() const {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!draining_ && !failed_) return false;
    for (const Replica& replica : replicas_) {
      if (replica.busy) return false;
    }
    return batcher_.queued_records() == 0;
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopped_) return;
      stopped_ = true;
      stopping_ = true;
    }
    idle_changed_.notify_all();
    const Status gone = Status::Unavailable("the model is not being served any more");
    batcher_.Close(gone);
    if (dispatch_.joinable()) dispatch_.join();
    if (events_.joinable()) events_.join();
    std::vector<std::shared_ptr<PendingPrediction>> orphans;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (Replica& replica : replicas_) {
        for (auto& request : replica.in_flight) orphans.push_back(std::move(request));
        replica.in_flight.clear();
        replica.busy = false;
        if (replica.connection && hub_) {
          proto::CoordinatorMessage shutdown;
          shutdown.mutable_shutdown()->set_reason("the model is not being served any more");
          (void)hub_->Send(*replica.connection, shutdown);
        }
      }
    }
    for (auto& request : orphans) request->done(gone);
    // Replicas leave on Shutdown; the ones that do not are killed after the grace period.
    const auto give_up = Clock::now() + kStopGrace;
    while (Clock::now() < give_up && ReapAll() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    for (Replica& replica : replicas_) {
      if (replica.pid > 0) ::kill(-replica.pid, SIGKILL);
    }
    while (ReapAll() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    hub_.reset();
  }

  ReplicaSetStats stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    ReplicaSetStats stats;
    stats.replicas = static_cast<uint32_t>(replicas_.size());
    for (const Replica& replica : replicas_) stats.ready += replica.state == ReplicaState::kReady;
    stats.restarts = restarts_;
    stats.requests = requests_;
    stats.batches = batches_;
    stats.batched_records = batched_records_;
    stats.queued_records = batcher_.queued_records();
    if (failed_) stats.error = failed_->message();
    return stats;
  }

 private:
  // Starts replica `replica.index`: its own process group, its log file as stdout and stderr,
  // the set's secret in its environment only.
  Status Spawn(Replica& replica) {
    const std::string log_path = options_.log_dir + "/replica-" + std::to_string(replica.index) + ".log";
    std::vector<std::string> args = {options_.worker_binary, "serve",
                                     "--coordinator", hub_->AdvertisedAddress(),
                                     "--job-id", job_id_,
                                     "--replica", std::to_string(replica.index),
                                     "--replicas", std::to_string(replicas_.size())};
    coordinator::SpawnOptions spawn;
    spawn.program = options_.worker_binary;
    spawn.args = std::move(args);
    spawn.set_environment = {std::string(net::kJobSecretEnvironmentVariable) + "=" + net::ToHex(secret_)};
    spawn.log_path = log_path;
    AIMASS_ASSIGN_OR_RETURN(pid_t pid, coordinator::SpawnProcessGroup(spawn));
    replica.pid = pid;
    replica.state = ReplicaState::kStarting;
    replica.started = Clock::now();
    replica.connection.reset();
    replica.busy = false;
    return Status::Ok();
  }

  Replica* ByConnection(ConnectionId connection) {
    for (Replica& replica : replicas_) {
      if (replica.connection == connection && replica.state != ReplicaState::kDead) return &replica;
    }
    return nullptr;
  }

  void EventLoop() {
    while (true) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_) return;
      }
      if (auto event = hub_->NextEvent(kEventPoll)) Handle(*event);
      Supervise();
    }
  }

  void Handle(const HubEvent& event) {
    std::vector<std::function<void()>> answers;  // run outside the lock
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (event.kind == HubEvent::Kind::kNotice) {
        Say(job_id_ + ": " + event.reason);
        return;
      }
      if (event.kind == HubEvent::Kind::kDisconnected) {
        if (Replica* replica = ByConnection(event.connection)) {
          Lose(*replica, "its connection was lost (" + event.reason + ")", answers);
        }
      } else {
        OnMessage(event.connection, *event.message, answers);
      }
    }
    idle_changed_.notify_all();
    for (auto& answer : answers) answer();
  }

  void OnMessage(ConnectionId connection, const proto::WorkerMessage& message,
                 std::vector<std::function<void()>>& answers) {
    if (message.has_hello()) {
      const uint32_t index = message.hello().rank();
      // The proof covers the pid: only the process this set started may take its place.
      if (index >= replicas_.size() || replicas_[index].pid != static_cast<pid_t>(message.hello().pid()) ||
          replicas_[index].state != ReplicaState::kStarting) {
        hub_->Close(connection);
        return;
      }
      Replica& replica = replicas_[index];
      replica.connection = connection;
      replica.state = ReplicaState::kLoading;
      proto::CoordinatorMessage start;
      start.mutable_start_serving()->set_job_id(job_id_);
      proto::ServeSpec* spec = start.mutable_start_serving()->mutable_spec();
      const ServedModel& served = options_.served;
      spec->set_model_path(served.model_path);
      spec->set_model_name(served.config.name);
      for (int64_t dim : served.config.input_shape) spec->add_input_shape(dim);
      spec->set_num_classes(served.config.num_classes);
      spec->mutable_normalize()->set_scale(served.normalize.scale);
      spec->mutable_normalize()->set_mean(served.normalize.mean);
      spec->mutable_normalize()->set_std(served.normalize.std);
      spec->set_dtype("float32");
      spec->set_device(options_.device);
      spec->set_threads(options_.threads);
      spec->set_scores(options_.scores);
      spec->set_max_batch_size(options_.batching.max_batch_size);
      (void)hub_->Send(connection, start);
      return;
    }
    Replica* replica = ByConnection(connection);
    if (replica == nullptr) return;
    if (message.has_serving_ready()) {
      replica->state = ReplicaState::kReady;
      replica->failures_in_row = 0;
      replica->last_failure.clear();
    } else if (message.has_predict_result()) {
      Complete(*replica, message.predict_result(), answers);
    } else if (message.has_failure()) {
      replica->last_failure = message.failure().message();
      Say(job_id_ + " replica " + std::to_string(replica->index) + ": " + replica->last_failure);
    }
  }

  void Complete(Replica& replica, const proto::PredictResult& result,
                std::vector<std::function<void()>>& answers) {
    if (!replica.busy || result.batch_id() != replica.batch_id) return;
    auto batch = std::move(replica.in_flight);
    replica.in_flight.clear();
    replica.busy = false;
    if (!result.error().empty()) {
      Status failed = Status::Error("the model failed on this batch: " + result.error());
      for (auto& request : batch) answers.push_back([request, failed] { request->done(failed); });
      return;
    }
    const uint32_t width = result.width();
    uint64_t expected = 0;
    for (const auto& request : batch) expected += request->rows;
    if (width == 0 || static_cast<uint64_t>(result.scores_size()) != expected * width) {
      Status failed = Status::Error("a replica answered with " + std::to_string(result.scores_size()) +
                                    " scores for " + std::to_string(expected) + " records");
      for (auto& request : batch) answers.push_back([request, failed] { request->done(failed); });
      return;
    }
    ++batches_;
    batched_records_ += expected;
    requests_ += batch.size();
    size_t offset = 0;
    for (auto& request : batch) {
      PredictionScores scores;
      scores.rows = request->rows;
      scores.width = width;
      scores.model_version = options_.served.version;
      const size_t count = static_cast<size_t>(request->rows) * width;
      scores.scores.assign(result.scores().begin() + offset, result.scores().begin() + offset + count);
      offset += count;
      answers.push_back([request, scores = std::move(scores)]() mutable { request->done(std::move(scores)); });
    }
  }

  // The replica is gone or given up on: it is killed (if it still runs), its batch goes back
  // to the queue once, and it is started again after a backoff.
  void Lose(Replica& replica, const std::string& why, std::vector<std::function<void()>>& answers) {
    if (replica.state == ReplicaState::kDead) return;
    const bool was_ready = replica.state == ReplicaState::kReady;
    if (replica.pid > 0) ::kill(-replica.pid, SIGKILL);
    if (replica.connection) hub_->Close(*replica.connection);
    replica.connection.reset();
    replica.state = ReplicaState::kDead;
    if (!was_ready) ++replica.failures_in_row;
    const std::string reason = replica.last_failure.empty() ? why : replica.last_failure;
    Say(job_id_ + " replica " + std::to_string(replica.index) + " " + why +
        (replica.last_failure.empty() ? "" : ": " + replica.last_failure) + "; restarting it");
    std::vector<std::shared_ptr<PendingPrediction>> retry;
    for (auto& request : replica.in_flight) {
      if (request->retried) {
        Status failed = Status::Unavailable("the replica serving this prediction failed twice: " + reason);
        answers.push_back([request, failed] { request->done(failed); });
      } else {
        request->retried = true;
        retry.push_back(std::move(request));
      }
    }
    replica.in_flight.clear();
    replica.busy = false;
    if (!retry.empty()) {
      answers.push_back([this, retry = std::move(retry)]() mutable { batcher_.Requeue(std::move(retry)); });
    }
    auto backoff = std::chrono::seconds(1) * (1 << std::min<uint32_t>(replica.failures_in_row, 5));
    replica.restart_at = Clock::now() + std::min<std::chrono::seconds>(backoff, kMaxBackoff);
    if (replica.failures_in_row >= options_.max_start_failures && !failed_) {
      failed_ = Status::Unavailable("model " + options_.served.model + " version " +
                                    std::to_string(options_.served.version) + " cannot be served: " + reason);
      Say(failed_->message());
      Status failed = *failed_;
      answers.push_back([this, failed] { batcher_.Close(failed); });
    }
  }

  // Reaps ended replicas (returns how many still run), restarts dead ones when their backoff
  // is over, and gives up on replicas that hang.
  int ReapAll() {
    int running = 0;
    std::lock_guard<std::mutex> lock(mutex_);
    for (Replica& replica : replicas_) {
      if (replica.pid <= 0) continue;
      int status = 0;
      pid_t reaped = ::waitpid(replica.pid, &status, WNOHANG);
      if (reaped == replica.pid || (reaped < 0 && errno == ECHILD)) {
        replica.pid = -1;
        if (replica.state != ReplicaState::kDead && replica.last_failure.empty()) {
          replica.last_failure = "the replica " + ExitDescription(status);
        }
      } else {
        ++running;
      }
    }
    return running;
  }

  void Supervise() {
    ReapAll();
    std::vector<std::function<void()>> answers;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const auto now = Clock::now();
      for (Replica& replica : replicas_) {
        if (replica.state != ReplicaState::kDead && replica.pid <= 0) {
          Lose(replica, "ended", answers);
        } else if ((replica.state == ReplicaState::kStarting || replica.state == ReplicaState::kLoading) &&
                   now - replica.started > kStartLimit) {
          replica.last_failure = "it did not load the model within " +
                                 std::to_string(std::chrono::duration_cast<std::chrono::seconds>(kStartLimit).count()) + " s";
          Lose(replica, "was given up on", answers);
        } else if (replica.state == ReplicaState::kReady && replica.busy &&
                   now - replica.sent_at > options_.batch_timeout) {
          replica.last_failure = "a batch took longer than " +
                                 std::to_string(options_.batch_timeout.count()) + " ms";
          Lose(replica, "hung", answers);
        } else if (replica.state == ReplicaState::kDead && replica.pid <= 0 && !failed_ && !stopping_ &&
                   now >= replica.restart_at) {
          replica.last_failure.clear();
          Status spawned = Spawn(replica);
          if (spawned.ok()) {
            ++restarts_;
          } else {
            Say(spawned.message());
            replica.restart_at = now + kMaxBackoff;
          }
        }
      }
    }
    if (!answers.empty()) idle_changed_.notify_all();
    for (auto& answer : answers) answer();
  }

  Replica* PickIdle() {
    for (size_t i = 0; i < replicas_.size(); ++i) {
      Replica& replica = replicas_[(round_robin_ + i) % replicas_.size()];
      if (replica.state == ReplicaState::kReady && !replica.busy && replica.connection) {
        round_robin_ = (round_robin_ + i + 1) % replicas_.size();
        return &replica;
      }
    }
    return nullptr;
  }

  void DispatchLoop() {
    while (true) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        idle_changed_.wait_for(lock, kDispatchPoll, [this] { return stopping_ || PickIdleConst(); });
        if (stopping_) return;
        if (!PickIdleConst()) continue;
      }
      auto batch = batcher_.NextBatch(kDispatchPoll);
      if (batch.empty()) continue;
      proto::CoordinatorMessage message;
      proto::PredictBatch* body = message.mutable_predict_batch();
      uint32_t rows = 0;
      for (const auto& request : batch) {
        rows += request->rows;
        body->mutable_features()->Add(request->features.begin(), request->features.end());
      }
      body->set_rows(rows);
      ConnectionId connection = 0;
      bool assigned = false;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        Replica* replica = stopping_ ? nullptr : PickIdle();
        if (replica != nullptr) {
          replica->busy = true;
          replica->batch_id = next_batch_id_++;
          replica->in_flight = batch;
          replica->sent_at = Clock::now();
          connection = *replica->connection;
          body->set_batch_id(replica->batch_id);
          assigned = true;
        }
      }
      if (!assigned) {
        batcher_.Requeue(std::move(batch));  // the replica died meanwhile, or the set stops
        continue;
      }
      // A write error shows up as the connection's loss, which retries the batch.
      (void)hub_->Send(connection, message);
    }
  }

  bool PickIdleConst() const {
    for (const Replica& replica : replicas_) {
      if (replica.state == ReplicaState::kReady && !replica.busy && replica.connection) return true;
    }
    return false;
  }

  const ReplicaSetOptions options_;
  DynamicBatcher batcher_;
  std::string secret_;
  std::string job_id_;
  std::unique_ptr<coordinator::WorkerHub> hub_;

  mutable std::mutex mutex_;
  std::condition_variable idle_changed_;
  std::vector<Replica> replicas_;     // GUARDED_BY(mutex_) (the vector itself never resizes)
  bool draining_ = false;             // GUARDED_BY(mutex_)
  bool stopping_ = false;             // GUARDED_BY(mutex_)
  bool stopped_ = false;              // GUARDED_BY(mutex_)
  std::optional<Status> failed_;      // GUARDED_BY(mutex_)
  uint64_t next_batch_id_ = 1;        // GUARDED_BY(mutex_)
  size_t round_robin_ = 0;            // GUARDED_BY(mutex_)
  uint32_t restarts_ = 0;             // GUARDED_BY(mutex_)
  uint64_t requests_ = 0;             // GUARDED_BY(mutex_)
  uint64_t batches_ = 0;              // GUARDED_BY(mutex_)
  uint64_t batched_records_ = 0;      // GUARDED_BY(mutex_)
  std::thread events_;
  std::thread dispatch_;
};

Result<std::unique_ptr<ReplicaSet>> ReplicaSet::Start(ReplicaSetOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  AIMASS_RETURN_IF_ERROR(impl->Open());
  return std::unique_ptr<ReplicaSet>(new ReplicaSet(std::move(impl)));
}

ReplicaSet::ReplicaSet(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ReplicaSet::~ReplicaSet() { impl_->Stop(); }
const ServedModel& ReplicaSet::served() const { return impl_->served(); }
Status ReplicaSet::Submit(std::shared_ptr<PendingPrediction> request) { return impl_->Submit(std::move(request)); }
bool ReplicaSet::ready() const { return impl_->ready(); }
std::optional<Status> ReplicaSet::failed() const { return impl_->failed(); }
void ReplicaSet::Drain() { impl_->Drain(); }
bool ReplicaSet::drained() const { return impl_->drained(); }
void ReplicaSet::Stop() { impl_->Stop(); }
ReplicaSetStats ReplicaSet::stats() const { return impl_->stats(); }

}  // namespace aimass::service
