// PostgreSQL through libpq: RAII handles, parameterised queries only, every failure classified
// (see pg/errors.h). Statements are synchronous: rehome's database work is batched (hundreds to
// thousands of rows per statement), so a few statements per second is all it needs.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

struct pg_conn;
struct pg_result;

namespace rehome::pg {

/// How to connect. An empty conninfo means libpq's own defaults: PGHOST, PGPORT, PGUSER,
/// PGPASSWORD, PGDATABASE, PGSERVICE... DATABASE_URL-style URIs are accepted as conninfo.
struct ConnectionConfig {
  std::string conninfo;
  std::string application_name = "rehome";
  int connect_timeout_seconds = 10;
  /// statement_timeout for every statement, 0 = server default.
  int statement_timeout_ms = 0;
};

/// "host=db1 port=5432 dbname=app user=rehome": where `conninfo` would connect, with libpq's
/// defaults (PGHOST, PGPORT... or their built-in values) for what it leaves out, never the
/// password. For the start-up lines, before any connection is made.
std::string describe_conninfo(const std::string& conninfo);

/// True when the connection string itself carries a password (URI user:password@, or
/// password=...): on a command line every local user can read it in /proc/<pid>/cmdline.
bool conninfo_has_password(const std::string& conninfo);

/// A text parameter; std::nullopt is SQL NULL.
using Param = std::optional<std::string>;
using Params = std::vector<Param>;

/// The rows a statement returned. Owns its PGresult.
class Rows {
 public:
  Rows() = default;
  explicit Rows(pg_result* result);
  Rows(Rows&&) noexcept = default;
  Rows& operator=(Rows&&) noexcept = default;

  int size() const;  ///< Number of rows.
  int columns() const;
  bool is_null(int row, int column) const;
  std::string_view text(int row, int column) const;  ///< "" for NULL.
  std::int64_t int64(int row,
                     int column) const;  ///< Throws std::invalid_argument if not an integer.
  std::int64_t affected() const;         ///< Rows an INSERT/UPDATE/DELETE touched.

 private:
  struct Free {
    void operator()(pg_result* r) const noexcept;
  };
  std::unique_ptr<pg_result, Free> result_;
};

/// One connection. Moves, never copies. After a broken connection every call fails with
/// kTransient until reconnect() succeeds.
class Connection {
 public:
  /// Connects; fails with kTransient (server unreachable), kAccessDenied (authentication) or
  /// kInvalidInput (bad conninfo). The message names host, port, database and user, never the
  /// password.
  static Result<Connection> open(const ConnectionConfig& config);

  Connection(Connection&&) noexcept = default;
  Connection& operator=(Connection&&) noexcept = default;
  ~Connection();

  /// Runs one statement with text parameters ($1, $2...). Failures are classified by SQLSTATE.
  Result<Rows> exec(std::string_view sql, const Params& params = {});

  /// BEGIN / COMMIT / ROLLBACK. A COMMIT whose connection breaks before the answer arrives
  /// fails with kInDoubt: the caller must check what happened, never blindly replay.
  Status begin();
  Status commit();
  Status rollback();

  /// True when the last statement did not break the connection.
  bool healthy() const;
  /// Drops the connection and opens a new one with the same configuration, then runs the
  /// session set-up on it (see set_session_setup).
  Status reconnect();
  /// State that lives in the server session (an advisory lock) dies with a broken
  /// connection: `setup` takes it again on every connection reconnect() opens, before any
  /// statement runs there. When it fails, reconnect() fails with its error and this connection
  /// stays unusable (the next reconnect() tries again). Captures nothing that may die first.
  void set_session_setup(std::function<Status(Connection&)> setup);

  /// "host=127.0.0.1 port=5432 dbname=app user=rehome" for messages (no password).
  std::string describe() const;
  /// The server's backend PID (for tests that terminate it).
  int backend_pid() const;

 private:
  struct Free {
    void operator()(pg_conn* c) const noexcept;
  };
  Connection(ConnectionConfig config, std::unique_ptr<pg_conn, Free> conn);
  ConnectionConfig config_;
  std::unique_ptr<pg_conn, Free> conn_;
  std::function<Status(Connection&)> session_setup_;
  bool setup_failed_ = false;  ///< The last reconnect's session set-up failed.
};

/// One transaction on a connection: BEGIN when made, ROLLBACK when destroyed unless commit()
/// was called, so every early return of a failed statement rolls back without a word. After
/// commit() the transaction is over whatever its answer (a COMMIT whose answer was lost is
/// kInDoubt: the caller settles it, and a ROLLBACK would only add noise).
class Transaction {
 public:
  /// Sends BEGIN on `db`, which must outlive the transaction.
  static Result<Transaction> begin(Connection& db);

  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  ~Transaction();

  /// COMMIT. Call once; the transaction is over afterwards.
  Status commit();

 private:
  explicit Transaction(Connection& db) : db_(&db) {}
  Connection* db_;  // nullptr once committed, rolled back or moved from.
};

}  // namespace rehome::pg
