// SplitReader: the worker's background reading for inference. A thread takes split assignments
// as they arrive, reads and decodes their records (common/tables/), normalizes the features and
// hands fixed-size batches to the inference thread through a short bounded queue, so decoding
// the next batch overlaps the forward pass of this one.
//
// The items of one split arrive in order: kSplitStart, any kBatch, then kSplitEnd or
// kSplitFailed. Under on_bad_record: fail the first bad record ends its split with a
// kSplitFailed that is not retryable; otherwise bad records ride along with their batch. A
// batch is sent once it holds batch_size good records or batch_size bad ones, so a split of
// nothing but bad records still moves through the bounded queue in batch-sized pieces.
// Thread safety: Pop is for one consumer thread; the rest is internal.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/config/train_config.h"
#include "common/data/data_profile.h"
#include "common/tables/table.h"

namespace aimass::worker {

struct SplitTask {
  uint64_t attempt_id = 0;
  std::string attempt_directory;  // where the attempt's files go (the coordinator names it)
  tables::Split split;
};

struct WorkItem {
  enum class Kind { kSplitStart, kBatch, kSplitEnd, kSplitFailed, kNoMoreWork };
  Kind kind = Kind::kBatch;
  uint64_t attempt_id = 0;
  uint32_t split = 0;
  std::string attempt_directory;          // kSplitStart
  std::vector<std::string> ids;           // kBatch
  std::vector<float> features;            // kBatch: ids.size() x feature_count, normalized
  std::vector<tables::BadRecord> bad;     // kBatch: bad records met since the previous batch
                                          // (at most batch_size; raw empty unless kept)
  uint64_t records_in = 0;                // kSplitEnd: records read, good and bad
  data::DriftCounts drift;                // kSplitEnd, when drift is on: the split's raw
                                          // features binned (no predicted classes yet)
  std::string error;                      // kSplitFailed
  bool retryable = true;                  // kSplitFailed
};

struct SplitReaderOptions {
  std::vector<tables::InputFile> files;
  tables::TableOptions table;
  uint32_t batch_size = 256;
  NormalizeConfig normalize{1.0f, 0.0f, 1.0f};
  bool fail_on_bad_record = true;
  bool keep_raw_bad_records = false;  // on_bad_record: quarantine; otherwise BadRecord::raw is empty
  size_t queue_depth = 4;  // batches decoded ahead of the model
  // A training profile's bin edges, one vector per feature (InferSpec.drift): every good record's
  // raw features are binned before normalization, as the profile was taken. Empty: no drift.
  std::vector<std::vector<double>> drift_edges;
};

class SplitReader {
 public:
  // `next_task` blocks until the next assignment, or returns nullopt when there will be none or
  // once its argument (the reader stopping) turns true, which it must poll while it waits.
  using NextTask = std::function<std::optional<SplitTask>(const std::atomic<bool>& stopping)>;
  SplitReader(SplitReaderOptions options, NextTask next_task);
  ~SplitReader();  // stops reading and joins
  SplitReader(const SplitReader&) = delete;
  SplitReader& operator=(const SplitReader&) = delete;

  WorkItem Pop();
  uint64_t records_read() const { return records_read_; }

 private:
  void Run();
  void ReadSplit(const SplitTask& task);
  bool Push(WorkItem item);  // false once stopping
  void Normalize(float* values, size_t count) const;

  SplitReaderOptions options_;
  NextTask next_task_;
  std::atomic<uint64_t> records_read_{0};
  std::atomic<bool> stopping_{false};

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<WorkItem> queue_;  // GUARDED_BY(mutex_)
  std::thread thread_;
};

}  // namespace aimass::worker
