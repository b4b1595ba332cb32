// Which model versions are served, by which replica sets, and which version each alias sends
// requests to. A request names a model and an alias (default production) or a version; the
// manager answers with the ReplicaSet that serves it, starting one if none runs (the request
// then waits in its queue while the replicas load the model).
//
// Moving an alias swaps with no failed request: a watcher (every `poll`) sees the move, starts
// the new version's replicas, and only once one of them is ready does the alias route to it;
// the old set then drains (finishes what it holds) and stops. A changed serving config
// replaces a model's sets the same way. Sets nobody routes to stop after `idle_stop`.
// A server restart warms every configured model's alias again.
//
// Online drift: a served version with a training profile gets a DriftWindow
// (monitor/drift_window.h) that the predict route feeds with every answered request's raw
// features and predicted classes; the watcher closes windows whose time is up.
//
// Thread safety: every public method may be called from any thread. Lock order: the
// manager's lock, then the store's; a ReplicaSet's callbacks never take the manager's lock.
#pragma once

#include <boost/json/object.hpp>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/data/data_profile.h"
#include "common/env.h"
#include "common/status.h"
#include "coordinator/service/data_roots.h"
#include "coordinator/service/model_registry.h"
#include "coordinator/service/monitor/alert_sink.h"
#include "coordinator/service/monitor/drift_window.h"
#include "coordinator/service/serving/replica_set.h"
#include "coordinator/service/serving/serving_config.h"
#include "coordinator/service/shared_store.h"

namespace aimass::service {

struct ServingManagerOptions {
  std::string state_dir;      // sets keep their logs and opened models in STATE/serving/
  std::string worker_binary;  // aimass-worker
  std::chrono::milliseconds poll{500};
  std::chrono::seconds idle_stop{600};
  // Online drift: the training profile of a version (kNotFound when it has none: its traffic
  // is not watched) and the sink its alerts go to. Either unset: no drift windows.
  std::function<Result<data::DataProfile>(const std::string& model, int64_t version)> profile_of;
  AlertSink* alerts = nullptr;
};

// What a prediction names: a version, or an alias (production when neither is given).
struct ServingTarget {
  std::string model;
  std::string alias = "production";
  std::optional<int64_t> version;
};

class ServingManager {
 public:
  // `roots` place a training table named by a relative path (for named records' columns).
  ServingManager(ServingManagerOptions options, SharedStore& store, ArtifactStore& artifacts,
                 const DataRoots& roots, Env& env);
  ~ServingManager();  // Stop()
  ServingManager(const ServingManager&) = delete;
  ServingManager& operator=(const ServingManager&) = delete;

  // Warms the configured models and starts the watcher.
  void Start();
  // Stops the watcher and every set (their queued requests get kUnavailable); idempotent.
  void Stop();

  // The set serving `target` now. kNotFound for an unknown model, version or alias.
  [[nodiscard]] Result<std::shared_ptr<ReplicaSet>> Acquire(const ServingTarget& target);

  // The stored config of `model`, or the defaults.
  [[nodiscard]] Result<ServingConfig> ConfigOf(const std::string& model);
  // Stores `config`, warms its alias and replaces the model's running sets with ones that
  // follow it (each swapped once ready). kNotFound for an unknown model.
  [[nodiscard]] Status Configure(const std::string& model, const ServingConfig& config,
                                 const std::string& actor);
  // Stops serving `model` (its sets drain) and forgets its config.
  [[nodiscard]] Status Unserve(const std::string& model);

  // The window watching `model` `version`'s online traffic for drift; null when it is not
  // watched (no training profile, a profile of another width, or drift_window 0).
  std::shared_ptr<DriftWindow> DriftWindowOf(const std::string& model, int64_t version);

  // {"config", "routes": {alias: version}, "deployments": [{version, state, replicas, ...}]}
  [[nodiscard]] Result<boost::json::object> Describe(const std::string& model);

 private:
  using Key = std::pair<std::string, int64_t>;          // model, version
  using RouteKey = std::pair<std::string, std::string>;  // model, alias
  struct Deployment {
    std::shared_ptr<ReplicaSet> current;
    std::shared_ptr<ReplicaSet> next;  // replacing `current` once ready (a new config)
    ServingConfig config;              // what `next`, or else `current`, follows
    std::chrono::steady_clock::time_point last_used;
  };

  Result<std::shared_ptr<ReplicaSet>> StartSet(const std::string& model, int64_t version,
                                               const ServingConfig& config);  // lock held
  void WatchDrift(const ServedModel& served, const ServingConfig& config);  // lock held
  Result<int64_t> ResolveAlias(const std::string& model, const std::string& alias);
  Result<ServingConfig> ConfigOfLocked(const std::string& model);
  void Watch();
  void WatchOnce();

  const ServingManagerOptions options_;
  SharedStore& store_;
  ArtifactStore& artifacts_;
  const DataRoots& roots_;
  Env& env_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::map<Key, Deployment> deployments_;        // GUARDED_BY(mutex_)
  std::map<RouteKey, int64_t> routes_;           // GUARDED_BY(mutex_)
  std::vector<std::shared_ptr<ReplicaSet>> draining_;  // GUARDED_BY(mutex_)
  std::map<Key, std::shared_ptr<DriftWindow>> drift_windows_;  // GUARDED_BY(mutex_)
  uint64_t generation_ = 0;                      // GUARDED_BY(mutex_): names set directories
  bool stopping_ = false;                        // GUARDED_BY(mutex_)
  std::thread watcher_;
};

}  // namespace aimass::service
