#include "pg/errors.h"

#include <gtest/gtest.h>

#include <string>

namespace rehome::pg {
namespace {

struct Case {
  const char* sqlstate;
  ErrorKind outside_commit;
  ErrorKind during_commit;
};

constexpr ErrorKind kTransient = ErrorKind::kTransient;
constexpr ErrorKind kInDoubt = ErrorKind::kInDoubt;
constexpr ErrorKind kAccess = ErrorKind::kAccessDenied;
constexpr ErrorKind kInvalid = ErrorKind::kInvalidInput;
constexpr ErrorKind kPermanent = ErrorKind::kPermanent;

TEST(ClassifySqlstate, maps_each_documented_code_to_what_the_caller_can_do) {
  const Case cases[] = {
      {"08000", kTransient, kInDoubt},    // connection_exception
      {"08003", kTransient, kInDoubt},    // connection_does_not_exist
      {"08006", kTransient, kInDoubt},    // connection_failure
      {"08001", kTransient, kInDoubt},    // sqlclient_unable_to_establish_sqlconnection
      {"08P01", kTransient, kInDoubt},    // protocol_violation
      {"57P01", kTransient, kInDoubt},    // admin_shutdown (pg_terminate_backend)
      {"57P02", kTransient, kInDoubt},    // crash_shutdown
      {"57P03", kTransient, kInDoubt},    // cannot_connect_now
      {"40001", kTransient, kTransient},  // serialization_failure: rolled back, retry
      {"40P01", kTransient, kTransient},  // deadlock_detected
      {"53300", kTransient, kTransient},  // too_many_connections
      {"57014", kTransient, kTransient},  // query_canceled / statement_timeout
      {"42501", kAccess, kAccess},        // insufficient_privilege
      {"28000", kAccess, kAccess},        // invalid_authorization_specification
      {"28P01", kAccess, kAccess},        // invalid_password
      {"42P01", kInvalid, kInvalid},      // undefined_table
      {"42703", kInvalid, kInvalid},      // undefined_column
      {"42804", kInvalid, kInvalid},      // datatype_mismatch
      {"22P02", kInvalid, kInvalid},      // invalid_text_representation
      {"23505", kPermanent, kPermanent},  // unique_violation
      {"23503", kPermanent, kPermanent},  // foreign_key_violation
      {"53100", kPermanent, kPermanent},  // disk_full: not in the transient list
      {"57P04", kPermanent, kPermanent},  // database_dropped
      {"XX000", kPermanent, kPermanent},  // internal_error
      {"", kPermanent, kPermanent},       {"08", kPermanent, kPermanent},  // not a SQLSTATE
      {"280000", kPermanent, kPermanent},                                  // not a SQLSTATE
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string("SQLSTATE '") + c.sqlstate + "'");
    EXPECT_EQ(classify_sqlstate(c.sqlstate), c.outside_commit);
    EXPECT_EQ(classify_sqlstate(c.sqlstate, /*during_commit=*/true), c.during_commit);
  }
}

}  // namespace
}  // namespace rehome::pg
