#include "coordinator/service/service_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <mutex>

namespace aimass::service {

class ServiceMetrics::Impl {
 public:
  Impl()
      : registry_(std::make_shared<prometheus::Registry>()),
        requests_(prometheus::BuildCounter()
                      .Name("aimass_http_requests_total")
                      .Help("HTTP requests by route, method and status code")
                      .Register(*registry_)),
        latency_(prometheus::BuildHistogram()
                     .Name("aimass_http_request_duration_seconds")
                     .Help("Time to answer an HTTP request, by route")
                     .Register(*registry_)),
        jobs_(prometheus::BuildGauge()
                  .Name("aimass_jobs")
                  .Help("Jobs in the store by state")
                  .Register(*registry_)),
        durations_(prometheus::BuildHistogram()
                       .Name("aimass_job_duration_seconds")
                       .Help("Wall time of finished jobs by kind and final state")
                       .Register(*registry_)),
        throughput_(prometheus::BuildGauge()
                        .Name("aimass_job_throughput_per_second")
                        .Help("Samples/s (train) or records/s (infer) of running jobs")
                        .Register(*registry_)),
        alerts_(prometheus::BuildCounter()
                    .Name("aimass_alerts_total")
                    .Help("Alerts raised by the platform's watchers, by kind and severity")
                    .Register(*registry_)) {}

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& latency_;
  prometheus::Family<prometheus::Gauge>& jobs_;
  prometheus::Family<prometheus::Histogram>& durations_;
  prometheus::Family<prometheus::Gauge>& throughput_;
  prometheus::Family<prometheus::Counter>& alerts_;
  std::mutex throughput_mutex_;  // guards the map of per-job gauges
  std::map<int64_t, prometheus::Gauge*> job_gauges_;
};

ServiceMetrics::ServiceMetrics() : impl_(std::make_unique<Impl>()) {}
ServiceMetrics::~ServiceMetrics() = default;

void ServiceMetrics::ObserveRequest(const std::string& route, const std::string& method,
                                    unsigned status, double seconds) {
  impl_->requests_.Add({{"route", route}, {"method", method}, {"code", std::to_string(status)}})
      .Increment();
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
  impl_->latency_.Add({{"route", route}}, kBuckets).Observe(seconds);
}

void ServiceMetrics::ObserveJobFinished(const std::string& kind, const std::string& state,
                                        double seconds) {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {1, 5, 15, 60, 300, 900, 3600,
                                                                   4 * 3600, 24 * 3600};
  impl_->durations_.Add({{"kind", kind}, {"state", state}}, kBuckets).Observe(seconds);
}

void ServiceMetrics::SetJobThroughput(int64_t job_id, const std::string& kind, double per_second) {
  std::lock_guard<std::mutex> lock(impl_->throughput_mutex_);
  auto& gauge = impl_->job_gauges_[job_id];
  if (gauge == nullptr) {
    gauge = &impl_->throughput_.Add({{"job", std::to_string(job_id)}, {"kind", kind}});
  }
  gauge->Set(per_second);
}

void ServiceMetrics::ForgetJob(int64_t job_id) {
  std::lock_guard<std::mutex> lock(impl_->throughput_mutex_);
  auto found = impl_->job_gauges_.find(job_id);
  if (found == impl_->job_gauges_.end()) return;
  impl_->throughput_.Remove(found->second);
  impl_->job_gauges_.erase(found);
}

void ServiceMetrics::CountAlert(const std::string& kind, const std::string& severity) {
  impl_->alerts_.Add({{"kind", kind}, {"severity", severity}}).Increment();
}

std::string ServiceMetrics::Render(const std::map<std::string, int64_t>& jobs_by_state) {
  for (const auto& [state, count] : jobs_by_state) {
    impl_->jobs_.Add({{"state", state}}).Set(static_cast<double>(count));
  }
  prometheus::TextSerializer serializer;
  return serializer.Serialize(impl_->registry_->Collect());
}

}  // namespace aimass::service
