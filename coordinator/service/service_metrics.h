// The service's Prometheus metrics (prometheus-cpp's registry and text serializer): HTTP
// requests and their latency by route and status, jobs by state, job durations, and the
// throughput of running jobs. Thread-safe (prometheus-cpp's families lock themselves).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace aimass::service {

class ServiceMetrics {
 public:
  ServiceMetrics();
  ~ServiceMetrics();
  ServiceMetrics(const ServiceMetrics&) = delete;
  ServiceMetrics& operator=(const ServiceMetrics&) = delete;

  // `route` is the route's pattern ("/api/v1/jobs/{id}"), never the raw path: the label's
  // values stay few whatever clients send.
  void ObserveRequest(const std::string& route, const std::string& method, unsigned status,
                      double seconds);
  void ObserveJobFinished(const std::string& kind, const std::string& state, double seconds);
  // samples/s (train) or records/s (infer) of a running job; Forget when it ends.
  void SetJobThroughput(int64_t job_id, const std::string& kind, double per_second);
  void ForgetJob(int64_t job_id);
  // One alert raised (monitor/alert_center.h); kinds are the watchers' fixed few.
  void CountAlert(const std::string& kind, const std::string& severity);

  // The text exposition, with the job-state gauges set to `jobs_by_state` first.
  std::string Render(const std::map<std::string, int64_t>& jobs_by_state);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aimass::service
