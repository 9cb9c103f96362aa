// Two choices here are less obvious than they look:
// - open() drives PQconnectPoll itself rather than calling PQconnectdbParams: only a connection
//   whose error verbosity is raised before the server answers reports the SQLSTATE of a startup
//   failure (28P01 wrong password, 3D000 no such database). Without it an authentication
//   failure could only be told from an outage by parsing text the server may have translated.
// - commit() tells "the connection was already gone before COMMIT was sent" (the server rolled
//   the transaction back: kTransient) from "it broke after COMMIT was sent" (kInDoubt).
#include "pg/connection.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "pg/error_message.h"
#include "pg/errors.h"

namespace rehome::pg {
namespace {

using Clock = std::chrono::steady_clock;
using ResultPtr = std::unique_ptr<PGresult, decltype(&PQclear)>;
using OptionsPtr = std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)>;

constexpr std::size_t kMaxParams = 65535;  // the protocol's limit on bind parameters
// What a connection lost without a word from the server is classified as.
constexpr std::string_view kConnectionFailure = "08006";

std::string describe_conn(const PGconn* conn) {
  auto field = [](const char* value) {
    return value != nullptr && *value != '\0' ? std::string(value) : std::string("?");
  };
  return "host=" + field(PQhost(conn)) + " port=" + field(PQport(conn)) +
         " dbname=" + field(PQdb(conn)) + " user=" + field(PQuser(conn));
}

// The value of `keyword` in a parsed conninfo, or nullptr.
const char* option_value(const PQconninfoOption* options, std::string_view keyword) {
  for (const PQconninfoOption* o = options; o != nullptr && o->keyword != nullptr; ++o) {
    if (keyword == o->keyword && o->val != nullptr && *o->val != '\0') return o->val;
  }
  return nullptr;
}

}  // namespace

std::string describe_conninfo(const std::string& conninfo) {
  char* raw_error = nullptr;
  OptionsPtr given(PQconninfoParse(conninfo.c_str(), &raw_error), &PQconninfoFree);
  if (!given) {
    PQfreemem(raw_error);  // Not echoed: it may quote the password.
    return "(a connection string that does not parse)";
  }
  OptionsPtr defaults(PQconndefaults(), &PQconninfoFree);
  std::string out;
  for (const char* keyword : {"host", "hostaddr", "port", "dbname", "user", "service"}) {
    const char* value = option_value(given.get(), keyword);
    if (value == nullptr) value = option_value(defaults.get(), keyword);
    if (value == nullptr) continue;
    if (!out.empty()) out += ' ';
    out.append(keyword).append("=").append(value);
  }
  // An empty host means the default Unix socket directory.
  if (option_value(given.get(), "host") == nullptr &&
      option_value(defaults.get(), "host") == nullptr) {
    out.insert(0, "host=(local socket) ");
  }
  return out;
}

bool conninfo_has_password(const std::string& conninfo) {
  char* raw_error = nullptr;
  OptionsPtr given(PQconninfoParse(conninfo.c_str(), &raw_error), &PQconninfoFree);
  if (!given) {
    PQfreemem(raw_error);
    return false;
  }
  const char* password = option_value(given.get(), "password");
  return password != nullptr && password[0] != '\0';
}

namespace {

// A message about `conn`, with its password removed should anything have echoed it.
Error make_error(const PGconn* conn, std::string_view what, std::string_view sqlstate,
                 ErrorKind kind, std::string_view hint) {
  const char* password = PQpass(conn);
  std::string message = format_error(describe_conn(conn), what, sqlstate, kind, hint);
  return Error::of(kind, redact_secret(std::move(message), password ? password : ""),
                   std::string(sqlstate));
}

// The connection string must parse before libpq sees it, so a malformed one is reported as
// bad input rather than as a connection failure.
Status check_conninfo(const std::string& conninfo) {
  char* raw_error = nullptr;
  OptionsPtr options(PQconninfoParse(conninfo.c_str(), &raw_error), &PQconninfoFree);
  if (options) return Ok{};
  if (raw_error == nullptr) throw std::bad_alloc();
  const std::string reason = redact_quoted(one_line(raw_error));
  PQfreemem(raw_error);
  return Error::invalid_input(format_error("connection string", reason, "",
                                           ErrorKind::kInvalidInput,
                                           "fix the connection string (quoted parts are not "
                                           "shown: they may hold the password)"));
}

// The connect_timeout in force (ours, the conninfo's or PGCONNECT_TIMEOUT), as libpq reads it.
std::chrono::seconds effective_connect_timeout(PGconn* conn) {
  OptionsPtr options(PQconninfo(conn), &PQconninfoFree);
  for (const PQconninfoOption* option = options.get(); option && option->keyword; ++option) {
    if (std::string_view(option->keyword) != "connect_timeout" || option->val == nullptr) continue;
    const std::string_view text = option->val;
    int seconds = 0;
    std::from_chars(text.data(), text.data() + text.size(), seconds);
    if (seconds <= 0) return std::chrono::seconds(0);
    return std::chrono::seconds(std::max(seconds, 2));  // libpq's own minimum
  }
  return std::chrono::seconds(0);
}

Error startup_error(PGconn* conn) {
  const StartupError parsed = parse_startup_error(PQerrorMessage(conn));
  ErrorKind kind = ErrorKind::kTransient;  // refused, unreachable, timed out, TLS...
  if (!parsed.sqlstate.empty()) {
    kind =
        parsed.sqlstate == "3D000" ? ErrorKind::kInvalidInput : classify_sqlstate(parsed.sqlstate);
  } else if (PQconnectionNeedsPassword(conn)) {
    kind = ErrorKind::kAccessDenied;  // libpq's own "no password supplied"
  }
  const std::string hint_state =
      parsed.sqlstate.empty() && kind == ErrorKind::kAccessDenied ? "28P01" : parsed.sqlstate;
  return make_error(conn, parsed.message, parsed.sqlstate, kind, hint_for(kind, hint_state));
}

// Drives the connection to completion. connect_timeout bounds the whole attempt here, where
// libpq's own loop applies it to each host in turn.
Status wait_connected(PGconn* conn) {
  const std::chrono::seconds timeout = effective_connect_timeout(conn);
  const Clock::time_point deadline = Clock::now() + timeout;
  PostgresPollingStatusType state = PGRES_POLLING_WRITING;  // as libpq documents for the start
  while (true) {
    if (PQstatus(conn) == CONNECTION_BAD || state == PGRES_POLLING_FAILED) {
      return startup_error(conn);
    }
    if (state == PGRES_POLLING_OK) return Ok{};
    int wait_ms = -1;
    if (timeout.count() > 0) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
      wait_ms = static_cast<int>(std::max<std::int64_t>(left.count(), 0));
    }
    pollfd socket{PQsocket(conn),
                  static_cast<short>(state == PGRES_POLLING_READING ? POLLIN : POLLOUT), 0};
    const int ready = wait_ms == 0 ? 0 : poll(&socket, 1, wait_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      const std::string what =
          ready == 0 ? "connection timed out after " + std::to_string(timeout.count()) + " s"
                     : "waiting for the connection failed";
      return make_error(conn, what, "", ErrorKind::kTransient, hint_for(ErrorKind::kTransient, ""));
    }
    state = PQconnectPoll(conn);
  }
}

bool contains_nul(std::string_view text) { return text.find('\0') != std::string_view::npos; }

// Reads whatever the server sent while we were idle, without blocking. A server that closed
// the connection (pg_terminate_backend, idle_in_transaction_session_timeout, restart) left
// its FATAL and an end-of-file here; reading them turns the connection CONNECTION_BAD.
void read_pending_input(PGconn* conn) {
  for (int round = 0; round < 8 && PQstatus(conn) == CONNECTION_OK; ++round) {
    pollfd socket{PQsocket(conn), POLLIN, 0};
    if (poll(&socket, 1, 0) <= 0) return;
    // Reads without parsing: an end of file turns the connection CONNECTION_BAD, and a FATAL
    // read before it stays buffered, to become the statement's error if one is sent.
    if (PQconsumeInput(conn) == 0) return;
  }
}

// The error for a call on a connection already known to be broken (or never opened).
Error lost_error(const PGconn* conn, std::string_view what) {
  const ErrorKind kind = ErrorKind::kTransient;
  const std::string hint = hint_for(kind, kConnectionFailure);
  if (conn == nullptr) {
    return Error::of(kind, format_error("(no connection)", what, "", kind, hint));
  }
  return make_error(conn, what, "", kind, hint);
}

// The error a failed statement reports; `during_commit` makes a lost connection kInDoubt.
Error statement_error(const PGconn* conn, const PGresult* result, bool during_commit) {
  const char* raw_state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const std::string sqlstate = raw_state ? raw_state : "";
  // A lost connection decides the kind whatever the SQLSTATE (57P01 and friends come with
  // one, a dropped socket comes without).
  const bool lost = PQstatus(conn) == CONNECTION_BAD;
  const std::string_view classified_as = lost ? kConnectionFailure : std::string_view(sqlstate);
  const ErrorKind kind = classified_as.empty() ? ErrorKind::kPermanent
                                               : classify_sqlstate(classified_as, during_commit);

  const char* primary = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  const char* detail = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL) : nullptr;
  std::string what = during_commit ? "COMMIT: " : "";
  if (primary != nullptr) {
    what += one_line(primary);
  } else {
    what += one_line(result ? PQresultErrorMessage(result) : PQerrorMessage(conn));
  }
  // "Failing row contains (...)" quotes every column of the row: other columns' data (emails,
  // tokens) must not reach logs and reports.
  if (detail != nullptr && !std::string_view(detail).starts_with("Failing row contains")) {
    what += ": " + one_line(detail);
  }
  return make_error(conn, what, sqlstate, kind, hint_for(kind, classified_as));
}

bool is_error(ExecStatusType status) {
  return status == PGRES_FATAL_ERROR || status == PGRES_NONFATAL_ERROR ||
         status == PGRES_BAD_RESPONSE;
}

// Sends one statement and waits for all of its results. Returns the first error if there was
// one, else the last result; nullptr when the statement could not be sent. PQexecParams would
// keep only the last: when the server reports a FATAL (57P01...) and then closes the
// connection, that is libpq's SQLSTATE-less "server closed the connection", and the server's
// own error, the one worth reporting, would be lost.
ResultPtr send_and_wait(PGconn* conn, const std::string& sql,
                        const std::vector<const char*>& values) {
  if (PQsendQueryParams(conn, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                        nullptr, nullptr, /*resultFormat=*/0) == 0) {
    return ResultPtr(nullptr, &PQclear);
  }
  ResultPtr kept(nullptr, &PQclear);
  while (PGresult* next = PQgetResult(conn)) {
    ResultPtr result(next, &PQclear);
    const ExecStatusType status = PQresultStatus(next);
    if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH) {
      throw std::logic_error("pg::Connection runs no COPY ... FROM STDIN / TO STDOUT");
    }
    if (!kept || !is_error(PQresultStatus(kept.get()))) kept = std::move(result);
  }
  return kept;
}

}  // namespace

// ---- Rows ----

Rows::Rows(pg_result* result) : result_(result) {}

void Rows::Free::operator()(pg_result* r) const noexcept { PQclear(r); }

int Rows::size() const { return result_ ? PQntuples(result_.get()) : 0; }

int Rows::columns() const { return result_ ? PQnfields(result_.get()) : 0; }

bool Rows::is_null(int row, int column) const {
  if (row < 0 || row >= size() || column < 0 || column >= columns()) {
    throw std::out_of_range("Rows: no cell at row " + std::to_string(row) + ", column " +
                            std::to_string(column));
  }
  return PQgetisnull(result_.get(), row, column) != 0;
}

std::string_view Rows::text(int row, int column) const {
  if (is_null(row, column)) return {};
  return {PQgetvalue(result_.get(), row, column),
          static_cast<std::size_t>(PQgetlength(result_.get(), row, column))};
}

std::int64_t Rows::int64(int row, int column) const {
  const std::string_view cell = text(row, column);
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(cell.data(), cell.data() + cell.size(), value);
  if (is_null(row, column) || error != std::errc() || end != cell.data() + cell.size()) {
    throw std::invalid_argument("Rows: cell at row " + std::to_string(row) + ", column " +
                                std::to_string(column) + " is not a 64-bit integer");
  }
  return value;
}

std::int64_t Rows::affected() const {
  if (!result_) return 0;
  const std::string_view count = PQcmdTuples(result_.get());
  std::int64_t value = 0;
  std::from_chars(count.data(), count.data() + count.size(), value);
  return value;
}

// ---- Connection ----

void Connection::Free::operator()(pg_conn* c) const noexcept { PQfinish(c); }

Connection::Connection(ConnectionConfig config, std::unique_ptr<pg_conn, Free> conn)
    : config_(std::move(config)), conn_(std::move(conn)) {}

Connection::~Connection() = default;

Result<Connection> Connection::open(const ConnectionConfig& config) {
  if (config.connect_timeout_seconds < 0 || config.statement_timeout_ms < 0) {
    return Error::invalid_input(
        "PostgreSQL configuration: connect_timeout_seconds and statement_timeout_ms must be 0 or "
        "more (invalid input; fix the configuration)");
  }
  if (Status parsed = check_conninfo(config.conninfo); !parsed) return std::move(parsed).error();

  // Entries after "dbname" override what the expanded conninfo says; empty ones do not, so an
  // empty application_name or a 0 timeout leaves the conninfo's (or libpq's) choice in force.
  const std::string timeout =
      config.connect_timeout_seconds > 0 ? std::to_string(config.connect_timeout_seconds) : "";
  const char* const keywords[] = {"dbname", "application_name", "connect_timeout", nullptr};
  const char* const values[] = {config.conninfo.c_str(), config.application_name.c_str(),
                                timeout.c_str(), nullptr};
  std::unique_ptr<pg_conn, Free> conn(PQconnectStartParams(keywords, values, /*expand_dbname=*/1));
  if (!conn) throw std::bad_alloc();
  PQsetErrorVerbosity(conn.get(), PQERRORS_VERBOSE);
  if (Status connected = wait_connected(conn.get()); !connected) {
    return std::move(connected).error();
  }
  PQsetErrorVerbosity(conn.get(), PQERRORS_DEFAULT);
  // Server notices (NOTICE: ... already exists, skipping) would go to stderr and into the
  // operator's terminal between progress lines; errors still come back as results.
  PQsetNoticeProcessor(
      conn.get(), [](void*, const char*) {}, nullptr);

  Connection connection(config, std::move(conn));
  // A query that row-level security would filter fails instead: rehome must see every row or
  // none (a filtered table looks like a finished job).
  if (Result<Rows> set = connection.exec("SELECT set_config('row_security', 'off', false)"); !set) {
    return std::move(set).error();
  }
  if (config.statement_timeout_ms > 0) {
    // set_config() rather than SET so that the value is a parameter like every other.
    Result<Rows> set = connection.exec("SELECT set_config('statement_timeout', $1, false)",
                                       {std::to_string(config.statement_timeout_ms)});
    if (!set) return std::move(set).error();
  }
  return connection;
}

Result<Rows> Connection::exec(std::string_view sql, const Params& params) {
  if (!healthy()) return lost_error(conn_.get(), "the connection was lost earlier");
  if (params.size() > kMaxParams || contains_nul(sql)) {
    return make_error(conn_.get(), "a statement needs at most 65535 parameters and no NUL byte", "",
                      ErrorKind::kInvalidInput, "this is a bug in rehome; please report it");
  }
  std::vector<const char*> values;
  values.reserve(params.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (params[i] && contains_nul(*params[i])) {
      return make_error(conn_.get(),
                        "parameter $" + std::to_string(i + 1) +
                            " holds a NUL byte, which PostgreSQL text cannot store",
                        "", ErrorKind::kInvalidInput, hint_for(ErrorKind::kInvalidInput, ""));
    }
    values.push_back(params[i] ? params[i]->c_str() : nullptr);
  }
  ResultPtr result = send_and_wait(conn_.get(), std::string(sql), values);
  const ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (is_error(status)) return statement_error(conn_.get(), result.get(), /*during_commit=*/false);
  return Rows(result.release());
}

Status Connection::begin() {
  Result<Rows> done = exec("BEGIN");
  if (!done) return std::move(done).error();
  return Ok{};
}

Status Connection::commit() {
  // If the server already closed the connection, COMMIT was never sent and the server rolled
  // the transaction back when the connection ended: that is certain, so it is kTransient.
  if (conn_) read_pending_input(conn_.get());
  if (!healthy()) {
    return lost_error(conn_.get(),
                      "COMMIT not sent: the connection was already lost, so the server rolled "
                      "the transaction back");
  }
  ResultPtr result = send_and_wait(conn_.get(), "COMMIT", {});
  const ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (is_error(status)) {
    return statement_error(conn_.get(), result.get(), /*during_commit=*/true);
  }
  // COMMIT in a transaction that had already failed succeeds with the tag ROLLBACK.
  if (std::string_view(PQcmdStatus(result.get())) == "ROLLBACK") {
    return make_error(conn_.get(),
                      "COMMIT: the transaction had failed and was rolled back; nothing was "
                      "committed",
                      "", ErrorKind::kPermanent,
                      "an earlier statement failed: handle its error, then redo the whole "
                      "transaction");
  }
  return Ok{};
}

Status Connection::rollback() {
  Result<Rows> done = exec("ROLLBACK");
  if (!done) return std::move(done).error();
  return Ok{};
}

bool Connection::healthy() const {
  return conn_ && !setup_failed_ && PQstatus(conn_.get()) == CONNECTION_OK;
}

// The new connection replaces the old one only once it is open: if it cannot be opened, the
// old handle stays (broken, most likely) so that describe() still names the server.
Status Connection::reconnect() {
  Result<Connection> fresh = open(config_);
  if (!fresh) return std::move(fresh).error();
  conn_ = std::move(fresh.value().conn_);
  setup_failed_ = false;
  if (session_setup_) {
    if (auto st = session_setup_(*this); !st) {
      // No statement may run in a session that lacks its set-up: unhealthy until the next
      // reconnect() (the handle stays so that describe() still names the server).
      setup_failed_ = true;
      return st;
    }
  }
  return Ok{};
}

void Connection::set_session_setup(std::function<Status(Connection&)> setup) {
  session_setup_ = std::move(setup);
}

std::string Connection::describe() const {
  return conn_ ? describe_conn(conn_.get()) : std::string("(no connection)");
}

int Connection::backend_pid() const { return conn_ ? PQbackendPID(conn_.get()) : 0; }

Result<Transaction> Transaction::begin(Connection& db) {
  if (auto st = db.begin(); !st) return st.error();
  return Transaction(db);
}

Transaction::Transaction(Transaction&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

Transaction::~Transaction() {
  // A failed ROLLBACK leaves nothing to do: the server ends the transaction with the session.
  if (db_ != nullptr) (void)db_->rollback();
}

Status Transaction::commit() {
  Connection* db = std::exchange(db_, nullptr);
  return db->commit();
}

}  // namespace rehome::pg
