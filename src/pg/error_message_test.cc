#include "pg/error_message.h"

#include <gtest/gtest.h>

namespace rehome::pg {
namespace {

TEST(OneLine, collapses_whitespace_and_trims) {
  EXPECT_EQ(one_line("  server closed\n\tthe connection \n"), "server closed the connection");
  EXPECT_EQ(one_line(""), "");
  EXPECT_EQ(one_line("\n\t "), "");
}

TEST(ParseStartupError, takes_the_sqlstate_and_drops_severity_and_location) {
  const StartupError parsed = parse_startup_error(
      "connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  28P01: password "
      "authentication failed for user \"rehome\"\nLOCATION:  auth_failed, auth.c:334\n");
  EXPECT_EQ(parsed.sqlstate, "28P01");
  EXPECT_EQ(parsed.message,
            "connection to server at \"127.0.0.1\", port 5432 failed: password authentication "
            "failed for user \"rehome\"");
}

TEST(ParseStartupError, keeps_the_first_sqlstate_when_several_hosts_failed) {
  const StartupError parsed = parse_startup_error(
      "connection to server at \"a\", port 1 failed: FATAL:  53300: sorry, too many clients "
      "already\nLOCATION:  x.c:1\nconnection to server at \"b\", port 2 failed: FATAL:  3D000: "
      "database \"app\" does not exist\n");
  EXPECT_EQ(parsed.sqlstate, "53300");
  EXPECT_EQ(parsed.message,
            "connection to server at \"a\", port 1 failed: sorry, too many clients already "
            "connection to server at \"b\", port 2 failed: database \"app\" does not exist");
}

TEST(ParseStartupError, has_no_sqlstate_for_client_side_failures) {
  const StartupError parsed = parse_startup_error(
      "connection to server at \"127.0.0.1\", port 1 failed: Connection refused\n\tIs the "
      "server running on that host and accepting TCP/IP connections?\n");
  EXPECT_EQ(parsed.sqlstate, "");
  EXPECT_EQ(parsed.message,
            "connection to server at \"127.0.0.1\", port 1 failed: Connection refused Is the "
            "server running on that host and accepting TCP/IP connections?");
}

TEST(ParseStartupError, keeps_a_severity_without_a_code_as_text_it_cannot_parse) {
  const StartupError parsed = parse_startup_error("failed: FATAL:  role \"x\" does not exist\n");
  EXPECT_EQ(parsed.sqlstate, "");
  EXPECT_EQ(parsed.message, "failed: role \"x\" does not exist");
}

TEST(RedactQuoted, hides_quoted_fragments_but_keeps_single_characters) {
  EXPECT_EQ(redact_quoted("missing \"=\" after \"s3cret\" in connection info string"),
            "missing \"=\" after \"...\" in connection info string");
  EXPECT_EQ(redact_quoted("invalid URI: \"postgresql://u:pw@h\""), "invalid URI: \"...\"");
  EXPECT_EQ(redact_quoted("unterminated quoted string"), "unterminated quoted string");
  EXPECT_EQ(redact_quoted("dangling \"quote"), "dangling \"quote");
}

TEST(RedactSecret, replaces_every_occurrence_of_a_long_enough_secret) {
  EXPECT_EQ(redact_secret("pw hunter2 and hunter2", "hunter2"), "pw *** and ***");
  EXPECT_EQ(redact_secret("no secret here", "hunter2"), "no secret here");
  EXPECT_EQ(redact_secret("aaaaaaaa", "aaaa"), "******");
  EXPECT_EQ(redact_secret("a short one: abc", "abc"), "a short one: abc");
  EXPECT_EQ(redact_secret("text", ""), "text");
}

TEST(HintFor, says_what_to_do_for_each_kind) {
  EXPECT_EQ(hint_for(ErrorKind::kAccessDenied, "42501"),
            "grant the privileges listed in docs/PRIVILEGES.md");
  EXPECT_NE(hint_for(ErrorKind::kAccessDenied, "28P01").find("password"), std::string::npos);
  EXPECT_NE(hint_for(ErrorKind::kInDoubt, "08006").find("never replay"), std::string::npos);
  EXPECT_NE(hint_for(ErrorKind::kTransient, "57014").find("statement_timeout"), std::string::npos);
  EXPECT_NE(hint_for(ErrorKind::kInvalidInput, "42P01").find("table"), std::string::npos);
  EXPECT_NE(hint_for(ErrorKind::kPermanent, "23505").find("will not help"), std::string::npos);
}

TEST(FormatError, follows_the_project_format_word_for_word) {
  EXPECT_EQ(format_error("host=127.0.0.1 port=5432 dbname=app user=rehome",
                         "permission denied for table avatars", "42501", ErrorKind::kAccessDenied,
                         hint_for(ErrorKind::kAccessDenied, "42501")),
            "PostgreSQL host=127.0.0.1 port=5432 dbname=app user=rehome: permission denied for "
            "table avatars (SQLSTATE 42501; access denied; grant the privileges listed in "
            "docs/PRIVILEGES.md)");
  EXPECT_EQ(format_error("host=h port=1 dbname=d user=u", "connection lost", "",
                         ErrorKind::kTransient, "reconnect"),
            "PostgreSQL host=h port=1 dbname=d user=u: connection lost (transient; reconnect)");
}

}  // namespace
}  // namespace rehome::pg
