#include "coordinator/service/serving/dynamic_batcher.h"

#include <algorithm>

namespace aimass::service {

Status DynamicBatcher::Enqueue(std::shared_ptr<PendingPrediction> request) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return Status::Unavailable("the model is not being served any more");
    // A request larger than the bound could never be admitted; it is admitted into an empty
    // queue so that the bound limits memory without making big requests impossible.
    if (queued_records_ + request->rows > options_.max_queued_records && queued_records_ > 0) {
      return Status::ResourceExhausted("the prediction queue is full (" +
                                       std::to_string(queued_records_) + " records waiting)");
    }
    queued_records_ += request->rows;
    queue_.push_back(std::move(request));
  }
  changed_.notify_all();
  return Status::Ok();
}

void DynamicBatcher::Requeue(std::vector<std::shared_ptr<PendingPrediction>> requests) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!closed_) {
      for (auto it = requests.rbegin(); it != requests.rend(); ++it) {
        queued_records_ += (*it)->rows;
        queue_.push_front(std::move(*it));
      }
      requests.clear();
    }
  }
  for (auto& request : requests) request->done(Status::Unavailable("the model is not being served any more"));
  changed_.notify_all();
}

void DynamicBatcher::DropExpired(std::unique_lock<std::mutex>& lock) {
  const auto now = PendingPrediction::Clock::now();
  std::vector<std::shared_ptr<PendingPrediction>> expired;
  while (!queue_.empty() && queue_.front()->deadline <= now) {
    queued_records_ -= queue_.front()->rows;
    expired.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  if (expired.empty()) return;
  lock.unlock();
  for (auto& request : expired) {
    request->done(Status::DeadlineExceeded("the prediction waited in the queue past its deadline"));
  }
  lock.lock();
}

std::vector<std::shared_ptr<PendingPrediction>> DynamicBatcher::NextBatch(std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(mutex_);
  const auto give_up = PendingPrediction::Clock::now() + wait;
  while (true) {
    DropExpired(lock);
    if (closed_) return {};
    if (!queue_.empty()) break;
    if (changed_.wait_until(lock, give_up) == std::cv_status::timeout) {
      DropExpired(lock);
      if (queue_.empty() || closed_) return {};
      break;
    }
  }
  // Fill: until max_batch_size records wait, or the oldest has waited max_delay.
  const auto fill_until = queue_.front()->enqueued + options_.max_delay;
  while (!closed_ && queued_records_ < options_.max_batch_size &&
         PendingPrediction::Clock::now() < fill_until) {
    changed_.wait_until(lock, fill_until);
    if (queue_.empty()) return {};  // closed, or answered as expired meanwhile
  }
  if (closed_) return {};
  std::vector<std::shared_ptr<PendingPrediction>> batch;
  uint32_t records = 0;
  while (!queue_.empty()) {
    const uint32_t rows = queue_.front()->rows;
    if (!batch.empty() && records + rows > options_.max_batch_size) break;
    records += rows;
    queued_records_ -= rows;
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return batch;
}

void DynamicBatcher::Close(const Status& why) {
  std::deque<std::shared_ptr<PendingPrediction>> left;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    left.swap(queue_);
    queued_records_ = 0;
  }
  changed_.notify_all();
  for (auto& request : left) request->done(why);
}

uint32_t DynamicBatcher::queued_records() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queued_records_;
}

}  // namespace aimass::service
