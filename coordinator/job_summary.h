// The typed result of a finished job, as observers (job_observer.h) receive it. summary.json
// and the CLI's summary line are written from these structs, never read back from JSON by key.
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace aimass::coordinator {

// One restart of a training job after a lost worker (train_supervisor.h).
struct TrainRestart {
  uint32_t restart = 0;             // 1-based
  std::string reason;               // the failure that ended the attempt before it
  uint64_t resumed_from_step = 0;   // the checkpoint's step; 0 when none existed yet
};

struct TrainSummary {
  std::string run_dir;
  std::string model;
  uint32_t epochs = 0;  // completed epochs
  uint32_t workers = 0;
  uint64_t global_batch = 0;
  uint64_t steps = 0;
  uint64_t skipped_steps = 0;  // updates training.on_nonfinite: skip_step dropped
  uint64_t train_records = 0;  // training records an epoch covers: the table's, or data.limit
  uint64_t test_records = 0;   // records in the test dataset; 0 without one
  double samples_per_second = 0;
  double train_seconds = 0;
  double wall_seconds = 0;
  std::string model_path;
  std::string last_checkpoint;
  std::optional<uint64_t> resumed_from_step;  // where the last attempt started
  std::vector<TrainRestart> restarts;         // restarts after lost workers, in order
  // Absent when the run had no test set (or no epoch was evaluated).
  std::optional<double> test_accuracy;
  std::optional<double> test_loss;
};

// summary.json: the keys it has always had, null for an absent figure, plus the record counts.
boost::json::object ToJson(const TrainSummary& summary);

struct InferSummary {
  std::string output_path;
  uint64_t records_in = 0;
  uint64_t records_out = 0;
  uint64_t bad_records = 0;
  uint64_t splits = 0;
  uint64_t failed_attempts = 0;
  uint64_t resumed_splits = 0;
  double records_per_second = 0;
  double wall_seconds = 0;
  bool already_complete = false;  // an earlier run had written this job's complete output
};

// The figures above as JSON (the service's job summary).
boost::json::object ToJson(const InferSummary& summary);

// From a manifest (_SUCCESS), the one place where a summary comes from JSON: an earlier run's
// output found on disk. Missing figures read as 0.
InferSummary InferSummaryFromManifest(const boost::json::object& manifest);

}  // namespace aimass::coordinator
