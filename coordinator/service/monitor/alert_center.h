// The service's AlertSink: every alert a watcher raises is stored (alert_store.h, for
// GET /api/v1/alerts and the UI), counted (aimass_alerts_total{kind,severity} in /metrics),
// logged as one line, and, with --alert-webhook, POSTed as JSON to the webhook
// (docs/service.md, "Alerts and evaluation reports", for the payload).
//
// Delivery never blocks Raise: alerts wait in a bounded queue for one background thread; a
// full queue drops the alert's delivery (it is still stored and counted) with a logged line.
// Each delivery is tried up to max_attempts times, each attempt bounded by attempt_timeout,
// with exponential backoff between attempts (first_backoff, x2 each time, at most
// max_backoff); after the last failed attempt it is given up with a logged line.
//
// Thread safety: Raise may be called from any thread, concurrently. Ownership: the store and
// the metrics outlive the center; the destructor stops the delivery thread (Stop).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/status.h"
#include "coordinator/service/monitor/alert_sink.h"
#include "coordinator/service/monitor/webhook_client.h"
#include "coordinator/service/service_metrics.h"
#include "coordinator/service/shared_store.h"

namespace aimass::service {

struct AlertCenterOptions {
  std::optional<WebhookUrl> webhook;  // none: alerts are stored and counted only
  size_t queue_capacity = 1000;
  uint32_t max_attempts = 5;
  std::chrono::milliseconds first_backoff{1000};
  std::chrono::milliseconds max_backoff{60000};
  std::chrono::milliseconds attempt_timeout{10000};
  // Where the log lines go (stored, dropped, delivered late, given up).
  std::FILE* log = stdout;
  // Milliseconds since the Unix epoch: the alert's time.
  std::function<int64_t()> clock;
  // One delivery attempt; PostJson unless a test injects another.
  std::function<Status(const WebhookUrl&, const std::string&, std::chrono::milliseconds)> post;
};

class AlertCenter final : public AlertSink {
 public:
  AlertCenter(AlertCenterOptions options, SharedStore& store, ServiceMetrics& metrics);
  ~AlertCenter() override;
  AlertCenter(const AlertCenter&) = delete;
  AlertCenter& operator=(const AlertCenter&) = delete;

  void Raise(const Alert& alert) override;

  // Stops the delivery thread: the delivery under way ends after its current attempt; alerts
  // still queued are not delivered (they are in the store). Idempotent.
  void Stop();

  // The webhook's JSON payload of a stored alert (documented in docs/service.md).
  static std::string Payload(int64_t id, int64_t at_ms, const Alert& alert);

 private:
  struct Delivery {
    int64_t id = 0;
    std::string body;
  };
  void Deliver();
  void Log(const std::string& line);

  AlertCenterOptions options_;
  SharedStore& store_;
  ServiceMetrics& metrics_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Delivery> queue_;  // guarded by mutex_
  bool stopping_ = false;       // guarded by mutex_
  std::thread sender_;
};

}  // namespace aimass::service
