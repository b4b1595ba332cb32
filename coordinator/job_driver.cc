#include "coordinator/job_driver.h"

#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <random>
#include <set>

#include "common/aimass.pb.h"
#include "common/env.h"
#include "common/net/handshake.h"
#include "coordinator/launch/listen_address.h"
#include "coordinator/worker_hub.h"
#include "coordinator/worker_roster.h"

namespace aimass::coordinator {

using Clock = std::chrono::steady_clock;

namespace {

// After the job: how long the launcher's processes may take to end.
constexpr auto kExitTimeout = std::chrono::seconds(60);
constexpr auto kMinimumExitTimeout = std::chrono::seconds(5);

}  // namespace

std::string NewJobId() {
  std::random_device entropy;
  std::mt19937_64 generator((static_cast<uint64_t>(entropy()) << 32) ^ entropy() ^
                            static_cast<uint64_t>(Clock::now().time_since_epoch().count()));
  char text[20];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(generator()));
  return text;
}

class JobDriver::Impl final : public JobContext {
 public:
  Impl(JobDriverOptions options, WorkerLauncher& launcher, JobObserver& observer)
      : options_(std::move(options)), launcher_(launcher), observer_(observer) {
    if (options_.job_id.empty()) options_.job_id = NewJobId();
  }

  Status Run(DrivenJob& job) {
    job_ = &job;
    traits_ = job.traits();
    run_started_ = Clock::now();
    auto hub = StartHub();
    if (!hub.ok()) {
      launcher_.Cancel();
      observer_.OnFailed(hub.status());
      return hub.status();
    }
    hub_ = std::move(hub).value();
    roster_.emplace(*hub_, launcher_.worker_count());
    Status status = Drive();
    if (status.ok()) status = ReleaseAndFinish();
    if (!status.ok()) {
      // The hub stays open until the driver goes, so that the abort orders reach the workers.
      roster_->Abort(status.message());
      launcher_.Abort();
      observer_.OnFailed(status);
      return status;
    }
    hub_.reset();
    return Status::Ok();
  }

  // JobContext
  const std::string& job_id() const override { return options_.job_id; }
  Clock::time_point run_started() const override { return run_started_; }
  const WorkerRoster& roster() const override { return *roster_; }

  Status Send(uint32_t rank, const proto::CoordinatorMessage& message) override {
    return hub_->Send(roster_->at(rank).connection, message);
  }

  void MarkFinished(uint32_t rank) override { roster_->at(rank).finished = true; }

  Status LoseWorker(uint32_t rank, const WorkerLoss& loss) override {
    Status verdict = job_->OnWorkerLost(*this, rank, loss);
    observer_.OnWorkerLost(WorkerLost{rank, roster_->Describe(rank), loss.Reason(), verdict.ok()});
    if (!verdict.ok()) return verdict;
    roster_->MarkLost(rank);
    roster_->Abort(rank, "the coordinator goes on without this worker: " + loss.Reason());
    if (loss.may_still_run()) KillIfLocal(rank);
    if (roster_->live() == 0 && !job_->finished()) {
      return Status::Error("no worker left: the last, " + roster_->Describe(rank) + ", was lost (" +
                           loss.Reason() + ")");
    }
    return Status::Ok();
  }

  Status OutOfPlace(uint32_t rank, const proto::WorkerMessage& message) const override {
    return Status::Error(roster_->Describe(rank) + " sent a message out of place (" +
                         std::to_string(message.body_case()) + ")");
  }

 private:
  // A fresh secret per run of the job, and a hub that listens only where the workers need it.
  Result<std::unique_ptr<WorkerHub>> StartHub() {
    AIMASS_ASSIGN_OR_RETURN(secret_, net::NewJobSecret());
    AIMASS_ASSIGN_OR_RETURN(ListenAddress listen,
                            ChooseListenAddress(options_.bind_address, options_.advertise,
                                                launcher_.workers_on_this_host()));
    if (!listen.note.empty()) observer_.OnInfo(listen.note);
    HubOptions hub;
    hub.bind_address = listen.bind_address;
    hub.advertised_hosts = listen.advertised_hosts;
    hub.port = options_.port;
    hub.job_id = options_.job_id;
    hub.secret = secret_;
    hub.handshake_timeout = options_.handshake_timeout;
    // Room for every worker (and one refused duplicate each) beside the anonymous ones.
    hub.max_connections = std::max<size_t>(hub.max_connections,
                                           2 * size_t{launcher_.worker_count()} + hub.max_unauthenticated);
    AIMASS_ASSIGN_OR_RETURN(auto started, WorkerHub::Start(std::move(hub)));
    observer_.OnInfo("aimass: job " + options_.job_id + ": control plane listening on " +
                     started->ListeningAddress() + "; workers authenticate with the job secret");
    return started;
  }

  Status Drive() {
    AIMASS_RETURN_IF_ERROR(launcher_.Launch(
        CoordinatorContact{hub_->AdvertisedAddress(), options_.job_id, secret_}));
    AIMASS_RETURN_IF_ERROR(WaitForWorkers());
    // Workers heartbeat once they have a job: silence counts from here.
    for (uint32_t rank = 0; rank < roster_->size(); ++rank) roster_->Touch(rank);
    AIMASS_RETURN_IF_ERROR(job_->Start(*this));
    started_ = true;
    while (!job_->finished()) {
      AIMASS_RETURN_IF_ERROR(CheckLiveness());
      if (auto event = hub_->NextEvent(traits_.poll_interval)) AIMASS_RETURN_IF_ERROR(Handle(*event));
      AIMASS_RETURN_IF_ERROR(job_->Poll(*this));
    }
    return job_->Complete(*this);
  }

  Status WaitForWorkers() {
    auto deadline = Clock::now() + options_.worker_start_timeout;
    while (roster_->connected() < roster_->size()) {
      if (Clock::now() > deadline) return roster_->NotAllConnected(options_.worker_start_timeout);
      AIMASS_RETURN_IF_ERROR(CheckLiveness());
      if (auto event = hub_->NextEvent(traits_.poll_interval)) AIMASS_RETURN_IF_ERROR(Handle(*event));
    }
    return Status::Ok();
  }

  // Tells the workers the job is over and waits for them to go. A job whose result is already
  // final (inference's committed output) only warns about workers that do not leave, and ends
  // them; any other job fails.
  Status ReleaseAndFinish() {
    Status released = roster_->Release(
        traits_.release_timeout, [this](const std::string& line) { observer_.OnInfo(line); });
    if (!released.ok()) {
      if (!traits_.final_before_release) return released;
      // A worker that does not leave after the Shutdown (hung, stopped) would keep mpirun and
      // its peers' MPI_Finalize waiting: it is ended, as a hung worker is during the job.
      observer_.OnInfo("warning: output committed, but " + released.message() + "; ending them");
      for (uint32_t rank = 0; rank < roster_->size(); ++rank) {
        if (roster_->at(rank).connected) KillIfLocal(rank);
      }
    }
    // A worker that would not leave may be on a host that cannot be reached (its link is down):
    // mpirun then waits for that host's daemon forever. It gets as long as the workers had to
    // leave, and is then ended, rather than holding a finished job for a minute.
    const std::chrono::seconds exit_timeout =
        released.ok() ? kExitTimeout : std::max(traits_.release_timeout, kMinimumExitTimeout);
    Status exited = launcher_.WaitForExit(exit_timeout);
    if (!exited.ok()) {
      if (!traits_.final_before_release) return exited;
      observer_.OnInfo("warning: output committed, but " + exited.message());
    }
    ReportPendingNotices();
    return job_->Finish(*this);
  }

  // The workers are gone: what the hub turned away meanwhile is still reported (one line each)
  // before the job's last lines, rather than lost with the hub.
  void ReportPendingNotices() {
    while (auto event = hub_->NextEvent(std::chrono::milliseconds(0))) {
      if (event->kind == HubEvent::Kind::kNotice) observer_.OnInfo(event->reason);
    }
  }

  // Every reason to stop that does not come as an event.
  Status CheckLiveness() {
    if (options_.interrupted && options_.interrupted()) {
      if (!traits_.survives_worker_loss) {
        // mpirun signals us when a worker dies; its dropped connection says which one.
        auto deadline = Clock::now() + std::chrono::milliseconds(500);
        while (Clock::now() < deadline) {
          auto event = hub_->NextEvent(std::chrono::milliseconds(50));
          if (event && event->kind == HubEvent::Kind::kDisconnected) return Handle(*event);
        }
      }
      return Status::Cancelled("interrupted by a signal");
    }
    if (auto ended = launcher_.CheckExited()) {
      // Let the connections report first: they name the rank that died.
      while (auto event = hub_->NextEvent(std::chrono::milliseconds(200))) {
        AIMASS_RETURN_IF_ERROR(Handle(*event));
      }
      if (!started_ || !job_->finished()) return Status::Unavailable("workers ended early: " + *ended);
    }
    if (started_) {
      const std::chrono::seconds limit = traits_.heartbeat_timeout;
      if (auto silent = roster_->FindSilent(limit)) {
        return LoseWorker(*silent, WorkerLoss{WorkerLoss::Cause::kSilent,
                                              "sent nothing for " + std::to_string(limit.count()) +
                                                  " s (hung or unreachable)"});
      }
    }
    return Status::Ok();
  }

  Status Handle(const HubEvent& event) {
    // What the hub turned away (unauthenticated, oversized, silent, another job's) never
    // reaches the job: one line, and the job goes on.
    if (event.kind == HubEvent::Kind::kNotice) {
      observer_.OnInfo(event.reason);
      return Status::Ok();
    }
    if (refused_.count(event.connection) > 0) return Status::Ok();
    std::optional<uint32_t> rank = roster_->RankOf(event.connection);
    if (event.kind == HubEvent::Kind::kDisconnected) {
      // The hub reports only authenticated connections, and each one's first message is its
      // Hello; one that ends before the Hello was handled is nobody's loss.
      if (!rank) return Status::Ok();
      bool expected = roster_->at(*rank).finished;  // done, or already written off
      roster_->OnDisconnected(*rank);
      if (expected) return Status::Ok();
      return LoseWorker(*rank, WorkerLoss{WorkerLoss::Cause::kDisconnected, event.reason});
    }
    const proto::WorkerMessage& message = *event.message;
    if (!rank) {
      if (message.has_hello()) return OnHello(event.connection, message.hello());
      return Status::Error("a worker sent a message before saying hello");
    }
    if (roster_->at(*rank).lost) return Status::Ok();  // written off: what it says now is ignored
    roster_->Touch(*rank);
    if (message.has_failure()) {
      return LoseWorker(*rank, WorkerLoss{WorkerLoss::Cause::kFailed, message.failure().message(),
                                          message.failure().permanent()});
    }
    return job_->OnMessage(*this, *rank, message);
  }

  // The hub has authenticated the Hello (job id and proof). A claim of a rank that is taken, by
  // a live worker or one written off, is turned away with one line; this job goes on.
  Status OnHello(ConnectionId connection, const proto::Hello& hello) {
    Status claimed = roster_->OnHello(connection, hello);
    if (claimed.code() == StatusCode::kAlreadyExists) {
      refused_.insert(connection);
      std::string line = "aimass: refused a worker (host " + hello.host() + ", pid " +
                         std::to_string(hello.pid()) + "): " + claimed.message();
      observer_.OnInfo(line);
      proto::CoordinatorMessage shutdown;
      shutdown.mutable_shutdown()->set_abort(true);
      shutdown.mutable_shutdown()->set_reason(line);
      (void)hub_->Send(connection, shutdown);
      hub_->Close(connection);
      return Status::Ok();
    }
    AIMASS_RETURN_IF_ERROR(claimed);
    observer_.OnWorkerJoined(WorkerJoined{hello.rank(), hello.host(), hello.pid(), hello.device()});
    return Status::Ok();
  }

  // Only a process this job's launcher started, on this host, is ended from here (the pid in
  // a Hello is the worker's word); elsewhere mpirun or the job's launcher has to.
  void KillIfLocal(uint32_t rank) {
    const WorkerInfo& worker = roster_->at(rank);
    if (launcher_.OwnsProcess(worker.host, worker.pid)) {
      ::kill(static_cast<pid_t>(worker.pid), SIGKILL);
    } else if (worker.host == LocalHostName()) {
      observer_.OnInfo("aimass: not signalling " + roster_->Describe(rank) +
                       ": not a process this coordinator's launcher started");
    }
  }

  JobDriverOptions options_;
  WorkerLauncher& launcher_;
  JobObserver& observer_;
  DrivenJob* job_ = nullptr;
  JobTraits traits_;
  std::string secret_;  // this run's job secret (net::kJobSecretBytes)
  std::unique_ptr<WorkerHub> hub_;
  std::optional<WorkerRoster> roster_;
  std::set<ConnectionId> refused_;  // connections of other jobs' workers
  bool started_ = false;            // the job's Start has run
  Clock::time_point run_started_;
};

JobDriver::JobDriver(JobDriverOptions options, WorkerLauncher& launcher, JobObserver& observer)
    : impl_(std::make_unique<Impl>(std::move(options), launcher, observer)) {}
JobDriver::~JobDriver() = default;

const std::string& JobDriver::job_id() const { return impl_->job_id(); }

Status JobDriver::Run(DrivenJob& job) { return impl_->Run(job); }

}  // namespace aimass::coordinator
