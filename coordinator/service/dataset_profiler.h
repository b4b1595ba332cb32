// The dataset catalogue's profiling job: a thread of its own that takes registered datasets one
// at a time and reads each through the data stack (common/tables/: the same listing, splits and
// record readers as every job) to find its schema (columns and their inferred types), its
// record count and per-column statistics (data_profile.h), stored in ProfileFiles and recorded
// in the catalogue (store/data_catalog_store.h).
//
// Types: a column is "integer" when every value is a whole number, "number" when every value is
// a number, "string" when one of the first kTypeSniffRecords records holds something else in it
// (its values are counted, not profiled). A record that is bad for another reason (an empty
// numeric field, a short line) is counted as a bad record. Statistics are exact over every
// record (count, min, max, mean, std); histograms and quantiles come from an even sample of at
// most kDefaultProfileRecords records.
//
// It is an ordinary thread rather than a job in the queue: profiling needs no worker
// processes, and a long training job must not hold up a catalogue entry. Datasets left
// `profiling` by a stopped server are profiled again at start-up.
//
// Thread safety: Enqueue may be called from any thread; the destructor stops and joins (a
// profile under way is abandoned between two records and done again at the next start).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/config/table_input_config.h"
#include "common/data/data_profile.h"
#include "common/env.h"
#include "common/status.h"
#include "coordinator/service/data_roots.h"
#include "coordinator/service/profile_files.h"
#include "coordinator/service/shared_store.h"

namespace aimass::service {

constexpr uint64_t kTypeSniffRecords = 1000;

struct DatasetProfileResult {
  data::DataProfile profile;                  // numeric columns
  std::vector<std::pair<std::string, std::string>> schema;  // every column: name, type
  uint64_t records = 0;
  uint64_t bad_records = 0;
};

// A dataset's registration as the API takes it: the `input` block (read by the same code as a
// job's input, common/config/table_input_config.h) and an optional `schema` with `features`
// (the columns to profile; default: every column of a delimited table) and `id`.
struct DatasetSource {
  TableInputConfig input;
  std::vector<std::string> features;
  std::string id;
};
// `text`: {"input": {...}, "schema": {...}} as JSON or YAML. Errors name the dotted key.
[[nodiscard]] Result<DatasetSource> ParseDatasetSource(const std::string& text);

// Profiles the dataset whose registered request text is `request_json` ({"input": ...,
// "schema": ...}) at `input_path` (already confined). Errors name the file or key; kCancelled
// once `cancelled` (polled between records, may be empty) says so. `confine_to`: the resolved
// data roots every file of the table must lie in (a part file linked outside them fails the
// profile, kPermissionDenied, naming the file by its path in the table); empty: not confined.
[[nodiscard]] Result<DatasetProfileResult> ProfileDataset(const std::string& request_json,
                                                          const std::string& input_path, Env& env,
                                                          uint64_t max_sample = 20000,
                                                          const std::function<bool()>& cancelled = {},
                                                          const std::vector<std::string>& confine_to = {});

class DatasetProfiler {
 public:
  // References must outlive the profiler. Start picks up datasets left `profiling`. Tables are
  // read confined to `roots`.
  DatasetProfiler(SharedStore& store, ProfileFiles& profiles, Env& env, const DataRoots& roots);
  ~DatasetProfiler();
  DatasetProfiler(const DatasetProfiler&) = delete;
  DatasetProfiler& operator=(const DatasetProfiler&) = delete;

  void Start();
  void Enqueue(const std::string& name);

 private:
  void Run();
  void ProfileOne(const std::string& name);

  SharedStore& store_;
  ProfileFiles& profiles_;
  Env& env_;
  const DataRoots& roots_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::string> queue_;  // GUARDED_BY(mutex_)
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace aimass::service
