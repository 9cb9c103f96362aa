#include "pg/error_message.h"

#include <algorithm>
#include <vector>

namespace rehome::pg {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool is_sqlstate_char(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'); }

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    lines.push_back(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return lines;
}

// Removes "FATAL:  28P01: " (any severity) from `line`, storing the first SQLSTATE seen.
std::string strip_severity(std::string_view line, std::string& sqlstate) {
  static constexpr std::string_view kSeverities[] = {"FATAL:  ", "ERROR:  ", "PANIC:  "};
  for (std::string_view severity : kSeverities) {
    const std::size_t at = line.find(severity);
    if (at == std::string_view::npos) continue;
    std::string_view rest = line.substr(at + severity.size());
    const bool has_code = rest.size() >= 7 && rest[5] == ':' && rest[6] == ' ' &&
                          std::all_of(rest.begin(), rest.begin() + 5, is_sqlstate_char);
    if (has_code) {
      if (sqlstate.empty()) sqlstate = std::string(rest.substr(0, 5));
      rest.remove_prefix(7);
    }
    return std::string(line.substr(0, at)) + std::string(rest);
  }
  return std::string(line);
}

}  // namespace

std::string one_line(std::string_view text) {
  std::string out;
  bool pending_space = false;
  for (char c : text) {
    if (is_space(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
  }
  return out;
}

StartupError parse_startup_error(std::string_view libpq_message) {
  StartupError parsed;
  std::string kept;
  for (std::string_view line : split_lines(libpq_message)) {
    // Verbose mode adds the server's source location: noise for an operator.
    if (one_line(line).starts_with("LOCATION:")) continue;
    kept += strip_severity(line, parsed.sqlstate);
    kept += '\n';
  }
  parsed.message = one_line(kept);
  return parsed;
}

std::string redact_quoted(std::string_view text) {
  std::string out;
  while (true) {
    const std::size_t open = text.find('"');
    const std::size_t close =
        open == std::string_view::npos ? std::string_view::npos : text.find('"', open + 1);
    if (close == std::string_view::npos) {
      out += text;
      return out;
    }
    const std::string_view inside = text.substr(open + 1, close - open - 1);
    out += text.substr(0, open + 1);
    out += inside.size() > 1 ? std::string_view("...") : inside;
    out += '"';
    text.remove_prefix(close + 1);
  }
}

std::string redact_secret(std::string text, std::string_view secret) {
  // Shorter secrets would turn ordinary words into asterisks; libpq and the server never echo
  // a password anyway, so this is a second line of defence, not the first.
  if (secret.size() < 4) return text;
  for (std::size_t at = text.find(secret); at != std::string::npos;
       at = text.find(secret, at + 3)) {
    text.replace(at, secret.size(), "***");
  }
  return text;
}

std::string hint_for(ErrorKind kind, std::string_view sqlstate) {
  switch (kind) {
    case ErrorKind::kInDoubt:
      return "the commit may or may not have happened; check the rows before retrying, never "
             "replay blindly";
    case ErrorKind::kAccessDenied:
      if (sqlstate.starts_with("28")) {
        return "check the user and password in the connection string, PGPASSWORD or "
               "~/.pgpass, and the server's pg_hba.conf";
      }
      return "grant the privileges listed in docs/PRIVILEGES.md";
    case ErrorKind::kTransient:
      if (sqlstate == "57014") {
        return "canceled or over statement_timeout; retry, or raise the timeout";
      }
      if (sqlstate == "40001" || sqlstate == "40P01") {
        return "the server rolled back; retry the transaction";
      }
      if (sqlstate == "53300") return "the server has too many connections; retry later";
      if (sqlstate.starts_with("08") || sqlstate.starts_with("57P")) {
        return "reconnect, then retry the transaction";
      }
      return "check that the server is up and reachable, then retry";
    case ErrorKind::kInvalidInput:
      if (sqlstate == "42P01" || sqlstate == "42703") {
        return "check the table and column names in the configuration";
      }
      if (sqlstate == "3D000") return "check the database name in the connection string";
      return "check the values given";
    default: return "retrying will not help; see the server log";
  }
}

std::string format_error(std::string_view where, std::string_view what, std::string_view sqlstate,
                         ErrorKind kind, std::string_view hint) {
  std::string out = "PostgreSQL ";
  out += where;
  out += ": ";
  out += what;
  out += " (";
  if (!sqlstate.empty()) {
    out += "SQLSTATE ";
    out += sqlstate;
    out += "; ";
  }
  out += to_string(kind);
  out += "; ";
  out += hint;
  out += ')';
  return out;
}

}  // namespace rehome::pg
