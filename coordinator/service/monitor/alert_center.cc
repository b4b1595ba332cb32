#include "coordinator/service/monitor/alert_center.h"

#include <boost/json.hpp>

#include <algorithm>

#include "coordinator/service/api_support.h"
#include "coordinator/service/monitor/alert_store.h"

namespace aimass::service {

namespace json = boost::json;

namespace {

int64_t SystemMilliseconds() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

AlertCenter::AlertCenter(AlertCenterOptions options, SharedStore& store, ServiceMetrics& metrics)
    : options_(std::move(options)), store_(store), metrics_(metrics) {
  if (!options_.clock) options_.clock = SystemMilliseconds;
  if (!options_.post) options_.post = PostJson;
  if (options_.max_attempts == 0) options_.max_attempts = 1;
  if (options_.queue_capacity == 0) options_.queue_capacity = 1;
  if (options_.webhook) sender_ = std::thread([this] { Deliver(); });
}

AlertCenter::~AlertCenter() { Stop(); }

void AlertCenter::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (sender_.joinable()) sender_.join();
}

void AlertCenter::Log(const std::string& line) {
  std::fprintf(options_.log, "aimass: %s\n", line.c_str());
  std::fflush(options_.log);
}

std::string AlertCenter::Payload(int64_t id, int64_t at_ms, const Alert& alert) {
  auto optional = [](const std::optional<int64_t>& value) {
    return value ? json::value(*value) : json::value(nullptr);
  };
  return json::serialize(json::object{{"id", id},
                                      {"at", IsoTime(at_ms)},
                                      {"kind", alert.kind},
                                      {"severity", AlertSeverityName(alert.severity)},
                                      {"job", optional(alert.job_id)},
                                      {"model", alert.model.empty() ? json::value(nullptr) : json::value(alert.model)},
                                      {"version", optional(alert.model_version)},
                                      {"subject", alert.subject},
                                      {"message", alert.message},
                                      {"details", ParseStored(alert.details_json)}});
}

void AlertCenter::Raise(const Alert& alert) {
  const int64_t at_ms = options_.clock();
  metrics_.CountAlert(alert.kind, AlertSeverityName(alert.severity));
  auto stored = store_.With([&](StateStore& state) { return AlertStore(state.database()).Insert(alert, at_ms); });
  const std::string job = alert.job_id ? "job " + std::to_string(*alert.job_id) + ": " : "";
  if (!stored.ok()) {
    Log(std::string(AlertSeverityName(alert.severity)) + " " + alert.kind + ": " + job + alert.message +
        " (not stored: " + stored.status().message() + ")");
  } else {
    Log(std::string(AlertSeverityName(alert.severity)) + " " + alert.kind + " (alert " + std::to_string(*stored) +
        "): " + job + alert.message);
  }
  if (!options_.webhook) return;
  const int64_t id = stored.ok() ? *stored : 0;
  bool dropped = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return;
    if (queue_.size() >= options_.queue_capacity) {
      dropped = true;
    } else {
      queue_.push_back(Delivery{id, Payload(id, at_ms, alert)});
    }
  }
  if (dropped) {
    Log("alert webhook: the delivery queue is full (" + std::to_string(options_.queue_capacity) +
        " alerts): alert " + std::to_string(id) + " is not delivered");
    return;
  }
  wake_.notify_all();
}

void AlertCenter::Deliver() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    Delivery delivery = std::move(queue_.front());
    queue_.pop_front();
    std::chrono::milliseconds backoff = options_.first_backoff;
    for (uint32_t attempt = 1;; ++attempt) {
      lock.unlock();
      Status posted = options_.post(*options_.webhook, delivery.body, options_.attempt_timeout);
      lock.lock();
      if (posted.ok()) {
        if (attempt > 1) {
          Log("alert webhook: alert " + std::to_string(delivery.id) + " delivered at attempt " +
              std::to_string(attempt));
        }
        break;
      }
      if (attempt >= options_.max_attempts) {
        Log("alert webhook: giving up alert " + std::to_string(delivery.id) + " after " +
            std::to_string(attempt) + " attempts: " + posted.message());
        break;
      }
      // A stop ends the wait at once; the alert stays in the store.
      if (wake_.wait_for(lock, backoff, [this] { return stopping_; })) return;
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
  }
}

}  // namespace aimass::service
