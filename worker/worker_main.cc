#include "worker/worker_main.h"

#include <malloc.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "common/aimass.pb.h"
#include "common/env.h"
#include "common/log.h"
#include "common/mpi/mpi_bootstrap.h"
#include "common/net/handshake.h"
#include "models/model.h"
#include "worker/bench/allreduce_bench.h"
#include "worker/collective/communicator.h"
#include "worker/control_client.h"
#include "worker/device.h"
#include "worker/infer/inference_runner.h"
#include "worker/job_spec.h"
#include "worker/serve/serving_loop.h"
#include "worker/trainer.h"

namespace aimass::worker {
namespace {

constexpr auto kConnectTimeout = std::chrono::seconds(60);
constexpr auto kStartTimeout = std::chrono::minutes(10);
constexpr auto kHeartbeatInterval = std::chrono::seconds(2);
constexpr auto kHandshakeTimeout = std::chrono::seconds(30);

const char kUsage[] =
    "usage: aimass-worker [--coordinator HOST:PORT --job-id ID]\n"
    "       aimass-worker serve --coordinator HOST:PORT --job-id ID [--replica I --replicas N]\n"
    "       aimass-worker bench allreduce [--min-bytes 8] [--max-bytes 256M] [--dtype float32|float64|bfloat16|float16]\n"
    "                                     [--backend auto|mpi|nccl] [--json]\n"
    "Started by mpirun. Under `mpirun -np 1 aimass-coordinator ... : -np N aimass-worker` the\n"
    "coordinator's address, job id and job secret come through MPI; otherwise pass --coordinator\n"
    "and --job-id (or set AIMASS_COORDINATOR and AIMASS_JOB_ID) and set AIMASS_JOB_SECRET (the\n"
    "coordinator sets it for the workers it starts).\n";

// A worker that cannot go on must not linger: its peers may wait for it inside a collective,
// and mpirun tears the job down only once a process has exited.
[[noreturn]] void ExitNow(int code) {
  std::fflush(stderr);
  std::_Exit(code);
}

// A start message for another job means this worker reached the wrong coordinator.
Status CheckJobId(const std::string& started, const std::string& mine) {
  if (started == mine) return Status::Ok();
  return Status::Error("the coordinator started job '" + started + "', this worker belongs to job '" +
                       mine + "'");
}

// The job secret from the environment (hex), erased from it at once: the variable is for this
// process only, and whatever this worker starts (a shell, a profiler) must not inherit it. The
// value is overwritten in place before unsetenv, so /proc/PID/environ no longer shows it either.
// Called first thing in main, before any thread exists (setenv/unsetenv are not thread-safe).
std::string TakeSecretFromEnvironment() {
  char* value = std::getenv(net::kJobSecretEnvironmentVariable);
  if (value == nullptr) return "";
  std::string hex = value;
  std::memset(value, 'x', std::strlen(value));
  ::unsetenv(net::kJobSecretEnvironmentVariable);
  return hex;
}

Status RunJob(const MpiWorld& world, const std::string& job_id, const std::string& secret,
              ControlClient& control) {
  proto::WorkerMessage hello;
  auto* body = hello.mutable_hello();
  body->set_job_id(job_id);
  body->set_rank(static_cast<uint32_t>(world.worker_rank));
  body->set_world_size(static_cast<uint32_t>(world.worker_count));
  body->set_host(LocalHostName());
  body->set_pid(static_cast<uint32_t>(::getpid()));
  body->set_device(DefaultDeviceName(world.local_rank));
  body->set_local_rank(static_cast<uint32_t>(world.local_rank));
  body->set_torch_version(TORCH_VERSION);
  AIMASS_RETURN_IF_ERROR(control.Authenticate(hello, secret, kHandshakeTimeout));

  AIMASS_ASSIGN_OR_RETURN(auto message, control.Receive(kStartTimeout));
  if (message->has_shutdown()) return Status::Ok();
  if (message->has_start_inference()) {
    AIMASS_RETURN_IF_ERROR(CheckJobId(message->start_inference().job_id(), job_id));
    AIMASS_ASSIGN_OR_RETURN(InferJobSpec job,
                            DecodeInferJobSpec(message->start_inference().spec()));
    AIMASS_ASSIGN_OR_RETURN(Placement placement,
                            ChoosePlacement(job.device, BackendKind::kAuto, job.threads,
                                            world.local_rank, world.local_size));
    control.StartHeartbeat(kHeartbeatInterval);
    return RunInference(message->start_inference(), placement, control);
  }
  if (!message->has_start_training()) return Status::Error("expected a job from the coordinator");
  const proto::StartTraining& start = message->start_training();
  AIMASS_RETURN_IF_ERROR(CheckJobId(start.job_id(), job_id));
  // The spec's choices are decoded once, here; a value this worker does not know fails now.
  AIMASS_ASSIGN_OR_RETURN(TrainJobSpec job, DecodeTrainJobSpec(start.spec()));

  AIMASS_ASSIGN_OR_RETURN(Placement placement,
                          ChoosePlacement(job.device, job.backend, job.config.worker.threads,
                                          world.local_rank, world.local_size));
  AIMASS_ASSIGN_OR_RETURN(auto communicator,
                          collective::CreateCommunicator(placement.backend, world.worker_comm,
                                                         placement.device));
  control.StartHeartbeat(kHeartbeatInterval);
  return RunTraining(start, job, placement, *communicator, control);
}

// `aimass-worker bench allreduce ...`: every process of the mpirun is a worker.
int BenchMain(int argc, char** argv) {
  if (argc < 3 || std::string(argv[2]) != "allreduce") {
    std::cerr << "aimass-worker: unknown benchmark\n" << kUsage;
    return 2;
  }
  auto options = ParseAllreduceBenchOptions(std::vector<std::string>(argv + 3, argv + argc));
  if (!options.ok()) {
    std::cerr << "aimass-worker: error: " << options.status().message() << "\n" << kUsage;
    return 2;
  }
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  auto world = JoinMpiWorld(ProcessRole::kWorker);
  Status status = world.ok() ? RunAllreduceBench(*options, *world) : world.status();
  if (!status.ok()) {
    LogError(status.message());
    ExitNow(1);
  }
  MPI_Finalize();
  return 0;
}

// A training step frees and allocates the same large tensors (activations, gradients) every
// time. glibc's adaptive thresholds can make it hand that memory back to the kernel at each step
// and fault it in again (seen: backward and optimizer 4-10x slower on one rank, half its time in
// page faults, depending only on what the process allocated before). Fixed thresholds keep
// freed memory in the process: allocations up to 512 MiB come from the heap, and the heap is
// trimmed only when 512 MiB lie free at its top. The threshold is above any tensor or MPI
// buffer of a step: with 64 MiB, Open MPI's temporary buffers for a 64 MiB allreduce were
// mapped and faulted in afresh on every call (measured across two hosts: 0.115 GB/s busbw at
// 64 MiB alone against 0.567 GB/s once the heap had grown, 338,000 page faults in 18 calls).
void KeepFreedMemory() {
  mallopt(M_MMAP_THRESHOLD, 512 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
}

// `aimass-worker serve ...`: a resident replica of a served model, started by the service
// (coordinator/service/serving/replica_set.h) with the deployment's secret in its environment.
// It needs no MPI: replicas never talk to each other.
int ServeMain(int argc, char** argv, const std::string& secret_hex) {
  std::string address;
  std::string job_id;
  int replica = 0;
  int replicas = 1;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (arg == "--coordinator") {
      address = value();
    } else if (arg == "--job-id") {
      job_id = value();
    } else if (arg == "--replica") {
      replica = std::atoi(value().c_str());
    } else if (arg == "--replicas") {
      replicas = std::max(1, std::atoi(value().c_str()));
    } else {
      std::cerr << "aimass-worker: unknown argument '" << arg << "'\n" << kUsage;
      return 2;
    }
  }
  if (address.empty() || job_id.empty()) {
    std::cerr << "aimass-worker: serve needs --coordinator and --job-id\n" << kUsage;
    return 2;
  }
  SetLogPrefix("aimass-worker serve " + std::to_string(replica));
  auto secret = net::SecretFromHex(secret_hex);
  if (!secret.ok()) {
    LogError(std::string("no valid serving secret in ") + net::kJobSecretEnvironmentVariable);
    return 2;
  }
  auto control = ControlClient::Connect(address, kConnectTimeout, [](const std::string& reason, bool aborted) {
    if (!aborted) LogError("service connection lost: " + reason);
    ExitNow(3);
  });
  if (!control.ok()) {
    LogError(control.status().message());
    return 1;
  }
  Status status = [&]() -> Status {
    proto::WorkerMessage hello;
    auto* body = hello.mutable_hello();
    body->set_job_id(job_id);
    body->set_rank(static_cast<uint32_t>(replica));
    body->set_world_size(static_cast<uint32_t>(replicas));
    body->set_host(LocalHostName());
    body->set_pid(static_cast<uint32_t>(::getpid()));
    body->set_device(DefaultDeviceName(replica));
    body->set_local_rank(static_cast<uint32_t>(replica));
    body->set_torch_version(TORCH_VERSION);
    AIMASS_RETURN_IF_ERROR((*control)->Authenticate(hello, *secret, kHandshakeTimeout));
    AIMASS_ASSIGN_OR_RETURN(auto message, (*control)->Receive(kStartTimeout));
    if (message->has_shutdown()) return Status::Ok();
    if (!message->has_start_serving()) return Status::Error("expected a model to serve");
    AIMASS_RETURN_IF_ERROR(CheckJobId(message->start_serving().job_id(), job_id));
    const proto::ServeSpec& spec = message->start_serving().spec();
    AIMASS_ASSIGN_OR_RETURN(DeviceKind device, ParseDeviceKind(spec.device(), "device"));
    AIMASS_ASSIGN_OR_RETURN(Placement placement,
                            ChoosePlacement(device, BackendKind::kAuto, spec.threads(), replica, replicas));
    (*control)->StartHeartbeat(kHeartbeatInterval);
    return RunServing(message->start_serving(), placement, **control);
  }();
  if (!status.ok()) {
    proto::WorkerMessage failure;
    failure.mutable_failure()->set_message(status.message());
    (void)(*control)->Send(failure);
    LogError(status.message());
    ExitNow(1);
  }
  (*control)->ExpectClose();
  control->reset();
  return 0;
}

}  // namespace

int WorkerMain(int argc, char** argv) {
  KeepFreedMemory();
  if (argc >= 2 && std::string(argv[1]) == "bench") return BenchMain(argc, argv);
  std::string secret_hex = TakeSecretFromEnvironment();
  if (argc >= 2 && std::string(argv[1]) == "serve") return ServeMain(argc, argv, secret_hex);
  std::string address;
  std::string job_id;
  if (const char* from_env = std::getenv("AIMASS_COORDINATOR")) address = from_env;
  if (const char* from_env = std::getenv("AIMASS_JOB_ID")) job_id = from_env;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--coordinator" && i + 1 < argc) {
      address = argv[++i];
    } else if (arg == "--job-id" && i + 1 < argc) {
      job_id = argv[++i];
    } else if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    } else {
      std::cerr << "aimass-worker: unknown argument '" << arg << "'\n" << kUsage;
      return 2;
    }
  }

  // SERIALIZED: the gradient synchronizer's thread calls MPI while the training thread waits.
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
  auto world = JoinMpiWorld(ProcessRole::kWorker);
  if (!world.ok()) {
    LogError(world.status().message());
    ExitNow(1);
  }
  SetLogPrefix("aimass-worker " + std::to_string(world->worker_rank));

  if (world->coordinator_world_rank >= 0) {
    std::string secret;
    Status received = BroadcastCoordinatorAddress(*world, &address, &job_id, &secret);
    if (!received.ok()) {
      LogError(received.message());
      ExitNow(1);
    }
    if (address.empty()) {  // the coordinator failed before the job started and said why
      MPI_Finalize();
      return 1;
    }
    secret_hex = net::ToHex(secret);
  } else if (address.empty()) {
    LogError("no coordinator: start under mpirun beside aimass-coordinator, or pass --coordinator");
    ExitNow(2);
  }
  if (secret_hex.empty()) {
    LogError(std::string("no job secret: ") + net::kJobSecretEnvironmentVariable +
             " is not set (the coordinator sets it for the workers it starts)");
    ExitNow(2);
  }
  auto secret = net::SecretFromHex(secret_hex);
  if (!secret.ok()) {
    LogError(secret.status().message());
    ExitNow(2);
  }

  auto control = ControlClient::Connect(
      address, kConnectTimeout, [](const std::string& reason, bool aborted) {
        // A refusal (wrong secret, wrong job) is its own line; it ends the worker like a loss.
        if (reason.rfind("the coordinator refused this worker", 0) == 0) {
          LogError(reason);
        } else if (!aborted) {
          LogError("coordinator connection lost: " + reason);
        }
        ExitNow(3);
      });
  if (!control.ok()) {
    LogError(control.status().message());
    ExitNow(1);
  }

  // The job's own code turns LibTorch exceptions into errors; this catches what slipped past,
  // so that the coordinator still gets a Failure naming the rank rather than a dropped socket.
  Status status;
  try {
    status = RunJob(*world, job_id, *secret, **control);
  } catch (const std::exception& error) {
    status = Status::Internal("rank " + std::to_string(world->worker_rank) + ": " +
                              models::TorchErrorMessage(error));
  }
  if (!status.ok()) {
    proto::WorkerMessage failure;
    failure.mutable_failure()->set_message(status.message());
    // Non-finite values come back from the same checkpoint and data: no restart can help.
    failure.mutable_failure()->set_permanent(status.IsNonFinite());
    (void)(*control)->Send(failure);
    LogError(status.message());
    ExitNow(1);
  }
  (*control)->ExpectClose();
  control->reset();
  MPI_Comm_free(&world->worker_comm);
  FinishMpi(0);
  return 0;
}

}  // namespace aimass::worker
