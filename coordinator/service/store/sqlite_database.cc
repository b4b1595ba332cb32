#include "coordinator/service/store/sqlite_database.h"

#include <sqlite3.h>

#include <utility>

namespace aimass::service {
namespace {

// How long a writer waits for another connection's lock before SQLITE_BUSY (a second server
// on the same state directory is refused earlier, by a lock file; this covers tools reading it).
constexpr int kBusyTimeoutMs = 5000;

Status SqliteError(sqlite3* db, int code, const std::string& what) {
  std::string message = what + ": " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(code));
  return Status::Error("state database: " + message);
}

}  // namespace

Statement::Statement(sqlite3* db, sqlite3_stmt* statement, std::string sql)
    : db_(db), statement_(statement), sql_(std::move(sql)) {}

Statement::Statement(Statement&& other) noexcept
    : bind_error_(std::move(other.bind_error_)),
      db_(std::exchange(other.db_, nullptr)),
      statement_(std::exchange(other.statement_, nullptr)),
      sql_(std::move(other.sql_)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(statement_);
    bind_error_ = std::move(other.bind_error_);
    db_ = std::exchange(other.db_, nullptr);
    statement_ = std::exchange(other.statement_, nullptr);
    sql_ = std::move(other.sql_);
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(statement_); }

Status Statement::Error(int code) const {
  return SqliteError(db_, code, "'" + sql_.substr(0, 60) + "'");
}

Statement& Statement::Bind(int index, int64_t value) {
  int code = sqlite3_bind_int64(statement_, index, value);
  if (code != SQLITE_OK && bind_error_.ok()) bind_error_ = Error(code);
  return *this;
}

Statement& Statement::Bind(int index, double value) {
  int code = sqlite3_bind_double(statement_, index, value);
  if (code != SQLITE_OK && bind_error_.ok()) bind_error_ = Error(code);
  return *this;
}

Statement& Statement::Bind(int index, const std::string& value) {
  int code = sqlite3_bind_text(statement_, index, value.data(), static_cast<int>(value.size()),
                               SQLITE_TRANSIENT);
  if (code != SQLITE_OK && bind_error_.ok()) bind_error_ = Error(code);
  return *this;
}

Statement& Statement::Bind(int index, std::optional<int64_t> value) {
  return value ? Bind(index, *value) : BindNull(index);
}

Statement& Statement::BindNull(int index) {
  int code = sqlite3_bind_null(statement_, index);
  if (code != SQLITE_OK && bind_error_.ok()) bind_error_ = Error(code);
  return *this;
}

Result<bool> Statement::Step() {
  if (!bind_error_.ok()) return bind_error_;
  int code = sqlite3_step(statement_);
  if (code == SQLITE_ROW) return true;
  if (code == SQLITE_DONE) return false;
  return Error(code);
}

Status Statement::Run() {
  AIMASS_ASSIGN_OR_RETURN(bool row, Step());
  (void)row;
  return Status::Ok();
}

void Statement::Reset() {
  sqlite3_reset(statement_);
  sqlite3_clear_bindings(statement_);
  bind_error_ = Status::Ok();
}

int64_t Statement::Int(int column) const { return sqlite3_column_int64(statement_, column); }

double Statement::Real(int column) const { return sqlite3_column_double(statement_, column); }

std::string Statement::Text(int column) const {
  const auto* text = sqlite3_column_text(statement_, column);
  int bytes = sqlite3_column_bytes(statement_, column);
  return text == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(text), bytes);
}

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(statement_, column) == SQLITE_NULL;
}

std::optional<int64_t> Statement::OptionalInt(int column) const {
  if (IsNull(column)) return std::nullopt;
  return Int(column);
}

Result<std::unique_ptr<Database>> Database::Open(const std::string& path) {
  sqlite3* db = nullptr;
  // Its descriptors (the database, -wal, -shm, journals) are close-on-exec: the unix VFS opens
  // every file through robust_open() with O_CLOEXEC where the platform has it (os_unix.c),
  // so the jobs and replicas the service starts never inherit them.
  int code = sqlite3_open_v2(path.c_str(), &db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             nullptr);
  if (code != SQLITE_OK) {
    Status error = SqliteError(db, code, "cannot open " + path);
    sqlite3_close(db);
    return error;
  }
  std::unique_ptr<Database> database(new Database(db, path));
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  sqlite3_extended_result_codes(db, 1);
  // WAL: readers never block the writer; FULL: a commit is on disk before it returns.
  AIMASS_RETURN_IF_ERROR(database->Execute(
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"));
  return database;
}

Database::~Database() { sqlite3_close(db_); }

Status Database::Execute(const std::string& sql) {
  char* message = nullptr;
  int code = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
  if (code == SQLITE_OK) return Status::Ok();
  std::string text = message != nullptr ? message : sqlite3_errstr(code);
  sqlite3_free(message);
  return Status::Error("state database " + path_ + ": " + text);
}

Result<Statement> Database::Prepare(const std::string& sql) {
  sqlite3_stmt* statement = nullptr;
  int code = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &statement, nullptr);
  if (code != SQLITE_OK) return SqliteError(db_, code, "cannot prepare '" + sql.substr(0, 60) + "'");
  return Statement(db_, statement, sql);
}

Status Database::InTransaction(const std::function<Status()>& body) {
  AIMASS_RETURN_IF_ERROR(Execute("BEGIN IMMEDIATE"));
  Status status = body();
  if (status.ok()) status = Execute("COMMIT");
  if (!status.ok()) (void)Execute("ROLLBACK");  // nothing to roll back after a failed BEGIN
  return status;
}

int64_t Database::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }

int64_t Database::changes() const { return sqlite3_changes(db_); }

}  // namespace aimass::service
