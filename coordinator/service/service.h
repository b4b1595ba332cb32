// `aimass-coordinator serve`: the platform service (docs/service.md). Wires the state store,
// the job scheduler, the REST API and the HTTP server together, recovers from a crash of an
// earlier run (leftover processes are ended, opened model copies wiped, running jobs queued
// again to resume or marked `interrupted` by their `on_interrupt`), makes the first admin token
// (or a new one, --reset-admin-token), and runs until SIGINT or SIGTERM, which cancel running
// jobs cleanly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace aimass::service {

struct ServiceOptions {
  std::string state_dir;
  std::string listen = "127.0.0.1:8470";  // HOST:PORT or [IPv6]:PORT; port 0 picks one
  std::vector<std::string> data_roots;
  uint32_t max_concurrent_jobs = 1;
  std::string tls_cert_file;
  std::string tls_key_file;
  bool insecure_listen = false;  // allow a non-loopback address without TLS
  size_t max_body_bytes = 1 << 20;
  std::string ui_dir;            // empty: share/aimass/ui beside the executable's bin/
  std::string hostfile;          // empty: every job's workers on this host
  std::string master_key_file;   // non-empty: registered model artifacts are stored sealed
  uint32_t schedule_interval_ms = 10000;  // how often the schedules are looked at
  std::string alert_webhook;     // non-empty: every alert is POSTed there (http:// or https://)
  // Revoke the admin tokens the service made for itself and write a new one to admin.token
  // (audited), before serving: the way back in when that file is lost or may have leaked.
  bool reset_admin_token = false;
};

// Runs the service until a signal stops it. The process's exit code.
int RunService(const ServiceOptions& options);

}  // namespace aimass::service
