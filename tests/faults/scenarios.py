"""The fault scenarios behind scripts/faults: each proves the promise under one kind of fault.

Every scenario gets its own database and bucket pair on the shared services, seeds them with
rehome-seed, takes a manifest of the legacy originals (key suffix -> MD5/ETag), runs the live
probe throughout, drives rehome under its fault, and then measures the same things:
  lost objects   legacy originals (minus seeded conflicts) whose content is not in production
  dangling rows  `rehome verify`'s count of rows naming missing objects, minus seeded broken refs,
                 cross-checked independently against fresh listings of both buckets
  double rewrites rows that rehome.rewrites shows rewritten to two different paths
"""
import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pgmini  # noqa: E402
import s3mini  # noqa: E402

FAILPOINTS = ["between-copy-and-rewrite", "between-update-and-commit", "after-recording-outcomes"]


class World:
    """One scenario's database + buckets, and the tools to drive and audit it."""

    def __init__(self, ctx, name, avatars, broken=3, conflicts=1):
        self.ctx, self.name = ctx, name
        self.probe, self.log = None, None
        ctx.worlds.append(self)  # scripts/faults closes every world, also after a failure
        self.dir = os.path.join(ctx.work, name)
        os.makedirs(self.dir, exist_ok=True)
        self.broken, self.conflicts = broken, conflicts
        self.dbname = "faults_" + name
        admin = pgmini.Connection(ctx.pg_url("rehome"))
        admin.query("DROP DATABASE IF EXISTS %s" % self.dbname)
        admin.query("CREATE DATABASE %s" % self.dbname)
        admin.close()
        self.db_url = ctx.pg_url(self.dbname)
        self.legacy, self.production = name + "-legacy", name + "-production"
        self.s3 = ctx.s3()
        for b in (self.legacy, self.production):
            status, _, body = self.s3.request("PUT", b)
            if status != 200:
                raise RuntimeError("create bucket %s: %s %s" % (b, status, body[:200]))
        self.log = open(os.path.join(self.dir, "rehome.log"), "ab")
        subprocess.run([ctx.seed_bin, "--avatars", str(avatars), "--broken", str(broken),
                        "--conflicts", str(conflicts), "--database-url", self.db_url,
                        "--legacy-bucket", self.legacy, "--production-bucket", self.production,
                        "--endpoint", ctx.rgw], check=True, stdout=self.log, stderr=self.log, env=self.env())
        self.manifest = {k.split("/", 1)[1]: etag for k, etag, _ in self.s3.list(self.legacy, "image/")}
        with open(os.path.join(self.dir, "manifest.json"), "w") as fh:
            json.dump(self.manifest, fh)
        self.runs, self.statuses = 0, []
        self.requests = {"sent": 0, "retries": 0, "throttled": 0}
        # Overrides of rehome's environment for every run and cleanup of this world (e.g. no keys,
        # so that rehome takes its credentials elsewhere); the seed, the probe and verify keep
        # the test user's static keys. A per-call `extra` is applied on top.
        self.rehome_env = {}

    def env(self, endpoint=None, extra=None):
        e = dict(os.environ)
        e.update({"DATABASE_URL": self.db_url, "AWS_ENDPOINT_URL": endpoint or self.ctx.rgw,
                  "AWS_ACCESS_KEY_ID": self.ctx.access_key, "AWS_SECRET_ACCESS_KEY": self.ctx.secret_key,
                  "AWS_REGION": "us-east-1", "REHOME_LEGACY_BUCKET": self.legacy,
                  "REHOME_PRODUCTION_BUCKET": self.production})
        e.pop("REHOME_FAILPOINT", None)
        e.update(extra or {})
        return e

    def start(self, args, endpoint=None, extra=None):
        """Starts `rehome run ARGS`; returns (process, report path)."""
        self.runs += 1
        report = os.path.join(self.dir, "report-%03d.json" % self.runs)
        self.log.write(b"\n=== run %d: %s\n" % (self.runs, " ".join(args).encode()))
        self.log.flush()
        p = subprocess.Popen([self.ctx.rehome, "run", "--progress", "json", "--report", report] + args,
                             env=self.env(endpoint, dict(self.rehome_env, **(extra or {}))),
                             stdout=self.log, stderr=self.log)
        return p, report

    def finish(self, p, report):
        """Waits for a run; returns (exit status, report dict or None); sums its request counts."""
        status = p.wait()
        self.statuses.append(status)
        data = None
        if os.path.exists(report) and os.path.getsize(report) > 0:  # a killed run leaves it empty
            with open(report) as fh:
                data = json.load(fh)
            for k in self.requests:
                self.requests[k] += data["requests"][k]
        return status, data

    def run(self, args=(), endpoint=None, extra=None):
        return self.finish(*self.start(list(args), endpoint, extra))

    @staticmethod
    def done(status, report):
        """Finished: exit 0, or 3 with nothing failed and only seeded broken refs/conflicts pending."""
        if status == 0:
            return True
        if status != 3 or not report:
            return False
        r = report["rows"]
        return report["objects"]["failed"] == 0 and r["failed"] == 0 and r["pending"] == r["broken"] + r["conflict"]

    def start_cleanup(self, args, extra=None, endpoint=None):
        """Starts `rehome cleanup ARGS`; returns (process, report path)."""
        self.runs += 1
        report = os.path.join(self.dir, "cleanup-%03d.json" % self.runs)
        self.log.write(b"\n=== cleanup %d: %s\n" % (self.runs, " ".join(args).encode()))
        self.log.flush()
        p = subprocess.Popen([self.ctx.rehome, "cleanup", "--progress", "none", "--report", report] + args,
                             env=self.env(endpoint, dict(self.rehome_env, **(extra or {}))),
                             stdout=self.log, stderr=self.log)
        return p, report

    def run_until_done(self, args=(), endpoint=None, max_runs=8):
        for _ in range(max_runs):
            status, report = self.run(args, endpoint)
            if self.done(status, report):
                return True
        return False

    def start_probe(self, volatile=()):
        """Starts the live-traffic probe; `volatile` suffixes are re-uploaded in place by the
        application, so the probe checks that they exist, not what they hold."""
        self.probe_stats = os.path.join(self.dir, "probe.json")
        self.volatile = set(volatile)
        args = [sys.executable, os.path.join(HERE, "probe.py"), "--database-url", self.db_url,
                "--endpoint", self.ctx.rgw, "--legacy-bucket", self.legacy, "--production-bucket", self.production,
                "--manifest", os.path.join(self.dir, "manifest.json"), "--stats-file", self.probe_stats]
        if volatile:
            path = os.path.join(self.dir, "volatile.json")
            with open(path, "w") as fh:
                json.dump(sorted(volatile), fh)
            args += ["--volatile", path]
        self.probe = subprocess.Popen(args, env=self.env(), stdout=subprocess.DEVNULL, stderr=self.log)

    def stop_probe(self):
        if self.probe is None:
            return {"checks": 0, "failures": 0, "examples": []}
        self.probe.send_signal(signal.SIGTERM)
        self.probe.wait(timeout=60)
        self.probe = None
        with open(self.probe_stats) as fh:
            return json.load(fh)

    def audit(self):
        """The end-state measurements common to every scenario."""
        prod = {k.split("/", 1)[1]: etag for k, etag, _ in self.s3.list(self.production, "avatar/")}
        legacy = {k for k, _, _ in self.s3.list(self.legacy, "image/")}
        volatile = getattr(self, "volatile", set())  # their newest content is checked by the scenario
        lost = sorted(k for k, etag in self.manifest.items()
                      if not k.startswith("conflict-") and k not in volatile and prod.get(k) != etag)
        verify_report = os.path.join(self.dir, "verify.json")
        v = subprocess.run([self.ctx.rehome, "verify", "--progress", "none", "--report", verify_report],
                           env=self.env(), stdout=self.log, stderr=self.log)
        with open(verify_report) as fh:
            dangling = json.load(fh)["rows"]["dangling"] - self.broken
        db = pgmini.Connection(self.db_url)
        rows = db.query("SELECT id, path FROM avatars")
        independent = [(i, p) for i, p in rows if p and not p.startswith("image/missing-") and (
            (p.startswith("image/") and p not in legacy) or
            (p.startswith("avatar/") and p.split("/", 1)[1] not in prod))]
        double = int(db.query("SELECT count(*) FROM (SELECT row_id FROM rehome.rewrites GROUP BY row_id "
                              "HAVING count(DISTINCT new_path) > 1) t")[0][0])
        pending = int(db.query("SELECT count(*) FROM avatars WHERE path LIKE 'image/%'")[0][0])
        db.close()
        return {"lost_objects": len(lost), "lost_examples": lost[:10], "dangling_rows": dangling,
                "verify_status": v.returncode, "dangling_independent": len(independent),
                "dangling_examples": independent[:10], "double_rewrites": double,
                "rows_still_legacy": pending}

    def close(self):
        if self.probe is not None:
            self.probe.kill()  # a scenario that failed half-way must not leave its probe running
            self.probe.wait()
            self.probe = None
        if self.log is not None and not self.log.closed:
            self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()


def result(world, scenario, ok_run, faults, probe, audit, **extra):
    r = {"scenario": scenario, "runs": world.runs, "statuses": world.statuses, "completed": ok_run,
         "faults": faults, "probe_checks": probe["checks"], "probe_failures": probe["failures"],
         "probe_examples": probe["examples"][:5], "requests": world.requests}
    r.update(audit)
    r.update(extra)
    r["pass"] = bool(ok_run and probe["failures"] == 0 and audit["lost_objects"] == 0 and
                     audit["dangling_rows"] == 0 and audit["dangling_independent"] == 0 and
                     audit["double_rewrites"] == 0 and extra.get("app_writes_lost", 0) == 0)
    return r


def crash(ctx, objects, kills):
    """(a) SIGKILL at random moments (and at the three failpoints), restarting until exit 0."""
    w = World(ctx, "crash", avatars=2 * objects, broken=0, conflicts=0)
    w.start_probe()
    rng = random.Random(ctx.seed)
    db = pgmini.Connection(w.db_url)
    phases = {}
    # Kills are spread over the work, not over the clock (a restart's own start-up would
    # otherwise eat the time): each copy-phase kill waits until the recorded outcomes pass a
    # random point of its slice of the listing, each row-phase kill until the legacy rows fall
    # below one, plus a random extra delay; a few kills come early (checks, first listing), and
    # every fifth is a failpoint fitting the phase reached.
    total = len(w.manifest)
    plain = [k for k in range(kills) if k % 5 != 4]
    n_early = max(1, len(plain) // 10)
    n_rows = max(1, len(plain) // 4)
    n_copy = len(plain) - n_early - n_rows
    plan = ["early"] * n_early + ["copy"] * n_copy + ["rows"] * n_rows
    copy_targets = [total * (i + rng.random()) / n_copy for i in range(n_copy)]
    row_targets = [total * (1 - (i + rng.random()) / n_rows) for i in range(n_rows)]
    done_early = False

    def state():
        nonlocal db
        try:
            return (int(db.query("SELECT count(*) FROM rehome.objects")[0][0]),
                    int(db.query("SELECT count(*) FROM avatars WHERE path LIKE 'image/%'")[0][0]))
        except pgmini.PgError:  # before the first run the schema does not exist yet
            db.close()
            db = pgmini.Connection(w.db_url)
            return 0, total

    for k in range(kills):
        recorded, pending = state()
        copying = recorded < total
        # Small pages and a low split threshold: key ranges are split (engine/range_split.h)
        # all through the copy phase, so kills also land around splits.
        args = ["--max-rps", str(ctx.crash_rps), "--row-range", "100" if copying else "5",
                "--list-page-size", "25", "--split-min-keys", "50"]
        if k % 5 == 4:
            fp = FAILPOINTS[2] if copying else FAILPOINTS[(k // 5) % 2]
            status, report = w.run(args, extra={"REHOME_FAILPOINT": fp})
            phases["failpoint:" + fp] = phases.get("failpoint:" + fp, 0) + 1
        else:
            kind = plan.pop(0)
            if kind == "copy" and not copying:
                kind = "rows"
            row_target = row_targets[0] if row_targets else pending * rng.random()
            early_delay = rng.uniform(0.05, 1.0)
            p, report_path = w.start(args)
            started = time.monotonic()
            while p.poll() is None:
                recorded, pending = state()
                if kind == "early":
                    hit = time.monotonic() - started >= early_delay
                elif kind == "copy":
                    hit = recorded >= copy_targets[0] or recorded >= total
                else:
                    hit = pending <= row_target
                if hit:
                    time.sleep(rng.uniform(0, 0.3 if kind == "copy" else 0.05))
                    recorded, pending = state()
                    p.send_signal(signal.SIGKILL)
                    phase = ("checks/listing" if recorded == 0 else "copy" if recorded < total
                             else "rows" if pending > 0 else "counting")
                    phases[phase] = phases.get(phase, 0) + 1
                    break
                time.sleep(0.03)
            if kind == "copy" and copy_targets:
                copy_targets.pop(0)
            if kind == "rows" and row_targets:
                row_targets.pop(0)
            status, report = w.finish(p, report_path)
        if status == 0:
            done_early = True
            break
    ok = w.run_until_done(max_runs=3)
    # Splits under kills: the job's key ranges must still form one chain from "" to "".
    ranges = db.query('SELECT start_after, last_key FROM rehome.ranges ORDER BY start_after COLLATE "C"')
    chain = all(ranges[i][0] == (ranges[i - 1][1] if i else "") for i in range(len(ranges)))
    cover_exact = bool(ranges) and chain and ranges[-1][1] == ""
    migrated_ok = ok and w.statuses[-1] == 0
    kills_done = sum(1 for s in w.statuses if s == 128 + 9 or s == -9)
    cleanup = cleanup_under_kills(w, db, rng, 3 if ctx.quick else 10)
    db.close()
    probe = w.stop_probe()
    audit = w.audit()
    r = result(w, "a. crash (SIGKILL)", migrated_ok and cover_exact and cleanup["ok"],
               "%d kills %s; %d key ranges at the end (planned 32, the rest from splits), cover %s; "
               "then cleanup: %d kills, %d legacy objects deleted, %d referenced kept"
               % (kills_done, phases, len(ranges), "exact" if cover_exact else "BROKEN",
                  cleanup["kills"], cleanup["deleted"], cleanup["referenced_kept"]),
               probe, audit, kills=kills_done, kill_phases=phases, finished_before_all_kills=done_early,
               key_ranges=len(ranges), key_range_cover_exact=cover_exact, cleanup=cleanup)
    w.close()
    return r


def cleanup_under_kills(w, db, rng, kills):
    """Cleanup SIGKILLed at random moments (once right before a DeleteObjects), then run to the
    end. The application first points a few rows back at their legacy keys: those objects must
    stay. Whatever it deleted must have its identical twin (the audit's lost-object check), and
    no row may dangle (verify, the probe)."""
    back = rng.sample(sorted(k for k in w.manifest if k.startswith("avatar-")), 5)  # named by rows
    for suffix in back:
        db.query("UPDATE avatars SET path = 'image/%s' WHERE id = (SELECT min(id) FROM avatars "
                 "WHERE path = 'avatar/%s')" % (suffix, suffix))
    pointed_back = int(db.query("SELECT count(*) FROM avatars WHERE path IN (%s)" % ", ".join(
        pgmini.quote("image/" + s) for s in back))[0][0])
    done = 0
    for k in range(kills):
        extra = {"REHOME_FAILPOINT": "cleanup-before-delete"} if k == 0 else None
        p, _ = w.start_cleanup(["--grace", "0s"], extra)
        if extra is None:
            deadline = time.monotonic() + rng.uniform(0.05, 1.5)
            while p.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
        status = p.wait()
        done += status in (-9, 128 + 9)
    p, _ = w.start_cleanup(["--grace", "0s"])
    final = p.wait()
    remaining = {k.split("/", 1)[1] for k, _, _ in w.s3.list(w.legacy, "image/")}
    kept = sum(1 for s in back if s in remaining)
    deleted = len(set(w.manifest) - remaining)
    return {"kills": done, "final_status": final, "deleted": deleted, "referenced_kept": kept,
            "ok": final == 0 and kept == len(back) and pointed_back == len(back) and deleted > 0}


# About a fifth of all requests. SlowDowns at random are the rate control's worst case (each
# burst is read as the server's limit); bench/model measures it against a real limit.
DEFAULT_RATES = {"slowdown": 0.015, "slowdown_retry": 0.01, "internal": 0.03, "reset_before": 0.02,
                 "lost_response": 0.02, "reset_mid_body": 0.02, "truncated": 0.02, "copy_error_200": 0.05,
                 "stall": 0.005}


class Proxy:
    """tests/faults/fault_proxy.py in front of radosgw for one world, injecting `rates`."""

    def __init__(self, ctx, w, rates):
        cfg = os.path.join(w.dir, "proxy.json")
        with open(cfg, "w") as fh:
            json.dump({"rates": rates, "stall_seconds": 3}, fh)
        port_file = os.path.join(w.dir, "proxy.port")
        self.stats_file = os.path.join(w.dir, "proxy-stats.json")
        self.log = open(os.path.join(w.dir, "proxy.log"), "ab")
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "fault_proxy.py"), "--upstream", ctx.rgw,
                                      "--config", cfg, "--port-file", port_file, "--stats-file", self.stats_file,
                                      "--seed", str(ctx.seed)], stdout=self.log, stderr=self.log)
        try:
            for _ in range(600):  # 30 s: a loaded CI machine starts Python slowly
                if os.path.exists(port_file) and os.path.getsize(port_file) > 0:
                    break
                if self.proc.poll() is not None:
                    raise RuntimeError("fault_proxy.py exited at start; see %s" % self.log.name)
                time.sleep(0.05)
            with open(port_file) as fh:
                self.endpoint = "http://127.0.0.1:%s" % fh.read().strip()
        except BaseException:
            self.proc.kill()
            self.proc.wait()
            self.log.close()
            raise

    def stop(self):
        """Stops the proxy; returns its stats."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        with open(self.stats_file) as fh:
            return json.load(fh)


B_ARGS = ["--concurrency", "32"]


def s3_fault_free_seconds(ctx, objects):
    """Scenario b's yardstick: the same job through the same proxy, injecting nothing."""
    w = World(ctx, "s3clean", avatars=2 * objects)
    w.start_probe()
    proxy = Proxy(ctx, w, {})
    try:
        start = time.monotonic()
        ok = w.run_until_done(B_ARGS, endpoint=proxy.endpoint)
        seconds = time.monotonic() - start
    finally:
        proxy.stop()
        w.stop_probe()
        w.close()
    return seconds if ok else None


def s3_faults(ctx, objects):
    """(b) every kind of S3 fault through the proxy at ~20% of requests; reruns until done. The
    run's time is set against the same job's without faults (issue 19: within 3 times)."""
    clean_seconds = s3_fault_free_seconds(ctx, objects)
    w = World(ctx, "s3faults", avatars=2 * objects)
    w.start_probe()
    proxy = Proxy(ctx, w, DEFAULT_RATES)
    try:
        start = time.monotonic()
        ok = w.run_until_done(B_ARGS, endpoint=proxy.endpoint)
        faulted_seconds = time.monotonic() - start
        # Cleanup through the same faults: lost responses to DeleteObjects, resets, SlowDowns.
        cleaned = False
        for _ in range(5):
            p, _ = w.start_cleanup(["--grace", "0s"], endpoint=proxy.endpoint)
            if p.wait() == 0:
                cleaned = True
                break
        deleted = len(set(w.manifest) - {k.split("/", 1)[1] for k, _, _ in w.s3.list(w.legacy, "image/")})
    finally:
        stats = proxy.stop()
    probe = w.stop_probe()
    audit = w.audit()
    kinds = {k: stats[k] for k in DEFAULT_RATES if stats.get(k)}
    ratio = faulted_seconds / clean_seconds if clean_seconds else None
    r = result(w, "b. S3 faults (proxy)", ok and cleaned,
               "%d of %d requests %s; run %.0f s against %s s without faults (%s); then cleanup "
               "through the faults: %d legacy objects deleted"
               % (stats["injected"], stats["requests"], kinds, faulted_seconds,
                  "%.0f" % clean_seconds if clean_seconds else "?",
                  "%.2fx" % ratio if ratio else "no fault-free time", deleted),
               probe, audit, proxy=stats, retries_and_throttled_reported=w.requests["retries"] > 0
               and w.requests["throttled"] > 0, cleanup_deleted=deleted, cleanup_completed=cleaned,
               run_seconds=round(faulted_seconds, 1),
               fault_free_seconds=round(clean_seconds, 1) if clean_seconds else None,
               time_ratio=round(ratio, 2) if ratio else None)
    r["pass"] = r["pass"] and r["retries_and_throttled_reported"]
    w.close()
    return r


def db_faults(ctx, objects):
    """(c) PostgreSQL restarted, rehome's backend terminated, statement timeouts, mid-run."""
    w = World(ctx, "dbfaults", avatars=2 * objects)
    w.start_probe()
    events = []
    admin = pgmini.Connection(w.db_url, "rehome-faults-admin")

    def terminate():
        rows = admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                           "AND pid <> pg_backend_pid() AND application_name NOT LIKE 'rehome-faults%%'"
                           % pgmini.quote(w.dbname))
        return len(rows)

    def controller(p):
        nonlocal admin
        step = ctx.db_fault_gap
        time.sleep(step)
        if p.poll() is None:
            subprocess.run(["runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pg_ctl", "-D",
                            os.path.join(ctx.pg_dir, "data"), "-l", os.path.join(ctx.pg_dir, "server.log"),
                            "-w", "restart", "-m", "fast"], check=True, stdout=subprocess.DEVNULL)
            events.append("postgres restarted")
            admin = pgmini.Connection(w.db_url, "rehome-faults-admin")
        time.sleep(step)
        if p.poll() is None:
            events.append("pg_terminate_backend x%d" % terminate())
        time.sleep(step)
        if p.poll() is None:
            admin.query("ALTER DATABASE %s SET statement_timeout = '20ms'" % w.dbname)
            events.append("statement_timeout 20ms + terminate x%d" % terminate())
            time.sleep(step)
            admin.query("ALTER DATABASE %s RESET statement_timeout" % w.dbname)
            events.append("statement_timeout reset")
        time.sleep(step)
        if p.poll() is None:
            events.append("pg_terminate_backend x%d" % terminate())

    p, report = w.start(["--max-rps", str(ctx.db_rps)])
    t = threading.Thread(target=controller, args=(p,))
    t.start()
    status, rep = w.finish(p, report)
    t.join()
    ok = w.done(status, rep) or w.run_until_done()
    admin.close()
    # The server's own log is the evidence that the faults reached rehome's sessions.
    with open(os.path.join(ctx.pg_dir, "server.log"), errors="replace") as fh:
        server_log = fh.read()
    with open(os.path.join(w.dir, "postgres-server.log"), "w") as fh:
        fh.write(server_log)
    seen = {"statement timeouts": server_log.count("canceling statement due to statement timeout"),
            "backends terminated": server_log.count("terminating connection due to administrator command")}
    events.append("server log: %s" % ", ".join("%d %s" % (v, k) for k, v in seen.items()))
    probe = w.stop_probe()
    audit = w.audit()
    r = result(w, "c. database faults", ok, "; ".join(events), probe, audit, db_events=events,
               first_run_finished=w.done(status, rep))
    w.close()
    return r


def app_writes(ctx, objects):
    """(d) the application keeps writing: new legacy rows, rows moved to new avatars, deletions,
    avatars re-uploaded in place (at the key the row names: legacy or production), and one
    transaction that holds a legacy row locked for a while. After the application stops, runs
    until done, then one `run --relist`: every row must serve the newest content the
    application wrote for it, or its object be a reported conflict; the held row is rewritten
    once free; and the application's other writes never wait long behind rehome."""
    w = World(ctx, "appwrites", avatars=2 * objects)
    app = pgmini.Connection(w.db_url, "rehome-faults-app")
    s3 = ctx.s3()
    seeded = [int(i) for (i,) in app.query("SELECT id FROM avatars WHERE path LIKE 'image/avatar-%' ORDER BY id")]
    rng = random.Random(ctx.seed + 4)
    rng.shuffle(seeded)
    # Avatars the application re-uploads in place, and the row one of its transactions holds.
    inplace = [seeded.pop() for _ in range(30 if ctx.quick else 100)]
    held = max(seeded)  # the last primary-key range: the rows phase reaches it last
    seeded.remove(held)
    paths = dict((int(i), p) for i, p in app.query(
        "SELECT id, path FROM avatars WHERE id IN (%s)" % ",".join(str(i) for i in inplace)))
    w.start_probe(volatile={paths[i].split("/", 1)[1] for i in inplace})
    new_legacy, modern, deleted, newest = {}, {}, set(), {}
    to_reupload = list(inplace)
    waits = []
    stop = threading.Event()
    hold_seconds = 5 if ctx.quick else 20

    def timed(sql):
        started = time.monotonic()
        result = app.query(sql)
        waits.append(time.monotonic() - started)
        return result

    def writer():
        n = 0
        while not stop.is_set():
            n += 1
            kind = n % 4
            if kind == 0:  # a new upload under the old scheme: object first, then the row
                body = os.urandom(900 + n)
                key = "image/app-%d.png" % n
                s3.put(w.legacy, key, body)
                (rid,) = timed("INSERT INTO avatars (path) VALUES (%s) RETURNING id" % pgmini.quote(key))[0]
                new_legacy[int(rid)] = ("app-%d.png" % n, hashlib.md5(body).hexdigest())
            elif kind == 1 and seeded:  # the user uploads a new avatar: new object, then the row
                rid = seeded.pop()
                key = "avatar/new-%d.png" % n
                s3.put(w.production, key, os.urandom(700 + n))
                timed("UPDATE avatars SET path = %s WHERE id = %d" % (pgmini.quote(key), rid))
                modern[rid] = key
            elif kind == 2 and to_reupload and rng.random() < 0.08:
                # A user re-uploads their avatar in place, at the key the row names, once each,
                # spread over the run: some land after the copy and before the row's rewrite.
                rid = to_reupload.pop()
                (path,) = app.query("SELECT path FROM avatars WHERE id = %d" % rid)[0]
                bucket = w.legacy if path.startswith("image/") else w.production
                body = os.urandom(800 + n)
                s3.put(bucket, path, body)
                newest[rid] = hashlib.md5(body).hexdigest()
            elif kind == 3 and seeded:  # the user deletes their account
                rid = seeded.pop()
                timed("DELETE FROM avatars WHERE id = %d" % rid)
                deleted.add(rid)
            time.sleep(0.01)

    run_over = threading.Event()
    held_during_rows = []

    def holder():  # once rows are being rewritten, an application transaction holds one row
        conn = pgmini.Connection(w.db_url, "rehome-faults-holder")
        while not run_over.is_set():
            try:
                if int(conn.query("SELECT count(*) FROM rehome.rewrites")[0][0]) > 0:
                    break
            except pgmini.PgError:  # the schema does not exist yet
                conn.close()
                conn = pgmini.Connection(w.db_url, "rehome-faults-holder")
            time.sleep(0.05)
        else:
            conn.close()
            return
        conn.query("BEGIN")
        conn.query("SELECT id FROM avatars WHERE id = %d FOR UPDATE" % held)
        held_during_rows.append(True)
        time.sleep(hold_seconds)
        conn.query("COMMIT")
        conn.close()

    threads = [threading.Thread(target=writer), threading.Thread(target=holder)]
    for t in threads:
        t.start()
    w.run(["--max-rps", str(ctx.app_rps), "--row-range", "200"])
    run_over.set()
    threads[1].join()
    stop.set()
    threads[0].join()
    ok = w.run_until_done()  # after the writes stop, a rerun picks up rows added after the listing
    relist_status, relist = w.run(["--relist"])  # refreshes copies of avatars re-uploaded in place
    rows = dict((int(i), p) for i, p in app.query("SELECT id, path FROM avatars"))
    conflicts = {k for (k,) in app.query("SELECT legacy_key FROM rehome.objects WHERE state = 'conflict'")}
    app.close()
    prod = {k.split("/", 1)[1]: e for k, e, _ in s3.list(w.production, "avatar/")}
    legacy = {k.split("/", 1)[1]: e for k, e, _ in s3.list(w.legacy, "image/")}
    lost = []
    for rid, key in modern.items():
        if rows.get(rid) != key:
            lost.append("row %d: app wrote %s, now %s" % (rid, key, rows.get(rid)))
    for rid in deleted:
        if rid in rows:
            lost.append("row %d: app deleted it, it is back as %s" % (rid, rows[rid]))
    migrated = 0
    for rid, (suffix, md5) in new_legacy.items():
        path = rows.get(rid)
        if path == "avatar/" + suffix and prod.get(suffix) == md5:
            migrated += 1
        elif not (path == "image/" + suffix and legacy.get(suffix) == md5):
            lost.append("row %d: app inserted image/%s, now %s (object ok: %s)" % (
                rid, suffix, path, prod.get(suffix) == md5 or legacy.get(suffix) == md5))
    # In-place re-uploads: each row serves the newest bytes the application wrote for it, unless
    # rehome reported the object as a conflict (never overwritten, listed by verify).
    stale, reported = [], 0
    for rid, md5 in newest.items():
        path = rows.get(rid)
        suffix = path.split("/", 1)[1]
        served = (prod if path.startswith("avatar/") else legacy).get(suffix)
        if served == md5:
            continue
        if "image/" + suffix in conflicts:
            reported += 1
        else:
            stale.append("row %d: %s serves an older picture than the application's last upload" % (rid, path))
    held_moved = (rows.get(held) or "").startswith("avatar/")
    refreshed = (relist or {}).get("objects", {}).get("refreshed", 0)
    max_wait = max(waits) if waits else 0.0
    probe = w.stop_probe()
    audit = w.audit()
    writes = ("%d new legacy rows (%d migrated), %d rows moved to new avatars, %d rows deleted, %d in-place "
              "re-uploads (relist refreshed %d copies; %d conflicts reported), a row held %ds %s (%s); app writes "
              "waited at most %.2fs" % (len(new_legacy), migrated, len(modern), len(deleted), len(newest), refreshed,
                                        reported, hold_seconds, "while rows were rewritten" if held_during_rows
                              else "(never: the rows phase was over first)",
                              "rewritten once free" if held_moved else "NOT rewritten", max_wait))
    passed = (ok and held_moved and bool(held_during_rows) and relist_status in (0, 3) and not stale
              and max_wait <= 2.0)
    r = result(w, "d. application writes", passed, writes, probe,
               audit, app_writes_lost=len(lost) + len(stale), app_lost_examples=(lost + stale)[:10],
               relist_status=relist_status, refreshed=refreshed,
               app_write_max_wait_seconds=round(max_wait, 3), held_row_rewritten=held_moved)
    w.close()
    return r


def real_buckets(ctx, objects, kills):
    """(e) the buckets production has, through the AWS-behaviour stand-in (aws_behaviour.py) in
    front of radosgw: both buckets SSE-KMS (no ETag is an MD5), one legacy object in a hundred
    archived (GLACIER), plus the seeded multipart-free conflicts and broken references. SIGKILLs
    at random moments while copying; then runs until only the archived objects are left, failed
    with restore advice and their rows legacy; then they are "restored" and a last run finishes.
    Nothing may be lost, no KMS twin may be reported as a conflict, no object copied twice over."""
    w = World(ctx, "realbuckets", avatars=2 * objects)
    w.start_probe()
    rng = random.Random(ctx.seed)
    legacy_keys = sorted(k for k in w.manifest if not k.startswith("conflict-"))
    archived = set(rng.sample(legacy_keys, max(1, len(legacy_keys) // 100)))
    archived_pattern = "%s/image/(%s)" % (re.escape(w.legacy), "|".join(re.escape(k) for k in sorted(archived)))
    cfg = {"kms_buckets": [w.legacy, w.production], "archived": archived_pattern}
    cfg_file = os.path.join(w.dir, "aws.json")
    with open(cfg_file, "w") as fh:
        json.dump(cfg, fh)
    port_file, stats_file = os.path.join(w.dir, "proxy.port"), os.path.join(w.dir, "proxy-stats.json")
    proxy_log = open(os.path.join(w.dir, "proxy.log"), "ab")
    proxy = subprocess.Popen([sys.executable, os.path.join(HERE, "fault_proxy.py"), "--upstream", ctx.rgw,
                              "--aws", cfg_file, "--access-key", ctx.access_key, "--secret-key", ctx.secret_key,
                              "--port-file", port_file, "--stats-file", stats_file], stdout=proxy_log, stderr=proxy_log)
    db = pgmini.Connection(w.db_url)
    kills_done, restored_ok = 0, False
    failed_before_restore, advice_ok = 0, False
    try:
        for _ in range(100):
            if os.path.exists(port_file) and os.path.getsize(port_file) > 0:
                break
            time.sleep(0.05)
        with open(port_file) as fh:
            endpoint = "http://127.0.0.1:%s" % fh.read().strip()
        args = ["--max-rps", str(ctx.crash_rps), "--concurrency", "32"]
        for _ in range(kills):
            p, report = w.start(args, endpoint=endpoint)
            time.sleep(rng.uniform(0.3, ctx.crash_max_delay))
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                kills_done += 1
            status, _ = w.finish(p, report)
            if status in (0, 3):
                break
        # Until only the archived objects are left (exit 3, each failed with restore advice).
        for _ in range(4):
            status, report = w.run(["--concurrency", "32"], endpoint=endpoint)
            if status == 3 and report and report["objects"]["failed"] == len(archived):
                break
        rows = db.query("SELECT legacy_key, detail FROM rehome.objects WHERE state = 'failed'")
        failed_before_restore = len(rows)
        advice_ok = (sorted(k.split("/", 1)[1] for k, _ in rows) == sorted(archived) and
                     all("InvalidObjectState" in d and "restore" in d for _, d in rows))
        # Restored: the stand-in stops answering InvalidObjectState.
        cfg.pop("archived")
        req = urllib.request.Request(endpoint + "/__fault_proxy/aws", data=json.dumps(cfg).encode(), method="POST")
        urllib.request.urlopen(req, timeout=10).read()
        restored_ok = w.run_until_done(["--concurrency", "32"], endpoint=endpoint, max_runs=3)
        relist_status, relist = w.run(["--relist"], endpoint=endpoint)
    finally:
        proxy.send_signal(signal.SIGTERM)
        proxy.wait(timeout=30)
        proxy_log.close()
    with open(stats_file) as fh:
        stats = json.load(fh)
    conflicts = int(db.query("SELECT count(*) FROM rehome.objects WHERE state = 'conflict'")[0][0])
    db.close()
    probe = w.stop_probe()
    audit = w.audit()
    recopied = relist["objects"]["copied"] if relist else -1
    r = result(w, "e. real buckets (KMS, archived; stand-in)",
               restored_ok and advice_ok and conflicts == w.conflicts and recopied == 0,
               "%d kills; %d archived failed with restore advice (%s), then restored; %d KMS ETags "
               "rewritten, %d InvalidObjectState; conflicts %d (seeded %d); relist copied %d"
               % (kills_done, failed_before_restore, "ok" if advice_ok else "WRONG",
                  stats.get("aws_kms_etags", 0), stats.get("aws_invalid_object_state", 0), conflicts,
                  w.conflicts, recopied),
               probe, audit, kills=kills_done, archived=len(archived), archived_failed_with_advice=advice_ok,
               conflicts_recorded=conflicts, relist_copied=recopied, proxy=stats)
    w.close()
    return r



# Every variable through which rehome could find credentials other than the stand-in's (an empty
# value counts as unset); AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE are pointed at files
# that do not exist.
KEYLESS = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
           "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
           "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
           "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
           "AWS_EC2_METADATA_DISABLED"]
# What radosgw (or AWS) answers a request signed with keys it does not take (any more).
AUTH_ERRORS = ["InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
               "TokenRefreshRequired", "AccessDenied"]


def credential_expiry(ctx, objects, lifetime, rps):
    """(g) issue 18's expiry test at full size. rehome has no keys of its own: it takes them from
    the credential stand-in (aws_credentials.py), which makes every set it hands out a new
    radosgw key of the test user, states an expiration `lifetime` seconds ahead, and removes the
    key from radosgw at that moment. One world, one rate-capped job lasting over three
    lifetimes, in two halves: the first takes its keys from the instance metadata (IMDSv2: one
    set shared until half its lifetime is left) and is stopped with SIGINT once half the objects
    are recorded (exit 130); the second resumes from the container endpoint (a new key on every
    fetch) and must finish (exit 0). Passing: every object copied and row rewritten, nothing
    lost or dangling, no object failed, no authentication error in rehome's log, the probe saw
    nothing wrong, each half refreshed (minted a second key while it ran), at least 3 keys
    minted and 2 removed at their expiry while the runs went on."""
    w = World(ctx, "expiry", avatars=2 * objects, broken=0, conflicts=0)
    w.start_probe()
    port_file = os.path.join(w.dir, "stand-in.port")
    stand_in_log = open(os.path.join(w.dir, "stand-in.log"), "ab")
    stand_in = subprocess.Popen([sys.executable, os.path.join(HERE, "aws_credentials.py"),
                                 "--ceph-conf", os.path.join(ctx.env["REHOME_RGW_DIR"], "ceph.conf"),
                                 "--uid", "rehome-test", "--lifetime", str(lifetime), "--port-file", port_file],
                                stdout=stand_in_log, stderr=stand_in_log)
    nowhere = os.path.join(w.dir, "nowhere")  # never created
    w.rehome_env = dict({k: "" for k in KEYLESS}, AWS_CONFIG_FILE=os.path.join(nowhere, "config"),
                        AWS_SHARED_CREDENTIALS_FILE=os.path.join(nowhere, "credentials"))
    db = pgmini.Connection(w.db_url)
    total = len(w.manifest)
    halves, final = [], {}

    def recorded():
        nonlocal db
        try:
            return int(db.query("SELECT count(*) FROM rehome.objects")[0][0])
        except pgmini.PgError:  # before the first run has made its schema
            db.close()
            db = pgmini.Connection(w.db_url)
            return 0

    try:
        for _ in range(200):
            if os.path.exists(port_file) and os.path.getsize(port_file) > 0:
                break
            time.sleep(0.05)
        with open(port_file) as fh:
            url = "http://127.0.0.1:%s" % fh.read().strip()

        def stats():
            with urllib.request.urlopen(url + "/__stand_in/stats", timeout=30) as r:
                return json.load(r)

        args = ["--max-rps", str(rps), "--concurrency", "8"]
        sources = [("IMDSv2", {"AWS_EC2_METADATA_SERVICE_ENDPOINT": url}),
                   ("container", {"AWS_CONTAINER_CREDENTIALS_FULL_URI": url + "/v2/credentials/rehome-task",
                                  "AWS_EC2_METADATA_DISABLED": "true"})]
        before = stats()
        for i, (name, extra) in enumerate(sources):
            started = time.monotonic()
            p, report_path = w.start(args, extra=extra)
            at = None
            while i == 0 and p.poll() is None:  # the first half: stopped once half is recorded
                at = recorded()
                if at >= total // 2:
                    p.send_signal(signal.SIGINT)
                    break
                time.sleep(0.2)
            status, report = w.finish(p, report_path)
            after = stats()
            delta = {k: after[k] - before[k] for k in ("minted", "removed", "imds_credentials", "container",
                                                       "refused")}
            halves.append({"source": name, "status": status, "seconds": round(time.monotonic() - started, 1),
                           "recorded_at_stop": at, "objects": (report or {}).get("objects"),
                           "requests": (report or {}).get("requests"), **delta})
            before = after
        final = stats()
    finally:
        stand_in.send_signal(signal.SIGTERM)  # removes every key still present
        stand_in.wait(timeout=300)
        stand_in_log.close()
        db.close()
    # Credentials the server refused: with the keys it hands out removed only at their stated
    # expiry, any of these means rehome signed with a key it should have replaced by then.
    with open(os.path.join(w.dir, "rehome.log"), errors="replace") as fh:
        log_text = fh.read()
    auth_errors = {code: log_text.count(code) for code in AUTH_ERRORS if code in log_text}
    with open(os.path.join(w.dir, "stand-in.log"), errors="replace") as fh:
        stand_in_failures = [l for l in fh.read().splitlines() if "could not remove" in l or "failed" in l]
    # Where rehome said its credentials came from, run by run (its start-up line).
    stated = []
    for line in log_text.splitlines():
        if line.startswith('{"command":"run","event":"start"'):
            stated.append(next((s["from"] for s in json.loads(line)["settings"]
                                if s["setting"] == "legacy credentials"), None))
    for h, source in zip(halves, stated):
        h["rehome_stated_source"] = source
    probe = w.stop_probe()
    audit = w.audit()
    run_seconds = sum(h["seconds"] for h in halves)
    failed_objects = sum((h["objects"] or {}).get("failed", 0) for h in halves)
    minted, removed = final.get("minted", 0), final.get("removed", 0)
    ok = (len(halves) == 2 and halves[0]["status"] in (0, 130) and halves[1]["status"] == 0 and
          all(h["objects"] is not None for h in halves) and failed_objects == 0 and not auth_errors and
          audit["rows_still_legacy"] == 0 and all(h["minted"] >= 2 for h in halves) and minted >= 3 and
          removed >= 2 and run_seconds >= 3 * lifetime)
    for h in halves:
        h["fetches"] = h["imds_credentials"] if h["source"] == "IMDSv2" else h["container"]
    faults = "lifetime %ds; %s; %d keys minted, %d removed at expiry while running; %d auth errors %s" % (
        lifetime, "; ".join("%s %.0fs (exit %d): %d fetches (%d refreshes), %d keys minted, %d removed" % (
            h["source"], h["seconds"], h["status"], h["fetches"], h["fetches"] - 1, h["minted"], h["removed"])
            for h in halves), minted, removed, sum(auth_errors.values()), auth_errors or "")
    r = result(w, "g. credential expiry (stand-in)", ok, faults.rstrip(), probe, audit, lifetime=lifetime,
               run_seconds=round(run_seconds, 1), halves=halves, keys_minted=minted, keys_removed=removed,
               auth_errors=auth_errors, failed_objects=failed_objects, stand_in=final,
               stand_in_failures=stand_in_failures[:10])
    w.close()
    return r


def claim_log_check(db):
    """Reads rehome.claims: each part of the job (a key range, a round's task) must have had one
    live owner at a time (a claim ends before the next one of the same part begins) and no
    commit from a fenced epoch (a claim's last commit comes before the next claim). Returns
    (claims, parts, violations)."""
    rows = db.query("SELECT kind, number, round, epoch, worker_id, "
                    "extract(epoch FROM claimed_at)::float8, extract(epoch FROM last_commit_at)::float8, "
                    "extract(epoch FROM ended_at)::float8, coalesce(end_reason, '') "
                    "FROM rehome.claims ORDER BY kind, number, round, claimed_at, epoch")
    parts, violations = {}, []
    for kind, number, rnd, epoch, worker, claimed, committed, ended, reason in rows:
        parts.setdefault((kind, number, rnd if kind != "keys" else "0"), []).append(
            (int(epoch), worker, float(claimed), float(committed) if committed else None,
             float(ended) if ended else None, reason))
    for part, claims in parts.items():
        for a, b in zip(claims, claims[1:]):
            if a[4] is None or a[4] > b[2]:
                violations.append("%s: epoch %d (worker %s) still live when epoch %d (worker %s) claimed it"
                                  % (part, a[0], a[1], b[0], b[1]))
            if a[3] is not None and a[3] > b[2]:
                violations.append("%s: epoch %d (worker %s) committed after epoch %d took over"
                                  % (part, a[0], a[1], b[0]))
    return len(rows), len(parts), violations


def holding_pids(db_url):
    """Pids of the workers that hold an unfinished key range now (a claim that lasts: a
    primary-key range is done in milliseconds)."""
    db = pgmini.Connection(db_url)
    try:
        rows = db.query("SELECT w.pid FROM rehome.workers w WHERE w.stopped_at IS NULL AND "
                        "EXISTS (SELECT 1 FROM rehome.ranges r WHERE r.owner = w.worker_id AND "
                        "r.completed_at IS NULL AND r.lease_until > now() + interval '1 second')")
    except pgmini.PgError:
        rows = []
    db.close()
    return {int(r[0]) for r in rows}


def workers(ctx, objects, kills, workers_n=4, name="workers"):
    """(g) Several workers on one job: `workers_n` processes share it; SIGKILL at `kills` random
    moments, each to a random worker, which is restarted at once; one worker frozen (SIGSTOP)
    for longer than its lease, then resumed. The claim log must show one live owner per part
    of the job at any time and no commit from a fenced epoch."""
    w = World(ctx, name, avatars=2 * objects, broken=0, conflicts=0)
    w.start_probe()
    rng = random.Random(ctx.seed + 7)
    lease = 4 if ctx.quick else 6
    # Per-worker rate caps stretch the job over the kills: copy and rows phases both get some.
    rps = 60 if ctx.quick else 120
    args = ["--max-rps", str(rps), "--lease", "%ds" % lease, "--row-range", "40",
            "--list-page-size", "25", "--split-min-keys", "50"]
    procs = [w.start(args) for _ in range(workers_n)]
    expected_seconds = objects / (rps * workers_n) * 1.6 + 5
    gap = expected_seconds / (kills + 2)
    kills_done, frozen, lost_reported, finished = 0, None, "unknown (killed after waking)", []
    frozen_report, frozen_worker = None, None
    freeze_at = 1  # Early, while the listing's key ranges are claimed.
    deadline = time.monotonic() + expected_seconds * 6 + 120

    def alive():
        return [i for i, (p, _) in enumerate(procs) if p.poll() is None]

    while kills_done < kills and time.monotonic() < deadline:
        time.sleep(rng.uniform(0.3 * gap, 1.7 * gap))
        if any(p.poll() is not None and p.returncode in (0, 3) for p, _ in procs):
            break  # The job is done: a worker exited with the job's status.
        if frozen is None and kills_done >= freeze_at:
            # A worker that holds a claim now, so that its lease runs out while it sleeps.
            holders = holding_pids(w.db_url)
            candidates = [i for i in alive() if procs[i][0].pid in holders]
            if candidates:
                i = rng.choice(candidates)
                procs[i][0].send_signal(signal.SIGSTOP)
                frozen = (i, time.monotonic())
                frozen_report = procs[i][1]
                db = pgmini.Connection(w.db_url)
                frozen_worker = int(db.query("SELECT worker_id FROM rehome.workers WHERE pid = %d "
                                             "AND stopped_at IS NULL" % procs[i][0].pid)[0][0])
                db.close()
        if frozen is not None and frozen[1] and time.monotonic() - frozen[1] > lease + 3:
            procs[frozen[0]][0].send_signal(signal.SIGCONT)
            frozen = (frozen[0], 0)
        targets = [i for i in alive() if frozen is None or i != frozen[0] or not frozen[1]]
        if not targets:
            continue
        i = rng.choice(targets)
        procs[i][0].send_signal(signal.SIGKILL)
        w.finish(*procs[i])
        kills_done += 1
        procs[i] = w.start(args)
    if frozen is not None and frozen[1]:
        procs[frozen[0]][0].send_signal(signal.SIGCONT)
    for p, report in procs:
        try:
            p.wait(timeout=max(60, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
        status, data = w.finish(p, report)
        finished.append(status)
        if data and report == frozen_report:
            lost_reported = data["worker"]["ranges_lost"]
    all_done = all(s == 0 for s in finished)
    ok = all_done or w.run_until_done(max_runs=3)
    db = pgmini.Connection(w.db_url)
    ranges = db.query('SELECT start_after, last_key FROM rehome.ranges ORDER BY start_after COLLATE "C"')
    chain = all(ranges[i][0] == (ranges[i - 1][1] if i else "") for i in range(len(ranges)))
    cover_exact = bool(ranges) and chain and ranges[-1][1] == ""
    claims, parts, violations = claim_log_check(db)
    # The frozen worker's claims were taken over while it slept (by the log, whatever it said).
    taken = int(db.query("SELECT count(*) FROM rehome.claims WHERE worker_id = %d AND "
                         "end_reason = 'taken over'" % frozen_worker)[0][0]) if frozen_worker else 0
    worker_rows = int(db.query("SELECT count(*) FROM rehome.workers")[0][0])
    db.close()
    probe = w.stop_probe()
    audit = w.audit()
    froze = frozen is not None
    r = result(w, "g. %d workers (SIGKILL, SIGSTOP)" % workers_n,
               ok and cover_exact and not violations and taken > 0 and kills_done >= kills,
               "%d kills across %d workers, one frozen %ds (lease %ds): %d of its claims taken "
               "over, %s found lost on waking; last workers exited %s; %d claims on %d parts, "
               "%d violations; cover %s"
               % (kills_done, workers_n, lease + 3, lease, taken, lost_reported, finished, claims,
                  parts, len(violations), "exact" if cover_exact else "BROKEN"),
               probe, audit, kills=kills_done, frozen=froze, frozen_claims_taken_over=taken,
               ranges_lost_by_frozen=lost_reported,
               final_statuses=finished, claims=claims, claimed_parts=parts,
               claim_violations=violations[:10], workers_registered=worker_rows,
               key_ranges=len(ranges), key_range_cover_exact=cover_exact)
    w.close()
    return r
