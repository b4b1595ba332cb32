#include "coordinator/commands.h"

#include <boost/json.hpp>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/config/infer_config.h"
#include "common/config/job_config.h"
#include "common/data/convert.h"
#include "common/mpi/mpi_bootstrap.h"
#include "coordinator/console_observer.h"
#include "coordinator/infer/infer_job.h"
#include "coordinator/job_driver.h"
#include "coordinator/launch/local_mpirun_launcher.h"
#include "coordinator/launch/mpi_world_launcher.h"
#include "coordinator/service/monitor/monitored_observer.h"
#include "coordinator/service/service.h"
#include "coordinator/train_job.h"
#include "coordinator/train_supervisor.h"
#include "models/model_catalog.h"

namespace aimass::coordinator {
namespace {

const char kUsage[] =
    "usage:\n"
    "  aimass-coordinator train --config JOB.yaml [--workers N] [--resume | --overwrite]\n"
    "                           [--run-dir DIR] [--epochs N] [--hostfile FILE]\n"
    "                           [--mpirun-arg ARG]... [--quiet] [--bind ADDR] [--advertise HOST[,HOST]]\n"
    "      Under mpirun:  mpirun -np 1 aimass-coordinator train --config JOB.yaml : -np N aimass-worker\n"
    "      Local:         aimass-coordinator train --config JOB.yaml --workers N  (starts mpirun itself)\n"
    "  aimass-coordinator infer --config INFER.yaml [--workers N] [--model M] [--input DIR]\n"
    "                           [--output DIR] [--overwrite] [--hostfile FILE]\n"
    "                           [--mpirun-arg ARG]... [--quiet] [--bind ADDR] [--advertise HOST[,HOST]]\n"
    "      --hostfile: with --workers, the workers' hosts (an Open MPI hostfile; docs/multi-host.md).\n"
    "      --bind/--advertise: where the control plane listens and what workers are told\n"
    "      (default: 127.0.0.1 when every worker runs on this host; see docs/security.md).\n"
    "      Scores every record of an exported table (part files + _SUCCESS) into OUTPUT/part-*,\n"
    "      each record exactly once; the same command resumes an interrupted job.\n"
    "  aimass-coordinator serve --state-dir DIR [--listen 127.0.0.1:8470] [--data-root PATH]...\n"
    "                           [--max-concurrent-jobs N] [--tls-cert F --tls-key F]\n"
    "                           [--insecure-listen] [--max-body-bytes N] [--hostfile FILE] [--ui-dir DIR]\n"
    "                           [--master-key-file F] [--schedule-interval-ms N]\n"
    "                           [--alert-webhook URL] [--reset-admin-token]\n"
    "      The platform service: REST API and web UI, jobs, model registry (docs/service.md).\n"
    "      --reset-admin-token: revoke the service's own admin token, write a new one to\n"
    "      STATE/admin.token (0600, audited), then serve: for a lost or leaked token.\n"
    "  aimass-coordinator data convert --output DIR [--input IDX_DIR] [--shard-records N] [--limit N]\n"
    "      Fashion-MNIST IDX files into gzip CSV part files (train/ and test/).\n";

std::atomic<bool> g_interrupted{false};

void OnSignal(int) { g_interrupted = true; }

int Fail(const std::string& message) {
  std::fprintf(stderr, "aimass-coordinator: error: %s\n", message.c_str());
  return 1;
}

// --flag value pairs and bare --switches, in order; anything else is an error.
struct Arguments {
  std::map<std::string, std::vector<std::string>> values;
  std::map<std::string, bool> switches;

  std::string Get(const std::string& name, const std::string& fallback = "") const {
    auto found = values.find(name);
    return found == values.end() ? fallback : found->second.back();
  }
  bool Has(const std::string& name) const { return values.count(name) > 0; }
};

Result<Arguments> ParseArguments(int argc, char** argv, int first,
                                 const std::vector<std::string>& valued,
                                 const std::vector<std::string>& bare) {
  Arguments arguments;
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (std::find(bare.begin(), bare.end(), arg) != bare.end()) {
      arguments.switches[arg] = true;
    } else if (std::find(valued.begin(), valued.end(), arg) != valued.end()) {
      if (i + 1 >= argc) return Status::Error(arg + " needs a value");
      arguments.values[arg].push_back(argv[++i]);
    } else {
      return Status::Error("unknown argument '" + arg + "'");
    }
  }
  return arguments;
}

Result<uint64_t> ParseCount(const std::string& flag, const std::string& text) {
  try {
    size_t used = 0;
    long long value = std::stoll(text, &used);
    if (used == text.size() && value >= 0) return static_cast<uint64_t>(value);
  } catch (const std::exception&) {
  }
  return Status::Error(flag + ": '" + text + "' is not a non-negative integer");
}

std::string Absolute(const std::string& path) {
  if (path.empty()) return path;
  return std::filesystem::absolute(path).lexically_normal().string();
}

// Workers may start in another directory (or on another host sharing the filesystem).
void MakePathsAbsolute(TrainConfig& config) {
  config.run_dir = Absolute(config.run_dir);
  config.data.train.input.path = Absolute(config.data.train.input.path);
  config.data.test.input.path = Absolute(config.data.test.input.path);
  if (models::IsTorchScriptName(config.model.name)) {
    config.model.name = "torchscript:" + Absolute(models::TorchScriptPath(config.model.name));
  }
}

void InstallSignalHandlers() {
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGPIPE, SIG_IGN);
}

// The coordinator is one rank of an MPMD mpirun, or starts `mpirun ... aimass-worker` itself.
// `tolerate_worker_loss`: mpirun must let the job outlive a dead worker (--enable-recovery),
// because this job goes on without it.
Result<std::unique_ptr<WorkerLauncher>> CreateLauncher(const Arguments& arguments, int& argc,
                                                       char**& argv, bool under_mpirun,
                                                       bool tolerate_worker_loss) {
  if (under_mpirun) {
    if (arguments.Has("--workers")) {
      return Status::Error("--workers starts mpirun itself; under mpirun the worker count comes from -np");
    }
    if (arguments.Has("--hostfile")) {
      return Status::Error("--hostfile goes with --workers; under mpirun give it to mpirun");
    }
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    AIMASS_ASSIGN_OR_RETURN(MpiWorld world, JoinMpiWorld(ProcessRole::kCoordinator));
    return std::unique_ptr<WorkerLauncher>(std::make_unique<MpiWorldLauncher>(world));
  }
  if (!arguments.Has("--workers")) {
    return Status::Error("pass --workers N, or start under mpirun beside aimass-worker processes");
  }
  auto workers = ParseCount("--workers", arguments.Get("--workers"));
  if (!workers.ok() || *workers == 0) return Status::Error("--workers: must be a positive integer");
  LocalLaunchOptions options;
  options.workers = static_cast<uint32_t>(*workers);
  if (tolerate_worker_loss) options.mpirun_args.push_back("--enable-recovery");
  if (arguments.Has("--hostfile")) {
    // Checked here: mpirun's own message for a missing hostfile is a page of help text.
    const std::string hostfile = arguments.Get("--hostfile");
    if (::access(hostfile.c_str(), R_OK) != 0) {
      return Status::Error("--hostfile " + hostfile + ": " + std::strerror(errno));
    }
    options.mpirun_args.insert(options.mpirun_args.end(), {"--hostfile", Absolute(hostfile)});
  }
  if (arguments.Has("--mpirun-arg")) {
    const auto& extra = arguments.values.at("--mpirun-arg");
    options.mpirun_args.insert(options.mpirun_args.end(), extra.begin(), extra.end());
  }
  return std::unique_ptr<WorkerLauncher>(std::make_unique<LocalMpirunLauncher>(options));
}

struct ConfigFile {
  std::string path;
  std::string text;
};

Result<ConfigFile> ReadConfigFile(const Arguments& arguments) {
  if (!arguments.Has("--config")) return Status::Error(std::string("--config is required\n") + kUsage);
  ConfigFile file{arguments.Get("--config"), ""};
  AIMASS_ASSIGN_OR_RETURN(file.text, Env::Default().ReadFile(file.path));
  return file;
}

// Workers that exist are told to leave; `error` (if any) is printed. The exit code.
int CancelLaunch(WorkerLauncher& launcher, bool under_mpirun, const std::string& error) {
  launcher.Cancel();
  int code = error.empty() ? 0 : Fail(error);
  if (under_mpirun) FinishMpi(code);
  return code;
}

// The exit code of a job that ran: a failure is one line here; under MPMD the whole world is
// then ended with MPI_Abort, which a stopped or blocked worker cannot ignore (the driver and the
// supervisor, libraries, never end the process).
int EndRun(const Status& status, bool under_mpirun) {
  if (!status.ok()) {
    Fail(status.message());
    if (under_mpirun) {
      std::fflush(stdout);
      std::fflush(stderr);
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    return 1;
  }
  if (under_mpirun) FinishMpi(0);
  return 0;
}

// Where the hub listens and what workers are told to connect to (docs/security.md).
void SetListenAddress(const Arguments& arguments, JobDriverOptions& options) {
  options.bind_address = arguments.Get("--bind");
  options.advertise = arguments.Get("--advertise");
}

// Runs a prepared job (an InferJob) through a JobDriver; the observer prints its result.
int RunPreparedJob(DrivenJob& job, WorkerLauncher& launcher, bool under_mpirun, JobObserver& observer,
                   const Arguments& arguments) {
  JobDriverOptions options;
  options.interrupted = [] { return g_interrupted.load(); };
  SetListenAddress(arguments, options);
  JobDriver driver(std::move(options), launcher, observer);
  return EndRun(driver.Run(job), under_mpirun);
}

int Train(int argc, char** argv) {
  auto arguments = ParseArguments(argc, argv, 2,
                                  {"--config", "--workers", "--run-dir", "--epochs", "--mpirun-arg",
                                   "--hostfile", "--bind", "--advertise"},
                                  {"--resume", "--overwrite", "--quiet"});
  if (!arguments.ok()) return Fail(arguments.status().message() + "\n" + kUsage);
  auto file = ReadConfigFile(*arguments);
  if (!file.ok()) return Fail(file.status().message());
  Env& env = Env::Default();
  auto config = ParseTrainConfig(file->text, file->path);
  if (!config.ok()) return Fail(config.status().message());
  if (arguments->Has("--run-dir")) config->run_dir = arguments->Get("--run-dir");
  if (arguments->Has("--epochs")) {
    auto epochs = ParseCount("--epochs", arguments->Get("--epochs"));
    if (!epochs.ok() || *epochs == 0) return Fail("--epochs: must be a positive integer");
    config->epochs = static_cast<uint32_t>(*epochs);
  }
  MakePathsAbsolute(*config);
  InstallSignalHandlers();

  bool under_mpirun = LaunchedByMpirun();
  auto launcher = CreateLauncher(*arguments, argc, argv, under_mpirun, /*tolerate_worker_loss=*/false);
  if (!launcher.ok()) return Fail(launcher.status().message());
  ConsoleObserver console(stdout, arguments->switches.count("--quiet") > 0,
                          /*interactive=*/!under_mpirun);
  TrainJobOptions options;
  options.config = *config;
  options.config_text = file->text;
  options.resume = arguments->switches.count("--resume") > 0;
  options.overwrite = arguments->switches.count("--overwrite") > 0;
  if (options.resume && options.overwrite) return Fail("--resume and --overwrite exclude each other");

  // A lost worker is relaunched by the supervisor when this process started mpirun; under MPMD
  // mpirun owns the processes and ends the whole world (docs/training.md, section 6).
  TrainSupervisorOptions supervised;
  supervised.job = std::move(options);
  supervised.driver.interrupted = [] { return g_interrupted.load(); };
  SetListenAddress(*arguments, supervised.driver);
  if (under_mpirun) {
    if (config->max_restarts.value_or(0) > 0) {
      console.OnInfo("note: training.max_restarts does not apply under mpirun, which owns the "
                     "worker processes: a lost worker ends the job; run the same command with "
                     "--resume to continue from the newest checkpoint");
    }
  } else {
    supervised.max_restarts = config->max_restarts.value_or(kDefaultMaxRestarts);
    supervised.relaunch = [&arguments, &argc, &argv] {
      return CreateLauncher(*arguments, argc, argv, /*under_mpirun=*/false,
                            /*tolerate_worker_loss=*/false);
    };
  }
  // The training monitor's alerts as warning lines (docs/training.md, `monitor`).
  service::MonitoredObserver monitored(config->monitor, console);
  TrainSupervisor supervisor(std::move(supervised), env, monitored);
  Status prepared = supervisor.Prepare((*launcher)->worker_count());
  if (!prepared.ok()) return CancelLaunch(**launcher, under_mpirun, prepared.message());
  return EndRun(supervisor.Run(**launcher), under_mpirun);
}

int Infer(int argc, char** argv) {
  auto arguments = ParseArguments(
      argc, argv, 2, {"--config", "--workers", "--model", "--input", "--output", "--mpirun-arg",
                     "--hostfile", "--bind", "--advertise"},
      {"--overwrite", "--quiet"});
  if (!arguments.ok()) return Fail(arguments.status().message() + "\n" + kUsage);
  auto file = ReadConfigFile(*arguments);
  if (!file.ok()) return Fail(file.status().message());
  Env& env = Env::Default();
  auto config = ParseInferConfig(file->text, file->path);
  if (!config.ok()) return Fail(config.status().message());
  if (arguments->Has("--model")) config->model = arguments->Get("--model");
  if (arguments->Has("--input")) config->input.path = arguments->Get("--input");
  if (arguments->Has("--output")) config->output.path = arguments->Get("--output");
  config->model = Absolute(config->model);
  config->input.path = Absolute(config->input.path);
  config->output.path = Absolute(config->output.path);
  InstallSignalHandlers();

  bool under_mpirun = LaunchedByMpirun();
  auto launcher = CreateLauncher(*arguments, argc, argv, under_mpirun, /*tolerate_worker_loss=*/true);
  if (!launcher.ok()) return Fail(launcher.status().message());
  ConsoleObserver console(stdout, arguments->switches.count("--quiet") > 0,
                          /*interactive=*/!under_mpirun);
  if (under_mpirun && std::getenv("OMPI_MCA_orte_enable_recovery") == nullptr) {
    console.OnInfo("note: mpirun runs without --enable-recovery, so losing one worker ends the "
                  "whole job (run the same command again to resume it)");
  }
  InferJobOptions options;
  options.config = *config;
  options.overwrite = arguments->switches.count("--overwrite") > 0;
  InferJob job(std::move(options), env, console);

  Status prepared = job.Prepare((*launcher)->worker_count());
  if (!prepared.ok()) return CancelLaunch(**launcher, under_mpirun, prepared.message());
  if (job.already_complete()) {
    CancelLaunch(**launcher, under_mpirun, "");
    console.OnInfo("aimass: " + config->output.path +
                   " already holds this job's complete output; nothing to do");
    console.OnFinished(job.summary());
    return 0;
  }
  return RunPreparedJob(job, **launcher, under_mpirun, console, *arguments);
}

int Serve(int argc, char** argv) {
  auto arguments = ParseArguments(argc, argv, 2,
                                  {"--state-dir", "--listen", "--data-root", "--max-concurrent-jobs",
                                   "--tls-cert", "--tls-key", "--max-body-bytes", "--hostfile", "--ui-dir",
                                   "--master-key-file", "--schedule-interval-ms",
                                   "--alert-webhook"},
                                  {"--insecure-listen", "--reset-admin-token"});
  if (!arguments.ok()) return Fail(arguments.status().message() + "\n" + kUsage);
  service::ServiceOptions options;
  options.reset_admin_token = arguments->switches.count("--reset-admin-token") > 0;
  options.state_dir = arguments->Get("--state-dir");
  options.listen = arguments->Get("--listen", options.listen);
  if (arguments->Has("--data-root")) options.data_roots = arguments->values.at("--data-root");
  if (arguments->Has("--max-concurrent-jobs")) {
    auto jobs = ParseCount("--max-concurrent-jobs", arguments->Get("--max-concurrent-jobs"));
    if (!jobs.ok() || *jobs == 0 || *jobs > 1024) return Fail("--max-concurrent-jobs: must be 1 to 1024");
    options.max_concurrent_jobs = static_cast<uint32_t>(*jobs);
  }
  if (arguments->Has("--max-body-bytes")) {
    auto bytes = ParseCount("--max-body-bytes", arguments->Get("--max-body-bytes"));
    if (!bytes.ok() || *bytes < 1024 || *bytes > (1ull << 30)) return Fail("--max-body-bytes: must be 1024 to 1073741824");
    options.max_body_bytes = static_cast<size_t>(*bytes);
  }
  options.tls_cert_file = arguments->Get("--tls-cert");
  options.tls_key_file = arguments->Get("--tls-key");
  options.insecure_listen = arguments->switches.count("--insecure-listen") > 0;
  options.hostfile = arguments->Get("--hostfile");
  options.ui_dir = arguments->Get("--ui-dir");
  options.master_key_file = arguments->Get("--master-key-file");
  if (arguments->Has("--schedule-interval-ms")) {
    auto interval = ParseCount("--schedule-interval-ms", arguments->Get("--schedule-interval-ms"));
    if (!interval.ok() || *interval < 50 || *interval > 3600000) {
      return Fail("--schedule-interval-ms: must be 50 to 3600000");
    }
    options.schedule_interval_ms = static_cast<uint32_t>(*interval);
  }
  options.alert_webhook = arguments->Get("--alert-webhook");
  return service::RunService(options);
}

int DataCommand(int argc, char** argv) {
  if (argc < 3 || std::string(argv[2]) != "convert") {
    return Fail(std::string("unknown data command\n") + kUsage);
  }
  auto arguments =
      ParseArguments(argc, argv, 3, {"--input", "--output", "--shard-records", "--limit"}, {});
  if (!arguments.ok()) return Fail(arguments.status().message() + "\n" + kUsage);
  if (!arguments->Has("--output")) return Fail("data convert: --output is required");
  data::ConvertOptions options;
  options.idx_dir = arguments->Get("--input", options.idx_dir);
  options.output_dir = arguments->Get("--output");
  if (arguments->Has("--shard-records")) {
    auto records = ParseCount("--shard-records", arguments->Get("--shard-records"));
    if (!records.ok() || *records == 0) return Fail("--shard-records: must be a positive integer");
    options.records_per_shard = *records;
  }
  if (arguments->Has("--limit")) {
    auto limit = ParseCount("--limit", arguments->Get("--limit"));
    if (!limit.ok()) return Fail(limit.status().message());
    options.limit = *limit;
  }
  auto summary = data::ConvertIdxDataset(options, Env::Default());
  if (!summary.ok()) return Fail(summary.status().message());
  std::printf("wrote %llu train records in %u shards and %llu test records in %u shards to %s\n",
              static_cast<unsigned long long>(summary->train_records), summary->train_shards,
              static_cast<unsigned long long>(summary->test_records), summary->test_shards,
              options.output_dir.c_str());
  return 0;
}

}  // namespace

int CoordinatorMain(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::string command = argv[1];
  if (command == "train") return Train(argc, argv);
  if (command == "infer") return Infer(argc, argv);
  if (command == "data") return DataCommand(argc, argv);
  if (command == "serve") return Serve(argc, argv);
  if (command == "--help" || command == "-h" || command == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  return Fail("unknown command '" + command + "'\n" + kUsage);
}

}  // namespace aimass::coordinator
