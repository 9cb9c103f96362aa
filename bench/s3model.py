#!/usr/bin/env python3
"""bench/s3model.py: a model of S3's latency and per-prefix request limits, in front of radosgw.

For experiments only (issue 19): it never stands in for the real servers in tests. Python 3.11
standard library, one asyncio event loop (no threads), loopback.

A reverse proxy: point a tool's endpoint (path-style) at it and every request is forwarded byte
for byte to --upstream (a real radosgw) over a keep-alive connection of its own per client
connection (the Host header and every signed header unchanged, so a SigV4 signature made for the
model's host:port still matches what radosgw receives). Request bodies with Content-Length
(streamed when larger than 16 MiB) or chunked; responses relayed as they come (Content-Length,
chunked or close-delimited). `Expect: 100-continue` (the AWS CLI sends it on PUTs with a body,
AWS's Go SDK under rclone on large ones; rehome never: src/http/transfer.cc clears curl's) is
answered by the model at once, then the body read; radosgw's own interim 100 is dropped.
A keep-alive upstream connection found closed before any answer is retried once on a fresh one.

What it models, per request:
  class     read: GET, HEAD (ListObjects included); write: PUT, POST, DELETE (CopyObject, UploadPart,
            UploadPartCopy, Create/Complete/AbortMultipartUpload, DeleteObject(s)). Stats count
            each operation by its S3 name. One request is one token: a CopyObject is charged to
            its destination's prefix only (AWS lists COPY among the writes), a DeleteObjects of
            1,000 keys as one write.
  prefix    the bucket plus the first --prefix-depth complete segments of the key
            ("production-s3/avatar/" for /production-s3/avatar/1.png at depth 1; the bucket alone
            "production-s3/" for a key with no "/"); a bucket-level request (a listing) is charged
            to the prefix its `prefix=` parameter names. Path-style addressing only.
  limit     per prefix, one token bucket per class: --write-limit (3,500/s) and --read-limit
            (5,500/s), as an S3 partition; burst --burst seconds' worth (1 s). A request that finds
            its bucket empty is answered by the model itself after its latency, never forwarded:
            503 Slow Down with S3's XML body (Code SlowDown, "Please reduce your request rate.").
            A limit of 0 means unlimited.
  latency   lognormal per class (--read-latency / --write-latency MEDIAN:P99, e.g. 30ms:120ms; a
            single value is constant, 0 none), or per operation (--op-latency
            CopyObject=60ms:250ms), slept (asyncio.sleep) after the token is taken and before the
            request is forwarded or answered; radosgw's own time (a few ms here) comes on top.
  scaling   the way S3 re-partitions: per prefix and class, when the offered load (accepted +
            throttled, over a sliding 1 s window, sampled every 0.1 s) stays at or above
            --scale-threshold (0.8) of the limit for --scale-after (8 s), the limit is multiplied
            by --scale-factor (1.5), up to --max-write-limit / --max-read-limit (--max-limit sets
            both; default no cap), and the sustained-load clock restarts. Limits never fall
            (until a reset). --scale-factor 1 turns scaling off.
  time      --time-scale k (default 1): every latency and every duration (scale-after, the window,
            the burst, the timeline's seconds) is multiplied by k and every limit divided by k,
            so a model of 3,500 writes/s per prefix runs at 3,500/k here. The model keeps its own
            clock (model time = wall time since start or reset / k); every figure it reports is
            in model units (counts per model second, model seconds) and also raw (`*_raw`: per
            wall-clock second, wall seconds). Request counts are the same in both.

Control, on the same port (answered by the model, never forwarded, no latency, not counted):
  GET  /__model/stats      JSON: uptime, time since reset, totals per class (requests, accepted,
                           throttled, forwarded, failed: forwarded but the exchange broke, the
                           client connection closed), per operation, per prefix and
                           class (limit now and initial, accepted, throttled, offered load now,
                           its scalings with their times), connections, the model's own CPU
                           (user+sys since start, start-up included, and since the last reset;
                           per request served), the configuration.
  GET  /__model/timeline   JSON array, one record per elapsed model second (--timeline-step) since the reset:
                           {"t": model s, "t_raw": wall s since reset, "unix": wall clock,
                            "prefixes": {prefix: {"write": {"accepted", "throttled", "limit",
                            "accepted_raw", "throttled_raw", "limit_raw"}, "read": {...}}}}
                           (rates per model second, `_raw` per wall second); ?since=T only records
                           with t >= T; ?format=jsonl one JSON line per record.
  POST /__model/config     JSON body with any of: write_limit, read_limit (model units; applied
                           to the default for new prefixes and to every existing prefix at once,
                           or to one prefix only with "prefix": "bucket/seg/"), burst_s,
                           scale_threshold, scale_after_s, scale_factor, max_write_limit,
                           max_read_limit, read_latency / write_latency ("30ms:120ms"),
                           op_latency ({"CopyObject": "60ms:250ms"}, null to drop one).
                           Answers the whole configuration, or 400 {"error"} leaving it unchanged.
  POST /__model/reset      clears counters, per-prefix state (limits back to the configured
                           defaults, token buckets full) and the timeline; the model clock
                           restarts at 0. Between tools in one bench run. Answers the stats.
On SIGTERM/SIGINT the stats are written to --stats-file (and stdout) and the model exits.
--timeline-file F appends each timeline record to F as a JSON line when it is made.

Usage: s3model.py --upstream http://127.0.0.1:7480 [--port 0] [--port-file F] [--stats-file F]
                  [--time-scale K] [--prefix-depth 1] [--write-limit 3500] [--read-limit 5500]
                  [--burst 1s] [--read-latency 30ms:120ms] [--write-latency 45ms:200ms]
                  [--op-latency OP=MED:P99 ...] [--scale-threshold 0.8] [--scale-after 8s]
                  [--scale-factor 1.5] [--max-limit N | --max-write-limit N --max-read-limit N]
                  [--seed N] [--timeline-file F]

Its own cost, measured 2026-12-03 on this 2-core VM (two runs, just after a CI run) by
`python3 bench/s3model_selftest.py --cpu 500,1000,2000 --seconds 20`: an asyncio load generator
(another process) replays a signed GET of a 1 KB object over 64 keep-alive connections through
the model to radosgw, default latencies; the model's user+sys CPU (its getrusage) divided by the
requests it answered:
  offered          reached    model CPU per request   share of one core   machine busy
  500 GETs/s       499/s      338-354 us              17-18 %             78-85 %
  1,000 GETs/s     988/s      203-204 us              20 %                92-93 %
  2,000 GETs/s     1,171/s    154 us                  18 %                98 %: radosgw and the load
                                                                          generator fill the cores
  1,000 503s/s     992/s      148 us                  15 %                69 %  (throttled: answered
  2,000 503s/s     1,605/s    128 us                  20 %                72 %   by the model itself)
The cost per request falls as the rate rises (more requests share an event-loop wake-up); the
model never took more than a fifth of one core, and was never what limited the rate: radosgw on
these two cores was (about 1,200 GETs/s here, 400-600 CopyObjects/s per docs/PERFORMANCE.md),
and for the 503s the single-threaded load generator.
Choosing k: budget 0.35 ms of model CPU per request (the low-rate figure), so a raw rate R costs
R x 0.35 ms of one core, under half a core up to ~1,400 requests/s; radosgw is the tighter bound,
so pick k to keep the highest raw write rate (the largest limit reached, / k) near or below
~300/s: k = 12 models AWS's 3,500 writes/s per prefix at 292/s, and cap the scaling with
--max-limit (e.g. 3,500 x 1.5^2 = 7,875 at k = 12 is 656/s raw, above radosgw's copy ceiling).
"""
import argparse
import asyncio
import collections
import email.utils
import json
import math
import os
import random
import resource
import signal
import sys
import time
import urllib.parse

CONTROL = b"/__model/"
Z99 = 2.3263478740408408  # the standard normal's 99th percentile
SLOTS = 10  # the offered-load window (1 model second) is cut into this many slots
BUFFER_MAX = 16 << 20  # request bodies up to this size are buffered (and so can be retried)
READ_LIMIT = 256 << 10  # StreamReader buffer
UPSTREAM_IDLE_MAX = 20.0  # wall seconds: an upstream connection idle longer is replaced first
CLASSES = ("read", "write")


class UpstreamError(Exception):
    pass


# ---------------------------------------------------------------- configuration values

def parse_duration(text):
    """'30ms', '0.03', '2s', '1.5s', '250us' -> seconds."""
    t = str(text).strip().lower()
    for suffix, mult in (("ms", 1e-3), ("us", 1e-6), ("s", 1.0), ("m", 60.0)):
        if t.endswith(suffix):
            return float(t[: -len(suffix)]) * mult
    return float(t)


class Latency:
    """A lognormal with a given median and 99th percentile (seconds, model time)."""

    def __init__(self, median, p99):
        if median < 0 or p99 < median:
            raise ValueError("latency: want 0 <= median <= p99, got %r:%r" % (median, p99))
        self.median, self.p99 = median, p99
        self.mu = math.log(median) if median > 0 else 0.0
        self.sigma = math.log(p99 / median) / Z99 if median > 0 and p99 > median else 0.0

    @classmethod
    def parse(cls, spec):
        if isinstance(spec, (list, tuple)):
            return cls(float(spec[0]), float(spec[1]))
        text = str(spec)
        med, _, p99 = text.partition(":")
        m = parse_duration(med)
        return cls(m, parse_duration(p99) if p99 else m)

    def draw(self, rng):
        if self.median <= 0:
            return 0.0
        if self.sigma == 0:
            return self.median
        return math.exp(self.mu + self.sigma * rng.gauss(0.0, 1.0))

    def json(self, k=1.0):
        return {"median_ms": round(self.median * 1000 * k, 3), "p99_ms": round(self.p99 * 1000 * k, 3)}


# ---------------------------------------------------------------- classification

def query_names(query):
    """{name: raw value} of a query string (values still percent-encoded)."""
    out = {}
    if query:
        for part in query.split("&"):
            name, _, value = part.partition("=")
            out[name] = value
    return out


def classify(method, target, copy_source, depth):
    """(operation, class, prefix) of a request. target is the request-target (str)."""
    if target.startswith("http://") or target.startswith("https://"):  # absolute-form
        target = "/" + target.split("/", 3)[3] if target.count("/") >= 3 else "/"
    path, _, query = target.partition("?")
    if "%" in path:
        path = urllib.parse.unquote(path)
    bucket, slash, key = path[1:].partition("/")
    q = query_names(query) if query else {}
    if not bucket:
        op = "ListBuckets" if method == "GET" else method.title() + "Service"
        return op, ("read" if method in ("GET", "HEAD") else "write"), "/"
    if key:
        where = key
    else:
        where = urllib.parse.unquote_plus(q["prefix"]) if q.get("prefix") else ""
    segments = where.split("/")[:-1][:depth]  # complete segments only
    prefix = bucket + "/" + "".join(s + "/" for s in segments)
    if method == "GET":
        if key:
            op = "ListParts" if "uploadId" in q else (
                "GetObjectTagging" if "tagging" in q else "GetObjectAcl" if "acl" in q else "GetObject")
        elif "list-type" in q:
            op = "ListObjectsV2"
        elif "uploads" in q:
            op = "ListMultipartUploads"
        elif "location" in q:
            op = "GetBucketLocation"
        elif not q or any(n in q for n in ("prefix", "marker", "delimiter", "max-keys", "encoding-type")):
            op = "ListObjects"
        else:
            op = "GetBucketConfig"
        return op, "read", prefix
    if method == "HEAD":
        return ("HeadObject" if key else "HeadBucket"), "read", prefix
    if method == "PUT":
        if not key:
            op = "PutBucket"
        elif copy_source:
            op = "UploadPartCopy" if "uploadId" in q else "CopyObject"
        elif "uploadId" in q:
            op = "UploadPart"
        elif "tagging" in q:
            op = "PutObjectTagging"
        elif "acl" in q:
            op = "PutObjectAcl"
        else:
            op = "PutObject"
        return op, "write", prefix
    if method == "POST":
        if "uploads" in q:
            op = "CreateMultipartUpload"
        elif "uploadId" in q:
            op = "CompleteMultipartUpload"
        elif "delete" in q:
            op = "DeleteObjects"
        else:
            op = "PostObject"
        return op, "write", prefix
    if method == "DELETE":
        op = ("AbortMultipartUpload" if "uploadId" in q else "DeleteObject") if key else "DeleteBucket"
        return op, "write", prefix
    return method.title(), "read", prefix


# ---------------------------------------------------------------- per prefix and class

class Lane:
    """One prefix's one class: its token bucket, offered-load window and counters (model time)."""

    __slots__ = ("limit", "initial", "burst", "tokens", "last", "ring", "slot", "above_since",
                 "acc_sec", "thr_sec", "accepted", "throttled", "scalings")

    def __init__(self, limit, burst_s, now):
        self.initial = limit
        self.set_limit(limit, burst_s)
        self.tokens = self.burst
        self.last = now
        self.ring = [0] * (SLOTS + 1)
        self.slot = int(now * SLOTS)
        self.above_since = None
        self.acc_sec = self.thr_sec = 0  # this model second's counts (the timeline's)
        self.accepted = self.throttled = 0
        self.scalings = []

    def set_limit(self, limit, burst_s):
        self.limit = float(limit)
        self.burst = max(1.0, self.limit * burst_s)
        if getattr(self, "tokens", None) is not None and self.tokens > self.burst:
            self.tokens = self.burst

    def advance(self, slot):
        if slot - self.slot > SLOTS:
            self.ring = [0] * (SLOTS + 1)
        else:
            ring, n = self.ring, SLOTS + 1
            for s in range(self.slot + 1, slot + 1):
                ring[s % n] = 0
        self.slot = slot

    def take(self, now):
        """Counts one request at `now` (model s); True if a token was free."""
        s = int(now * SLOTS)
        if s != self.slot:
            self.advance(s)
        self.ring[s % (SLOTS + 1)] += 1
        if self.limit <= 0:
            self.acc_sec += 1
            self.accepted += 1
            return True
        t = self.tokens + (now - self.last) * self.limit
        if t > self.burst:
            t = self.burst
        self.last = now
        if t >= 1.0:
            self.tokens = t - 1.0
            self.acc_sec += 1
            self.accepted += 1
            return True
        self.tokens = t
        self.thr_sec += 1
        self.throttled += 1
        return False

    def offered(self):
        """Requests per model second over the last complete window (call right after advance)."""
        return float(sum(self.ring) - self.ring[self.slot % (SLOTS + 1)])


# ---------------------------------------------------------------- the model

class Model:
    def __init__(self, a):
        self.k = a.time_scale
        self.depth = a.prefix_depth
        self.upstream = a.upstream_addr
        self.rng = random.Random(a.seed)
        self.cfg = {
            "write_limit": a.write_limit, "read_limit": a.read_limit, "burst_s": parse_duration(a.burst),
            "scale_threshold": a.scale_threshold, "scale_after_s": parse_duration(a.scale_after),
            "scale_factor": a.scale_factor,
            "max_write_limit": a.max_write_limit if a.max_write_limit is not None else a.max_limit,
            "max_read_limit": a.max_read_limit if a.max_read_limit is not None else a.max_limit,
        }
        self.latency = {"read": Latency.parse(a.read_latency), "write": Latency.parse(a.write_latency)}
        self.op_latency = {}
        for spec in a.op_latency or []:
            op, _, lat = spec.partition("=")
            self.op_latency[op] = Latency.parse(lat)
        self.timeline_file = a.timeline_file
        self.timeline_step = a.timeline_step
        self.started = time.monotonic()
        self.conn_open = self.conn_total = self.upstream_opened = 0
        self.date_cache = (0, "")
        self.request_ids = 0
        self.reset()

    # ---- clock and state

    def now(self):
        """Model seconds since the last reset."""
        return (time.monotonic() - self.t0) / self.k

    def reset(self):
        self.t0 = time.monotonic()
        self.reset_unix = time.time()
        self.prefixes = {}
        self.totals = {c: {"requests": 0, "accepted": 0, "throttled": 0, "forwarded": 0,
                           "failed": 0} for c in CLASSES}
        self.ops = collections.defaultdict(lambda: [0, 0])  # op -> [requests, throttled]
        self.timeline = collections.deque(maxlen=200000)
        self.timeline_sec = 0
        ru = resource.getrusage(resource.RUSAGE_SELF)
        self.reset_cpu = (ru.ru_utime + ru.ru_stime, self.served_total)

    def lane(self, prefix, cls, now):
        lanes = self.prefixes.get(prefix)
        if lanes is None:
            lanes = self.prefixes[prefix] = {}
        lane = lanes.get(cls)
        if lane is None:
            lane = lanes[cls] = Lane(self.cfg[cls + "_limit"], self.cfg["burst_s"], now)
        return lane

    def tick(self):
        """Every 0.1 model s: the offered-load windows, scaling, and the timeline's seconds."""
        now = self.now()
        slot = int(now * SLOTS)
        c = self.cfg
        for prefix, lanes in self.prefixes.items():
            for cls, lane in lanes.items():
                lane.advance(slot)
                if lane.limit <= 0:
                    continue
                if lane.offered() >= c["scale_threshold"] * lane.limit:
                    if lane.above_since is None:
                        lane.above_since = now
                    elif now - lane.above_since >= c["scale_after_s"]:
                        cap = c["max_%s_limit" % cls]
                        new = lane.limit * c["scale_factor"]
                        if cap:
                            new = min(new, float(cap))
                        if new > lane.limit:
                            lane.scalings.append({"t": round(now, 3), "t_raw": round(now * self.k, 3),
                                                  "from": lane.limit, "to": new})
                            print("s3model: %s %s limit %g -> %g/s at t=%.1f s (model time since reset)" % (
                                prefix, cls, lane.limit, new, now), file=sys.stderr, flush=True)
                            lane.set_limit(new, c["burst_s"])
                        lane.above_since = now
                else:
                    lane.above_since = None
        sec = int(now / self.timeline_step + 1e-9)
        while self.timeline_sec < sec:
            self.record(self.timeline_sec)
            self.timeline_sec += 1

    def record(self, index):
        k, step = self.k, self.timeline_step
        t = index * step
        rec = {"t": round(t, 3), "t_raw": round(t * k, 3), "unix": round(self.reset_unix + t * k, 3),
               "prefixes": {}}
        for prefix, lanes in self.prefixes.items():
            entry = rec["prefixes"][prefix] = {}
            for cls, lane in lanes.items():
                acc, thr = lane.acc_sec / step, lane.thr_sec / step
                entry[cls] = {"accepted": round(acc, 3), "throttled": round(thr, 3), "limit": lane.limit,
                              "accepted_raw": round(acc / k, 3),
                              "throttled_raw": round(thr / k, 3),
                              "limit_raw": round(lane.limit / k, 3)}
                lane.acc_sec = lane.thr_sec = 0
        self.timeline.append(rec)
        if self.timeline_file:
            with open(self.timeline_file, "a") as f:
                f.write(json.dumps(rec) + "\n")

    async def ticker(self):
        while True:
            now = self.now()
            nxt = (int(now * SLOTS) + 1) / SLOTS
            await asyncio.sleep(max(0.0005, (nxt - now) * self.k))
            try:
                self.tick()
            except Exception as e:  # never let the clock die
                print("s3model: tick failed: %r" % e, file=sys.stderr, flush=True)

    # ---- reports

    def config_json(self):
        k, c = self.k, self.cfg
        raw = lambda v: (v / k) if v else v  # noqa: E731
        return dict(c, time_scale=k, prefix_depth=self.depth,
                    read_latency=self.latency["read"].json(), write_latency=self.latency["write"].json(),
                    op_latency={op: l.json() for op, l in self.op_latency.items()},
                    raw={"write_limit": raw(c["write_limit"]), "read_limit": raw(c["read_limit"]),
                         "max_write_limit": raw(c["max_write_limit"]),
                         "max_read_limit": raw(c["max_read_limit"]),
                         "burst_s": c["burst_s"] * k, "scale_after_s": c["scale_after_s"] * k,
                         "window_s": 1.0 * k,
                         "read_latency": self.latency["read"].json(k),
                         "write_latency": self.latency["write"].json(k),
                         "op_latency": {op: l.json(k) for op, l in self.op_latency.items()}})

    def stats(self):
        k = self.k
        now = self.now()
        self.tick_windows(now)
        ru = resource.getrusage(resource.RUSAGE_SELF)
        cpu = ru.ru_utime + ru.ru_stime
        served = self.served_total
        prefixes = {}
        for prefix, lanes in self.prefixes.items():
            p = prefixes[prefix] = {}
            for cls, lane in lanes.items():
                off = lane.offered()
                p[cls] = {"limit": lane.limit, "limit_raw": lane.limit / k, "initial_limit": lane.initial,
                          "accepted": lane.accepted, "throttled": lane.throttled,
                          "offered": off, "offered_raw": off / k,
                          "above_threshold_for_s": None if lane.above_since is None else round(now - lane.above_since, 3),
                          "scalings": list(lane.scalings)}
        totals = {c: dict(v) for c, v in self.totals.items()}
        for c in totals:
            t = totals[c]
            t["accepted_per_s"] = t["accepted"] / now if now > 0 else 0.0
            t["accepted_per_s_raw"] = t["accepted_per_s"] / k
        return {"time_scale": k,
                "uptime_s": round((time.monotonic() - self.started) / k, 3),
                "uptime_raw_s": round(time.monotonic() - self.started, 3),
                "since_reset_s": round(now, 3), "since_reset_raw_s": round(now * k, 3),
                "totals": totals,
                "ops": {op: {"requests": v[0], "throttled": v[1]} for op, v in sorted(self.ops.items())},
                "prefixes": prefixes,
                "connections": {"open": self.conn_open, "accepted": self.conn_total,
                                "upstream_opened": self.upstream_opened},
                "cpu": {"user_s": round(ru.ru_utime, 3), "sys_s": round(ru.ru_stime, 3),
                        "requests_served": served,
                        "per_request_us": round(cpu / served * 1e6, 1) if served else None,
                        "since_reset": {"cpu_s": round(cpu - self.reset_cpu[0], 3),
                                        "requests_served": served - self.reset_cpu[1],
                                        "per_request_us": round((cpu - self.reset_cpu[0]) / (served - self.reset_cpu[1]) * 1e6, 1)
                                        if served > self.reset_cpu[1] else None},
                        "max_rss_kb": ru.ru_maxrss},
                "config": self.config_json()}

    def tick_windows(self, now):
        slot = int(now * SLOTS)
        for lanes in self.prefixes.values():
            for lane in lanes.values():
                if slot != lane.slot:
                    lane.advance(slot)

    served_total = 0  # every request answered since start (forwarded or throttled), for the CPU figure

    def configure(self, body):
        """Applies a /__model/config body; raises ValueError (nothing applied) on a bad one."""
        if not isinstance(body, dict):
            raise ValueError("want a JSON object")
        known = {"write_limit", "read_limit", "prefix", "burst_s", "scale_threshold", "scale_after_s",
                 "scale_factor", "max_limit", "max_write_limit", "max_read_limit", "read_latency",
                 "write_latency", "op_latency"}
        unknown = set(body) - known
        if unknown:
            raise ValueError("unknown settings: %s" % ", ".join(sorted(unknown)))
        cfg = dict(self.cfg)
        lat = dict(self.latency)
        op_lat = dict(self.op_latency)
        if "max_limit" in body:
            body = dict(body, max_write_limit=body["max_limit"], max_read_limit=body["max_limit"])
        limits = {}
        for name in ("write_limit", "read_limit", "scale_threshold", "scale_factor",
                     "max_write_limit", "max_read_limit"):
            if name in body:
                v = body[name]
                v = None if v is None and name.startswith("max_") else float(v)
                if v is not None and v < 0:
                    raise ValueError("%s must be >= 0" % name)
                if name in ("write_limit", "read_limit"):
                    limits[name[:-len("_limit")]] = v
                else:
                    cfg[name] = v
        if cfg["scale_factor"] < 1:
            raise ValueError("scale_factor must be >= 1")
        for name in ("burst_s", "scale_after_s"):
            if name in body:
                cfg[name] = parse_duration(body[name])
        for cls in CLASSES:
            if cls + "_latency" in body:
                lat[cls] = Latency.parse(body[cls + "_latency"])
        for op, spec in (body.get("op_latency") or {}).items():
            if spec is None:
                op_lat.pop(op, None)
            else:
                op_lat[op] = Latency.parse(spec)
        prefix = body.get("prefix")
        if prefix is None:  # new defaults, and every existing prefix at once
            for cls, v in limits.items():
                cfg[cls + "_limit"] = v
        self.cfg, self.latency, self.op_latency = cfg, lat, op_lat
        now = self.now()
        if prefix is not None:
            for cls in limits:
                self.lane(prefix, cls, now)
        for p, lanes in self.prefixes.items():
            for cls, lane in lanes.items():
                if cls in limits and (prefix is None or p == prefix):
                    lane.set_limit(limits[cls], cfg["burst_s"])
                    lane.above_since = None
                else:
                    lane.set_limit(lane.limit, cfg["burst_s"])

    def timeline_json(self, query):
        q = query_names(query)
        since = float(q.get("since", "0") or 0)
        records = [r for r in self.timeline if r["t"] >= since] if since else list(self.timeline)
        if q.get("format") == "jsonl":
            return "".join(json.dumps(r) + "\n" for r in records).encode(), "application/x-ndjson"
        return json.dumps(records).encode(), "application/json"

    # ---- HTTP

    def slowdown(self, head_only):
        now = int(time.time())
        if self.date_cache[0] != now:
            self.date_cache = (now, email.utils.formatdate(now, usegmt=True))
        self.request_ids += 1
        rid = "%016X" % self.request_ids
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce '
                'your request rate.</Message><RequestId>%s</RequestId><HostId>s3model</HostId></Error>'
                % rid).encode()
        head = ("HTTP/1.1 503 Slow Down\r\nx-amz-request-id: %s\r\nx-amz-id-2: s3model\r\nDate: %s\r\n"
                "Content-Type: application/xml\r\nContent-Length: %d\r\nServer: AmazonS3\r\n\r\n"
                % (rid, self.date_cache[1], len(body))).encode()
        return head if head_only else head + body

    async def serve_client(self, reader, writer):
        self.conn_open += 1
        self.conn_total += 1
        up = Upstream(self)
        try:
            await self.client_loop(reader, writer, up)
        except (ConnectionError, OSError, EOFError, ValueError, UpstreamError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:  # the model is stopping: end quietly
            pass
        finally:
            self.conn_open -= 1
            up.drop()
            writer.close()

    async def client_loop(self, reader, writer, up):
        k = self.k
        depth = self.depth
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return
            if head[:2] == b"\r\n":  # stray CRLF between messages
                head = head.lstrip(b"\r\n")
                if not head:
                    continue
                if not head.endswith(b"\r\n\r\n"):
                    head += await reader.readuntil(b"\r\n\r\n")
            hl = head.lower()
            sp1 = head.find(b" ")
            sp2 = head.find(b" ", sp1 + 1)
            eol = head.find(b"\r\n")
            method = head[:sp1].decode("latin-1")
            target = head[sp1 + 1:sp2]
            close_after = hfind(hl, b"connection") == b"close" or (
                head[sp2 + 1:eol] == b"HTTP/1.0" and hfind(hl, b"connection") != b"keep-alive")
            if hfind(hl, b"expect") == b"100-continue":
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            te = hfind(hl, b"transfer-encoding")
            body, stream_len = b"", 0
            if te is not None and b"chunked" in te:
                body = await read_chunked(reader)
            else:
                cl = hfind(hl, b"content-length")
                if cl:
                    n = int(cl)
                    if n <= BUFFER_MAX:
                        body = await reader.readexactly(n) if n else b""
                    else:
                        stream_len = n
            if target.startswith(CONTROL):
                self.control(method, target.decode("latin-1"), body, writer)
                await writer.drain()
                if close_after:
                    return
                continue

            op, cls, prefix = classify(method, target.decode("latin-1"),
                                       hfind(hl, b"x-amz-copy-source") is not None, depth)
            now = (time.monotonic() - self.t0) / k
            lane = self.lane(prefix, cls, now)
            ok = lane.take(now)
            tot = self.totals[cls]
            tot["requests"] += 1
            counts = self.ops[op]
            counts[0] += 1
            if ok:
                tot["accepted"] += 1
            else:
                tot["throttled"] += 1
                counts[1] += 1
            lat = self.op_latency.get(op) or self.latency[cls]
            delay = lat.draw(self.rng) * k
            if delay > 0:
                await asyncio.sleep(delay)
            self.served_total += 1
            if not ok:
                if stream_len:
                    await discard(reader, stream_len)
                writer.write(self.slowdown(method == "HEAD"))
                await writer.drain()
                if close_after:
                    return
                continue
            try:
                keep = await up.forward(method, head, body, stream_len, reader, writer)
            except (UpstreamError, OSError, EOFError, ValueError, asyncio.LimitOverrunError):
                tot["failed"] += 1  # the client connection closes
                raise
            tot["forwarded"] += 1
            if not keep or close_after:
                return

    def control(self, method, target, body, writer):
        path, _, query = target.partition("?")
        status, ctype = "200 OK", "application/json"
        try:
            if path == "/__model/stats":
                data = json.dumps(self.stats()).encode()
            elif path == "/__model/timeline":
                self.tick_windows(self.now())
                data, ctype = self.timeline_json(query)
            elif path == "/__model/config":
                if method == "POST":
                    self.configure(json.loads(body or b"{}"))
                data = json.dumps(self.config_json()).encode()
            elif path == "/__model/reset" and method == "POST":
                self.reset()
                data = json.dumps(self.stats()).encode()
            else:
                status, data = "404 Not Found", json.dumps({"error": "no such control " + path}).encode()
        except (ValueError, TypeError, AttributeError) as e:
            status, data = "400 Bad Request", json.dumps({"error": str(e)}).encode()
        writer.write(("HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
                      % (status, ctype, len(data))).encode() + data)


def hfind(hl, name):
    """The value of header `name` (lower-case bytes) in the lower-cased head, or None."""
    i = hl.find(b"\r\n" + name + b":")
    if i < 0:
        return None
    j = hl.find(b"\r\n", i + 2)
    return hl[i + 3 + len(name):j].strip()


async def read_chunked(reader):
    """A chunked body's raw bytes, framing included, for verbatim relay."""
    raw = bytearray()
    while True:
        line = await reader.readuntil(b"\r\n")
        raw += line
        size = int(line.split(b";")[0].strip(), 16)
        if size == 0:
            while True:
                t = await reader.readuntil(b"\r\n")
                raw += t
                if t == b"\r\n":
                    return bytes(raw)
        raw += await reader.readexactly(size + 2)


async def copy_exact(reader, writer, n):
    while n > 0:
        data = await reader.read(min(n, READ_LIMIT))
        if not data:
            raise EOFError("EOF inside a body")
        writer.write(data)
        n -= len(data)
        await writer.drain()


async def discard(reader, n):
    while n > 0:
        data = await reader.read(min(n, READ_LIMIT))
        if not data:
            raise EOFError("EOF inside a body")
        n -= len(data)


class Upstream:
    """The keep-alive connection to radosgw of one client connection."""

    __slots__ = ("model", "r", "w", "used")

    def __init__(self, model):
        self.model, self.r, self.w, self.used = model, None, None, 0.0

    def drop(self):
        if self.w is not None:
            try:
                self.w.close()
            except Exception:
                pass
        self.r = self.w = None

    async def open(self):
        host, port = self.model.upstream
        self.r, self.w = await asyncio.open_connection(host, port, limit=READ_LIMIT)
        self.model.upstream_opened += 1

    async def forward(self, method, head, body, stream_len, creader, cwriter):
        """Sends one request upstream and relays its response; returns False when the client
        connection must close (a close-delimited response)."""
        for attempt in (0, 1):
            try:
                if self.w is None or self.r.at_eof() or time.monotonic() - self.used > UPSTREAM_IDLE_MAX:
                    self.drop()
                    await self.open()
                w = self.w
                if body and len(body) <= 65536:
                    w.write(head + body)
                else:
                    w.write(head)
                    if body:
                        w.write(body)
                if stream_len:
                    await copy_exact(creader, w, stream_len)
                await w.drain()
                rhead = await self.r.readuntil(b"\r\n\r\n")
                break
            except (OSError, EOFError, asyncio.LimitOverrunError) as e:
                self.drop()
                if attempt or stream_len:
                    raise UpstreamError(repr(e))
        r = self.r
        while rhead[9:10] == b"1":  # interim 100 Continue: ours was sent already
            rhead = await r.readuntil(b"\r\n\r\n")
        status = int(rhead[9:12])
        rhl = rhead.lower()
        keep = True
        if method == "HEAD" or status in (204, 304):
            cwriter.write(rhead)
        else:
            te = hfind(rhl, b"transfer-encoding")
            cl = hfind(rhl, b"content-length")
            if te is not None and b"chunked" in te:
                await relay_chunked(r, cwriter, rhead)
            elif cl is not None:
                n = int(cl)
                if n <= 65536:
                    cwriter.write(rhead + (await r.readexactly(n) if n else b""))
                else:
                    cwriter.write(rhead)
                    await copy_exact(r, cwriter, n)
            else:  # close-delimited
                cwriter.write(rhead)
                while True:
                    data = await r.read(READ_LIMIT)
                    if not data:
                        break
                    cwriter.write(data)
                    await cwriter.drain()
                keep = False
        await cwriter.drain()
        if not keep or hfind(rhl, b"connection") == b"close":
            self.drop()
        self.used = time.monotonic()
        return keep


async def relay_chunked(r, w, rhead):
    buf = bytearray(rhead)
    while True:
        line = await r.readuntil(b"\r\n")
        buf += line
        size = int(line.split(b";")[0].strip(), 16)
        if size == 0:
            while True:
                t = await r.readuntil(b"\r\n")
                buf += t
                if t == b"\r\n":
                    break
            break
        if size <= READ_LIMIT:
            buf += await r.readexactly(size + 2)
        else:
            w.write(bytes(buf))
            buf = bytearray()
            await copy_exact(r, w, size + 2)
        if len(buf) >= READ_LIMIT:
            w.write(bytes(buf))
            buf = bytearray()
            await w.drain()
    w.write(bytes(buf))


# ---------------------------------------------------------------- main

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--upstream", required=True, help="radosgw, e.g. http://127.0.0.1:7480")
    p.add_argument("--listen", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--stats-file")
    p.add_argument("--timeline-file")
    p.add_argument("--timeline-step", type=float, default=1.0, metavar="S",
                   help="model seconds per timeline record (default 1; at least 0.1, the tick)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--time-scale", type=float, default=1.0, metavar="K")
    p.add_argument("--prefix-depth", type=int, default=1, metavar="D")
    p.add_argument("--write-limit", type=float, default=3500.0, metavar="PER_S",
                   help="writes per model second per prefix (0: unlimited)")
    p.add_argument("--read-limit", type=float, default=5500.0, metavar="PER_S",
                   help="reads per model second per prefix (0: unlimited)")
    p.add_argument("--burst", default="1s", metavar="DURATION", help="token bucket depth, in seconds of the limit")
    p.add_argument("--read-latency", default="30ms:120ms", metavar="MEDIAN:P99")
    p.add_argument("--write-latency", default="45ms:200ms", metavar="MEDIAN:P99")
    p.add_argument("--op-latency", action="append", metavar="OP=MEDIAN:P99",
                   help="per operation (e.g. CopyObject=60ms:250ms, ListObjectsV2=80ms:300ms); repeatable")
    p.add_argument("--scale-threshold", type=float, default=0.8)
    p.add_argument("--scale-after", default="8s", metavar="DURATION")
    p.add_argument("--scale-factor", type=float, default=1.5)
    p.add_argument("--max-limit", type=float, default=None, metavar="PER_S",
                   help="no limit scales above this (both classes)")
    p.add_argument("--max-write-limit", type=float, default=None, metavar="PER_S")
    p.add_argument("--max-read-limit", type=float, default=None, metavar="PER_S")
    a = p.parse_args()
    if a.time_scale <= 0:
        p.error("--time-scale must be > 0")
    if a.timeline_step < 0.1 or abs(round(a.timeline_step * 10) - a.timeline_step * 10) > 1e-9:
        p.error("--timeline-step must be a multiple of 0.1 (model seconds; the model ticks every 0.1)")
    u = urllib.parse.urlsplit(a.upstream)
    if u.scheme != "http":
        p.error("--upstream must be http://host:port")
    a.upstream_addr = (u.hostname, u.port or 80)
    try:
        model = Model(a)
    except ValueError as e:
        p.error(str(e))
    try:  # many client connections, each with its upstream one
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass
    asyncio.run(serve(model, a))


async def serve(model, a):
    loop = asyncio.get_running_loop()
    server = await asyncio.start_server(model.serve_client, a.listen, a.port, limit=READ_LIMIT,
                                        backlog=1024, reuse_address=True)
    port = server.sockets[0].getsockname()[1]
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as fh:
            fh.write("%d\n" % port)
        os.replace(a.port_file + ".tmp", a.port_file)
    print("s3model: listening on %s:%d -> %s (time scale %g)" % (a.listen, port, a.upstream, model.k),
          file=sys.stderr, flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tick = asyncio.create_task(model.ticker())
    await stop.wait()
    tick.cancel()
    server.close()
    stats = json.dumps(model.stats())
    if a.stats_file:
        with open(a.stats_file, "w") as fh:
            fh.write(stats + "\n")
    print(stats, flush=True)


if __name__ == "__main__":
    main()
