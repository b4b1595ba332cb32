// The service's REST API and UI routes (docs/service.md): authentication by bearer token, the
// role each route needs, JSON in and out, errors as {"error", "code"} with the HTTP status
// their Status code maps to, an audit entry for every change and every refused attempt by a
// known token, request metrics labelled by route pattern, and failed token attempts limited
// per client address (429 with Retry-After, auth_limiter.h).
//
// Thread safety: Handle is called concurrently by the HTTP server's threads; everything it
// touches is the shared store (locked), the scheduler (thread-safe) and files.
#pragma once

#include <memory>
#include <string>

#include "coordinator/service/api_support.h"
#include "coordinator/service/http/http_server.h"
#include "coordinator/service/job_scheduler.h"
#include "coordinator/service/service_metrics.h"
#include "coordinator/service/shared_store.h"

namespace aimass::service {

struct ApiOptions {
  std::string state_dir;
  std::string ui_dir;  // the web UI's files (index.html, static files)
};

class Api {
 public:
  Api(ApiOptions options, SharedStore& store, JobScheduler& scheduler, ServiceMetrics& metrics,
      const DataRoots& roots);
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  http::Response Handle(const http::Request& request);
  // A request's head, before its body is read (http::ServerOptions::admit): the refusal that
  // Handle would give for a wrong route, a missing, unknown or blocked token or a role too
  // low, given at once; a failed token counts toward its address's limit (auth_limiter.h).
  http::Admission Admit(const http::Request& head);

  // Where the other parts of the platform add their routes (before the server starts).
  RouteTable& routes();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aimass::service
