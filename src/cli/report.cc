#include "cli/report.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

namespace rehome::cli {

using engine::Command;
using engine::Outcome;

namespace {

Error report_error(const std::string& path, const char* what) {
  return Error::invalid_input(
      fmt::format("cannot write the report to {}: {}: {}: choose a writable path", path, what,
                  std::strerror(errno)));
}

std::string parent_directory(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

/// Fails unless the report's directory can take a new file (and an existing report can be
/// replaced), without creating or truncating anything.
Status check_report_path(const std::string& path) {
  if (::access(parent_directory(path).c_str(), W_OK | X_OK) != 0) {
    return report_error(path, "its directory is not writable");
  }
  if (::access(path.c_str(), F_OK) == 0 && ::access(path.c_str(), W_OK) != 0) {
    return report_error(path, "the existing file is not writable");
  }
  return Ok{};
}

/// Writes the report to a temporary file beside `path`, then renames it into place.
Status write_report(const std::string& path, const std::string& text) {
  // mkstemp: a name nobody can guess and claim first (O_EXCL), readable by its owner only.
  std::string temporary = path + ".tmp-XXXXXX";
  const int fd = ::mkstemp(temporary.data());
  if (fd < 0) return report_error(path, "creating the temporary file failed");
  // As a file created the ordinary way: readable by whoever the umask lets read it.
  const mode_t mask = ::umask(0);
  ::umask(mask);
  ::fchmod(fd, 0666 & ~mask);
  std::FILE* out = ::fdopen(fd, "w");
  if (!out) {
    ::close(fd);
    std::remove(temporary.c_str());
    return report_error(path, "creating the temporary file failed");
  }
  bool ok = std::fwrite(text.data(), 1, text.size(), out) == text.size();
  ok = std::fflush(out) == 0 && ok;
  ok = std::fclose(out) == 0 && ok;
  if (!ok || std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::remove(temporary.c_str());
    return report_error(path, "writing it failed");
  }
  return Ok{};
}

std::string report_json(const engine::Summary& summary) {
  return summary.to_json().dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

void print_summary(const engine::Summary& s) {
  std::FILE* out = stdout;
  fmt::print(out, "rehome {}: {} in {:.1f}s\n", to_string(s.command), to_string(s.outcome),
             s.seconds);
  if (s.command == Command::kRun) {
    if (s.objects_seconds > 0) {
      fmt::print(out, "  time: objects {:.1f}s, rows {:.1f}s\n", s.objects_seconds, s.rows_seconds);
    }
    if (s.outcome == Outcome::kComplete && s.objects_copied == 0 && s.rows_rewritten == 0) {
      fmt::print(out,
                 "  nothing to do: every legacy object has its twin and every row is rewritten\n");
    }
    fmt::print(
        out,
        "  objects: {} listed, {} copied, {} already copied, {} conflicts, {} missing, {} failed\n",
        s.objects_listed, s.objects_copied, s.objects_already_copied, s.objects_conflict,
        s.objects_missing, s.objects_failed);
    if (s.objects_refreshed > 0) {
      fmt::print(out,
                 "  refreshed: {} of rehome's copies, whose legacy object was re-uploaded in "
                 "place after it was copied\n",
                 s.objects_refreshed);
    }
    if (s.records_rechecked > 0) {
      fmt::print(out,
                 "  rechecked: {} copies recorded by earlier runs, against production's listing; "
                 "{} missing or changed there, settled again\n",
                 s.records_rechecked, s.records_resettled);
    }
    if (s.uploads_aborted + s.uploads_unnamed + s.uploads_failed > 0) {
      fmt::print(out,
                 "  multipart uploads left by a killed run: {} aborted, {} never named by S3 "
                 "(left to a lifecycle rule), {} still open (see below)\n",
                 s.uploads_aborted, s.uploads_unnamed, s.uploads_failed);
    }
    if (s.ranges_split > 0) {
      fmt::print(out, "  listing: {} key ranges split to keep every lane busy\n", s.ranges_split);
    }
    fmt::print(
        out,
        "  rows: {} rewritten, {} still legacy ({} conflict, {} broken reference, {} failed), "
        "{} production, left alone: {} null, {} empty, {} other\n",
        s.rows_rewritten, s.rows_pending, s.rows_conflict, s.rows_broken, s.rows_failed,
        s.rows_production, s.rows_null, s.rows_empty, s.rows_other);
  } else if (s.command == Command::kPlan) {
    fmt::print(out,
               "  rows to rewrite: {}; objects to copy: {}; already copied: {}; unreferenced "
               "objects: {}\n",
               s.rows_pending, s.objects_to_copy, s.objects_already_copied, s.objects_unreferenced);
    fmt::print(
        out,
        "  conflicts: {}; broken references: {}; rows left alone: {} null, {} empty, {} other; "
        "rows already production: {}\n",
        s.objects_conflict, s.rows_broken, s.rows_null, s.rows_empty, s.rows_other,
        s.rows_production);
  } else if (s.command == Command::kVerify) {
    fmt::print(out,
               "  rows naming a missing object: {}; rows still legacy: {} ({} broken references); "
               "conflicts: {}; legacy objects still present: {}\n",
               s.rows_dangling, s.rows_pending, s.rows_broken, s.objects_conflict,
               s.legacy_objects_present);
    if (s.objects_stale > 0) {
      fmt::print(out,
                 "  copies older than their legacy object (re-uploaded in place after the "
                 "copy): {}; `rehome run --relist` refreshes them\n",
                 s.objects_stale);
    }
  } else if (s.command == Command::kCleanup) {
    fmt::print(out, "  legacy objects deleted: {}; kept (not yet safe): {}\n", s.objects_deleted,
               s.objects_kept);
  }
  if (s.requests > 0) {
    fmt::print(out, "  S3 requests: {} ({} retries, {} throttled; {} connections opened)\n",
               s.requests, s.retries, s.throttled, s.connections);
  }
  for (const auto& p : s.problems) fmt::print(out, "  - {}\n", p);
  std::fflush(out);
  if (!s.error.empty()) fmt::print(stderr, "rehome: error: {}\n", s.error);
}

}  // namespace rehome::cli
