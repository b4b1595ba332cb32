// The schedules' durable state (issue 12, part 2), in the service's state database: the
// schedules themselves and their fires. A fire is one run of a schedule under a key — the
// cron time it stands for ("2026-11-28T02:00Z") or the partition directory's name
// ("dt=2026-11-27") — and is inserted in the same transaction as the infer job it queues
// (StateStore::InsertJob with `also`). The table's UNIQUE (schedule_id, fire_key) then makes a
// second fire of a key fail whole, job included: a schedule runs at most once per key, however
// often the runner looks and whenever the server stopped or crashed.
//
// Thread safety: none; a ScheduleStore is a view made inside SharedStore::With, used there and
// dropped. Times are passed in (milliseconds since the epoch) so the runner's injected clock is
// the only one.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "coordinator/service/store/state_store.h"

namespace aimass::service {

// What a cron schedule does with the fires it missed while the server was down.
enum class Misfire { kRunOnce, kSkip };
const char* MisfireName(Misfire misfire);
[[nodiscard]] Result<Misfire> ParseMisfire(const std::string& name);

struct NewSchedule {
  std::string name;         // 1-64 of [A-Za-z0-9._-], unique among live schedules
  std::string model;        // NAME@ALIAS
  std::string config_yaml;  // an infer config with placeholders (schedule_config.h)
  uint32_t workers = 1;
  // Exactly one trigger: a cron expression, or a data path (resolved, inside a data root)
  // with a partition glob.
  std::string cron;
  std::string data_path;
  std::string data_partition;
  Misfire misfire = Misfire::kRunOnce;
  std::string created_by;
};

struct ScheduleRecord : NewSchedule {
  int64_t id = 0;
  bool paused = false;
  // Cron: every fire time up to here has been dealt with (fired, skipped or paused over).
  int64_t cron_cursor_ms = 0;
  int64_t created_at_ms = 0;
  bool on_data() const { return !data_path.empty(); }
};

struct ScheduleFire {
  std::string key;
  int64_t job_id = 0;
  JobState job_state = JobState::kQueued;
  int64_t fired_at_ms = 0;
};

class ScheduleStore {
 public:
  explicit ScheduleStore(StateStore& store) : store_(store), db_(store.database()) {}

  // kAlreadyExists when a live schedule has the name. A cron schedule's cursor starts at
  // `now_ms`: it never fires for times before it existed.
  [[nodiscard]] Result<int64_t> Create(const NewSchedule& schedule, int64_t now_ms);
  // Live schedules only; kNotFound otherwise.
  [[nodiscard]] Result<ScheduleRecord> Get(int64_t id);
  // Live schedules, by id.
  [[nodiscard]] Result<std::vector<ScheduleRecord>> List();
  // Resuming a cron schedule moves its cursor to `now_ms`: what it missed while paused is not
  // replayed. A data trigger keeps no cursor: partitions that landed meanwhile fire on resume.
  [[nodiscard]] Status SetPaused(int64_t id, bool paused, int64_t now_ms);
  // The schedule stops and its name is free again; its row, fires and jobs stay (the jobs
  // still name it).
  [[nodiscard]] Status Delete(int64_t id, int64_t now_ms);
  [[nodiscard]] Status SetCronCursor(int64_t id, int64_t cursor_ms);

  [[nodiscard]] Result<std::set<std::string>> FiredKeys(int64_t id);
  // Newest first, at most `limit`, with the state of each fire's job now.
  [[nodiscard]] Result<std::vector<ScheduleFire>> RecentFires(int64_t id, uint32_t limit);

  // Queues `job` (linked to the schedule) and records the fire `key`, in one transaction; a
  // cron fire also moves the cursor to `cron_cursor_ms` there. nullopt, with nothing written,
  // when the key has fired before, or the schedule has been paused or deleted since it was read.
  [[nodiscard]] Result<std::optional<int64_t>> Fire(int64_t id, const std::string& key, const NewJob& job,
                                                    std::optional<int64_t> cron_cursor_ms,
                                                    int64_t now_ms);

 private:
  StateStore& store_;
  Database& db_;
};

// Schedule names: the rule for model names (URLs and logs carry them).
bool ValidScheduleName(const std::string& name);

}  // namespace aimass::service
