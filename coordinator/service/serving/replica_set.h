// One model version served by N resident replicas (`aimass-worker serve`), each a process of
// its own that loads the model once. The set owns:
//   - a WorkerHub (the control plane: authenticated Protobuf over TCP, a secret per set),
//   - the replica processes (started, watched, restarted with backoff when they die),
//   - a DynamicBatcher, whose batches a dispatch thread sends to whichever replica is idle.
// A replica runs one batch at a time. When one dies (its process ends or its connection
// drops, or a batch takes longer than batch_timeout and it is killed), the requests of the
// batch it held go back to the front of the queue once; a second failure answers them with an
// error. A set whose replicas cannot start (the model does not load) fails every request with
// the replicas' own message and stops retrying after max_start_failures.
//
// LibTorch stays out of this process: the replicas hold the model; this side only moves
// floats. The replicas end themselves when the set's connection goes (the service crashed).
//
// Thread safety: every public method may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/config/train_config.h"
#include "common/status.h"
#include "coordinator/service/serving/dynamic_batcher.h"

namespace aimass::service {

// What a set serves: one model version, as its replicas load it.
struct ServedModel {
  std::string model;           // registry name
  int64_t version = 0;
  std::string model_path;      // model.pt (plain, or opened into a private directory)
  std::string opened_copy;     // that private directory (removed when the set stops); '' when plain
  ModelConfig config;          // resolved: name, input shape, classes
  NormalizeConfig normalize;   // the training run's
  std::vector<std::string> feature_columns;  // for {"records": ...}; empty: instances only
  int64_t values_per_record = 0;
};

struct ReplicaSetOptions {
  ServedModel served;
  uint32_t replicas = 1;
  std::string device = "cpu";     // auto | cpu | cuda
  uint32_t threads = 0;           // intra-op threads per replica; 0: cores / replicas
  std::string scores = "raw";     // raw | softmax
  BatcherOptions batching;
  std::chrono::milliseconds batch_timeout{std::chrono::seconds(60)};
  uint32_t max_start_failures = 5;  // consecutive replica starts that never became ready
  std::string worker_binary;        // aimass-worker
  std::string log_dir;              // replica-<i>.log files go here
};

struct ReplicaSetStats {
  uint32_t replicas = 0;
  uint32_t ready = 0;
  uint32_t restarts = 0;
  uint64_t requests = 0;   // answered with scores
  uint64_t batches = 0;
  uint64_t batched_records = 0;
  uint32_t queued_records = 0;
  std::string error;       // why the set failed, if it did
};

class ReplicaSet {
 public:
  // Starts the hub and the replicas and returns at once; requests queue until a replica is
  // ready. Errors: the hub cannot listen, the worker binary cannot be started.
  [[nodiscard]] static Result<std::unique_ptr<ReplicaSet>> Start(ReplicaSetOptions options);
  ~ReplicaSet();  // Stop()
  ReplicaSet(const ReplicaSet&) = delete;
  ReplicaSet& operator=(const ReplicaSet&) = delete;

  const ServedModel& served() const;

  // Queues a request (see DynamicBatcher::Enqueue): kResourceExhausted when the queue is
  // full, kUnavailable once the set drains, stops or failed.
  [[nodiscard]] Status Submit(std::shared_ptr<PendingPrediction> request);

  bool ready() const;                   // a replica has loaded the model
  std::optional<Status> failed() const;  // the replicas could not start; why

  // Refuses new requests and lets the queued and running ones finish; Stop afterwards (or
  // destroy) ends the replicas. drained() is true once nothing is left.
  void Drain();
  bool drained() const;

  // Answers whatever is left with kUnavailable, shuts the replicas down (Shutdown, then
  // SIGKILL after a grace period) and joins the threads; idempotent.
  void Stop();

  ReplicaSetStats stats() const;

 private:
  class Impl;
  explicit ReplicaSet(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace aimass::service
