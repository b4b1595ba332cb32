#include "worker/infer/split_reader.h"

#include <algorithm>
#include <exception>

#include "common/tables/record_reader.h"
#include "worker/infer/scorer.h"

namespace aimass::worker {

SplitReader::SplitReader(SplitReaderOptions options, NextTask next_task)
    : options_(std::move(options)), next_task_(std::move(next_task)) {
  thread_ = std::thread([this] { Run(); });
}

SplitReader::~SplitReader() {
  {
    // Under the lock: a Push about to wait must not miss the change.
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

WorkItem SplitReader::Pop() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [this] { return !queue_.empty(); });
  WorkItem item = std::move(queue_.front());
  queue_.pop_front();
  changed_.notify_all();
  return item;
}

bool SplitReader::Push(WorkItem item) {
  std::unique_lock<std::mutex> lock(mutex_);
  // Control items never wait: only batches are bounded.
  if (item.kind == WorkItem::Kind::kBatch) {
    changed_.wait(lock, [this] { return stopping_ || queue_.size() < options_.queue_depth; });
  }
  if (stopping_) return false;
  queue_.push_back(std::move(item));
  changed_.notify_all();
  return true;
}

void SplitReader::Run() {
  while (!stopping_) {
    std::optional<SplitTask> task = next_task_(stopping_);
    if (!task) break;
    ReadSplit(*task);
  }
  WorkItem last;
  last.kind = WorkItem::Kind::kNoMoreWork;
  Push(std::move(last));
}

void SplitReader::Normalize(float* values, size_t count) const {
  NormalizeInPlace(values, count, options_.normalize);
}

void SplitReader::ReadSplit(const SplitTask& task) {
  WorkItem start;
  start.kind = WorkItem::Kind::kSplitStart;
  start.attempt_id = task.attempt_id;
  start.attempt_directory = task.attempt_directory;
  start.split = task.split.index;
  if (!Push(std::move(start))) return;

  auto fail = [&](const std::string& error, bool retryable) {
    WorkItem failed;
    failed.kind = WorkItem::Kind::kSplitFailed;
    failed.attempt_id = task.attempt_id;
    failed.split = task.split.index;
    failed.error = error;
    failed.retryable = retryable;
    Push(std::move(failed));
  };
  if (task.split.file >= options_.files.size()) {
    fail("split names file " + std::to_string(task.split.file) + ", which the job does not list", false);
    return;
  }
  const size_t width = options_.table.feature_count;
  const size_t batch_size = std::max<size_t>(1, options_.batch_size);
  WorkItem batch;
  auto start_batch = [&] {
    batch = WorkItem();
    batch.ids.reserve(batch_size);
    batch.features.reserve(batch_size * width);
  };
  // Sends the batch (normalized) and starts the next; false once stopping.
  auto send_batch = [&] {
    Normalize(batch.features.data(), batch.features.size());
    batch.kind = WorkItem::Kind::kBatch;
    batch.attempt_id = task.attempt_id;
    batch.split = task.split.index;
    if (!Push(std::move(batch))) return false;
    start_batch();
    return true;
  };
  try {
    auto reader = tables::OpenRecordReader(options_.files[task.split.file], task.split, options_.table);
    if (!reader.ok()) {
      fail(reader.status().message(), true);
      return;
    }
    uint64_t records_in = 0;
    const bool drift = !options_.drift_edges.empty() && options_.drift_edges.size() == width;
    data::DriftHistogram drift_histogram;
    if (drift) drift_histogram = data::DriftHistogram(options_.drift_edges, 0);
    start_batch();
    tables::TableRecord record;
    tables::BadRecord bad;
    while (!stopping_) {
      auto outcome = (*reader)->Next(&record, &bad);
      if (!outcome.ok()) {
        fail(outcome.status().message(), true);
        return;
      }
      if (*outcome == tables::RecordReader::Outcome::kEnd) break;
      ++records_in;
      ++records_read_;
      if (*outcome == tables::RecordReader::Outcome::kBad) {
        if (options_.fail_on_bad_record) {
          fail("bad record at " + bad.location + ": " + bad.reason + " (on_bad_record: fail)", false);
          return;
        }
        if (options_.keep_raw_bad_records) {
          batch.bad.push_back(std::move(bad));
          bad = tables::BadRecord();
        } else {
          // Only location and reason travel; `bad` keeps its raw buffer for the next record.
          batch.bad.push_back(tables::BadRecord{std::move(bad.location), std::move(bad.reason), {}});
          bad.location.clear();
          bad.reason.clear();
          bad.raw.clear();
        }
        // Bad records count toward the batch too, so they never pile up past batch_size.
        if (batch.bad.size() >= batch_size && !send_batch()) return;
        continue;
      }
      if (drift) drift_histogram.Add(record.features.data(), -1);
      batch.ids.push_back(std::move(record.id));
      batch.features.insert(batch.features.end(), record.features.begin(), record.features.end());
      if (batch.ids.size() >= batch_size && !send_batch()) return;
    }
    if ((!batch.ids.empty() || !batch.bad.empty()) && !send_batch()) return;
    WorkItem end;
    end.kind = WorkItem::Kind::kSplitEnd;
    end.attempt_id = task.attempt_id;
    end.split = task.split.index;
    end.records_in = records_in;
    if (drift) end.drift = drift_histogram.Counts();
    Push(std::move(end));
  } catch (const std::exception& error) {
    fail(std::string("reading failed: ") + error.what(), true);
  }
}

}  // namespace aimass::worker
