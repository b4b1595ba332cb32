#include "coordinator/service/service.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "common/env.h"
#include "coordinator/launch/local_mpirun_launcher.h"
#include "coordinator/service/api.h"
#include "coordinator/service/data_api.h"
#include "coordinator/service/data_monitoring.h"
#include "coordinator/service/data_roots.h"
#include "coordinator/service/dataset_profiler.h"
#include "coordinator/service/profile_files.h"
#include "coordinator/service/http/http_server.h"
#include "coordinator/service/job_scheduler.h"
#include "coordinator/service/leftover_processes.h"
#include "coordinator/service/model_registry.h"
#include "coordinator/service/schedules/schedule_routes.h"
#include "coordinator/service/schedules/schedule_runner.h"
#include "coordinator/service/monitor/alert_center.h"
#include "coordinator/service/monitor/alerts_api.h"
#include "coordinator/service/sealed_file.h"
#include "coordinator/service/service_metrics.h"
#include "coordinator/service/serving/serving_manager.h"
#include "coordinator/service/serving/serving_routes.h"
#include "coordinator/service/shared_store.h"
#include "coordinator/service/submitted_job.h"

namespace aimass::service {
namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "aimass-coordinator serve: error: %s\n", message.c_str());
  return 1;
}

struct ListenAddress {
  std::string host;
  uint16_t port = 0;
  bool loopback = false;
};

Result<ListenAddress> ParseListen(const std::string& text) {
  ListenAddress address;
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) return Status::InvalidArgument("--listen '" + text + "': use HOST:PORT");
  address.host = text.substr(0, colon);
  if (address.host.size() >= 2 && address.host.front() == '[' && address.host.back() == ']') {
    address.host = address.host.substr(1, address.host.size() - 2);
  }
  const std::string port = text.substr(colon + 1);
  if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit) ||
      std::stoi(port) > 65535) {
    return Status::InvalidArgument("--listen '" + text + "': the port must be 0 to 65535");
  }
  address.port = static_cast<uint16_t>(std::stoi(port));
  boost::system::error_code error;
  auto ip = boost::asio::ip::make_address(address.host, error);
  if (error) return Status::InvalidArgument("--listen '" + text + "': '" + address.host + "' is not an IP address");
  address.loopback = ip.is_loopback();
  return address;
}

// The admin token's secret goes to a file only its owner can read; the path is printed, the
// secret never is (terminal scrollback and service logs are read by others).
Status WriteSecretFile(const std::string& path, const std::string& secret) {
  const std::string temporary = path + ".tmp";
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Status::IOError(temporary + ": " + std::strerror(errno));
  ::fchmod(fd, 0600);  // also when the file existed with a wider mode
  const std::string line = secret + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(temporary.c_str(), path.c_str()) != 0) {
    return Status::IOError(path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

// The state directory's record of its master key: a sealed file of a fixed text. Opening it
// proves the key is the one the artifacts were sealed with (the GCM tag, not just the key id),
// and its presence says that the directory holds sealed artifacts.
constexpr char kKeyCheckFile[] = "master-key.check";
constexpr char kKeyCheckText[] = "aimass master key check v1";

// nullopt with no --master-key-file; an error (one line) for a bad key file, for a key that is
// not the state directory's, and for a state directory with sealed artifacts and no key.
Result<std::optional<MasterKey>> LoadStateKey(const std::string& state_dir, const std::string& key_file) {
  const std::string check_path = state_dir + "/" + kKeyCheckFile;
  const bool sealed_before = ::access(check_path.c_str(), F_OK) == 0;
  if (key_file.empty()) {
    if (sealed_before) {
      return Status::FailedPrecondition("--state-dir " + state_dir +
                                        " holds artifacts sealed with a master key: give --master-key-file");
    }
    return std::optional<MasterKey>();
  }
  AIMASS_ASSIGN_OR_RETURN(MasterKey key, MasterKey::Load(key_file));
  Env& env = Env::Default();
  if (sealed_before) {
    AIMASS_ASSIGN_OR_RETURN(std::string check, env.ReadFile(check_path));
    auto opened = Open(key, check, kKeyCheckFile, check_path);
    if (!opened.ok() || *opened != kKeyCheckText) {
      return Status::PermissionDenied("--master-key-file " + key_file +
                                      " is not the key this state directory was sealed with");
    }
  } else {
    // The first start with a key: from now on this key, and only it, opens the directory.
    AIMASS_ASSIGN_OR_RETURN(std::string check, Seal(key, kKeyCheckText, kKeyCheckFile));
    AIMASS_RETURN_IF_ERROR(env.WriteFileAtomically(check_path, check));
  }
  return std::optional<MasterKey>(std::move(key));
}

// Whatever a job, a dataset or a profile may read is readable by every viewer (column names,
// statistics, error texts); the service's own secrets must not be. So the state directory
// (tokens, sealed artifacts, configs) and the key files may not overlap a data root in either
// direction, once every link is resolved.
Status CheckSecretsOutsideRoots(const DataRoots& roots, const std::string& state_dir, const ServiceOptions& options) {
  for (const std::string& root : roots.roots()) {
    if (IsInside(state_dir, root) || IsInside(root, state_dir)) {
      return Status::InvalidArgument("--state-dir " + state_dir + " and --data-root " + root +
                                     " overlap: jobs could read the service's tokens and artifacts; "
                                     "keep the state directory outside every data root");
    }
  }
  const std::pair<const char*, std::string> key_files[] = {{"--master-key-file", options.master_key_file},
                                                           {"--tls-key", options.tls_key_file}};
  for (const auto& [flag, file] : key_files) {
    if (file.empty()) continue;
    std::error_code error;
    const std::string resolved = std::filesystem::weakly_canonical(file, error).string();
    if (error) continue;  // reported by whatever reads it
    for (const std::string& root : roots.roots()) {
      if (IsInside(resolved, root)) {
        return Status::InvalidArgument(std::string(flag) + " " + file + " lies inside --data-root " + root +
                                       ": jobs and dataset profiles could read it; keep it outside every data root");
      }
    }
  }
  return Status::Ok();
}

// Every opened copy of a sealed model (model_registry.h), and those that servers before
// schema 8 opened beside the replicas' logs (serving/<set>/model).
Status RemoveOpenedCopies(const std::string& state_dir) {
  std::vector<std::string> copies = {OpenedCopiesDirectory(state_dir)};
  std::error_code error;
  for (const auto& set : std::filesystem::directory_iterator(state_dir + "/serving", error)) {
    copies.push_back(set.path().string() + "/model");
  }
  for (const std::string& copy : copies) {
    std::filesystem::remove_all(copy, error);
    if (error) return Status::IOError(copy + ": cannot remove an opened model a crash left: " + error.message());
  }
  return Status::Ok();
}

// The description of the admin token the service makes for itself (admin.token).
constexpr char kServiceAdminTokenDescription[] = "admin";

// Jobs a crashed server left running: what their launches left behind (their processes) is
// ended first, then each goes back to the queue, resumed where it was (its config's
// `on_interrupt`, DecideOnInterrupt), or becomes interrupted. A crash during this leaves the
// job running, and the next start does it again.
void RecoverFromCrash(SharedStore& store) {
  auto running = store.With([](StateStore& state) { return state.ListRunningJobIds(); });
  if (!running.ok()) {
    std::fprintf(stderr, "aimass: warning: cannot list the jobs a stopped server left running: %s\n",
                 running.status().message().c_str());
    return;
  }
  for (int64_t id : *running) {
    auto job = store.With([&](StateStore& state) { return state.GetJob(id); });
    if (!job.ok()) continue;
    const int ended = KillTaggedProcesses(job->process_tag);
    const InterruptDecision decision = DecideOnInterrupt(*job);
    const std::string target = "job " + std::to_string(id) + " (" + std::to_string(ended) + " leftover processes ended";
    Status recovered = store.With([&](StateStore& state) -> Status {
      AIMASS_RETURN_IF_ERROR(state.RecoverInterruptedJob(id, decision.resume, decision.error));
      return state.Audit("system", decision.resume ? "job.resume" : "job.interrupted",
                         target + (decision.resume ? ", resume " + std::to_string(job->resumes + 1) + ")" : ")"),
                         "-");
    });
    if (!recovered.ok()) {
      std::fprintf(stderr, "aimass: warning: job %lld: %s\n", static_cast<long long>(id), recovered.message().c_str());
    } else if (decision.resume) {
      std::printf("aimass: job %lld was running when the server stopped: queued again to resume "
                  "(resume %u; %d leftover processes ended)\n",
                  static_cast<long long>(id), job->resumes + 1, ended);
    } else {
      std::printf("aimass: job %lld was running when the server stopped: interrupted, %s (%d leftover processes "
                  "ended)\n",
                  static_cast<long long>(id), decision.error.c_str(), ended);
    }
  }
}

}  // namespace

int RunService(const ServiceOptions& options) {
  // SIGINT and SIGTERM are taken by sigwait below; blocked before any thread exists, so that
  // every thread inherits the mask and none is interrupted by them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  if (options.state_dir.empty()) return Fail("--state-dir is required");
  auto listen = ParseListen(options.listen);
  if (!listen.ok()) return Fail(listen.status().message());
  const bool tls = !options.tls_cert_file.empty() || !options.tls_key_file.empty();
  if (!listen->loopback && !tls) {
    if (!options.insecure_listen) {
      return Fail("--listen " + options.listen + " is reachable from other hosts: give --tls-cert and " +
                  "--tls-key, or --insecure-listen to send tokens in clear text anyway");
    }
    std::fprintf(stderr, "aimass: warning: serving on %s without TLS: tokens and data cross the network "
                         "in clear text (--insecure-listen)\n", options.listen.c_str());
  }
  if (!options.hostfile.empty() && ::access(options.hostfile.c_str(), R_OK) != 0) {
    return Fail("--hostfile " + options.hostfile + ": " + std::strerror(errno));
  }
  AlertCenterOptions alerting;
  if (!options.alert_webhook.empty()) {
    auto webhook = ParseWebhookUrl(options.alert_webhook);
    if (!webhook.ok()) return Fail(webhook.status().message());
    alerting.webhook = *webhook;
  }
  auto roots = DataRoots::Create(options.data_roots);
  if (!roots.ok()) return Fail(roots.status().message());
  if (roots->roots().empty()) {
    std::fprintf(stderr, "aimass: warning: no --data-root: jobs that name data or output paths are refused\n");
  }

  std::error_code made;
  std::filesystem::create_directories(options.state_dir, made);
  if (made) return Fail("--state-dir " + options.state_dir + ": " + made.message());
  ::chmod(options.state_dir.c_str(), 0700);  // tokens, configs and models of every user live here
  const std::string state_dir = std::filesystem::canonical(options.state_dir).string();
  Status separate = CheckSecretsOutsideRoots(*roots, state_dir, options);
  if (!separate.ok()) return Fail(separate.message());
  // One server per state directory: a second one would take the first's running jobs for a
  // crash's leftovers and end them.
  auto server_lock = Env::Default().LockFile(state_dir + "/serve.lock");
  if (!server_lock.ok()) {
    return Fail("--state-dir " + state_dir + " is in use by another aimass-coordinator serve (" +
                server_lock.status().message() + ")");
  }
  auto opened = StateStore::Open(state_dir);
  if (!opened.ok()) return Fail(opened.status().message());
  SharedStore store(std::move(opened).value());

  // Before anything else is done with the state: a wrong key stops the server here, not at
  // the first job that needs a model.
  auto key = LoadStateKey(state_dir, options.master_key_file);
  if (!key.ok()) return Fail(key.status().message());
  if (*key) std::printf("aimass: registered models are encrypted at rest (AES-256-GCM)\n");

  // Opened copies of sealed models: whatever a crash left is plaintext nobody uses any more.
  Status wiped = RemoveOpenedCopies(state_dir);
  if (!wiped.ok()) return Fail(wiped.message());
  RecoverFromCrash(store);

  const std::string token_path = state_dir + "/admin.token";
  auto tokens = store.With([](StateStore& state) { return state.CountTokens(); });
  if (!tokens.ok()) return Fail(tokens.status().message());
  if (*tokens == 0 || options.reset_admin_token) {
    const bool reset = *tokens > 0;
    auto issued = store.With([&](StateStore& state) -> Result<IssuedToken> {
      // A reset revokes the admin tokens the service made for itself (the one admin.token held,
      // which may be lost or leaked); tokens people made through the API stay.
      std::vector<int64_t> revoked;
      if (reset) {
        AIMASS_ASSIGN_OR_RETURN(std::vector<TokenRecord> existing, state.ListTokens());
        for (const TokenRecord& token : existing) {
          if (token.role != Role::kAdmin || token.description != kServiceAdminTokenDescription) continue;
          AIMASS_RETURN_IF_ERROR(state.RevokeToken(token.id));
          revoked.push_back(token.id);
        }
      }
      AIMASS_ASSIGN_OR_RETURN(IssuedToken token, state.IssueToken(Role::kAdmin, kServiceAdminTokenDescription));
      std::string target = "token " + std::to_string(token.id) + " (admin)";
      if (reset) {
        target += ", revoked";
        for (int64_t id : revoked) target += " " + std::to_string(id);
        if (revoked.empty()) target += " none";
      }
      AIMASS_RETURN_IF_ERROR(state.Audit("system", reset ? "token.reset" : "token.create", target, "-"));
      return token;
    });
    if (!issued.ok()) return Fail(issued.status().message());
    Status written = WriteSecretFile(token_path, issued->secret);
    if (!written.ok()) {
      (void)store.With([&](StateStore& state) { return state.RevokeToken(issued->id); });
      return Fail("writing the admin token: " + written.message());
    }
    std::printf("aimass: admin token written to %s (mode 0600)\n", token_path.c_str());
  } else if (::access(token_path.c_str(), F_OK) == 0) {
    std::printf("aimass: admin token in %s\n", token_path.c_str());
  }

  Env& env = Env::Default();
  // Data profiles are sealed under the same key as artifacts (a copy: the artifacts take theirs).
  ProfileFiles profiles(state_dir + "/profiles", env, key.value());
  ArtifactStore artifacts(state_dir + "/artifacts", env, std::move(key).value());
  ServiceMetrics metrics;
  AlertCenter alerts(std::move(alerting), store, metrics);
  SchedulerOptions scheduling;
  scheduling.alerts = &alerts;
  scheduling.state_dir = state_dir;
  scheduling.max_concurrent_jobs = options.max_concurrent_jobs;
  if (!options.hostfile.empty()) {
    scheduling.mpirun_args = {"--hostfile", std::filesystem::absolute(options.hostfile).string()};
  }
  JobScheduler scheduler(scheduling, store, *roots, artifacts, metrics, env);
  // Drift alerts go to the job's log and to the alert center.
  DataMonitoring monitoring(store, *roots, profiles, env, &alerts);
  scheduler.EnableDataMonitoring(&monitoring);
  DatasetProfiler dataset_profiler(store, profiles, env, *roots);

  ApiOptions api_options;
  api_options.state_dir = state_dir;
  api_options.ui_dir = options.ui_dir.empty()
                           ? (std::filesystem::path(coordinator::ExecutableDirectory()) / ".." / "share" / "aimass" / "ui")
                                 .lexically_normal()
                                 .string()
                           : options.ui_dir;
  Api api(api_options, store, scheduler, metrics, *roots);
  AddAlertRoutes(api.routes(), store);

  // Schedules: their routes, and the runner that queues their jobs through the same intake.
  JobIntake schedule_intake(
      state_dir, store, *roots,
      [&scheduler](const ModelReference& reference) { return scheduler.ResolveModel(reference); },
      [&scheduler] { scheduler.Wake(); });
  AddScheduleRoutes(api.routes(), store, schedule_intake, SystemWallClock);
  ScheduleRunnerOptions schedule_options;
  schedule_options.interval = std::chrono::milliseconds(options.schedule_interval_ms);
  schedule_options.misfire_grace_ms = std::max<int64_t>(60000, 3 * int64_t{options.schedule_interval_ms});
  ScheduleRunner schedule_runner(schedule_options, store, schedule_intake, env, SystemWallClock);

  ServingManagerOptions online_options;
  online_options.state_dir = state_dir;
  online_options.worker_binary = coordinator::ExecutableDirectory() + "/aimass-worker";
  online_options.profile_of = [&monitoring](const std::string& model, int64_t version) {
    return monitoring.ModelProfile(model, version);
  };
  online_options.alerts = &alerts;
  ServingManager online(online_options, store, artifacts, *roots, env);
  AddServingRoutes(api.routes(), online, store);

  // Datasets and data profiles.
  AddDataRoutes(api.routes(), store, monitoring, dataset_profiler, *roots);

  http::ServerOptions serving;
  serving.host = listen->host;
  serving.port = listen->port;
  serving.tls_cert_file = options.tls_cert_file;
  serving.tls_key_file = options.tls_key_file;
  serving.max_body_bytes = options.max_body_bytes;
  // Requests are refused on their head (401, 429, ...) before a body is read (docs/security.md).
  serving.admit = [&api](const http::Request& head) { return api.Admit(head); };
  auto server = http::Server::Start(serving, [&api](const http::Request& request) { return api.Handle(request); });
  if (!server.ok()) return Fail(server.status().message());
  const std::string shown_host = listen->host.find(':') != std::string::npos ? "[" + listen->host + "]" : listen->host;
  std::printf("aimass: serving %s://%s:%u/ (UI and API)\n", (*server)->tls() ? "https" : "http",
              shown_host.c_str(), static_cast<unsigned>((*server)->port()));
  std::fflush(stdout);
  scheduler.Start();
  online.Start();
  schedule_runner.Start();
  dataset_profiler.Start();

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::printf("aimass: %s: stopping (running jobs are cancelled, queued jobs stay queued)\n",
              signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  std::fflush(stdout);
  schedule_runner.Stop();  // first: no job is queued while the rest stops
  (*server)->Stop();
  online.Stop();
  scheduler.Shutdown();
  alerts.Stop();
  std::printf("aimass: stopped\n");
  return 0;
}

}  // namespace aimass::service
