// Schedules without waiting: the runner looks when the test says (RunOnce) at the time the
// test's clock says, over a real state database and real partition directories in a temp dir.
// What is asserted is what a user would see: which jobs were queued, under which fire keys,
// linked to which schedule, with which config — and that a key never runs twice, across a
// reopened store and a new runner as well.
#include "tests/catch.h"

#include <ctime>
#include <filesystem>
#include <memory>
#include <string>

#include "common/env.h"
#include "coordinator/service/job_intake.h"
#include "coordinator/service/schedules/schedule_config.h"
#include "coordinator/service/schedules/schedule_runner.h"
#include "coordinator/service/schedules/schedule_store.h"
#include "coordinator/service/shared_store.h"
#include "tests/temp_dir.h"

namespace aimass::service {
namespace {

namespace fs = std::filesystem;

// Milliseconds since the epoch of a UTC date and time.
int64_t UtcMs(int year, int month, int day, int hour = 0, int minute = 0, int second = 0) {
  std::tm parts{};
  parts.tm_year = year - 1900;
  parts.tm_mon = month - 1;
  parts.tm_mday = day;
  parts.tm_hour = hour;
  parts.tm_min = minute;
  parts.tm_sec = second;
  return static_cast<int64_t>(timegm(&parts)) * 1000;
}

const char kCronConfig[] =
    "input: {path: exports/daily, format: csv, header: true}\n"
    "schema: {features: [f0..f3]}\n"
    "output: {path: scores-{date}}\n";
const char kDataConfig[] =
    "input: {path: \"{partition_path}\", format: csv, header: true}\n"
    "schema: {features: [f0..f3]}\n"
    "output: {path: scores/{partition}}\n";

// A state directory, a data root, a clock the test sets, and a runner over them; Reopen() is a
// server restart (a new store on the same file, a new runner).
class Harness {
 public:
  Harness() {
    fs::create_directories(dir_.Path("root/exports/events"));
    root_ = fs::canonical(dir_.Path("root")).string();
    auto roots = DataRoots::Create({root_});
    REQUIRE(roots.ok());
    roots_ = std::make_unique<DataRoots>(std::move(roots).value());
    Reopen();
  }

  void Reopen() {
    runner_.reset();
    intake_.reset();
    store_.reset();
    auto opened = StateStore::Open(dir_.Path("state"), [this] { return now_ms; });
    REQUIRE(opened.ok());
    store_ = std::make_unique<SharedStore>(std::move(opened).value());
    intake_ = std::make_unique<JobIntake>(
        dir_.Path("state"), *store_, *roots_,
        [this](const ModelReference& reference) -> Result<std::string> {
          if (reference.name != "fmnist") return Status::NotFound("no model '" + reference.name + "'");
          return root_ + "/model";
        },
        [this] { ++wakes; });
    ScheduleRunnerOptions options;
    options.misfire_grace_ms = 60000;
    runner_ = std::make_unique<ScheduleRunner>(options, *store_, *intake_, Env::Default(),
                                               [this] { return now_ms; });
  }

  int64_t Create(NewSchedule schedule) {
    if (schedule.model.empty()) schedule.model = "fmnist@production";
    if (schedule.created_by.empty()) schedule.created_by = "token:1 (admin)";
    auto id = store_->With([&](StateStore& store) { return ScheduleStore(store).Create(schedule, now_ms); });
    REQUIRE(id.ok());
    return *id;
  }
  int64_t Cron(const std::string& name, const std::string& cron, Misfire misfire = Misfire::kRunOnce) {
    NewSchedule schedule;
    schedule.name = name;
    schedule.cron = cron;
    schedule.config_yaml = kCronConfig;
    schedule.misfire = misfire;
    return Create(schedule);
  }
  int64_t OnData(const std::string& name) {
    NewSchedule schedule;
    schedule.name = name;
    schedule.data_path = Events();
    schedule.data_partition = "dt=*";
    schedule.config_yaml = kDataConfig;
    return Create(schedule);
  }

  std::string Events() const { return root_ + "/exports/events"; }
  // A partition directory with a part file; `done` adds the _SUCCESS marker.
  void Land(const std::string& partition, bool done = true) {
    const std::string path = Events() + "/" + partition;
    fs::create_directories(path);
    testing::WriteRaw(path + "/part-00000.csv", "f0,f1,f2,f3\n1,2,3,4\n");
    if (done) testing::WriteRaw(path + "/_SUCCESS", "");
  }

  std::vector<int64_t> Look() { return runner_->RunOnce(); }

  std::vector<ScheduleFire> Fires(int64_t schedule) {
    auto fires = store_->With([&](StateStore& store) { return ScheduleStore(store).RecentFires(schedule, 1000); });
    REQUIRE(fires.ok());
    return *fires;
  }
  std::vector<std::string> Keys(int64_t schedule) {
    std::vector<std::string> keys;
    for (const ScheduleFire& fire : Fires(schedule)) keys.insert(keys.begin(), fire.key);  // oldest first
    return keys;
  }
  JobRecord Job(int64_t id) {
    auto job = store_->With([&](StateStore& store) { return store.GetJob(id); });
    REQUIRE(job.ok());
    return *job;
  }
  size_t JobCount() {
    auto jobs = store_->With([](StateStore& store) { return store.ListJobs(10000); });
    REQUIRE(jobs.ok());
    return jobs->size();
  }
  std::vector<AuditEntry> Audit() {
    auto entries = store_->With([](StateStore& store) { return store.ListAudit(10000); });
    REQUIRE(entries.ok());
    return *entries;
  }
  SharedStore& store() { return *store_; }
  ScheduleRunner& runner() { return *runner_; }

  int64_t now_ms = UtcMs(2028, 1, 1);
  int wakes = 0;

 private:
  testing::TempDir dir_;
  std::string root_;
  std::unique_ptr<DataRoots> roots_;
  std::unique_ptr<SharedStore> store_;
  std::unique_ptr<JobIntake> intake_;
  std::unique_ptr<ScheduleRunner> runner_;
};

}  // namespace

TEST_CASE("schedules: cron fires at its UTC times across a month end and on Feb 29, once each",
          "[schedule]") {
  Harness harness;
  harness.now_ms = UtcMs(2028, 1, 30, 0, 0);
  const int64_t daily = harness.Cron("daily", "0 2 * * *");
  // Ten-minute looks for four days, across the end of January.
  std::vector<int64_t> jobs;
  for (int64_t t = harness.now_ms; t <= UtcMs(2028, 2, 2, 12, 0); t += 10 * 60 * 1000) {
    harness.now_ms = t;
    std::vector<int64_t> queued = harness.Look();
    jobs.insert(jobs.end(), queued.begin(), queued.end());
  }
  CHECK(harness.Keys(daily) == std::vector<std::string>{"2028-01-30T02:00Z", "2028-01-31T02:00Z",
                                                        "2028-02-01T02:00Z", "2028-02-02T02:00Z"});
  REQUIRE(jobs.size() == 4);
  CHECK(harness.wakes == 4);
  for (int64_t id : jobs) {
    JobRecord job = harness.Job(id);
    CHECK(job.kind == "infer");
    CHECK(job.state == JobState::kQueued);
    REQUIRE(job.schedule_id);
    CHECK(*job.schedule_id == daily);
    CHECK(job.config_yaml.find("models:/fmnist@production") != std::string::npos);
  }
  // {date} is the fire's UTC date.
  CHECK(harness.Job(jobs[2]).config_yaml.find("scores-2028-02-01") != std::string::npos);

  // The 29th of February, only in a leap year: from March 2027 the next fire is 2028-02-29.
  Harness leap;
  leap.now_ms = UtcMs(2027, 3, 1);
  const int64_t leap_day = leap.Cron("leap", "0 12 29 2 *");
  leap.now_ms = UtcMs(2028, 2, 28, 12, 0, 30);
  CHECK(leap.Look().empty());
  leap.now_ms = UtcMs(2028, 2, 29, 11, 59, 59);
  CHECK(leap.Look().empty());
  leap.now_ms = UtcMs(2028, 2, 29, 12, 0, 20);
  std::vector<int64_t> fired = leap.Look();
  REQUIRE(fired.size() == 1);
  CHECK(leap.Job(fired[0]).config_yaml.find("scores-2028-02-29") != std::string::npos);
  CHECK(leap.Look().empty());  // the same minute, looked at again
  leap.now_ms = UtcMs(2028, 3, 1, 12, 0, 20);
  CHECK(leap.Look().empty());
  CHECK(leap.Keys(leap_day) == std::vector<std::string>{"2028-02-29T12:00Z"});
}

TEST_CASE("schedules: after downtime a missed cron fire runs once (run_once) or not at all (skip)",
          "[schedule]") {
  Harness harness;
  harness.now_ms = UtcMs(2028, 3, 31, 10, 30);
  const int64_t once = harness.Cron("hourly-once", "0 * * * *", Misfire::kRunOnce);
  const int64_t skip = harness.Cron("hourly-skip", "0 * * * *", Misfire::kSkip);
  harness.now_ms = UtcMs(2028, 3, 31, 10, 59);
  CHECK(harness.Look().empty());

  // Down from 10:59 to 15:20: five hourly fires (11:00 .. 15:00) were missed.
  harness.Reopen();
  harness.now_ms = UtcMs(2028, 3, 31, 15, 20);
  std::vector<int64_t> queued = harness.Look();
  REQUIRE(queued.size() == 1);
  CHECK(*harness.Job(queued[0]).schedule_id == once);
  CHECK(harness.Keys(once) == std::vector<std::string>{"2028-03-31T15:00Z"});
  CHECK(harness.Keys(skip).empty());
  bool skip_audited = false;
  for (const AuditEntry& entry : harness.Audit()) {
    if (entry.action == "schedule.skip") {
      skip_audited = true;
      CHECK(entry.target.find("5 missed fire times up to 2028-03-31T15:00Z") != std::string::npos);
    }
  }
  CHECK(skip_audited);
  harness.now_ms = UtcMs(2028, 3, 31, 15, 40);
  CHECK(harness.Look().empty());  // neither runs the missed ones later

  // On time again, across the month end: both fire.
  harness.now_ms = UtcMs(2028, 4, 1, 0, 0, 10);
  // 16:00 .. 23:00 were never looked at; 00:00 is on time at 00:00:10 and fires, the older
  // ones are not replayed.
  CHECK(harness.Look().size() == 2);
  harness.now_ms = UtcMs(2028, 4, 1, 1, 0, 5);
  CHECK(harness.Look().size() == 2);
  CHECK(harness.Keys(once).back() == "2028-04-01T01:00Z");
  CHECK(harness.Keys(skip).back() == "2028-04-01T01:00Z");
  CHECK(harness.Keys(skip) == std::vector<std::string>{"2028-04-01T00:00Z", "2028-04-01T01:00Z"});
}

TEST_CASE("schedules: a paused schedule does not fire; cron resumes without replay, data "
          "triggers catch up", "[schedule]") {
  Harness harness;
  harness.now_ms = UtcMs(2028, 5, 1, 10, 30);
  const int64_t hourly = harness.Cron("hourly", "0 * * * *");
  const int64_t events = harness.OnData("events");
  auto pause = [&](int64_t id, bool paused) {
    Status changed = harness.store().With(
        [&](StateStore& store) { return ScheduleStore(store).SetPaused(id, paused, harness.now_ms); });
    REQUIRE(changed.ok());
  };
  pause(hourly, true);
  pause(events, true);
  harness.Land("dt=2028-05-01");
  harness.now_ms = UtcMs(2028, 5, 1, 13, 0, 5);
  CHECK(harness.Look().empty());

  harness.now_ms = UtcMs(2028, 5, 1, 13, 10);
  pause(hourly, false);
  pause(events, false);
  std::vector<int64_t> queued = harness.Look();
  REQUIRE(queued.size() == 1);  // the partition that landed while paused; no cron replay
  CHECK(*harness.Job(queued[0]).schedule_id == events);
  CHECK(harness.Keys(hourly).empty());
  harness.now_ms = UtcMs(2028, 5, 1, 14, 0, 5);
  CHECK(harness.Look().size() == 1);
  CHECK(harness.Keys(hourly) == std::vector<std::string>{"2028-05-01T14:00Z"});

  // Deleted: never fires again, and its name is free.
  Status deleted = harness.store().With(
      [&](StateStore& store) { return ScheduleStore(store).Delete(hourly, harness.now_ms); });
  REQUIRE(deleted.ok());
  harness.now_ms = UtcMs(2028, 5, 1, 15, 0, 5);
  CHECK(harness.Look().empty());
  CHECK(harness.Cron("hourly", "0 * * * *") != hourly);
}

TEST_CASE("schedules: a data trigger fires once per partition, only once its _SUCCESS is there, "
          "and never twice across a restart", "[schedule]") {
  Harness harness;
  const int64_t events = harness.OnData("events");
  harness.Land("dt=2028-01-01", /*done=*/false);
  harness.Land("_temporary");   // not the glob
  harness.Land(".dt=hidden");   // FNM_PERIOD: a dot file is not a partition
  testing::WriteRaw(harness.Events() + "/dt=file", "not a directory");
  CHECK(harness.Look().empty());

  testing::WriteRaw(harness.Events() + "/dt=2028-01-01/_SUCCESS", "");
  std::vector<int64_t> first = harness.Look();
  REQUIRE(first.size() == 1);
  JobRecord job = harness.Job(first[0]);
  CHECK(*job.schedule_id == events);
  CHECK(job.submitted_by == "schedule:" + std::to_string(events) + " (events)");
  CHECK(job.config_yaml.find(harness.Events() + "/dt=2028-01-01") != std::string::npos);
  CHECK(job.config_yaml.find("scores/dt=2028-01-01") != std::string::npos);
  CHECK(harness.Look().empty());

  harness.Land("dt=2028-01-02");
  CHECK(harness.Look().size() == 1);

  // A restart: the same state, a new runner; the two partitions stay fired.
  harness.Reopen();
  CHECK(harness.Look().empty());
  harness.Land("dt=2028-01-03");
  CHECK(harness.Look().size() == 1);
  harness.Reopen();
  CHECK(harness.Look().empty());
  CHECK(harness.Keys(events) == std::vector<std::string>{"dt=2028-01-01", "dt=2028-01-02", "dt=2028-01-03"});
  CHECK(harness.JobCount() == 3);
}

TEST_CASE("schedules: a fire and its job are written together or not at all", "[schedule]") {
  Harness harness;
  const int64_t events = harness.OnData("events");
  NewJob job;
  job.kind = "infer";
  job.config_yaml = "x";
  job.submitted_by = "test";
  auto fire = [&](const std::string& key) {
    auto queued = harness.store().With([&](StateStore& store) {
      return ScheduleStore(store).Fire(events, key, job, std::nullopt, harness.now_ms);
    });
    REQUIRE(queued.ok());
    return *queued;
  };
  REQUIRE(fire("dt=a"));
  CHECK_FALSE(fire("dt=a"));  // the second fire of a key writes nothing, job included
  CHECK(harness.JobCount() == 1);

  // Whatever fails in the job's transaction takes the job with it.
  auto failed = harness.store().With([&](StateStore& store) {
    return store.InsertJob(job, [](int64_t) { return Status::IOError("disk full"); });
  });
  CHECK(failed.status().code() == StatusCode::kIOError);
  CHECK(harness.JobCount() == 1);

  // A paused schedule records no fire, even one the runner had already decided on.
  Status paused = harness.store().With(
      [&](StateStore& store) { return ScheduleStore(store).SetPaused(events, true, harness.now_ms); });
  REQUIRE(paused.ok());
  CHECK_FALSE(fire("dt=b"));
  CHECK(harness.JobCount() == 1);

  // All of it is durable: a reopened store sees the schedule, its state and its fire.
  harness.Reopen();
  auto record = harness.store().With([&](StateStore& store) { return ScheduleStore(store).Get(events); });
  REQUIRE(record.ok());
  CHECK(record->paused);
  CHECK(record->data_partition == "dt=*");
  CHECK(harness.Keys(events) == std::vector<std::string>{"dt=a"});

  // A delete too; the job it queued still names it.
  Status deleted = harness.store().With(
      [&](StateStore& store) { return ScheduleStore(store).Delete(events, harness.now_ms); });
  REQUIRE(deleted.ok());
  harness.Reopen();
  auto gone = harness.store().With([&](StateStore& store) { return ScheduleStore(store).Get(events); });
  CHECK(gone.status().code() == StatusCode::kNotFound);
  auto live = harness.store().With([](StateStore& store) { return ScheduleStore(store).List(); });
  REQUIRE(live.ok());
  CHECK(live->empty());
  auto jobs = harness.store().With([](StateStore& store) { return store.ListJobs(10); });
  REQUIRE(jobs.ok());
  REQUIRE(jobs->size() == 1);
  CHECK(jobs->front().schedule_id == std::optional<int64_t>(events));
}

TEST_CASE("schedules: names are unique among live schedules; refusals name the key", "[schedule]") {
  Harness harness;
  harness.OnData("events");
  NewSchedule duplicate;
  duplicate.name = "events";
  duplicate.model = "fmnist@production";
  duplicate.cron = "* * * * *";
  duplicate.config_yaml = kCronConfig;
  auto again = harness.store().With([&](StateStore& store) { return ScheduleStore(store).Create(duplicate, 0); });
  CHECK(again.status().code() == StatusCode::kAlreadyExists);
  duplicate.name = "../x";
  again = harness.store().With([&](StateStore& store) { return ScheduleStore(store).Create(duplicate, 0); });
  CHECK(again.status().code() == StatusCode::kInvalidArgument);

  FireValues cron;
  cron.time_ms = UtcMs(2028, 12, 31, 23, 59);
  auto rendered = RenderScheduledConfig(kCronConfig, "fmnist@production", cron);
  REQUIRE(rendered.ok());
  CHECK(rendered->find("scores-2028-12-31") != std::string::npos);
  CHECK(rendered->find("model: models:/fmnist@production") != std::string::npos);
  // Naming the schedule's own model is fine; another is refused.
  CHECK(RenderScheduledConfig(std::string("model: models:/fmnist@production\n") + kCronConfig,
                              "fmnist@production", cron).ok());
  auto other = RenderScheduledConfig(std::string("model: /root/other.pt\n") + kCronConfig,
                                     "fmnist@production", cron);
  CHECK(other.status().message().find("config: model:") == 0);
  auto unknown = RenderScheduledConfig("output: {path: x-{hour}}\n", "m@a", cron);
  CHECK(unknown.status().message().find("{hour}") != std::string::npos);
  auto partition = RenderScheduledConfig(kDataConfig, "m@a", cron);  // a cron fire has none
  CHECK(partition.status().message().find("{partition") != std::string::npos);
  CHECK(RenderScheduledConfig("- a list\n", "m@a", cron).status().code() == StatusCode::kInvalidArgument);

  CHECK(SafePartitionName("dt=2026-11-27"));
  CHECK_FALSE(SafePartitionName("dt=x: {y}"));
  CHECK_FALSE(SafePartitionName(".."));
}

TEST_CASE("schedules: the runner's thread stops when asked, without waiting out its interval",
          "[schedule]") {
  Harness harness;
  harness.OnData("events");
  harness.Land("dt=2028-01-01");
  harness.runner().Start();  // looks once at once, then waits an hour unless stopped
  harness.runner().Stop();
  // Whether the one look happened before the stop or not, the partition fires exactly once.
  harness.Look();
  CHECK(harness.JobCount() == 1);
}

}  // namespace aimass::service
