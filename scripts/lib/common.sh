# shellcheck shell=bash
# Helpers shared by scripts/start-* and scripts/stop-*: logging, free ports, waiting, stopping
# by PID, and the export lines a start script prints. Source it; it does nothing on its own.
#
# Conventions every service script follows:
#   - stdout carries only `export NAME=value` lines (so `eval "$(scripts/start-x)"` works);
#     progress and errors go to stderr, daemon logs to files in the service's DIR;
#   - DIR/env holds the same export lines, DIR/.rehome-service marks a DIR as ours (stop --rm
#     and a restart into the same DIR only ever delete what carries that mark).

REHOME_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REHOME_T0=$(date +%s.%N)

# log MESSAGE...: one progress line on stderr, with the seconds since the script started.
log() {
  local now
  now=$(date +%s.%N)
  printf '%s [%5.2fs] %s\n' "$(basename "$0")" "$(echo "$now - $REHOME_T0" | bc)" "$*" >&2
}

# die MESSAGE...: says what went wrong on stderr and exits 1.
die() {
  printf '%s: error: %s\n' "$(basename "$0")" "$*" >&2
  exit 1
}

# require_command NAME HINT: fails early, with what to do, when a tool is missing.
require_command() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found; $2"
}

# free_port [TAKEN_PORT...]: prints a TCP port that 127.0.0.1 can bind now, outside the kernel's
# ephemeral range (so outgoing connections do not grab it before the server does) and different
# from the ports given. Another process can still take it before our server binds: the servers
# fail loudly then, and the start scripts say which port was busy.
free_port() {
  python3 "$REHOME_LIB_DIR/free_port.py" "$@"
}

# print_export NAME VALUE: one shell-quoted export line on stdout.
print_export() {
  printf 'export %s=%q\n' "$1" "$2"
}

# launch_daemon PID_FILE LOG COMMAND...: starts COMMAND (which must stay in the foreground) in
# the background in its own session, so that a Ctrl-C meant for the caller does not reach it
# before the caller's teardown does, and writes its PID to PID_FILE at once.
launch_daemon() {
  local pid_file=$1 log_file=$2
  shift 2
  setsid "$@" </dev/null >>"$log_file" 2>&1 &
  echo $! >"$pid_file"
}

# wait_for_daemon SECONDS WHAT PID_FILE COMMAND...: polls COMMAND every 0.1 s until it succeeds.
# Dies, naming WHAT, after SECONDS, or at once when the daemon that wrote PID_FILE has exited
# (a port taken since we picked it, say).
wait_for_daemon() {
  local seconds=$1 what=$2 pid_file=$3
  shift 3
  local deadline pid=
  deadline=$(($(date +%s) + seconds))
  until "$@" >/dev/null 2>&1; do
    # The daemon may remove its PID file as it exits: remember the PID once seen.
    [ -s "$pid_file" ] && pid=$(tr -dc '0-9' <"$pid_file")
    if [ -n "$pid" ] && ! pid_alive "$pid"; then die "$what exited during start-up"; fi
    (($(date +%s) < deadline)) || die "timed out after ${seconds}s waiting for $what"
    sleep 0.1
  done
}

# pid_alive PID: true while PID runs (a zombie counts as gone: its parent may never reap it).
pid_alive() {
  [ -e "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}

# stop_pid PID SIGNAL: sends SIGNAL, waits up to 10 s, then SIGKILL. Quiet when PID is gone.
stop_pid() {
  local pid=$1 signal=$2
  pid_alive "$pid" || return 0
  kill "-$signal" "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do
    pid_alive "$pid" || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    pid_alive "$pid" || return 0
    sleep 0.1
  done
  printf '%s: warning: PID %s survived SIGKILL\n' "$(basename "$0")" "$pid" >&2
}

# pid_mentions PID TEXT: true when PID runs with TEXT in its command line. Guards against
# signalling an unrelated process that reused the PID of a server that died long ago.
pid_mentions() {
  [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF -- "$2"
}

# stop_pid_file FILE SIGNAL TEXT: stop_pid on the PID in FILE if its command line mentions
# TEXT (the service's DIR), then removes FILE.
stop_pid_file() {
  local file=$1 signal=$2 text=$3 pid
  [ -f "$file" ] || return 0
  pid=$(tr -dc '0-9' <"$file")
  if [ -n "$pid" ] && pid_mentions "$pid" "$text"; then stop_pid "$pid" "$signal"; fi
  rm -f "$file"
}

# prepare_state_dir DIR KIND: makes DIR ready for a fresh service of KIND ("postgres", "rgw",
# "s3rver"). A DIR from an earlier run of ours (marked) has its daemons stopped by
# scripts/stop-KIND and is emptied; a non-empty DIR that is not ours is refused, not deleted.
prepare_state_dir() {
  local dir=$1 kind=$2
  if [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
    [ "$(cat "$dir/.rehome-service" 2>/dev/null)" = "$kind" ] ||
      die "$dir is not empty and was not made by this script; give an empty or new DIR"
    "$REHOME_LIB_DIR/../stop-$kind" "$dir" 2>/dev/null
    find "$dir" -mindepth 1 -delete
  fi
  mkdir -p "$dir"
  echo "$kind" >"$dir/.rehome-service"
}

# stop_on_failure KIND: when the script fails or is interrupted after this call, the daemons
# already started in $DIR are stopped (by scripts/stop-KIND) and DIR is kept for its logs.
stop_on_failure() {
  REHOME_SERVICE_KIND=$1
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap stop_started_daemons EXIT
}

stop_started_daemons() {
  local status=$?
  if [ "$status" -ne 0 ] && [ -n "${DIR:-}" ] && [ -d "$DIR" ]; then
    "$REHOME_LIB_DIR/../stop-$REHOME_SERVICE_KIND" "$DIR" 2>/dev/null || true
    printf '%s: stopped what had started; logs are in %s\n' "$(basename "$0")" "$DIR" >&2
  fi
  exit "$status"
}

# new_state_dir KIND: prints a fresh directory under ${TMPDIR:-/tmp}. Kept short: a unix socket
# path (PostgreSQL's) must fit in 107 bytes.
new_state_dir() {
  mktemp -d "${TMPDIR:-/tmp}/rehome-$1.XXXXXX"
}

# remove_state_dir DIR KIND: deletes DIR if it carries our mark for KIND (stop --rm).
remove_state_dir() {
  local dir=$1 kind=$2
  [ -d "$dir" ] || return 0
  if [ "$(cat "$dir/.rehome-service" 2>/dev/null)" = "$kind" ]; then
    rm -rf "$dir"
  else
    printf '%s: warning: %s has no %s mark; left in place\n' "$(basename "$0")" "$dir" "$kind" >&2
  fi
}
