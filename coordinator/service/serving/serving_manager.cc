#include "coordinator/service/serving/serving_manager.h"

#include <unistd.h>

#include <boost/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "common/config/job_config.h"
#include "common/data/dataset_index.h"
#include "models/model_catalog.h"

namespace aimass::service {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

void Say(const std::string& line) { std::fprintf(stderr, "aimass: serving: %s\n", line.c_str()); }

// Removes the opened copy of a sealed model once no replica reads it (plain: nothing to do).
void RemoveOpenedCopy(const ServedModel& served) {
  if (served.opened_copy.empty()) return;
  std::error_code error;
  std::filesystem::remove_all(served.opened_copy, error);
  if (error) Say("cannot remove the opened model " + served.opened_copy + ": " + error.message());
}

}  // namespace

ServingManager::ServingManager(ServingManagerOptions options, SharedStore& store, ArtifactStore& artifacts,
                               const DataRoots& roots, Env& env)
    : options_(std::move(options)), store_(store), artifacts_(artifacts), roots_(roots), env_(env) {}

ServingManager::~ServingManager() { Stop(); }

void ServingManager::Start() {
  auto configs = store_.With([](StateStore& store) { return store.ListServingConfigs(); });
  if (!configs.ok()) {
    Say("cannot read the serving configs: " + configs.status().message());
  } else {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [model, text] : *configs) {
      boost::system::error_code error;
      json::value value = json::parse(text, error);
      if (error || !value.is_object()) continue;
      auto config = ParseServingConfig(value.as_object());
      if (!config.ok()) continue;
      auto version = ResolveAlias(model, config->alias);
      if (!version.ok()) {
        Say("model " + model + ": not warmed: " + version.status().message());
        continue;
      }
      routes_[{model, config->alias}] = *version;
      auto set = StartSet(model, *version, *config);
      if (!set.ok()) {
        Say("model " + model + " version " + std::to_string(*version) + ": " + set.status().message());
        continue;
      }
      deployments_[{model, *version}] = Deployment{*set, nullptr, *config, Clock::now()};
    }
  }
  watcher_ = std::thread([this] { Watch(); });
}

void ServingManager::Stop() {
  std::vector<std::shared_ptr<ReplicaSet>> sets;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ && !watcher_.joinable()) return;
    stopping_ = true;
    for (auto& [key, deployment] : deployments_) {
      if (deployment.current) sets.push_back(deployment.current);
      if (deployment.next) sets.push_back(deployment.next);
    }
    deployments_.clear();
    routes_.clear();
    for (auto& set : draining_) sets.push_back(set);
    draining_.clear();
  }
  wake_.notify_all();
  if (watcher_.joinable()) watcher_.join();
  for (auto& set : sets) set->Stop();
  for (auto& set : sets) {
    const std::string& path = set->served().model_path;
    RemoveOpenedCopy(set->served());
  }
}

Result<int64_t> ServingManager::ResolveAlias(const std::string& model, const std::string& alias) {
  return store_.With([&](StateStore& store) -> Result<int64_t> {
    AIMASS_ASSIGN_OR_RETURN(ModelRecord record, store.GetModel(model));
    auto found = record.aliases.find(alias);
    if (found == record.aliases.end()) {
      return Status::NotFound("model '" + model + "' has no alias '" + alias + "'");
    }
    return found->second;
  });
}

Result<ServingConfig> ServingManager::ConfigOfLocked(const std::string& model) {
  auto configs = store_.With([](StateStore& store) { return store.ListServingConfigs(); });
  if (!configs.ok()) return configs.status();
  auto found = configs->find(model);
  if (found == configs->end()) return ServingConfig{};
  boost::system::error_code error;
  json::value value = json::parse(found->second, error);
  if (error || !value.is_object()) return Status::Corruption("the stored serving config of '" + model + "' is not JSON");
  return ParseServingConfig(value.as_object());
}

Result<ServingConfig> ServingManager::ConfigOf(const std::string& model) {
  std::lock_guard<std::mutex> lock(mutex_);
  return ConfigOfLocked(model);
}

Result<std::shared_ptr<ReplicaSet>> ServingManager::StartSet(const std::string& model, int64_t version,
                                                             const ServingConfig& config) {
  AIMASS_ASSIGN_OR_RETURN(ModelRecord record, store_.With([&](StateStore& store) { return store.GetModel(model); }));
  const ModelVersionRecord* found = nullptr;
  for (const ModelVersionRecord& candidate : record.versions) {
    if (candidate.version == version) found = &candidate;
  }
  if (found == nullptr) return Status::NotFound("model '" + model + "' has no version " + std::to_string(version));
  // The pid keeps the names of two server lifetimes apart (logs are kept across restarts).
  const std::string name = model + "-v" + std::to_string(version) + "-" + std::to_string(::getpid()) + "-" +
                           std::to_string(++generation_);
  const std::string dir = options_.state_dir + "/serving/" + name;  // the replicas' logs
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) return Status::IOError(dir + ": " + error.message());
  ServedModel served;
  served.model = model;
  served.version = version;
  // A sealed model is opened under the directory every start wipes, never beside the logs.
  const std::string opened = OpenedCopiesDirectory(options_.state_dir) + "/serving-" + name;
  // Removed on every way out but success (then the set's stop removes it).
  std::unique_ptr<ServedModel, void (*)(ServedModel*)> copy_guard(&served, [](ServedModel* s) { RemoveOpenedCopy(*s); });
  auto run_dir = artifacts_.Materialize(found->artifact_sha256, opened);
  if (run_dir.ok() && *run_dir == opened) served.opened_copy = opened;
  if (!run_dir.ok()) {
    served.opened_copy = opened;  // a partly written copy
    return run_dir.status();
  }
  AIMASS_ASSIGN_OR_RETURN(TrainConfig trained, LoadTrainConfig(*run_dir + "/config.yaml", env_));
  served.model_path = *run_dir + "/model.pt";
  served.config = trained.model;
  AIMASS_RETURN_IF_ERROR(models::ResolveModelConfig(served.config));
  served.values_per_record = models::ValuesPerSample(served.config.input_shape);
  served.normalize = trained.data.normalize;
  // Named records need the training table's feature columns; a table that is gone leaves
  // {"instances": ...} only.
  Result<std::vector<std::string>> features = Status::NotFound("no training table");
  auto table = roots_.Confine("data.train", trained.data.train.input.path);
  if (table.ok()) {
    DatasetSourceConfig source = trained.data.train;
    source.input.path = *table;
    features = data::FeatureColumns(source, env_);
  } else {
    features = table.status();
  }
  if (features.ok() && static_cast<int64_t>(features->size()) == served.values_per_record) {
    served.feature_columns = std::move(features).value();
  } else {
    Say("model " + model + " version " + std::to_string(version) + ": named records are not accepted (" +
        (features.ok() ? "the feature columns do not match the model's input" : features.status().message()) + ")");
  }

  WatchDrift(served, config);

  ReplicaSetOptions set;
  set.served = served;
  set.replicas = config.replicas;
  set.device = config.device;
  set.threads = config.threads;
  set.scores = config.scores;
  set.batching.max_batch_size = config.max_batch_size;
  set.batching.max_delay = std::chrono::milliseconds(config.max_delay_ms);
  set.batching.max_queued_records = config.max_queue;
  set.worker_binary = options_.worker_binary;
  set.log_dir = dir;
  AIMASS_ASSIGN_OR_RETURN(std::unique_ptr<ReplicaSet> started, ReplicaSet::Start(std::move(set)));
  copy_guard.release();  // the set owns the copy now
  Say("model " + model + " version " + std::to_string(version) + ": starting " + std::to_string(config.replicas) +
      " replica(s); logs in " + dir);
  return std::shared_ptr<ReplicaSet>(std::move(started));
}

void ServingManager::WatchDrift(const ServedModel& served, const ServingConfig& config) {
  const Key key{served.model, served.version};
  drift_windows_.erase(key);  // a new set starts a new window (its config may differ)
  if (!options_.profile_of || options_.alerts == nullptr || config.drift_window == 0) return;
  const std::string what = "model " + served.model + " version " + std::to_string(served.version);
  auto profile = options_.profile_of(served.model, served.version);
  if (!profile.ok()) {
    if (profile.status().code() != StatusCode::kNotFound) {
      Say(what + ": online traffic is not watched for drift: " + profile.status().message());
    }
    return;
  }
  if (static_cast<int64_t>(profile->features.size()) != served.values_per_record) {
    Say(what + ": online traffic is not watched for drift: the training profile has " +
        std::to_string(profile->features.size()) + " features, the model takes " +
        std::to_string(served.values_per_record) + " values");
    return;
  }
  DriftWindowOptions window;
  window.max_requests = config.drift_window;
  window.max_seconds = config.drift_window_seconds;
  window.min_requests = std::min<uint64_t>(window.min_requests, config.drift_window);
  DriftSubject subject;
  subject.model = served.model;
  subject.model_version = served.version;
  subject.source = "online traffic";
  drift_windows_[key] = std::make_shared<DriftWindow>(std::move(profile).value(), window, subject, *options_.alerts);
}

std::shared_ptr<DriftWindow> ServingManager::DriftWindowOf(const std::string& model, int64_t version) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = drift_windows_.find({model, version});
  return found == drift_windows_.end() ? nullptr : found->second;
}

Result<std::shared_ptr<ReplicaSet>> ServingManager::Acquire(const ServingTarget& target) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_) return Status::Unavailable("the server is shutting down");
  int64_t version = 0;
  if (target.version) {
    version = *target.version;
  } else {
    auto route = routes_.find({target.model, target.alias});
    if (route != routes_.end()) {
      version = route->second;
    } else {
      AIMASS_ASSIGN_OR_RETURN(version, ResolveAlias(target.model, target.alias));
      routes_[{target.model, target.alias}] = version;
    }
  }
  auto found = deployments_.find({target.model, version});
  if (found != deployments_.end() && found->second.current) {
    found->second.last_used = Clock::now();
    return found->second.current;
  }
  AIMASS_ASSIGN_OR_RETURN(ServingConfig config, ConfigOfLocked(target.model));
  AIMASS_ASSIGN_OR_RETURN(std::shared_ptr<ReplicaSet> set, StartSet(target.model, version, config));
  deployments_[{target.model, version}] = Deployment{set, nullptr, config, Clock::now()};
  return set;
}

Status ServingManager::Configure(const std::string& model, const ServingConfig& config, const std::string& actor) {
  Status stored = store_.With([&](StateStore& store) -> Status {
    AIMASS_RETURN_IF_ERROR(store.GetModel(model).status());
    return store.SetServingConfig(model, json::serialize(ServingConfigJson(config)), actor);
  });
  AIMASS_RETURN_IF_ERROR(stored);
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [key, deployment] : deployments_) {
    if (key.first != model || deployment.config == config) continue;
    if (deployment.next) {
      deployment.next->Drain();
      draining_.push_back(std::move(deployment.next));
    }
    auto set = StartSet(model, key.second, config);
    if (!set.ok()) return set.status();
    deployment.next = *set;
    deployment.config = config;
  }
  // Warm the alias it names.
  auto version = ResolveAlias(model, config.alias);
  if (version.ok()) {
    routes_.emplace(RouteKey{model, config.alias}, *version);
    Key key{model, routes_[{model, config.alias}]};
    if (deployments_.find(key) == deployments_.end()) {
      auto set = StartSet(model, key.second, config);
      if (!set.ok()) return set.status();
      deployments_[key] = Deployment{*set, nullptr, config, Clock::now()};
    }
  }
  wake_.notify_all();
  return Status::Ok();
}

Status ServingManager::Unserve(const std::string& model) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = routes_.begin(); it != routes_.end();) {
      it = it->first.first == model ? routes_.erase(it) : std::next(it);
    }
    for (auto it = deployments_.begin(); it != deployments_.end();) {
      if (it->first.first != model) {
        ++it;
        continue;
      }
      for (auto* set : {&it->second.current, &it->second.next}) {
        if (*set) {
          (*set)->Drain();
          draining_.push_back(std::move(*set));
        }
      }
      it = deployments_.erase(it);
    }
  }
  wake_.notify_all();
  Status deleted = store_.With([&](StateStore& store) { return store.DeleteServingConfig(model); });
  if (deleted.code() == StatusCode::kNotFound) return Status::Ok();  // served with defaults only
  return deleted;
}

Result<json::object> ServingManager::Describe(const std::string& model) {
  AIMASS_RETURN_IF_ERROR(store_.With([&](StateStore& store) { return store.GetModel(model).status(); }));
  std::lock_guard<std::mutex> lock(mutex_);
  AIMASS_ASSIGN_OR_RETURN(ServingConfig config, ConfigOfLocked(model));
  json::object routes;
  for (const auto& [key, version] : routes_) {
    if (key.first == model) routes[key.second] = version;
  }
  json::array deployments;
  for (const auto& [key, deployment] : deployments_) {
    if (key.first != model || !deployment.current) continue;
    const ReplicaSetStats stats = deployment.current->stats();
    const auto failed = deployment.current->failed();
    auto window = drift_windows_.find(key);
    json::value drift = nullptr;  // not watched
    if (window != drift_windows_.end()) drift = json::object{{"windows_closed", window->second->windows_closed()}};
    deployments.push_back(json::object{
        {"version", key.second},
        {"state", failed ? "failed" : deployment.current->ready() ? "ready" : "starting"},
        {"error", failed ? json::value(failed->message()) : json::value(nullptr)},
        {"replicas", stats.replicas},
        {"ready_replicas", stats.ready},
        {"restarts", stats.restarts},
        {"requests", stats.requests},
        {"batches", stats.batches},
        {"mean_batch_records", stats.batches ? static_cast<double>(stats.batched_records) / stats.batches : 0.0},
        {"queued_records", stats.queued_records},
        {"replacing", deployment.next != nullptr},
        {"named_records", !deployment.current->served().feature_columns.empty()},
        {"drift", std::move(drift)}});
  }
  return json::object{{"model", model},
                      {"config", ServingConfigJson(config)},
                      {"routes", std::move(routes)},
                      {"deployments", std::move(deployments)}};
}

void ServingManager::Watch() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, options_.poll);
    if (stopping_) break;
    lock.unlock();
    WatchOnce();
    lock.lock();
  }
}

void ServingManager::WatchOnce() {
  std::vector<std::shared_ptr<ReplicaSet>> finished;
  std::vector<std::shared_ptr<DriftWindow>> windows;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto now = Clock::now();
    std::vector<Key> switched;
    // Alias moves: the new version's set is started, and routed to once it is ready.
    for (auto& [route, version] : routes_) {
      auto moved = ResolveAlias(route.first, route.second);
      if (!moved.ok() || *moved == version) continue;
      Key key{route.first, *moved};
      auto found = deployments_.find(key);
      if (found == deployments_.end() || !found->second.current) {
        auto config = ConfigOfLocked(route.first);
        if (!config.ok()) continue;
        auto set = StartSet(route.first, *moved, *config);
        if (!set.ok()) {
          Say("model " + route.first + ": cannot serve version " + std::to_string(*moved) + ": " +
              set.status().message());
          continue;
        }
        found = deployments_.insert_or_assign(key, Deployment{*set, nullptr, *config, now}).first;
      }
      if (found->second.current->ready()) {
        Say("model " + route.first + " alias " + route.second + ": version " + std::to_string(version) + " -> " +
            std::to_string(*moved));
        switched.push_back(Key{route.first, version});
        version = *moved;
      }
    }
    // The versions routes left: drained now unless another alias still routes to them (a
    // request naming the version starts it again).
    for (const Key& old : switched) {
      bool routed = false;
      for (const auto& [route, version] : routes_) routed |= route.first == old.first && version == old.second;
      auto found = deployments_.find(old);
      if (routed || found == deployments_.end()) continue;
      for (auto* set : {&found->second.current, &found->second.next}) {
        if (*set) {
          (*set)->Drain();
          draining_.push_back(std::move(*set));
        }
      }
      deployments_.erase(found);
    }
    for (auto it = deployments_.begin(); it != deployments_.end();) {
      Deployment& deployment = it->second;
      // A replacement (a new config) takes over once ready.
      if (deployment.next && deployment.next->ready()) {
        deployment.current->Drain();
        draining_.push_back(std::move(deployment.current));
        deployment.current = std::move(deployment.next);
      } else if (deployment.next && deployment.next->failed()) {
        Say("model " + it->first.first + " version " + std::to_string(it->first.second) +
            ": the new config cannot be served: " + deployment.next->failed()->message());
        deployment.next->Drain();
        draining_.push_back(std::move(deployment.next));
      }
      // Sets no alias routes to, idle for idle_stop, stop.
      bool routed = false;
      for (const auto& [route, version] : routes_) routed |= route.first == it->first.first && version == it->first.second;
      if (!routed && now - deployment.last_used > options_.idle_stop) {
        for (auto* set : {&deployment.current, &deployment.next}) {
          if (*set) {
            (*set)->Drain();
            draining_.push_back(std::move(*set));
          }
        }
        it = deployments_.erase(it);
        continue;
      }
      ++it;
    }
    // Windows of versions no longer served are dropped (a part-filled window has no verdict);
    // the others are closed below when their time is up.
    for (auto it = drift_windows_.begin(); it != drift_windows_.end();) {
      if (deployments_.count(it->first) == 0) {
        it = drift_windows_.erase(it);
      } else {
        windows.push_back(it->second);
        ++it;
      }
    }
    for (auto it = draining_.begin(); it != draining_.end();) {
      if ((*it)->drained()) {
        finished.push_back(std::move(*it));
        it = draining_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& window : windows) (void)window->Tick();  // raises its alerts itself
  for (auto& set : finished) {
    set->Stop();
    const std::string& path = set->served().model_path;
    RemoveOpenedCopy(set->served());
  }
}

}  // namespace aimass::service
