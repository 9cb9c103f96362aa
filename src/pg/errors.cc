#include "pg/errors.h"

namespace rehome::pg {
namespace {

bool is_class(std::string_view sqlstate, std::string_view sqlclass) {
  return sqlstate.size() == 5 && sqlstate.substr(0, 2) == sqlclass;
}

// The connection (or the backend behind it) is gone: 08xxx, or an administrator or crash
// shutdown of the backend (57P01-57P03).
bool is_lost_connection(std::string_view sqlstate) {
  return is_class(sqlstate, "08") || sqlstate == "57P01" || sqlstate == "57P02" ||
         sqlstate == "57P03";
}

}  // namespace

ErrorKind classify_sqlstate(std::string_view sqlstate, bool during_commit) {
  if (is_lost_connection(sqlstate)) {
    // The COMMIT may have been executed and its answer lost on the way back (or a backend
    // waiting for synchronous replication may have committed locally before being killed).
    return during_commit ? ErrorKind::kInDoubt : ErrorKind::kTransient;
  }
  // Serialization failure and deadlock: the server rolled back; the transaction may be retried.
  if (sqlstate == "40001" || sqlstate == "40P01") return ErrorKind::kTransient;
  // Too many connections; query canceled or statement_timeout.
  // 55P03: lock_timeout (rehome's own, or a DBA's), like a statement_timeout: try again later.
  if (sqlstate == "53300" || sqlstate == "57014" || sqlstate == "55P03")
    return ErrorKind::kTransient;
  if (sqlstate == "42501" || is_class(sqlstate, "28")) return ErrorKind::kAccessDenied;
  if (sqlstate == "42P01" || sqlstate == "42703" || sqlstate == "42804" || sqlstate == "22P02") {
    return ErrorKind::kInvalidInput;
  }
  return ErrorKind::kPermanent;
}

}  // namespace rehome::pg
