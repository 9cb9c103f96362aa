#!/usr/bin/env bash
# Writes rehome's man page (rehome.1.gz) with help2man, from the binary's own --help and
# --version (so it cannot drift from them), plus each command's --help, the exit statuses and
# the environment, as sections help2man includes. Run by the build (CMakeLists.txt).
#
# Usage: make-man.sh REHOME_BINARY OUTPUT.1.gz [HELP2MAN]
set -euo pipefail
binary=$1 output=$2 help2man=${3:-help2man}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# roff-safe preformatted text: a leading dot or quote would be read as a request; backslashes
# are escaped.
preformatted() {
  echo ".nf"
  sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/"
  echo ".fi"
}

{
  echo "[COMMANDS]"
  for command in run plan verify cleanup status; do
    echo ".SS rehome $command"
    "$binary" "$command" --help | preformatted
  done
  echo "[EXIT STATUS]"
  cat <<'ROFF'
.TP
.B 0
done: every row and object migrated (status: the job is done with nothing left)
.TP
.B 1
a fatal error stopped the command; the message says what, where and what to do
.TP
.B 2
bad flags or configuration, or settings that differ from those the job was started with;
nothing was done
.TP
.B 3
finished, but conflicts, broken references or failed objects remain
.TP
.B 4
verify: at least one row names an object that does not exist
.TP
.B 5
status: the job is under way, or was stopped before it finished
.TP
.B 130
interrupted by SIGINT or SIGTERM; rerun to resume
ROFF
  echo "[ENVIRONMENT]"
  cat <<'ROFF'
Each setting comes from its flag, else its environment variable (named in each command's
options above), else the AWS profile, else its default. The database also follows libpq's
PGHOST, PGPORT, PGUSER, PGPASSWORD and PGDATABASE; credentials follow the AWS SDKs' chain
(AWS_ACCESS_KEY_ID, AWS_PROFILE, AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN, the container
endpoint, instance metadata).
ROFF
  echo "[SEE ALSO]"
  echo "/usr/share/doc/rehome/README.md, /usr/share/doc/rehome/DEPLOYMENT.md,"
  echo "/usr/share/doc/rehome/PRIVILEGES.md and the other documents beside them."
} >"$work/include"

"$help2man" --no-info --no-discard-stderr --section=1 \
  --name="move S3 objects to another bucket and rewrite the PostgreSQL rows that name them" \
  --include="$work/include" --output="$work/rehome.1" "$binary"
gzip -9n <"$work/rehome.1" >"$output.tmp"
mv "$output.tmp" "$output"
