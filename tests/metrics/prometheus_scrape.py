#!/usr/bin/env python3
"""The metrics, as a real Prometheus (Debian's `prometheus` package) sees them: two workers of
one job serve /metrics (--metrics-address); a Prometheus on loopback scrapes them every second
and loads the example alerts (deploy/prometheus/alerts.yml); once the job is done, its HTTP API
is asked what it stored, and every query of the Grafana dashboard
(deploy/grafana/rehome-dashboard.json) is run against it.

What must hold:
  - rehome_job_info: one series per worker, the job's name (stored as exported_job) and version;
  - the counters end at the workers' own reports' totals (objects copied, rows rewritten,
    requests sent): each worker waits for a last scrape before it exits (--metrics-linger);
  - requests by operation and status (ListObjectsV2 and CopyObject answered 200), their
    duration histogram, in flight, retries, throttled; the job's ranges by state, no more done
    than the database holds; the rate limits of both endpoints;
  - the alert rules loaded and evaluated without error; every dashboard query answered;
  - an address already in use is refused with exit 2 and advice;
  - and the job itself: nothing lost, no row dangling.

Usage: prometheus_scrape.py --rehome BIN --seed-bin BIN [--objects N] [--work DIR]
Services from the suites' environment (scripts/services); without them or without Prometheus:
exit 125 (skipped), or 1 when REHOME_TEST_REQUIRE_SERVICES=1.
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE, "tests", "faults"))
import pgmini  # noqa: E402
import scenarios  # noqa: E402
from workers_quick import Context  # noqa: E402

ALERTS = os.path.join(SOURCE, "deploy", "prometheus", "alerts.yml")
DASHBOARD = os.path.join(SOURCE, "deploy", "grafana", "rehome-dashboard.json")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    """A Prometheus server on loopback scraping `targets` every second."""

    def __init__(self, work, targets):
        self.port = free_port()
        self.dir = os.path.join(work, "prometheus")
        os.makedirs(self.dir, exist_ok=True)
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w") as fh:
            fh.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                     "rule_files:\n  - %s\n"
                     "scrape_configs:\n  - job_name: rehome\n    static_configs:\n"
                     "      - targets: [%s]\n" % (ALERTS, ", ".join("'%s'" % t for t in targets)))
        self.log = open(os.path.join(self.dir, "prometheus.log"), "ab")
        self.proc = subprocess.Popen(
            ["prometheus", "--config.file=" + config, "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port, "--log.level=warn"],
            stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % self.port, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("prometheus did not start (see %s)" % self.log.name)
            time.sleep(0.3)

    def api(self, path, **params):
        url = "http://127.0.0.1:%d/api/v1/%s?%s" % (self.port, path, urllib.parse.urlencode(params))
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
        if body.get("status") != "success":
            raise RuntimeError("%s: %s" % (url, body))
        return body["data"]

    def query(self, expr, at):
        return self.api("query", query=expr, time="%.3f" % at)["result"]

    def value(self, expr, at):
        """The one value of a query that sums to a scalar-like vector; None when empty."""
        result = self.query(expr, at)
        return float(result[0]["value"][1]) if result else None

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rehome", required=True)
    p.add_argument("--seed-bin", required=True)
    p.add_argument("--objects", type=int, default=1500, help="legacy objects (as many again in production)")
    p.add_argument("--work", default=None, help="keep logs here (default: a temp dir, removed on success)")
    a = p.parse_args()
    required = os.environ.get("REHOME_TEST_REQUIRE_SERVICES") == "1"
    if not (os.environ.get("REHOME_TEST_RGW_ENDPOINT") and os.environ.get("REHOME_TEST_PG_CONNINFO")):
        print("%s: no PostgreSQL or radosgw (scripts/services)" % ("FAIL" if required else "SKIP"))
        return 1 if required else 125
    if not shutil.which("prometheus"):
        print("%s: no prometheus on PATH (Debian's prometheus package: scripts/bootstrap)"
              % ("FAIL" if required else "SKIP"))
        return 1 if required else 125
    work = a.work or tempfile.mkdtemp(prefix="rehome-metrics-")
    ctx = Context(work, a.rehome, a.seed_bin, int(time.time()) % 100000)
    checks, prom = [], None

    def check(name, ok, detail=""):
        checks.append({"check": name, "ok": bool(ok), "detail": detail})

    try:
        w = scenarios.World(ctx, "metrics%d" % (os.getpid() % 100000), avatars=2 * a.objects)
        ports = [free_port(), free_port()]
        prom = Prometheus(work, ["127.0.0.1:%d" % port for port in ports])
        # Capped so that the job lasts long enough for a few dozen scrapes.
        args = ["--max-rps", "80", "--list-page-size", "100", "--row-range", "200"]
        started = time.time()
        procs = [w.start(args + ["--metrics-address", "127.0.0.1:%d" % port]) for port in ports]
        # While they run, a third worker asking for an address in use is refused.
        time.sleep(1)
        taken = subprocess.run([a.rehome, "run", "--progress", "none", "--metrics-address",
                                "127.0.0.1:%d" % prom.port], env=w.env(), capture_output=True, text=True)
        check("an address in use: exit 2, with advice", taken.returncode == 2 and
              "choose another --metrics-address" in taken.stderr, "%d %s" % (taken.returncode, taken.stderr.strip()))
        reports = [w.finish(*pr) for pr in procs]
        ended = time.time()
        # Exit 3: the seeded conflict and broken references are what the job has left, whichever
        # worker met them.
        seeded = w.broken + w.conflicts
        check("both workers finished the job with its seeded problems (exit 3)",
              all(s == 3 and r and r["objects"]["failed"] == 0 and r["rows"]["failed"] == 0 and
                  r["rows"]["pending"] == seeded for s, r in reports), str([s for s, _ in reports]))
        time.sleep(2)  # a last evaluation of the rules
        window = "[%ds]" % (int(ended - started) + 30)
        at = ended + 1
        total = {k: sum((r or {}).get(sec, {}).get(k, 0) for _, r in reports)
                 for sec, k in (("objects", "copied"), ("rows", "rewritten"), ("requests", "sent"))}

        def scraped(expr):
            return prom.value("sum(max_over_time(%s%s))" % (expr, window), at) or 0

        info = prom.query("max_over_time(rehome_job_info%s)" % window, at)
        job = json.loads(subprocess.run([a.rehome, "status", "--json"], env=w.env(),
                                        capture_output=True, text=True).stdout or "{}").get("job")
        check("rehome_job_info: one series per worker, with the job and the version",
              len(info) == 2 and all(s["metric"].get("exported_job") == job and
                                     re.fullmatch(r"\d+\.\d+\.\d+", s["metric"].get("version", ""))
                                     for s in info), json.dumps([s["metric"] for s in info]))
        for name, expr, key in (("objects copied", 'rehome_objects_total{outcome="copied"}', "copied"),
                                ("rows rewritten", "rehome_rows_rewritten_total", "rewritten"),
                                ("requests", "rehome_requests_total", "sent")):
            seen = scraped(expr)
            # Exactly: each worker waits for a last scrape before it exits (--metrics-linger).
            check("%s: scraped %d, the reports' %d" % (name, seen, total[key]), total[key] > 0 and seen == total[key])
        for op in ("ListObjectsV2", "CopyObject"):
            check("%s answered 200" % op, scraped('rehome_requests_total{operation="%s",status="200"}' % op) > 0)
            count = scraped('rehome_request_duration_seconds_count{operation="%s"}' % op)
            answered = scraped('rehome_requests_total{operation="%s"}' % op)
            check("%s's duration histogram counts every answer (%d of %d)" % (op, count, answered),
                  count > 0 and count == answered)
        p99 = prom.value('histogram_quantile(0.99, sum by (le) (rate(rehome_request_duration_seconds_bucket'
                         '{operation="CopyObject"}%s)))' % window, at)
        check("CopyObject's p99 is a duration (%s s)" % p99, p99 is not None and 0 < p99 < 120)
        for series in ("rehome_requests_in_flight", "rehome_retries_total", "rehome_throttled_total"):
            check("%s scraped from both workers" % series,
                  len(prom.query("max_over_time(%s%s)" % (series, window), at)) == 2)
        limits = prom.query("max_over_time(rehome_rate_limit_per_second%s)" % window, at)
        check("rate limits of both endpoints, both workers",
              sorted(s["metric"]["endpoint"] for s in limits) == ["legacy", "legacy", "production", "production"])
        db = pgmini.Connection(w.db_url)
        ranges_done = int(db.query("SELECT count(*) FROM rehome.ranges WHERE completed_at IS NOT NULL")[0][0])
        db.close()
        done_seen = prom.value('max(max_over_time(rehome_ranges{kind="keys",state="done"}%s))' % window, at) or 0
        check("key ranges done: %d seen, %d in the database" % (done_seen, ranges_done),
              0 < done_seen == ranges_done)
        states = {(s["metric"]["kind"], s["metric"]["state"])
                  for s in prom.query("max_over_time(rehome_ranges%s)" % window, at)}
        check("ranges of both kinds in every state", states == {(k, s) for k in ("keys", "rows")
                                                                 for s in ("done", "claimed", "waiting")})
        up = prom.query("max_over_time(up{job=\"rehome\"}%s)" % window, at)
        check("both targets were up", len(up) == 2 and all(s["value"][1] == "1" for s in up))
        rules = [r for g in prom.api("rules")["groups"] for r in g["rules"]]
        check("the example alerts loaded and evaluated without error (%d rules)" % len(rules),
              len(rules) >= 5 and all(r.get("health") == "ok" for r in rules),
              json.dumps([(r["name"], r.get("health"), r.get("lastError")) for r in rules]))
        # The dashboard's queries (1 m windows), at a moment while both workers ran.
        mid = started + (ended - started) * 0.7
        with open(DASHBOARD) as fh:
            dashboard = json.load(fh)
        empty = []
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                if not prom.query(target["expr"], mid):
                    empty.append(target["expr"])
        check("every dashboard query answers with data", not empty, json.dumps(empty))
        check("nothing lost, no row dangling", (lambda r: r["lost_objects"] == 0 and r["dangling_rows"] == 0
                                               and r["dangling_independent"] == 0)(w.audit()))
    finally:
        if prom:
            prom.close()
        for world in ctx.worlds:
            world.close()
    passed = all(c["ok"] for c in checks)
    for c in checks:
        print("%s %s%s" % ("ok  " if c["ok"] else "FAIL", c["check"], (": " + c["detail"]) if c["detail"] and not c["ok"] else ""))
    print("%s (logs in %s)" % ("PASS" if passed else "FAIL", work))
    if passed and not a.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
