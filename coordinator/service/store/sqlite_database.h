// A small RAII layer over SQLite for the service's state: one Database per state file,
// prepared Statements, and transactions that commit or roll back as a whole.
//
// Thread safety: a Database and its Statements are used by one thread at a time; the store
// above it serializes access. Ownership: a Statement must not outlive its Database.
// Durability: WAL journal, synchronous=FULL, so a committed transaction survives a crash of
// the process (and of the machine, as far as the filesystem keeps fsync's promise).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace aimass::service {

class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Parameters are numbered from 1, as in SQL's ?1, ?2, ...
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, double value);
  Statement& Bind(int index, const std::string& value);
  Statement& Bind(int index, std::optional<int64_t> value);  // nullopt binds NULL
  Statement& BindNull(int index);

  // Runs to the next row: true when a row is there to read, false when the statement is done.
  [[nodiscard]] Result<bool> Step();
  // Runs a statement that returns no rows.
  [[nodiscard]] Status Run();
  // Ready to run again with new parameters.
  void Reset();

  // Columns are numbered from 0.
  int64_t Int(int column) const;
  double Real(int column) const;
  std::string Text(int column) const;
  bool IsNull(int column) const;
  std::optional<int64_t> OptionalInt(int column) const;

 private:
  friend class Database;
  Statement(sqlite3* db, sqlite3_stmt* statement, std::string sql);
  Status Error(int code) const;
  Status bind_error_ = Status::Ok();  // the first failed Bind, reported by Step or Run
  sqlite3* db_ = nullptr;
  sqlite3_stmt* statement_ = nullptr;
  std::string sql_;
};

class Database {
 public:
  // Opens (creating if missing) the database file at `path`.
  [[nodiscard]] static Result<std::unique_ptr<Database>> Open(const std::string& path);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // One or more statements that return no rows (schema, pragmas).
  [[nodiscard]] Status Execute(const std::string& sql);
  [[nodiscard]] Result<Statement> Prepare(const std::string& sql);

  // Runs `body` inside BEGIN IMMEDIATE ... COMMIT; anything but Ok from `body` (or a failed
  // commit) rolls the whole transaction back and is returned.
  [[nodiscard]] Status InTransaction(const std::function<Status()>& body);

  int64_t last_insert_rowid() const;
  // Rows changed by the last INSERT, UPDATE or DELETE.
  int64_t changes() const;
  const std::string& path() const { return path_; }

 private:
  Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
};

}  // namespace aimass::service
