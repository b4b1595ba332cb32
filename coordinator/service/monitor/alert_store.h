// The alerts table (schema: store/state_store.cc, migration "alerts"): every alert a watcher
// raised, kept for GET /api/v1/alerts and the UI. A thin layer over the state store's Database,
// beside StateStore rather than in it, so that alerts are one file to read.
//
// Thread safety: none; use it inside SharedStore::With (the Database's one connection).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "coordinator/service/monitor/alert_sink.h"
#include "coordinator/service/store/sqlite_database.h"

namespace aimass::service {

struct AlertRecord {
  int64_t id = 0;
  int64_t at_ms = 0;
  Alert alert;
};

// Which alerts a list returns; an empty or absent field matches every alert.
struct AlertFilter {
  std::optional<int64_t> job_id;
  std::string model;
  std::string kind;
  uint32_t limit = 100;
};

[[nodiscard]] Result<AlertSeverity> ParseAlertSeverity(const std::string& name);

class AlertStore {
 public:
  explicit AlertStore(Database& db) : db_(db) {}
  // One transaction; returns the alert's id.
  [[nodiscard]] Result<int64_t> Insert(const Alert& alert, int64_t at_ms);
  // Newest first.
  [[nodiscard]] Result<std::vector<AlertRecord>> List(const AlertFilter& filter);
  [[nodiscard]] Result<int64_t> Count();

 private:
  Database& db_;
};

}  // namespace aimass::service
