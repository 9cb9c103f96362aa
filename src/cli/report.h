// What a command leaves behind: the summary on stdout (and its fatal error on stderr), and the
// JSON report, written so that a killed run never leaves a half-written one in place.
#pragma once

#include <string>

#include "engine/summary.h"
#include "util/result.h"

namespace rehome::cli {

/// Fails unless the report's directory can take a new file (and an existing report can be
/// replaced), without creating or truncating anything: checked before hours of work.
Status check_report_path(const std::string& path);

/// Writes the report to a temporary file beside `path`, then renames it into place.
/// The summary as the report's JSON text. Text from servers and databases may be invalid UTF-8
/// (a SQL_ASCII database, a proxy's page): such bytes become U+FFFD instead of throwing.
std::string report_json(const engine::Summary& summary);

Status write_report(const std::string& path, const std::string& text);

/// The human summary on stdout; the fatal error, if any, as "rehome: error: ..." on stderr.
void print_summary(const engine::Summary& summary);

}  // namespace rehome::cli
