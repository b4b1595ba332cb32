// Runs the schedules: a thread that every `interval` evaluates each live, unpaused schedule
// against the wall clock it was given, and queues an ordinary infer job (through JobIntake:
// the same checks and the same queue as POST /api/v1/jobs) for each fire that is due.
//
//   cron     Fire times come from CronSchedule, after the schedule's cursor (the last time it
//            dealt with). A due time no older than `misfire_grace` fires under its own key. When
//            every due time is older — the server was down, or stalled — the schedule
//            misfired: "run_once" fires once, for the latest missed time; "skip" fires
//            nothing. Never once per missed time.
//   on_data  Each directory in `path` whose name matches the partition glob (fnmatch) and
//            holds a _SUCCESS file fires once, keyed by its name, oldest name first. A
//            partition without _SUCCESS is still being written and waits.
//
// Exactly once: a fire's key is recorded in the transaction that queues its job
// (ScheduleStore::Fire), so neither a second look nor a restart (nor a crash between any two
// steps) can queue a key twice.
//
// A fire whose config no longer passes the checks (its model's alias was removed, say) queues
// nothing; the refusal is audited ("schedule.refused") and printed once per key, and it is
// tried again at the next look.
//
// Thread safety: Start/Stop from one thread; RunOnce may be called directly (tests) as long as
// the thread is not started.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/env.h"
#include "coordinator/service/job_intake.h"
#include "coordinator/service/schedules/schedule_config.h"
#include "coordinator/service/schedules/schedule_store.h"
#include "coordinator/service/shared_store.h"

namespace aimass::service {

// Milliseconds since the Unix epoch (UTC): what cron is evaluated against.
using WallClock = std::function<int64_t()>;
int64_t SystemWallClock();

struct ScheduleRunnerOptions {
  std::chrono::milliseconds interval{10000};  // serve --schedule-interval-ms
  // A due cron time seen later than this after it counts as missed (the misfire policy
  // decides); the service uses at least three intervals.
  int64_t misfire_grace_ms = 60000;
};

class ScheduleRunner {
 public:
  // Every reference must outlive the runner. `env` lists partition directories.
  ScheduleRunner(ScheduleRunnerOptions options, SharedStore& store, const JobIntake& intake, Env& env,
                 WallClock clock);
  ~ScheduleRunner();  // Stop()
  ScheduleRunner(const ScheduleRunner&) = delete;
  ScheduleRunner& operator=(const ScheduleRunner&) = delete;

  void Start();
  // Wakes the thread and waits for it; a look in progress finishes first (it is short).
  void Stop();

  // One look at every schedule at the clock's time. Returns the jobs it queued, in order.
  std::vector<int64_t> RunOnce();

 private:
  std::vector<int64_t> RunSchedule(const ScheduleRecord& schedule, int64_t now_ms);
  std::vector<int64_t> RunCron(const ScheduleRecord& schedule, int64_t now_ms);
  std::vector<int64_t> RunOnData(const ScheduleRecord& schedule, int64_t now_ms);
  // Renders, checks and queues one fire; the job's id, or nothing (fired before, or refused).
  std::optional<int64_t> FireOne(const ScheduleRecord& schedule, const std::string& key,
                                 const FireValues& values, std::optional<int64_t> cron_cursor_ms,
                                 int64_t now_ms);
  void Refused(const ScheduleRecord& schedule, const std::string& key, const std::string& why);

  ScheduleRunnerOptions options_;
  SharedStore& store_;
  const JobIntake& intake_;
  Env& env_;
  WallClock clock_;

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
  std::set<std::string> reported_;  // "id/key" refusals already printed
};

}  // namespace aimass::service
