// Dynamic batching for online prediction, as Triton does it: requests wait in one bounded
// queue, and a free replica takes a batch of up to `max_batch_size` records — at once when that
// many are waiting, otherwise once the oldest has waited `max_delay` — so that under load one
// forward pass serves many requests, and alone a request waits at most `max_delay`.
//
// The queue is bounded (`max_queued_records`): a request that does not fit is refused at once
// (the API answers 503 with Retry-After), never queued without limit. A request whose deadline
// passes while it waits is answered with kDeadlineExceeded and not sent to a replica.
//
// Torch-free and socket-free: replica_set.h feeds it and sends its batches.
// Thread safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "common/status.h"

namespace aimass::service {

// What a prediction gets back: rows x width scores, row-major.
struct PredictionScores {
  uint32_t rows = 0;
  uint32_t width = 0;
  std::vector<float> scores;
  int64_t model_version = 0;
};

// One request on its way: its records and where its answer goes. `done` is called exactly once.
struct PendingPrediction {
  using Clock = std::chrono::steady_clock;
  uint32_t rows = 0;
  std::vector<float> features;  // rows x values per record, raw (the replica normalizes)
  Clock::time_point enqueued;
  Clock::time_point deadline;
  bool retried = false;  // sent once to a replica that failed: a second failure is final
  std::function<void(Result<PredictionScores>)> done;
};

struct BatcherOptions {
  uint32_t max_batch_size = 32;                         // records per batch
  std::chrono::microseconds max_delay{5000};            // the longest a batch waits to fill
  uint32_t max_queued_records = 4096;                   // beyond this, requests are refused
};

class DynamicBatcher {
 public:
  explicit DynamicBatcher(BatcherOptions options) : options_(options) {}

  // Queues `request`, or kResourceExhausted when the queue cannot take its records (it is not
  // queued and `done` is not called), or kUnavailable once closed.
  [[nodiscard]] Status Enqueue(std::shared_ptr<PendingPrediction> request);

  // Puts requests back at the front (a replica failed while holding them), in order; they do
  // not count against the bound (they were admitted once).
  void Requeue(std::vector<std::shared_ptr<PendingPrediction>> requests);

  // The next batch: waits up to `wait` for a first request, then until the batch is full or
  // its oldest request has waited max_delay. Empty when nothing came (or once closed). A single
  // request larger than max_batch_size is a batch of its own.
  std::vector<std::shared_ptr<PendingPrediction>> NextBatch(std::chrono::milliseconds wait);

  // Answers every queued request with `why` (kUnavailable) and refuses new ones.
  void Close(const Status& why);

  // Records waiting now (for /metrics and the serving status).
  uint32_t queued_records() const;

 private:
  // Answers (outside the lock) the expired requests at the front; returns with the lock held.
  void DropExpired(std::unique_lock<std::mutex>& lock);

  const BatcherOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::shared_ptr<PendingPrediction>> queue_;  // GUARDED_BY(mutex_)
  uint32_t queued_records_ = 0;                           // GUARDED_BY(mutex_)
  bool closed_ = false;                                   // GUARDED_BY(mutex_)
};

}  // namespace aimass::service
