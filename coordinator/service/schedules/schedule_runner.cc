#include "coordinator/service/schedules/schedule_runner.h"

#include <fnmatch.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "coordinator/service/cron_schedule.h"

namespace aimass::service {
namespace {

// Partitions fired per schedule per look: a backlog of thousands drains over several looks
// instead of holding the store for one long burst.
constexpr size_t kMaxFiresPerLook = 100;
// Fire times walked per look: a minutely cron after a year of downtime is ~530000.
constexpr int kMaxCronSteps = 2000000;

// A cron fire's key: its minute, "2026-11-28T02:00Z".
std::string CronKey(int64_t time_s) {
  const std::time_t seconds = static_cast<std::time_t>(time_s);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%MZ", &parts);
  return text;
}

int64_t FloorDiv(int64_t value, int64_t by) { return value >= 0 ? value / by : -((-value + by - 1) / by); }

}  // namespace

int64_t SystemWallClock() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

ScheduleRunner::ScheduleRunner(ScheduleRunnerOptions options, SharedStore& store, const JobIntake& intake,
                               Env& env, WallClock clock)
    : options_(options), store_(store), intake_(intake), env_(env),
      clock_(clock ? std::move(clock) : WallClock(SystemWallClock)) {}

ScheduleRunner::~ScheduleRunner() { Stop(); }

void ScheduleRunner::Start() {
  std::lock_guard<std::mutex> guard(mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_) {
      lock.unlock();
      RunOnce();
      lock.lock();
      wake_.wait_for(lock, options_.interval, [this] { return stopping_; });
    }
  });
}

void ScheduleRunner::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::vector<int64_t> ScheduleRunner::RunOnce() {
  const int64_t now_ms = clock_();
  auto schedules = store_.With([](StateStore& store) { return ScheduleStore(store).List(); });
  if (!schedules.ok()) {
    std::fprintf(stderr, "aimass: warning: schedules: %s\n", schedules.status().message().c_str());
    return {};
  }
  std::vector<int64_t> queued;
  for (const ScheduleRecord& schedule : *schedules) {
    if (schedule.paused) continue;
    std::vector<int64_t> jobs = RunSchedule(schedule, now_ms);
    queued.insert(queued.end(), jobs.begin(), jobs.end());
  }
  return queued;
}

std::vector<int64_t> ScheduleRunner::RunSchedule(const ScheduleRecord& schedule, int64_t now_ms) {
  return schedule.on_data() ? RunOnData(schedule, now_ms) : RunCron(schedule, now_ms);
}

std::vector<int64_t> ScheduleRunner::RunCron(const ScheduleRecord& schedule, int64_t now_ms) {
  auto cron = CronSchedule::Parse(schedule.cron);
  if (!cron.ok()) {
    Refused(schedule, "cron", cron.status().message());
    return {};
  }
  const int64_t now_s = FloorDiv(now_ms, 1000);
  std::optional<int64_t> next = cron->NextAfter(FloorDiv(schedule.cron_cursor_ms, 1000));
  if (!next || *next > now_s) return {};
  // The latest due time; the earlier ones were missed (each would be older than it).
  int64_t latest = *next;
  int64_t missed = 0;
  for (int step = 0; step < kMaxCronSteps; ++step) {
    std::optional<int64_t> after = cron->NextAfter(latest);
    if (!after || *after > now_s) break;
    latest = *after;
    ++missed;
  }
  const int64_t latest_ms = latest * 1000;
  const bool on_time = now_ms - latest_ms <= options_.misfire_grace_ms;
  if (!on_time) {
    ++missed;  // the latest too
    if (schedule.misfire == Misfire::kSkip) {
      (void)store_.With([&](StateStore& store) -> Status {
        AIMASS_RETURN_IF_ERROR(ScheduleStore(store).SetCronCursor(schedule.id, latest_ms));
        return store.Audit("system", "schedule.skip",
                           "schedule " + std::to_string(schedule.id) + " (" + schedule.name + "): " +
                               std::to_string(missed) + " missed fire times up to " + CronKey(latest),
                           "-");
      });
      return {};
    }
  }
  FireValues values;
  values.time_ms = latest_ms;
  std::optional<int64_t> job = FireOne(schedule, CronKey(latest), values, latest_ms, now_ms);
  if (!job) return {};
  return {*job};
}

std::vector<int64_t> ScheduleRunner::RunOnData(const ScheduleRecord& schedule, int64_t now_ms) {
  auto entries = env_.ListDirectory(schedule.data_path);
  if (!entries.ok()) {
    // Not there yet is normal (the first export has not landed); anything else is reported.
    if (entries.status().code() != StatusCode::kNotFound) {
      Refused(schedule, "listing", entries.status().message());
    }
    return {};
  }
  auto fired = store_.With([&](StateStore& store) { return ScheduleStore(store).FiredKeys(schedule.id); });
  if (!fired.ok()) return {};
  std::vector<std::string> ready;
  for (const FileInfo& entry : *entries) {
    if (!entry.is_directory || fired->count(entry.name) > 0) continue;
    if (::fnmatch(schedule.data_partition.c_str(), entry.name.c_str(), FNM_PERIOD) != 0) continue;
    if (!SafePartitionName(entry.name)) {
      Refused(schedule, entry.name, "partition '" + entry.name +
                                        "': only letters, digits and . _ - = + are put into a config");
      continue;
    }
    if (!env_.Exists(JoinPath(JoinPath(schedule.data_path, entry.name), "_SUCCESS"))) continue;
    ready.push_back(entry.name);
  }
  std::sort(ready.begin(), ready.end());
  if (ready.size() > kMaxFiresPerLook) ready.resize(kMaxFiresPerLook);
  std::vector<int64_t> queued;
  for (const std::string& partition : ready) {
    FireValues values;
    values.partition = partition;
    values.partition_path = JoinPath(schedule.data_path, partition);
    values.time_ms = now_ms;
    if (std::optional<int64_t> job = FireOne(schedule, partition, values, std::nullopt, now_ms)) {
      queued.push_back(*job);
    }
  }
  return queued;
}

std::optional<int64_t> ScheduleRunner::FireOne(const ScheduleRecord& schedule, const std::string& key,
                                               const FireValues& values,
                                               std::optional<int64_t> cron_cursor_ms, int64_t now_ms) {
  auto config = RenderScheduledConfig(schedule.config_yaml, schedule.model, values);
  if (!config.ok()) {
    Refused(schedule, key, config.status().message());
    return std::nullopt;
  }
  auto checked = intake_.Check("infer", *config);
  if (!checked.ok()) {
    Refused(schedule, key, checked.status().message());
    return std::nullopt;
  }
  NewJob job;
  job.kind = "infer";
  job.config_yaml = *config;
  job.workers = schedule.workers;
  job.input_path = checked->input_path;
  job.model_reference = checked->model_reference;
  job.submitted_by = "schedule:" + std::to_string(schedule.id) + " (" + schedule.name + ")";
  const std::string what = "schedule " + std::to_string(schedule.id) + " (" + schedule.name + ") " + key;
  auto queued = intake_.Queue(
      job, AuditNote{"system", "schedule.fire", what, "-"},
      [&](StateStore& store, const NewJob& insert) {
        return ScheduleStore(store).Fire(schedule.id, key, insert, cron_cursor_ms, now_ms);
      });
  if (!queued.ok()) {
    std::fprintf(stderr, "aimass: warning: %s: %s\n", what.c_str(), queued.status().message().c_str());
    return std::nullopt;
  }
  if (*queued) {
    std::printf("aimass: %s: queued job %lld\n", what.c_str(), static_cast<long long>(**queued));
    std::fflush(stdout);
  }
  return *queued;
}

void ScheduleRunner::Refused(const ScheduleRecord& schedule, const std::string& key, const std::string& why) {
  if (!reported_.insert(std::to_string(schedule.id) + "/" + key).second) return;
  const std::string what = "schedule " + std::to_string(schedule.id) + " (" + schedule.name + ") " + key;
  std::fprintf(stderr, "aimass: warning: %s not run: %s\n", what.c_str(), why.c_str());
  (void)store_.With([&](StateStore& store) {
    return store.Audit("system", "schedule.refused", what + ": " + why, "-");
  });
}

}  // namespace aimass::service
