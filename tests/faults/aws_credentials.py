#!/usr/bin/env python3
"""A loopback stand-in for AWS's credential endpoints (Python standard library only).

Off AWS there is no instance metadata service, no container credentials agent and no STS, so
rehome's code that fetches and refreshes credentials from them could not be tested. This
server answers the three documented protocols on 127.0.0.1, on one port, with credentials that
are real on the radosgw the tests run against. It is a documented stand-in for tests, not an
implementation of the services: it imitates what a client sees on the requests SDKs send.

  1. EC2 instance metadata, IMDSv2 only (as an instance with HttpTokens=required):
       PUT /latest/api/token  with X-aws-ec2-metadata-token-ttl-seconds: 1..21600
           200, a random token (text/plain), the ttl header echoed; a bad or missing ttl: 400;
           a PUT carrying X-Forwarded-For: 403 (AWS refuses those, so that a proxy on the
           instance cannot fetch a token for a remote caller).
       GET /latest/meta-data/iam/security-credentials/        the role name (--role-name)
       GET /latest/meta-data/iam/security-credentials/ROLE    the credentials, as JSON:
           {"Code": "Success", "LastUpdated", "Type": "AWS-HMAC", "AccessKeyId",
            "SecretAccessKey", "Token", "Expiration"}; another role: 404.
       Both GETs need X-aws-ec2-metadata-token with a token issued here and not expired: 401
       without. As on AWS, IMDS answers text/plain even for the JSON, and hands out the same
       credentials again and again while more than half their lifetime remains (AWS: until
       about 5 minutes before they expire); only then new ones. Several callers at once thus
       share one set, as on AWS, instead of minting a key each.
  2. ECS / EKS Pod Identity container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI):
       GET --container-path   200 JSON {"AccessKeyId", "SecretAccessKey", "Token", "Expiration",
           "RoleArn"}. With --container-token (or --container-token-file, read on every request
           so a test can rotate it) the Authorization header must equal that token exactly;
           else 401 {"code": ..., "message": ...}. New credentials on every request.
  3. STS AssumeRoleWithWebIdentity (the Query API, unsigned, as SDKs send it):
       POST / with a form body, or GET /?query: Action=AssumeRoleWithWebIdentity,
           Version=2011-06-15, RoleArn, RoleSessionName, WebIdentityToken, [DurationSeconds].
           200 text/xml AssumeRoleWithWebIdentityResponse, or 400/403 with STS's ErrorResponse:
           MissingAction, InvalidAction (another Action or Version), MissingParameter,
           ValidationError (DurationSeconds, RoleSessionName), InvalidIdentityToken (not the
           contents of --web-identity-token-file, read on every request so a test can rotate
           it; without that option every token is refused), AccessDenied (RoleArn is not
           --role-arn). New credentials on every request.

Where the keys come from:
  --ceph-conf CONF --uid UID   every set handed out is a NEW radosgw key of user UID
      (radosgw-admin key create), stating Expiration = now + --lifetime, and removed from
      radosgw at exactly that moment (radosgw-admin key rm, on a timer thread): a client that
      does not refresh in time is refused by radosgw, as by AWS. On SIGTERM/SIGINT every key
      still present is removed, so a test leaves none behind. A radosgw-admin failure answers
      500 with its reason (and is logged).
  --static-key K --static-secret S [--static-token T]   the same keys every time, each answer
      stating Expiration = now + --lifetime; nothing is removed (for the self-test, and for
      tests that need no expiry).

Deviations from AWS:
  - Session tokens: radosgw refuses a request carrying a session token it did not issue, so in
    the radosgw mode Token / SessionToken are the empty string (AWS always sends one). A client
    must then send no x-amz-security-token header at all.
  - Expiration is stated to the second; the lifetime is --lifetime, not AWS's (1 to 12 hours).
    STS's DurationSeconds is checked as AWS does (900..43200) but only shortens --lifetime.
  - The web identity token is compared with a file's contents (trailing CR/LF of the file
    ignored), not verified as a JWT; SubjectFromWebIdentityToken is a fixed name, Audience is
    sts.amazonaws.com, and no Provider or PackedPolicySize element is sent.
  - Error bodies of IMDS are short plain text (AWS sends small HTML pages).
  - Only the paths above: no other instance metadata (region, instance identity document),
    no ECS relative URI host, no other STS action.

Control (on the same port):
  GET  /__stand_in/stats   JSON counts, see STAT_NAMES, and "active_keys": the radosgw keys
                           minted and not yet removed
  POST /__stand_in/fail    JSON {"count": N, "status": 500}: the next N requests that would have
                           been answered with credentials (by any of the three protocols)
                           answer that status instead, in that protocol's error shape, to test
                           the retry and backoff of refreshes; count 0 resets. Answers the
                           setting now in force.

Logs (stderr): one "listening on 127.0.0.1:PORT" line, each key minted and removed (its access
key id), and failures; never a secret key or a token, and no request lines (an STS GET carries
the web identity token in its query). Nothing on stdout.

Usage: aws_credentials.py (--ceph-conf CONF --uid UID | --static-key K --static-secret S
                           [--static-token T]) [--lifetime 900] [--port 0] [--port-file F]
                          [--role-name N] [--role-arn ARN] [--container-path P]
                          [--container-token T | --container-token-file F]
                          [--web-identity-token-file F]
"""
import argparse
import dataclasses
import hashlib
import heapq
import hmac
import http.server
import json
import os
import re
import secrets
import signal
import string
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from xml.sax.saxutils import escape

STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
STS_VERSION = "2011-06-15"
IMDS_TOKEN_PATH = "/latest/api/token"
IMDS_ROLES_PATH = "/latest/meta-data/iam/security-credentials/"
IMDS_MAX_TTL = 21600
CONTROL = "/__stand_in/"
DEFAULT_ROLE_ARN = "arn:aws:iam::123456789012:role/rehome-test-role"
SUBJECT = "system:serviceaccount:rehome:rehome-test"  # SubjectFromWebIdentityToken
ADMIN_TIMEOUT = 60  # seconds a radosgw-admin command may take
MAX_BODY = 1 << 20
STAT_NAMES = [
    "imds_tokens",       # IMDSv2 session tokens issued
    "imds_credentials",  # IMDS credential documents answered (cached or new)
    "container",         # container credential documents answered
    "sts",               # AssumeRoleWithWebIdentity successes
    "minted",            # credential sets made (radosgw mode: keys created on radosgw)
    "removed",           # radosgw keys removed (at expiry or at exit)
    "refused",           # credential-protocol answers that were not 200 (injected ones too)
    "injected",          # of those, the failures asked for by POST /__stand_in/fail
]
# AWS's constraint on RoleSessionName.
SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}")


def log(message):
    print("aws_credentials: " + message, file=sys.stderr, flush=True)


def iso8601(epoch):
    """UTC to the second with a Z, as every AWS credential document states times."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def access_key_id(n):
    """20 upper-case letters and digits, like AWS's: STANDIN, a counter, random hex."""
    prefix = "STANDIN%d" % n
    return prefix + secrets.token_hex(10).upper()[: max(0, 20 - len(prefix))]


def secret_access_key():
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(40))


def read_token_file(path):
    """The token a file holds now (it may be rotated between requests); trailing CR/LF are not
    part of it. Raises OSError."""
    with open(path, encoding="utf-8") as fh:
        return fh.read().rstrip("\r\n")


def same_secret(given, expected):
    """Constant-time comparison; an empty expected value matches nothing."""
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


@dataclasses.dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str
    issued_at: float
    expires_at: int  # whole seconds: the Expiration stated is the moment they stop working

    def mostly_fresh(self, now):
        """More than half their lifetime left: IMDS hands them out again."""
        return self.expires_at - now > (self.expires_at - self.issued_at) / 2


class MintError(Exception):
    """Credentials could not be made; the message is the reason, safe to show a client."""


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = dict.fromkeys(STAT_NAMES, 0)

    def count(self, name):
        with self.lock:
            self.counts[name] += 1

    def snapshot(self):
        with self.lock:
            return dict(self.counts)


class FailPlan:
    """The failures POST /__stand_in/fail asks for: the next `count` credential answers."""

    def __init__(self):
        self.lock = threading.Lock()
        self.count, self.status = 0, 500

    def set(self, count, status):
        with self.lock:
            self.count, self.status = count, status
            return self.as_json()

    def take(self):
        """The status the next credential answer must have instead, or None."""
        with self.lock:
            if self.count <= 0:
                return None
            self.count -= 1
            return self.status

    def as_json(self):
        return {"count": self.count, "status": self.status}


# ---- where credentials come from ---------------------------------------------------------------

class StaticSource:
    """--static-key: the same keys every time, with a fresh stated expiration."""

    def __init__(self, key, secret, token, stats):
        self.key, self.secret, self.token, self.stats = key, secret, token, stats

    def mint(self, lifetime):
        now = time.time()
        self.stats.count("minted")
        return Credentials(self.key, self.secret, self.token, now, int(now + lifetime))

    def active_keys(self):
        return []

    def close(self):
        pass


class RadosgwSource:
    """--ceph-conf/--uid: each set is a new key of the radosgw user, removed when it expires.

    A reaper thread removes keys in expiry order. close() refuses new mints, waits for those
    under way, stops the reaper and removes whatever is left, so that no key outlives the
    stand-in. A key whose removal failed stays listed as active and is tried again at exit."""

    def __init__(self, conf, uid, stats):
        self.conf, self.uid, self.stats = conf, uid, stats
        self.cond = threading.Condition()
        self.active = {}    # access key id -> expires_at
        self.expiries = []  # heap of (expires_at, access key id) the reaper has yet to remove
        self.counter = 0
        self.minting = 0
        self.closed = False
        self.reaper = threading.Thread(target=self._reap, name="reaper", daemon=True)
        self.reaper.start()

    def mint(self, lifetime):
        with self.cond:
            if self.closed:
                raise MintError("the stand-in is shutting down")
            self.counter += 1
            self.minting += 1
            n = self.counter
        try:
            key, secret = access_key_id(n), secret_access_key()
            now = time.time()
            expires_at = int(now + lifetime)
            self._admin("key", "create", "--key-type=s3", "--access-key=" + key, "--secret-key=" + secret)
            with self.cond:
                self.active[key] = expires_at
                heapq.heappush(self.expiries, (expires_at, key))
                self.cond.notify_all()
            self.stats.count("minted")
            log("minted %s for user %s, expires %s" % (key, self.uid, iso8601(expires_at)))
            return Credentials(key, secret, "", now, expires_at)
        finally:
            with self.cond:
                self.minting -= 1
                self.cond.notify_all()

    def active_keys(self):
        with self.cond:
            return sorted(self.active)

    def close(self):
        with self.cond:
            self.closed = True
            self.cond.notify_all()
            while self.minting:
                self.cond.wait()
        self.reaper.join()
        left = self.active_keys()
        for key in left:
            self._remove(key)
        log("exit: %d keys removed, %d could not be" % (len(left) - len(self.active_keys()),
                                                        len(self.active_keys())))

    def _reap(self):
        while True:
            with self.cond:
                while not self.closed and (not self.expiries or self.expiries[0][0] > time.time()):
                    self.cond.wait(max(0.0, self.expiries[0][0] - time.time()) if self.expiries else None)
                if self.closed:
                    return
                _, key = heapq.heappop(self.expiries)
            self._remove(key)

    def _remove(self, key):
        try:
            self._admin("key", "rm", "--key-type=s3", "--access-key=" + key)
        except MintError as e:
            log("could not remove %s: %s" % (key, e))
            return
        with self.cond:
            self.active.pop(key, None)
        self.stats.count("removed")
        log("removed %s" % key)

    def _admin(self, *args):
        """Runs radosgw-admin on the user. Its stdout (the user's keys, secrets included) is
        never shown; a failure raises MintError with stderr's last line."""
        cmd = ["radosgw-admin", "-c", self.conf] + list(args[:2]) + ["--uid=" + self.uid] + list(args[2:])
        try:
            r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=ADMIN_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise MintError("radosgw-admin %s %s: %s" % (args[0], args[1], e))
        if r.returncode != 0:
            lines = r.stderr.strip().splitlines()
            raise MintError("radosgw-admin %s %s failed (exit %d): %s" % (
                args[0], args[1], r.returncode, lines[-1] if lines else "no message"))


# ---- IMDS state --------------------------------------------------------------------------------

class Imds:
    """IMDSv2 session tokens, and the role credentials IMDS hands out again while fresh."""

    def __init__(self):
        self.lock = threading.Lock()
        self.tokens = {}  # token -> time.monotonic() at which it expires
        self.mint_lock = threading.Lock()
        self.cached = None

    def issue_token(self, ttl):
        token = secrets.token_urlsafe(42)
        now = time.monotonic()
        with self.lock:
            # Forget expired tokens here, so that a long test does not grow the table.
            self.tokens = {t: end for t, end in self.tokens.items() if end > now}
            self.tokens[token] = now + ttl
        return token

    def token_valid(self, token):
        with self.lock:
            end = self.tokens.get(token or "")
        return end is not None and end > time.monotonic()

    def credentials(self, source, lifetime):
        """The cached set while mostly fresh, else a new one. Callers arriving while one is
        being minted wait for it rather than mint their own."""
        with self.mint_lock:
            if self.cached is None or not self.cached.mostly_fresh(time.time()):
                self.cached = source.mint(lifetime)
            return self.cached


# ---- HTTP --------------------------------------------------------------------------------------

class Answer(Exception):
    """An answer (a success too), raised where it is decided and sent by dispatch(): a check
    several calls deep can end the request in one line."""

    def __init__(self, status, body, content_type, headers=()):
        super().__init__(status)
        self.status, self.body, self.content_type, self.headers = status, body, content_type, headers


def json_answer(status, obj):
    return Answer(status, json.dumps(obj, indent=2).encode() + b"\n", "application/json")


def text_answer(status, text, headers=()):
    return Answer(status, text.encode(), "text/plain", headers)


def sts_error(status, code, message, request_id):
    """STS's error document, in AWS's exact shape (Type Sender: the caller's fault; Receiver:
    the service's)."""
    kind = "Receiver" if status >= 500 else "Sender"
    xml = ('<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message>'
           '</Error><RequestId>%s</RequestId></ErrorResponse>' % (
               STS_NS, kind, code, escape(message), request_id))
    return Answer(status, xml.encode(), "text/xml", [("x-amzn-RequestId", request_id)])


def default_code(status):
    """The STS error code of a failure that names none: injected ones, radosgw-admin's."""
    return {503: "ServiceUnavailable", 400: "Throttling"}.get(
        status, "InternalFailure" if status >= 500 else "InjectedFailure")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every answer has a Content-Length
    server_version = "aws-credentials-stand-in"
    timeout = 60  # an idle keep-alive connection is closed after this long

    def do_GET(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def version_string(self):
        return self.server_version  # no Python version in the Server header

    # The default logs carry request lines (an STS GET's token is in its query): none at all.
    def log_message(self, format, *args):
        pass

    def log_error(self, format, *args):
        if args and isinstance(args[0], int):  # send_error(): its message may quote the request
            log("answered %d to a malformed request" % args[0])
        elif not format.startswith("Request timed out"):  # idle keep-alive connections: normal
            log(format.split("%")[0].strip())

    def dispatch(self):
        path, _, query = self.path.partition("?")
        cfg = self.server.cfg
        # Requests of the three protocols: their answers other than 200 count as refused.
        credential_request = path.startswith("/latest/") or path in (cfg.container_path, "/")
        try:
            body = self.read_body()
            if path.startswith(CONTROL):
                self.control(path[len(CONTROL):], body)
            elif path == IMDS_TOKEN_PATH:
                self.imds_token()
            elif path.startswith("/latest/"):
                self.imds_get(path)
            elif path == cfg.container_path:
                self.container()
            elif path == "/":
                self.sts(query, body)
            else:
                raise text_answer(404, "no such path on the stand-in\n")
        except Answer as a:
            if credential_request and a.status != 200:
                self.server.stats.count("refused")
            self.send(a)

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True  # the body's end is unknown: the connection is lost
            raise text_answer(411, "send a Content-Length\n")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True
            raise text_answer(400, "bad Content-Length\n")
        return self.rfile.read(length) if length else b""

    def send(self, a):
        self.send_response(a.status)
        self.send_header("Content-Type", a.content_type)
        self.send_header("Content-Length", str(len(a.body)))
        for name, value in a.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(a.body)

    def need_method(self, *methods):
        if self.command not in methods:
            raise Answer(405, b"method not allowed\n", "text/plain", [("Allow", ", ".join(methods))])

    def fail_if_asked(self, make_error):
        """A failure POST /__stand_in/fail asked for, in the protocol's shape, instead of the
        credentials about to be answered."""
        status = self.server.fail.take()
        if status is not None:
            self.server.stats.count("injected")
            raise make_error(status, "injected failure (POST %sfail)" % CONTROL)

    def mint(self, lifetime, make_error):
        try:
            return self.server.source.mint(lifetime)
        except MintError as e:
            log("could not make credentials: %s" % e)
            raise make_error(500, str(e))

    # -- IMDS ---------------------------------------------------------------------------------

    def imds_token(self):
        self.need_method("PUT")
        if self.headers.get("X-Forwarded-For") is not None:
            raise text_answer(403, "Forbidden\n")
        ttl_text = (self.headers.get("X-aws-ec2-metadata-token-ttl-seconds") or "").strip()
        if not ttl_text.isdigit() or not 1 <= int(ttl_text) <= IMDS_MAX_TTL:
            raise text_answer(400, "Bad Request: X-aws-ec2-metadata-token-ttl-seconds must be 1..%d\n"
                              % IMDS_MAX_TTL)
        token = self.server.imds.issue_token(int(ttl_text))
        self.server.stats.count("imds_tokens")
        raise text_answer(200, token, [("X-aws-ec2-metadata-token-ttl-seconds", ttl_text)])

    def imds_get(self, path):
        self.need_method("GET")
        cfg = self.server.cfg
        # IMDSv2 only: any metadata GET without a valid token is 401, before looking at the path.
        if not self.server.imds.token_valid(self.headers.get("X-aws-ec2-metadata-token")):
            raise text_answer(401, "Unauthorized\n")
        if path != IMDS_ROLES_PATH.rstrip("/") and not path.startswith(IMDS_ROLES_PATH):
            raise text_answer(404, "Not Found\n")
        role = path[len(IMDS_ROLES_PATH):]
        if not role:
            raise text_answer(200, cfg.role_name)
        if role != cfg.role_name:
            raise text_answer(404, "Not Found\n")

        def error(status, message):
            return text_answer(status, message + "\n")

        self.fail_if_asked(error)
        try:
            c = self.server.imds.credentials(self.server.source, cfg.lifetime)
        except MintError as e:
            log("could not make credentials: %s" % e)
            raise error(500, str(e))
        self.server.stats.count("imds_credentials")
        doc = {"Code": "Success", "LastUpdated": iso8601(c.issued_at), "Type": "AWS-HMAC",
               "AccessKeyId": c.access_key, "SecretAccessKey": c.secret_key, "Token": c.token,
               "Expiration": iso8601(c.expires_at)}
        raise text_answer(200, json.dumps(doc, indent=2))  # IMDS says text/plain, even for JSON

    # -- container ----------------------------------------------------------------------------

    def container(self):
        self.need_method("GET")
        cfg = self.server.cfg

        def error(status, message):
            code = "InternalError" if status >= 500 else "ClientException"
            return json_answer(status, {"code": code, "message": message})

        expected = cfg.container_token
        if cfg.container_token_file:
            try:
                expected = read_token_file(cfg.container_token_file)
            except OSError as e:
                log("cannot read --container-token-file: %s" % e)
                raise error(500, "the stand-in cannot read its container token file")
        if expected is not None and not same_secret(self.headers.get("Authorization") or "", expected):
            raise json_answer(401, {"code": "AccessDeniedException",
                                    "message": "the Authorization header is missing or not the expected token"})
        self.fail_if_asked(error)
        c = self.mint(cfg.lifetime, error)
        self.server.stats.count("container")
        raise json_answer(200, {"AccessKeyId": c.access_key, "SecretAccessKey": c.secret_key,
                                "Token": c.token, "Expiration": iso8601(c.expires_at),
                                "RoleArn": cfg.role_arn})

    # -- STS ----------------------------------------------------------------------------------

    def sts(self, query, body):
        self.need_method("GET", "POST")
        cfg = self.server.cfg
        request_id = str(uuid.uuid4())

        def error(status, message, code=None):
            return sts_error(status, code or default_code(status), message, request_id)

        params = sts_params(query, body if self.command == "POST" else b"")
        action = params.get("Action")
        if not action:
            raise error(400, "Missing Action", "MissingAction")
        if action != "AssumeRoleWithWebIdentity" or params.get("Version", STS_VERSION) != STS_VERSION:
            raise error(400, "Could not find operation %s for version %s" % (
                action, params.get("Version", STS_VERSION)), "InvalidAction")
        for name in ("Version", "RoleArn", "RoleSessionName", "WebIdentityToken"):
            if not params.get(name):
                raise error(400, "The request must contain the parameter %s" % name, "MissingParameter")
        lifetime = cfg.lifetime
        if "DurationSeconds" in params:
            lifetime = min(lifetime, self.duration(params["DurationSeconds"], error))
        session = params["RoleSessionName"]
        if not SESSION_NAME.fullmatch(session):
            raise error(400, "1 validation error detected: Value '%s' at 'roleSessionName' failed to "
                        "satisfy constraint: Member must satisfy regular expression pattern: "
                        "[\\w+=,.@-]*" % session, "ValidationError")
        if not self.web_identity_token_ok(params["WebIdentityToken"], error):
            raise error(400, "The web identity token is not the one the stand-in expects "
                        "(--web-identity-token-file)", "InvalidIdentityToken")
        if params["RoleArn"] != cfg.role_arn:
            raise error(403, "Not authorized to perform sts:AssumeRoleWithWebIdentity", "AccessDenied")
        self.fail_if_asked(error)
        c = self.mint(lifetime, error)
        self.server.stats.count("sts")
        raise Answer(200, assume_role_response(c, cfg.role_arn, session, request_id).encode(),
                     "text/xml", [("x-amzn-RequestId", request_id)])

    @staticmethod
    def duration(text, error):
        if not text.isdigit() or not 900 <= int(text) <= 43200:
            raise error(400, "1 validation error detected: Value '%s' at 'durationSeconds' failed to "
                        "satisfy constraint: Member must have value between 900 and 43200" % text,
                        "ValidationError")
        return int(text)

    def web_identity_token_ok(self, given, error):
        path = self.server.cfg.web_identity_token_file
        if not path:
            return False
        try:
            expected = read_token_file(path)
        except OSError as e:
            log("cannot read --web-identity-token-file: %s" % e)
            raise error(500, "the stand-in cannot read its web identity token file", "InternalFailure")
        return same_secret(given, expected)

    # -- control ------------------------------------------------------------------------------

    def control(self, what, body):
        if what == "stats":
            self.need_method("GET")
            stats = self.server.stats.snapshot()
            stats["active_keys"] = self.server.source.active_keys()
            raise json_answer(200, stats)
        if what == "fail":
            self.need_method("POST")
            try:
                obj = json.loads(body or b"{}")
                count, status = obj.get("count"), obj.get("status", 500)
                if not (type(count) is int and count >= 0 and type(status) is int and 400 <= status <= 599):
                    raise ValueError("want {\"count\": N >= 0, \"status\": 400..599}")
            except (ValueError, AttributeError) as e:
                raise json_answer(400, {"error": str(e)})
            raise json_answer(200, self.server.fail.set(count, status))
        raise json_answer(404, {"error": "unknown control path; known: stats, fail"})


def sts_params(query, body):
    """The Query API's parameters: those of the query string, then the form body's."""
    params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    params.update(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def assume_role_response(c, role_arn, session, request_id):
    """AssumeRoleWithWebIdentityResponse, in the shape AWS documents."""
    account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else "123456789012"
    role = role_arn.rsplit("/", 1)[-1]
    # A role's id is stable on AWS: here derived from its ARN.
    role_id = "AROA" + hashlib.sha1(role_arn.encode()).hexdigest().upper()[:17]
    return (
        '<AssumeRoleWithWebIdentityResponse xmlns="%s"><AssumeRoleWithWebIdentityResult>'
        '<SubjectFromWebIdentityToken>%s</SubjectFromWebIdentityToken>'
        '<AssumedRoleUser><Arn>arn:aws:sts::%s:assumed-role/%s/%s</Arn>'
        '<AssumedRoleId>%s:%s</AssumedRoleId></AssumedRoleUser>'
        '<Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey>'
        '<SessionToken>%s</SessionToken><Expiration>%s</Expiration></Credentials>'
        '<Audience>sts.amazonaws.com</Audience></AssumeRoleWithWebIdentityResult>'
        '<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata>'
        '</AssumeRoleWithWebIdentityResponse>' % (
            STS_NS, escape(SUBJECT), escape(account), escape(role), escape(session), role_id,
            escape(session), escape(c.access_key), escape(c.secret_key), escape(c.token),
            iso8601(c.expires_at), request_id))


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


# ---- start-up ----------------------------------------------------------------------------------

def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=0, help="0 (default): a free port")
    p.add_argument("--port-file", help="written (atomically) with the port once listening")
    p.add_argument("--lifetime", type=int, default=900, metavar="SECONDS",
                   help="stated lifetime of the credentials handed out (default 900)")
    p.add_argument("--ceph-conf", metavar="CONF", help="radosgw mode: radosgw-admin -c CONF")
    p.add_argument("--uid", help="radosgw mode: the user whose keys are minted")
    p.add_argument("--static-key", help="static mode: the access key id handed out")
    p.add_argument("--static-secret", help="static mode: the secret key handed out")
    p.add_argument("--static-token", default="", help="static mode: the session token (default empty)")
    p.add_argument("--role-name", default="rehome-test-role", help="the IMDS role (default rehome-test-role)")
    p.add_argument("--role-arn", default=DEFAULT_ROLE_ARN,
                   help="STS's only assumable role, the container's RoleArn (default %s)" % DEFAULT_ROLE_ARN)
    p.add_argument("--container-path", default="/v2/credentials/rehome-task",
                   help="the container credentials path (default /v2/credentials/rehome-task)")
    auth = p.add_mutually_exclusive_group()
    auth.add_argument("--container-token", help="the Authorization header the container path requires")
    auth.add_argument("--container-token-file", metavar="FILE",
                      help="as --container-token, read from FILE on every request")
    p.add_argument("--web-identity-token-file", metavar="FILE",
                   help="the WebIdentityToken STS accepts, read on every request (without it: none)")
    a = p.parse_args()
    real, static = bool(a.ceph_conf or a.uid), bool(a.static_key or a.static_secret)
    if real == static:
        p.error("give either --ceph-conf and --uid, or --static-key and --static-secret")
    if real and not (a.ceph_conf and a.uid):
        p.error("the radosgw mode needs both --ceph-conf and --uid")
    if static and not (a.static_key and a.static_secret):
        p.error("the static mode needs both --static-key and --static-secret")
    if real and a.static_token:
        p.error("--static-token is for the static mode (radosgw refuses tokens it did not issue)")
    if a.lifetime < 1:
        p.error("--lifetime must be at least 1 second")
    path = a.container_path
    if not path.startswith("/") or path == "/" or path.startswith(("/latest/", CONTROL)) or "?" in path:
        p.error("--container-path must be an absolute path other than /, /latest/... and %s..." % CONTROL)
    return a


def write_port_file(path, port):
    with open(path + ".tmp", "w") as fh:
        fh.write("%d\n" % port)
    os.replace(path + ".tmp", path)  # a reader never sees a half-written file


def main():
    a = parse_args()
    stats = Stats()
    if a.ceph_conf:
        source = RadosgwSource(a.ceph_conf, a.uid, stats)
    else:
        source = StaticSource(a.static_key, a.static_secret, a.static_token, stats)
    server = Server(("127.0.0.1", a.port), Handler)
    server.cfg, server.stats, server.source = a, stats, source
    server.imds, server.fail = Imds(), FailPlan()
    port = server.server_address[1]
    if a.port_file:
        write_port_file(a.port_file, port)
    log("listening on 127.0.0.1:%d (%s mode)" % (port, "radosgw" if a.ceph_conf else "static"))

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        source.close()  # the radosgw mode: no key outlives the stand-in
        server.server_close()


if __name__ == "__main__":
    main()
