#!/usr/bin/env python3
"""A fault-injecting HTTP/1.1 proxy for S3 traffic (Python standard library only, loopback).

Sits between rehome and radosgw: point rehome's endpoint at the proxy; every request is
forwarded byte for byte (the Host header unchanged, so a SigV4 signature made for the proxy's
host:port still matches what radosgw receives) over a keep-alive upstream connection per client
connection, or answered with an injected fault instead. Request bodies may use Content-Length
or chunked encoding; responses are relayed as they come (Content-Length, chunked, or
close-delimited).

Faults (each a probability per request; at most one per request):
  slowdown          503 SlowDown, no Retry-After                      (not forwarded)
  slowdown_retry    503 SlowDown with Retry-After: 1                  (not forwarded)
  internal          500 InternalError                                 (not forwarded)
  reset_before      connection reset before any response              (not forwarded)
  lost_response     forwarded (the operation happened), then reset before the response
  reset_mid_body    forwarded; the headers and half the body relayed, then reset
  truncated         forwarded; the headers and half the body relayed, then a clean close
  copy_error_200    CopyObject only (x-amz-copy-source): 200 OK with an <Error> body, NOT
                    forwarded, so the copy did not happen (as on AWS when it fails late)
  stall             forwarded after sleeping --stall-seconds (default 3)

Latency (--latency SECONDS): every forwarded request waits this long first, as if the server
were far away (an AWS S3 LIST page takes 50-150 ms): bench/run uses it to measure listing where
waiting, not the local server's CPU, sets the pace, as on real S3.

AWS-behaviour mode (--aws F.json, or POST /__fault_proxy/aws): a loopback stand-in for AWS-only
S3 behaviour that radosgw lacks: SSE-KMS ETags (not the MD5), GLACIER objects (403
InvalidObjectState), stored full-object CRC32 checksums, AWS's conditional writes on CopyObject
and If-Match on PutObject, and buckets that refuse ACLs. Forwarded requests are still relayed
byte for byte; the mode answers some requests itself, rewrites responses, and makes its own
signed look-ups with --access-key/--secret-key/--region. aws_behaviour.py documents each
behaviour and its configuration. Faults are drawn first; a request the mode answers itself can
still be hit by lost_response, reset_mid_body or truncated.

Usage: fault_proxy.py --upstream http://127.0.0.1:7480 [--port 0] [--port-file F]
                      [--stats-file F] [--config F.json] [--seed N] [--latency S] [--slowdown 0.05 ...]
                      [--aws F.json --access-key K --secret-key S [--region us-east-1]]
Control (answered by the proxy itself, never forwarded):
  GET  /__fault_proxy/stats    JSON counts (with aws_* counts once the AWS mode is configured)
  POST /__fault_proxy/config   JSON body {"rates": {...}, "stall_seconds": N}: replaces the rates
  GET  /__fault_proxy/aws      the AWS-mode configuration, defaults filled in (null: off)
  POST /__fault_proxy/aws      JSON body: replaces the whole AWS-mode configuration (null: off);
                               answers it as GET does, or 400 {"error": ...} leaving it unchanged
On SIGTERM/SIGINT the stats are written to --stats-file (and stdout) and the proxy exits.
"""
import argparse
import json
import random
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
import traceback
import urllib.parse

import aws_behaviour

FAULTS = ["slowdown", "slowdown_retry", "internal", "reset_before", "lost_response",
          "reset_mid_body", "truncated", "copy_error_200", "stall"]
CONTROL = "/__fault_proxy/"


class State:
    """Rates, counters and the random source, shared by every connection thread."""

    def __init__(self, rates, stall_seconds, seed):
        self.lock = threading.Lock()
        self.rates = dict(rates)
        self.stall_seconds = stall_seconds
        self.rng = random.Random(seed)
        self.counts = {"requests": 0, "forwarded": 0, "upstream_errors": 0, "injected": 0}
        for f in FAULTS:
            self.counts[f] = 0

    def pick(self, is_copy: bool):
        """The fault for one request, or None; copy_error_200 only applies to CopyObject."""
        with self.lock:
            self.counts["requests"] += 1
            draw = self.rng.random()
            for f in FAULTS:
                rate = self.rates.get(f, 0.0)
                if f == "copy_error_200" and not is_copy:
                    continue
                if draw < rate:
                    self.counts[f] += 1
                    self.counts["injected"] += 1
                    return f
                draw -= rate
            return None

    def count(self, name):
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + 1

    def add_counters(self, names):
        """Shows these counters (at 0 until counted): the AWS mode's, once it is configured."""
        with self.lock:
            for n in names:
                self.counts.setdefault(n, 0)

    def snapshot(self):
        with self.lock:
            return dict(self.counts, rates=dict(self.rates))


def read_head(f):
    """Reads a request/response head: (start line, [(name, value)], raw bytes), or None at EOF."""
    raw = b""
    line = f.readline(65537)
    while line in (b"\r\n", b"\n"):  # tolerate stray CRLF between messages
        line = f.readline(65537)
    if not line:
        return None
    raw += line
    headers = []
    while True:
        h = f.readline(65537)
        if not h:
            raise ConnectionError("EOF inside a message head")
        raw += h
        if h in (b"\r\n", b"\n"):
            break
        name, _, value = h.decode("latin-1").partition(":")
        headers.append((name.strip().lower(), value.strip()))
    return line.decode("latin-1").rstrip("\r\n"), headers, raw


def header(headers, name):
    for n, v in headers:
        if n == name:
            return v
    return None


def read_chunked(f):
    """Reads a chunked body; returns its raw bytes (framing included) for verbatim relay."""
    raw = b""
    while True:
        size_line = f.readline(65537)
        if not size_line:
            raise ConnectionError("EOF inside a chunked body")
        raw += size_line
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            while True:  # trailers, then the empty line
                t = f.readline(65537)
                if not t:
                    raise ConnectionError("EOF in chunked trailers")
                raw += t
                if t in (b"\r\n", b"\n"):
                    return raw
        data = f.read(size + 2)
        if len(data) < size + 2:
            raise ConnectionError("EOF inside a chunk")
        raw += data


def read_body(f, headers):
    te = (header(headers, "transfer-encoding") or "").lower()
    if "chunked" in te:
        return read_chunked(f)
    length = int(header(headers, "content-length") or 0)
    data = f.read(length) if length else b""
    if len(data) < length:
        raise ConnectionError("EOF inside a body")
    return data


def reset(sock):
    """Closes with RST (SO_LINGER 0) rather than FIN: what a crashed peer or middlebox does."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def error_response(status, reason, code, message, retry_after=None):
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message>'
            '<RequestId>fault-proxy</RequestId></Error>' % (code, message)).encode()
    head = "HTTP/1.1 %d %s\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n" % (
        status, reason, len(body))
    if retry_after is not None:
        head += "Retry-After: %s\r\n" % retry_after
    return head.encode() + b"\r\n" + body


class Handler(socketserver.BaseRequestHandler):
    def setup(self):
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rfile = self.request.makefile("rb")
        self.up = None
        self.up_file = None

    def upstream(self):
        if self.up is None:
            s = socket.create_connection(self.server.upstream_addr, timeout=120)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.up, self.up_file = s, s.makefile("rb")
        return self.up

    def drop_upstream(self):
        if self.up is not None:
            try:
                self.up.close()
            except OSError:
                pass
        self.up = self.up_file = None

    def handle(self):
        state = self.server.state
        try:
            while True:
                head = read_head(self.rfile)
                if head is None:
                    return
                line, headers, raw_head = head
                method, target = line.split(" ")[0], line.split(" ")[1]
                if (header(headers, "expect") or "").lower() == "100-continue":
                    self.request.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                body = read_body(self.rfile, headers)
                if target.startswith(CONTROL):
                    self.control(method, target, body)
                    continue
                fault = state.pick(header(headers, "x-amz-copy-source") is not None)
                if not self.serve(fault, method, target, headers, raw_head, body):
                    return
        except (ConnectionError, OSError, ValueError):
            return
        finally:
            self.drop_upstream()

    def control(self, method, target, body):
        state = self.server.state
        status = b"200 OK"
        if target.startswith(CONTROL + "aws"):
            aws = self.server.aws
            result = aws.config_json()
            if method == "POST":
                try:
                    aws.configure(json.loads(body or b"null"))
                    result = aws.config_json()
                    if result is not None:
                        state.add_counters(aws_behaviour.STAT_NAMES)
                except (ValueError, aws_behaviour.ConfigError) as e:  # bad JSON or configuration
                    status, result = b"400 Bad Request", {"error": str(e)}
            data = json.dumps(result).encode()
        else:
            if method == "POST" and target.startswith(CONTROL + "config"):
                cfg = json.loads(body or b"{}")
                with state.lock:
                    state.rates = {k: float(v) for k, v in cfg.get("rates", {}).items()}
                    state.stall_seconds = float(cfg.get("stall_seconds", state.stall_seconds))
            data = json.dumps(state.snapshot()).encode()
        self.request.sendall(b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                             % (status, len(data)) + data)

    def serve(self, fault, method, target, headers, raw_head, body):
        """Answers one request; returns False when the client connection is finished."""
        sock = self.request
        if fault == "slowdown":
            sock.sendall(error_response(503, "Slow Down", "SlowDown", "Please reduce your request rate."))
            return True
        if fault == "slowdown_retry":
            sock.sendall(error_response(503, "Slow Down", "SlowDown", "Please reduce your request rate.", 1))
            return True
        if fault == "internal":
            sock.sendall(error_response(500, "Internal Server Error", "InternalError",
                                        "We encountered an internal error. Please try again."))
            return True
        if fault == "copy_error_200":
            body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code><Message>'
                    'We encountered an internal error. Please try again.</Message></Error>').encode()
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n\r\n"
                         % len(body) + body)
            return True
        if fault == "reset_before":
            reset(sock)
            return False
        if fault == "stall":
            time.sleep(self.server.state.stall_seconds)
        if self.server.latency > 0:
            time.sleep(self.server.latency)
        try:
            plan = self.aws_plan(method, target, headers, body)
            if plan is not None and plan.answer is not None:
                self.server.state.count("aws_answered")
                head, answer_body = plan.answer.encode()
                return self.relay(fault, head, answer_body, True)
            return self.forward(fault, method, raw_head + body, plan.rewrite if plan else None)
        except (ConnectionError, OSError, ValueError):
            self.server.state.count("upstream_errors")
            self.drop_upstream()
            reset(sock)
            return False

    def aws_plan(self, method, target, headers, body):
        """The AWS mode's plan for this request (None: forward untouched). Its look-ups failing
        (OSError) count as an upstream error; a bug is logged and the request forwarded as is."""
        try:
            return self.server.aws.plan(method, target, headers, body)
        except OSError:
            raise
        except Exception:  # a bug in the stand-in must not look like a server failure
            self.server.state.count("aws_errors")
            traceback.print_exc(file=sys.stderr)
            return None

    def forward(self, fault, method, raw_request, rewrite=None):
        state = self.server.state
        try:
            self.upstream().sendall(raw_request)
            head = read_head(self.up_file)
        except OSError:
            head = None
        if head is None:  # a stale keep-alive connection: one fresh attempt
            self.drop_upstream()
            self.upstream().sendall(raw_request)
            head = read_head(self.up_file)
            if head is None:
                raise ConnectionError("upstream closed")
        line, headers, raw_head = head
        while line.split(" ")[1].startswith("1"):  # interim 100 Continue from upstream
            head = read_head(self.up_file)
            if head is None:
                raise ConnectionError("upstream closed")
            line, headers, raw_head = head
        status = int(line.split(" ")[1])
        state.count("forwarded")
        no_body = method == "HEAD" or status in (204, 304)
        te = (header(headers, "transfer-encoding") or "").lower()
        close_delimited = not no_body and "chunked" not in te and header(headers, "content-length") is None
        if no_body:
            body = b""
        elif close_delimited:
            body = self.up_file.read()
        else:
            body = read_body(self.up_file, headers)
        if close_delimited or (header(headers, "connection") or "").lower() == "close":
            self.drop_upstream()
        if rewrite is not None:  # the AWS mode: the response as AWS would have answered
            try:
                raw_head, body = rewrite(aws_behaviour.Message.parse(raw_head, body)).encode()
            except Exception:  # a bug: relay radosgw's answer unchanged, but say so
                state.count("aws_errors")
                traceback.print_exc(file=sys.stderr)
        return self.relay(fault, raw_head, body, not close_delimited)

    def relay(self, fault, raw_head, body, keep_open):
        """Sends a response to the client, or the part of it the fault lets through; returns
        False when the client connection is finished."""
        sock = self.request
        if fault == "lost_response":
            reset(sock)
            return False
        if fault in ("reset_mid_body", "truncated") and len(body) >= 2:
            sock.sendall(raw_head + body[: len(body) // 2])
            if fault == "reset_mid_body":
                reset(sock)
            else:
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            return False
        sock.sendall(raw_head + body)
        return keep_open


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    latency = 0.0  # Seconds every forwarded request waits first (--latency).


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--upstream", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--stats-file")
    p.add_argument("--config", help="JSON file: {\"rates\": {fault: probability}, \"stall_seconds\": N}")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--stall-seconds", type=float, default=3.0)
    p.add_argument("--latency", type=float, default=0.0, metavar="SECONDS",
                   help="delay before forwarding every request (a distant server)")
    p.add_argument("--aws", metavar="FILE.json",
                   help="AWS-behaviour mode from the start with this configuration (see aws_behaviour.py)")
    p.add_argument("--access-key", help="for the AWS mode's own requests to the upstream")
    p.add_argument("--secret-key", help="for the AWS mode's own requests to the upstream")
    p.add_argument("--region", default="us-east-1", help="for the AWS mode's own requests (default us-east-1)")
    for f in FAULTS:
        p.add_argument("--" + f.replace("_", "-"), type=float, default=0.0, metavar="RATE")
    a = p.parse_args()
    rates = {f: getattr(a, f) for f in FAULTS if getattr(a, f)}
    stall = a.stall_seconds
    if a.config:
        with open(a.config) as fh:
            cfg = json.load(fh)
        rates.update({k: float(v) for k, v in cfg.get("rates", {}).items()})
        stall = float(cfg.get("stall_seconds", stall))
    unknown = set(rates) - set(FAULTS)
    if unknown:
        p.error("unknown faults: %s" % ", ".join(sorted(unknown)))
    u = urllib.parse.urlsplit(a.upstream)
    server = Server(("127.0.0.1", a.port), Handler)
    server.upstream_addr = (u.hostname, u.port or 80)
    server.state = State(rates, stall, a.seed)
    server.latency = a.latency
    server.aws = aws_behaviour.Aws(a.upstream, a.access_key, a.secret_key, a.region, server.state.count)
    if a.aws:
        try:
            server.aws.configure(aws_behaviour.load_config_file(a.aws))
        except (OSError, ValueError) as e:  # ConfigError is a ValueError, like bad JSON
            p.error("--aws %s: %s" % (a.aws, e))
        server.state.add_counters(aws_behaviour.STAT_NAMES)
    port = server.server_address[1]
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as fh:
            fh.write("%d\n" % port)
        import os
        os.replace(a.port_file + ".tmp", a.port_file)
    print("fault_proxy: listening on 127.0.0.1:%d -> %s" % (port, a.upstream), file=sys.stderr, flush=True)

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever(poll_interval=0.2)
    stats = json.dumps(server.state.snapshot())
    if a.stats_file:
        with open(a.stats_file, "w") as fh:
            fh.write(stats + "\n")
    print(stats, flush=True)


if __name__ == "__main__":
    main()
