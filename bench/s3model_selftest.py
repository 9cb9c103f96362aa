#!/usr/bin/env python3
"""Self-test of bench/s3model.py against a real radosgw; and (--cpu) the model's own CPU cost.

Needs REHOME_TEST_RGW_ENDPOINT, REHOME_TEST_RGW_ACCESS_KEY and REHOME_TEST_RGW_SECRET_KEY (after
`scripts/services up DIR; source DIR/env`); without them it prints SKIP and exits 125. Creates
a bucket with a random suffix, starts s3model.py on a free loopback port in front of radosgw
(path-style, --prefix-depth 1: every check uses its own prefix, so their limits are apart), and
checks, talking through the model and comparing with what radosgw holds (read directly):
  passthrough  a 1 MB PUT (with Expect: 100-continue, and once by hand: head, wait for the 100,
               then the body) and its GET come back byte for byte, ETag = MD5; a Range GET; a
               CopyObject; a listing (radosgw answers it chunked: relayed chunked) equal to
               radosgw's; HEAD
  latency      medians of sequential GETs and PUTs close to --read-latency / --write-latency
  throttle     30 PUTs at once on a prefix allowing 10/s (burst 1 s): about 10 pass, the rest get
               503 SlowDown with S3's XML body and are not forwarded (absent from radosgw); the
               stats agree; another prefix is not affected
  scaling      ~14 writes/s for 8.5 s on a prefix allowing 10/s (scale after 3 s at >= 80 %,
               x1.5): the limit becomes 15 after >= 3 s, then 22.5; a prefix at ~5/s stays at 10
  timeline     one record per second, consecutive, whose counts add up to the stats; limits
               rise in it; ?since and ?format=jsonl
  config       POST /__model/config for one prefix, then for all; a bad body is refused (400)
  reset        counters, prefixes and timeline cleared; limits back to the configured default
  time-scale   a second model with --time-scale 4: limits divided by 4 (measured: ~10 raw
               writes/s accepted for a model limit of 40/s), latencies multiplied by 4
               (measured medians), the timeline's seconds 4 wall seconds long
Prints PASS/FAIL per check and exits 1 if any failed; takes about 30 s.

--cpu 500,1000 [--seconds 20] [--connections 64]: instead of the checks, measures the model's
own CPU (user+sys, from its /__model/stats getrusage) per request while an asyncio load
generator in this process sends small GETs (a 1 KB object, one pre-signed request replayed over
keep-alive connections) through it to radosgw at each rate, with the default latencies; then the
same at the highest rate on a prefix whose read limit is 1/s (the model answers 503 itself).

Usage: python3 bench/s3model_selftest.py [--keep] [--cpu RATES [--seconds S] [--connections N]]
"""
import argparse
import asyncio
import concurrent.futures
import hashlib
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "faults"))
import s3mini  # noqa: E402  (after the path: tests/faults)

SKIP = 125


class Check:
    """One behaviour's checks: collects failures, prints PASS/FAIL with them at the end."""
    results = []

    def __init__(self, name):
        self.name, self.failures, self.checks, self.notes = name, [], 0, []

    def __enter__(self):
        self.t0 = time.monotonic()
        return self

    def true(self, cond, what):
        self.checks += 1
        if not cond:
            self.failures.append(what)
        return cond

    def eq(self, got, want, what):
        return self.true(got == want, "%s: got %r, want %r" % (what, got, want))

    def within(self, got, lo, hi, what):
        return self.true(lo <= got <= hi, "%s: got %r, want %r..%r" % (what, got, lo, hi))

    def note(self, text):
        self.notes.append(text)

    def __exit__(self, kind, value, tb):
        if kind is not None:  # an exception ends this check as a failure, not the whole test
            self.failures.append("exception: " + "".join(traceback.format_exception(kind, value, tb)).strip())
        ok = not self.failures
        print("%s %s (%d checks, %.1f s)%s" % ("PASS" if ok else "FAIL", self.name, self.checks,
                                              time.monotonic() - self.t0,
                                              "".join("\n    " + n for n in self.notes)), flush=True)
        for f in self.failures:
            print("    - " + f, flush=True)
        Check.results.append(ok)
        return True


class ModelProcess:
    """s3model.py on a free port in front of `upstream`; control requests; stopped on exit."""

    def __init__(self, upstream, *args):
        fd, self.port_file = tempfile.mkstemp(prefix="s3model-port-")
        os.close(fd)
        os.unlink(self.port_file)
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "s3model.py"), "--upstream", upstream,
                                      "--port-file", self.port_file, "--seed", "1"] + list(args),
                                     stdout=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(self.port_file) or self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if not os.path.exists(self.port_file):
            self.stop()
            raise RuntimeError("s3model.py did not start")
        with open(self.port_file) as f:
            self.port = int(f.read())
        os.unlink(self.port_file)
        self.endpoint = "http://127.0.0.1:%d" % self.port

    def call(self, method, path, body=None):
        req = urllib.request.Request(self.endpoint + "/__model/" + path, method=method,
                                     data=None if body is None else json.dumps(body).encode())
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                data = r.read()
                status = r.status
        except urllib.error.HTTPError as e:
            data, status = e.read(), e.code
        return status, data

    def stats(self):
        return json.loads(self.call("GET", "stats")[1])

    def timeline(self, query=""):
        return json.loads(self.call("GET", "timeline" + query)[1])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Clients:
    """One s3mini client per thread (s3mini is not thread-safe)."""

    def __init__(self, endpoint, ak, sk):
        self.args, self.local = (endpoint, ak, sk), threading.local()

    def get(self):
        c = getattr(self.local, "c", None)
        if c is None:
            c = self.local.c = s3mini.S3(*self.args)
        return c


def error_code(body):
    try:
        root = ET.fromstring(body)
        return root.findtext("Code"), root.findtext("Message")
    except ET.ParseError:
        return None, None


def timed(fn, *a, **kw):
    t = time.monotonic()
    r = fn(*a, **kw)
    return time.monotonic() - t, r


def offer(clients, bucket, prefix, rate, seconds, threads):
    """PUTs of 1 byte to bucket/prefix<n> at `rate` per second (open loop) for `seconds`;
    returns [(key, status)]."""
    t0 = time.monotonic()
    total = int(rate * seconds)
    out = []
    lock = threading.Lock()

    def worker(i):
        c = clients.get()
        for n in range(i, total, threads):
            wait = t0 + n / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            key = "%s%05d" % (prefix, n)
            st, _, _ = c.request("PUT", bucket, key, body=b"x")
            with lock:
                out.append((key, st))

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def raw_request(c, method, bucket, key, query=None, headers=None, body=b""):
    """A signed request as bytes (head only) for a raw socket, signed for c's endpoint."""
    h, qs = c._sign(method, "/" + bucket + ("/" + key if key else ""), query or {}, headers or {}, body)
    path = s3mini._q("/" + bucket + ("/" + key if key else ""), "-_.~/") + ("?" + qs if qs else "")
    if body:
        h["content-length"] = str(len(body))
    return ("%s %s HTTP/1.1\r\n" % (method, path) + "".join("%s: %s\r\n" % kv for kv in h.items())
            + "\r\n").encode()


def recv_head(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


# ---------------------------------------------------------------- the checks

def run_checks(ep, ak, sk, keep):
    direct = s3mini.S3(ep, ak, sk)
    bucket = "s3model-selftest-" + secrets.token_hex(4)
    direct.create_bucket(bucket)
    args = ["--read-latency", "40ms:80ms", "--write-latency", "60ms:120ms", "--write-limit", "10",
            "--read-limit", "0", "--scale-after", "3s", "--scale-threshold", "0.8", "--scale-factor", "1.5",
            "--burst", "1s", "--prefix-depth", "1"]
    try:
        with ModelProcess(ep, *args) as m:
            clients = Clients(m.endpoint, ak, sk)
            c = clients.get()
            print("model on %s -> %s, bucket %s: s3model.py %s" % (m.endpoint, ep, bucket, " ".join(args)),
                  flush=True)

            with Check("passthrough: bodies, CopyObject, listing, 100-continue") as ck:
                data = os.urandom(1 << 20)
                st, h, _ = c.request("PUT", bucket, "pass/one-mb", headers={"expect": "100-continue"}, body=data)
                ck.eq(st, 200, "PUT 1 MB through the model")
                ck.eq(h.get("etag", "").strip('"'), hashlib.md5(data).hexdigest(), "PUT's ETag is the MD5")
                st, h, got = c.get(bucket, "pass/one-mb")
                ck.eq(st, 200, "GET through the model")
                ck.true(got == data, "GET through the model returns the 1 MB byte for byte")
                ck.true(direct.get(bucket, "pass/one-mb")[2] == data, "radosgw holds the same bytes")
                st, h, got = c.get(bucket, "pass/one-mb", headers={"range": "bytes=1000-1999"})
                ck.eq((st, got), (206, data[1000:2000]), "Range GET")
                st, h, _ = c.head(bucket, "pass/one-mb")
                ck.eq((st, h.get("content-length")), (200, str(len(data))), "HEAD")
                st, h, body = c.copy(bucket, "pass/copied", bucket, "pass/one-mb")
                ck.eq(st, 200, "CopyObject through the model")
                ck.true(b"<CopyObjectResult" in body, "CopyObject's result body relayed")
                st, h, _ = direct.head(bucket, "pass/copied")
                ck.eq(h.get("etag", "").strip('"'), hashlib.md5(data).hexdigest(), "the copy exists in radosgw")
                # The AWS CLI's way: the head alone, wait for 100 Continue, then the body.
                small = os.urandom(5000)
                s = socket.create_connection(("127.0.0.1", m.port))
                s.sendall(raw_request(c, "PUT", bucket, "pass/expect", headers={"expect": "100-continue"}, body=small))
                s.settimeout(5)
                interim = recv_head(s)
                ck.true(interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), "100 Continue before the body: %r" % interim[:40])
                s.sendall(small)
                rest = interim[len(b"HTTP/1.1 100 Continue\r\n\r\n"):]
                final = rest if b"\r\n\r\n" in rest else rest + recv_head(s)
                ck.true(final.startswith(b"HTTP/1.1 200"), "then 200: %r" % final[:40])
                # Keep-alive: a second request on the same connection; a listing, which radosgw
                # sends chunked and the model relays as it is.
                s.sendall(raw_request(c, "GET", bucket, "", query={"list-type": "2", "prefix": "pass/"}))
                listing = b""
                while not listing.endswith(b"0\r\n\r\n"):
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    listing += chunk
                s.close()
                ck.true(b"transfer-encoding: chunked" in listing.lower(), "listing relayed chunked, on the same connection")
                ck.eq(direct.get(bucket, "pass/expect")[2], small, "the 100-continue PUT's bytes in radosgw")
                ck.eq(sorted(c.list(bucket, "pass/")), sorted(direct.list(bucket, "pass/")),
                      "listing through the model = radosgw's")
                ck.eq([k for k, _, _ in c.list(bucket, "pass/")], ["pass/copied", "pass/expect", "pass/one-mb"],
                      "listing keys")
                st = m.stats()
                ck.eq(st["ops"].get("CopyObject", {}).get("requests"), 1, "stats count the CopyObject")
                ck.eq(st["totals"]["write"]["throttled"] + st["totals"]["read"]["throttled"], 0, "nothing throttled")

            with Check("latency: medians as configured (reads 40 ms, writes 60 ms)") as ck:
                c.put(bucket, "lat/obj", b"y" * 1000)
                time.sleep(1.1)  # the write bucket of lat/ full again
                reads = [timed(c.get, bucket, "lat/obj")[0] for _ in range(40)]
                writes = []
                for i in range(12):  # 12 < burst 10 + refill: nothing throttled
                    dt, (st, _, _) = timed(c.request, "PUT", bucket, "lat/w%d" % i, body=b"z")
                    ck.eq(st, 200, "PUT lat/w%d" % i)
                    writes.append(dt)
                r50, w50 = statistics.median(reads) * 1000, statistics.median(writes) * 1000
                ck.note("client-observed medians: GET %.1f ms (p90 %.1f), PUT %.1f ms (radosgw's own time "
                        "included)" % (r50, sorted(reads)[35] * 1000, w50))
                ck.within(r50, 40 * 0.8, 40 * 1.25 + 15, "GET median (ms)")
                ck.within(w50, 60 * 0.8, 60 * 1.25 + 15, "PUT median (ms)")
                ck.true(min(reads) > 0.015, "every GET waited (min %.1f ms)" % (min(reads) * 1000))

            with Check("throttle: 503 SlowDown above the limit, not forwarded") as ck:
                before = m.stats()
                barrier = threading.Barrier(30)
                results = {}

                def one(i):
                    cl = clients.get()
                    cl.get(bucket, "pass/expect")  # a connection open first (reads are unlimited)
                    barrier.wait()
                    results[i] = cl.request("PUT", bucket, "thr/k%02d" % i, body=b"t%d" % i)

                with concurrent.futures.ThreadPoolExecutor(30) as pool:
                    list(pool.map(one, range(30)))
                ok = [i for i, r in results.items() if r[0] == 200]
                slow = [i for i, r in results.items() if r[0] == 503]
                ck.note("30 PUTs at once on a 10/s prefix: %d accepted, %d SlowDown" % (len(ok), len(slow)))
                ck.eq(len(ok) + len(slow), 30, "every answer 200 or 503")
                ck.within(len(ok), 10, 12, "accepted: the burst (10) and what refilled meanwhile")
                for i in slow:
                    code, msg = error_code(results[i][2])
                    if not ck.eq((code, msg), ("SlowDown", "Please reduce your request rate."), "503 body of k%02d" % i):
                        break
                ck.true(all(results[i][1].get("content-type") == "application/xml" for i in slow), "503s are XML")
                absent = [i for i in slow if direct.head(bucket, "thr/k%02d" % i)[0] == 404]
                present = [i for i in ok if direct.head(bucket, "thr/k%02d" % i)[0] == 200]
                ck.eq(len(absent), len(slow), "throttled PUTs absent from radosgw")
                ck.eq(len(present), len(ok), "accepted PUTs present in radosgw")
                after = m.stats()
                w0, w1 = before["totals"]["write"], after["totals"]["write"]
                ck.eq(w1["forwarded"] - w0["forwarded"], len(ok), "stats: forwarded = accepted")
                ck.eq(w1["throttled"] - w0["throttled"], len(slow), "stats: throttled")
                lane = after["prefixes"][bucket + "/thr/"]["write"]
                ck.eq((lane["accepted"], lane["throttled"]), (len(ok), len(slow)), "the prefix's own counts")
                st, _, _ = c.request("PUT", bucket, "other/x", body=b"o")
                ck.eq(st, 200, "another prefix is not throttled meanwhile")

            with Check("scaling: x1.5 after 3 s at >= 80 % of the limit") as ck:
                results = {}
                t_start = m.stats()["since_reset_s"]
                hot = threading.Thread(target=lambda: results.__setitem__(
                    "hot", offer(clients, bucket, "scale/", 14, 8.5, 4)))
                calm = threading.Thread(target=lambda: results.__setitem__(
                    "calm", offer(clients, bucket, "calm/", 5, 8.5, 2)))
                hot.start(), calm.start()
                hot.join(), calm.join()
                st = m.stats()
                lane = st["prefixes"][bucket + "/scale/"]["write"]
                sc = lane["scalings"]
                ck.note("hot prefix: %d accepted, %d throttled; limit %s; scalings %s" % (
                    lane["accepted"], lane["throttled"], lane["limit"],
                    [(round(e["t"] - t_start, 2), e["from"], e["to"]) for e in sc]))
                ck.true(len(sc) >= 1, "the limit rose")
                if sc:
                    ck.eq((sc[0]["from"], sc[0]["to"]), (10.0, 15.0), "first scaling 10 -> 15")
                    ck.within(sc[0]["t"] - t_start, 3.0, 5.0, "first scaling after 3 s (+ the window filling)")
                if len(sc) >= 2:
                    ck.eq((sc[1]["from"], sc[1]["to"]), (15.0, 22.5), "second scaling 15 -> 22.5")
                    ck.true(sc[1]["t"] - sc[0]["t"] >= 3.0 - 0.01, "the clock restarted after the first")
                ck.eq(len(sc), 2, "two scalings (14/s is below 80 % of 22.5)")
                ck.eq(lane["limit"], 22.5, "limit now")
                statuses = [s for _, s in results["hot"]]
                ck.eq(set(statuses) - {200, 503}, set(), "hot prefix answers are 200 or 503")
                ck.true(statuses.count(503) > 0, "the hot prefix was throttled before scaling")
                late = [s for _, s in sorted(results["hot"])[-30:]]
                ck.eq(late.count(503), 0, "nothing throttled in its last ~2 s (limit 22.5 > 14/s)")
                calm_lane = st["prefixes"][bucket + "/calm/"]["write"]
                ck.eq((calm_lane["limit"], calm_lane["throttled"], calm_lane["scalings"]), (10.0, 0, []),
                      "the calm prefix (5/s): no scaling, nothing throttled")

            with Check("timeline: one record per second") as ck:
                time.sleep(1.2)  # the last second of load closed
                tl = m.timeline()
                st = m.stats()
                ck.true(len(tl) >= 10, "at least 10 records (%d)" % len(tl))
                ck.eq([r["t"] for r in tl], list(range(len(tl))), "consecutive seconds from 0")
                ck.true(all(abs(r["t_raw"] - r["t"]) < 1e-6 for r in tl), "t_raw = t at time scale 1")
                key = bucket + "/scale/"
                rows = [r["prefixes"][key]["write"] for r in tl if key in r["prefixes"]]
                ck.true(rows and set(rows[0]) >= {"accepted", "throttled", "limit", "accepted_raw",
                                                  "throttled_raw", "limit_raw"}, "record fields")
                lane = st["prefixes"][key]["write"]
                ck.eq(sum(r["accepted"] for r in rows), lane["accepted"], "accepted per second add up to the stats")
                ck.eq(sum(r["throttled"] for r in rows), lane["throttled"], "throttled per second add up")
                limits = [r["limit"] for r in rows]
                ck.eq(sorted(set(limits)), [10.0, 15.0, 22.5], "limits in the timeline")
                ck.eq(limits, sorted(limits), "limits never fall")
                busy = [r for r in rows if r["limit"] == 22.5 and r["accepted"] > 0]
                ck.true(all(r["accepted"] <= 10 + 15 for r in rows if r["limit"] == 10.0),
                        "at most the limit + burst per second at 10/s")
                ck.true(busy and max(r["accepted"] for r in busy) >= 12, "more accepted once scaled")
                later = m.timeline("?since=%d" % (len(tl) - 3))
                ck.eq([r["t"] for r in later][:3], list(range(len(tl) - 3, len(tl))), "?since")
                lines = m.call("GET", "timeline?format=jsonl")[1].decode().splitlines()
                ck.true(len(lines) >= len(tl) and json.loads(lines[0])["t"] == 0, "?format=jsonl")

            with Check("config: limits at run time") as ck:
                status, data = m.call("POST", "config", {"write_limit": 40, "prefix": bucket + "/scale/"})
                ck.eq(status, 200, "POST config for one prefix")
                st = m.stats()
                ck.eq(st["prefixes"][bucket + "/scale/"]["write"]["limit"], 40.0, "that prefix at 40")
                ck.eq(st["prefixes"][bucket + "/calm/"]["write"]["limit"], 10.0, "the others unchanged")
                ck.eq(st["config"]["write_limit"], 10.0, "the default unchanged")
                status, data = m.call("POST", "config", {"write_limit": 20, "read_latency": "10ms:20ms"})
                cfg = json.loads(data)
                ck.eq((status, cfg["write_limit"], cfg["read_latency"]["median_ms"]), (200, 20.0, 10.0),
                      "POST config for all")
                st = m.stats()
                ck.true(all(p["write"]["limit"] == 20.0 for p in st["prefixes"].values() if "write" in p),
                        "every prefix at 20")
                status, data = m.call("POST", "config", {"write_limit": -1})
                ck.eq(status, 400, "a negative limit refused")
                status, data = m.call("POST", "config", {"no_such": 1})
                ck.eq(status, 400, "an unknown setting refused")
                ck.eq(m.stats()["config"]["write_limit"], 20.0, "unchanged after refusals")

            with Check("reset") as ck:
                status, data = m.call("POST", "reset")
                st = json.loads(data)
                ck.eq(status, 200, "POST reset")
                ck.eq([st["totals"][c_]["requests"] for c_ in ("read", "write")], [0, 0], "totals cleared")
                ck.eq((st["prefixes"], st["ops"]), ({}, {}), "prefixes and operations cleared")
                ck.true(st["since_reset_s"] < 1.0, "the model clock restarted")
                ck.eq(m.timeline(), [], "timeline cleared")
                ck.eq(c.request("PUT", bucket, "scale/after-reset", body=b"r")[0], 200, "PUT after reset")
                lane = m.stats()["prefixes"][bucket + "/scale/"]["write"]
                ck.eq((lane["limit"], lane["accepted"], lane["scalings"]), (20.0, 1, []),
                      "the scaled prefix back at the configured default")

        with ModelProcess(ep, "--time-scale", "4", "--write-limit", "40", "--read-limit", "0", "--burst", "0.25s",
                          "--read-latency", "10ms:20ms", "--write-latency", "20ms:40ms",
                          "--scale-factor", "1") as m4:
            with Check("time scale 4: limits / 4, latencies x 4") as ck:
                cl = Clients(m4.endpoint, ak, sk)
                c4 = cl.get()
                cfg = m4.stats()["config"]
                ck.eq((cfg["raw"]["write_limit"], cfg["raw"]["read_latency"]["median_ms"],
                       cfg["raw"]["burst_s"]), (10.0, 40.0, 1.0), "configuration in raw units")
                m4.call("POST", "reset")  # model second 0 starts with the load
                res = offer(cl, bucket, "ts/", 25, 3.0, 8)  # 25 raw/s for 3 s
                acc = sum(1 for _, s_ in res if s_ == 200)
                ck.within(acc, 34, 46, "accepted: burst 10 + 10 raw/s x 3 s")
                ck.eq(sum(1 for _, s_ in res if s_ not in (200, 503)), 0, "answers 200 or 503")
                reads = [timed(c4.get, bucket, "pass/expect")[0] for _ in range(20)]
                r50 = statistics.median(reads) * 1000
                ck.note("75 writes at 25/s over 3 s: %d accepted (model limit 40/s = 10/s raw, burst 10); "
                        "GET median %.1f ms" % (acc, r50))
                ck.within(r50, 40 * 0.8, 40 * 1.25 + 15, "GET median (ms): 10 ms model = 40 ms raw")
                time.sleep(max(0.0, 4.3 - m4.stats()["since_reset_raw_s"]))
                st = m4.stats()
                lane = st["prefixes"][bucket + "/ts/"]["write"]
                ck.eq((lane["limit"], lane["limit_raw"]), (40.0, 10.0), "the prefix's limit, model and raw")
                ck.within(st["uptime_raw_s"] / st["uptime_s"], 3.99, 4.01, "model time runs 4 times slower")
                tl = m4.timeline()
                ck.true(len(tl) >= 1 and tl[0]["t"] == 0 and tl[0]["t_raw"] == 0, "first model second recorded")
                if tl:
                    ck.true(len(tl) <= 2, "one record per 4 wall seconds (%d after %.1f s)" % (
                        len(tl), st["since_reset_raw_s"]))
                    rec = tl[0]["prefixes"].get(bucket + "/ts/", {}).get("write", {})
                    ck.within(rec.get("accepted", 0), 30, 46, "model second 0: accepted per model second ~40")
                    ck.eq(rec.get("accepted_raw"), round(rec.get("accepted", 0) / 4, 3), "accepted_raw = accepted / 4")
                    ck.eq((rec.get("limit"), rec.get("limit_raw")), (40.0, 10.0), "limit, model and raw")
    finally:
        if not keep:
            try:
                for key, _, _ in list(direct.list(bucket, "")):
                    direct.request("DELETE", bucket, key)
                direct.request("DELETE", bucket)
            except Exception as e:  # cleanup must not hide the result
                print("cleanup of %s failed: %r" % (bucket, e), file=sys.stderr)
    failed = Check.results.count(False)
    print("%s: %d of %d check groups passed" % ("FAIL" if failed else "PASS", len(Check.results) - failed,
                                                len(Check.results)), flush=True)
    return 1 if failed else 0


# ---------------------------------------------------------------- --cpu: the model's own cost

async def load(port, request, rate, seconds, connections):
    """Sends `request` (bytes) at `rate` per second spread over `connections` keep-alive
    connections, each reading its answer; returns (sent, errors, statuses)."""
    t0 = time.monotonic() + 0.2
    total = int(rate * seconds)
    stats = {"sent": 0, "status": {}}

    async def conn(i):
        r, w = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        for n in range(i, total, connections):
            wait = t0 + n / rate - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            w.write(request)
            head = await r.readuntil(b"\r\n\r\n")
            hl = head.lower()
            j = hl.find(b"\r\ncontent-length:")
            n_body = int(hl[j + 17:hl.find(b"\r\n", j + 2)]) if j >= 0 else 0
            if n_body and not request.startswith(b"HEAD"):
                await r.readexactly(n_body)
            code = int(head[9:12])
            stats["status"][code] = stats["status"].get(code, 0) + 1
            stats["sent"] += 1
        w.close()

    await asyncio.gather(*(conn(i) for i in range(connections)))
    return stats, time.monotonic() - t0


def machine_busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4], sum(v)


def run_cpu(ep, ak, sk, rates, seconds, connections, keep):
    direct = s3mini.S3(ep, ak, sk)
    bucket = "s3model-cpu-" + secrets.token_hex(4)
    direct.create_bucket(bucket)
    rows = []
    try:
        direct.put(bucket, "cpu/obj", os.urandom(1000))
        with ModelProcess(ep) as m:
            c = s3mini.S3(m.endpoint, ak, sk)
            req_ok = raw_request(c, "GET", bucket, "cpu/obj")
            req_thr = raw_request(c, "GET", bucket, "thr/obj")
            m.call("POST", "config", {"read_limit": 1, "prefix": bucket + "/thr/"})
            plan = [("forwarded GET", r, req_ok) for r in rates] + [("throttled GET (503)", max(rates), req_thr)]
            print("model %s: default latencies (reads 30ms:120ms), %d connections, %g s per rate" % (
                m.endpoint, connections, seconds), flush=True)
            for what, rate, req in plan:
                s0 = m.stats()
                b0 = machine_busy()
                st, wall = asyncio.run(load(m.port, req, rate, seconds, connections))
                b1 = machine_busy()
                s1 = m.stats()
                cpu = (s1["cpu"]["user_s"] + s1["cpu"]["sys_s"]) - (s0["cpu"]["user_s"] + s0["cpu"]["sys_s"])
                n = s1["cpu"]["requests_served"] - s0["cpu"]["requests_served"]
                row = {"what": what, "target_rate": rate, "achieved_rate": round(n / wall, 1), "requests": n,
                       "statuses": st["status"], "model_cpu_s": round(cpu, 3),
                       "cpu_per_request_us": round(cpu / n * 1e6, 1) if n else None,
                       "core_share": round(cpu / wall, 3),
                       "machine_busy_share": round((b1[0] - b0[0]) / max(1, b1[1] - b0[1]), 3)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        if not keep:
            for key, _, _ in list(direct.list(bucket, "")):
                direct.request("DELETE", bucket, key)
            direct.request("DELETE", bucket)
    print("| load | rate reached | model CPU per request | share of one core | machine busy |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| %s at %d/s | %.0f/s | %.0f us | %.0f %% | %.0f %% |" % (
            r["what"], r["target_rate"], r["achieved_rate"], r["cpu_per_request_us"] or 0,
            r["core_share"] * 100, r["machine_busy_share"] * 100))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--keep", action="store_true", help="leave the bucket behind")
    p.add_argument("--cpu", metavar="RATES", help="measure the model's CPU per request at these rates (e.g. 500,1000)")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--connections", type=int, default=64)
    a = p.parse_args()
    env = [os.environ.get("REHOME_TEST_RGW_" + n) for n in ("ENDPOINT", "ACCESS_KEY", "SECRET_KEY")]
    if not all(env):
        print("SKIP: REHOME_TEST_RGW_ENDPOINT, _ACCESS_KEY and _SECRET_KEY are not all set "
              "(scripts/services up DIR; source DIR/env)")
        return SKIP
    if a.cpu:
        return run_cpu(*env, [float(x) for x in a.cpu.split(",") if x], a.seconds, a.connections, a.keep)
    return run_checks(*env, a.keep)


if __name__ == "__main__":
    sys.exit(main())
