#!/usr/bin/env bash
# The example alerts (deploy/prometheus/alerts.yml) are valid rules and fire when they should:
# `promtool check rules`, then `promtool test rules` on made-up series (alerts_test.yml).
# Without promtool (Debian's prometheus package, which scripts/bootstrap installs): exit 125,
# skipped, or 1 when REHOME_TEST_REQUIRE_SERVICES=1.
set -euo pipefail
cd "$(dirname "$0")/../../deploy/prometheus"
if ! command -v promtool >/dev/null; then
  echo "promtool not found (apt-get install prometheus; scripts/bootstrap does)" >&2
  [ "${REHOME_TEST_REQUIRE_SERVICES:-}" = 1 ] && exit 1
  exit 125
fi
promtool check rules alerts.yml
promtool test rules alerts_test.yml
