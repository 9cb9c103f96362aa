#!/usr/bin/env python3
"""Self-test of aws_credentials.py, the loopback stand-in for AWS's credential endpoints.

Starts the stand-in in its static mode (--static-key ...; no radosgw needed) on a free loopback
port, and checks each protocol as a client sees it: IMDSv2 (tokens, 401 without one, the role,
the credentials document, X-Forwarded-For refused, the same credentials handed out while
fresh), container credentials (the Authorization token, rotated through its file), STS
AssumeRoleWithWebIdentity (the XML parsed with its namespace, each error code), injected
failures and recovery, keep-alive framing, the stats, and a clean exit on SIGTERM that logged
no secret.

If a radosgw is at hand (--ceph-conf and --uid, or REHOME_RGW_DIR as scripts/services sets it),
the radosgw mode is checked too: keys minted by radosgw-admin that sign requests, one key for
several IMDS callers, every key removed at its stated expiry and at exit, and radosgw-admin's
failure answered 500. Without one that part is skipped (it fails when
REHOME_TEST_REQUIRE_SERVICES=1, as scripts/test sets).

Prints PASS/FAIL per behaviour; exits 1 if any failed.

Usage: python3 tests/faults/aws_credentials_selftest.py [--ceph-conf CONF --uid UID
         [--endpoint URL]]
"""
import argparse
import datetime
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import s3mini  # noqa: E402  (after the path: this directory)

NS = {"sts": "https://sts.amazonaws.com/doc/2011-06-15/"}
ROLE_ARN = "arn:aws:iam::123456789012:role/rehome-test-role"
ROLE_PATH = "/latest/meta-data/iam/security-credentials/"
CONTAINER = "/v2/credentials/rehome-task"
STATIC_KEY = "AKIASTANDINSELFTEST1"
STATIC_SECRET = "static-secret-must-never-be-logged-0123456"
STATIC_TOKEN = "static-session-token-must-never-be-logged"
LIFETIME = 8  # short, so that the IMDS cache's half-life passes within the test


class Group:
    """One behaviour's checks: collects failures, prints PASS/FAIL with them at the end."""
    results = []

    def __init__(self, name):
        self.name, self.failures, self.checks = name, [], 0

    def __enter__(self):
        return self

    def eq(self, got, want, what):
        self.checks += 1
        if got != want:
            self.failures.append("%s: got %r, want %r" % (what, got, want))

    def true(self, cond, what):
        self.checks += 1
        if not cond:
            self.failures.append(what)

    def __exit__(self, kind, value, tb):
        if kind is not None:  # an exception ends the group as a failure, not the whole test
            self.failures.append("exception: " + "".join(traceback.format_exception_only(kind, value)).strip())
            traceback.print_exception(kind, value, tb, file=sys.stderr)
        ok = not self.failures
        print("%s  %s (%d checks)" % ("PASS" if ok else "FAIL", self.name, self.checks), flush=True)
        for f in self.failures:
            print("      - " + f, flush=True)
        Group.results.append(ok)
        return True


class Response:
    def __init__(self, status, headers, body, version):
        self.status, self.headers, self.body, self.version = status, headers, body, version

    def json(self):
        return json.loads(self.body)

    def text(self):
        return self.body.decode()


class StandIn:
    """aws_credentials.py as a subprocess on a free loopback port.

    Every request goes through request(), which also keeps what the stand-in's stats should say
    from what the client saw: a 200 of a protocol counts for it, anything else as refused."""

    def __init__(self, workdir, name, args):
        self.port_file = os.path.join(workdir, name + ".port")
        self.err_file = os.path.join(workdir, name + ".err")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "aws_credentials.py"), "--port", "0",
             "--port-file", self.port_file] + args,
            stdout=subprocess.PIPE, stderr=open(self.err_file, "w"))
        deadline = time.time() + 15
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("aws_credentials.py did not start:\n" + self.stderr())
            time.sleep(0.05)
        with open(self.port_file) as fh:
            self.port = int(fh.read())
        self.expected = dict.fromkeys(["imds_tokens", "imds_credentials", "container", "sts", "refused"], 0)
        self.lock = threading.Lock()

    def request(self, method, path, headers=None, body=None, kind=None, conn=None):
        """kind: the stats counter a 200 adds to (None: not a credential-protocol request)."""
        c = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        resp = Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read(), r.version)
        if conn is None:
            c.close()
        name = None if kind is None else kind if resp.status == 200 else "refused"
        if name in self.expected:  # a 200 of the IMDS role listing counts for nothing
            with self.lock:
                self.expected[name] += 1
        return resp

    # The three protocols, as a client calls them.
    def imds_token(self, ttl="60", extra=None):
        headers = {} if ttl is None else {"X-aws-ec2-metadata-token-ttl-seconds": ttl}
        headers.update(extra or {})
        return self.request("PUT", "/latest/api/token", headers, kind="imds_tokens")

    def imds_get(self, path, token):
        headers = {} if token is None else {"X-aws-ec2-metadata-token": token}
        kind = "imds_credentials" if path.startswith(ROLE_PATH) and path != ROLE_PATH else "listing"
        return self.request("GET", path, headers, kind=kind)

    def container(self, authorization=None):
        headers = {} if authorization is None else {"Authorization": authorization}
        return self.request("GET", CONTAINER, headers, kind="container")

    def sts(self, params, method="POST"):
        form = urllib.parse.urlencode(params)
        if method == "GET":
            return self.request("GET", "/?" + form, kind="sts")
        return self.request("POST", "/", {"Content-Type": "application/x-www-form-urlencoded"},
                            form.encode(), kind="sts")

    def stats(self):
        return self.request("GET", "/__stand_in/stats").json()

    def fail(self, obj):
        return self.request("POST", "/__stand_in/fail", {"Content-Type": "application/json"},
                            json.dumps(obj).encode())

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=120)
        return self.proc.returncode, out

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stderr(self):
        with open(self.err_file) as fh:
            return fh.read()


def epoch(iso):
    """Seconds since the epoch of an AWS timestamp; raises ValueError unless UTC with a Z."""
    return datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def check_expiration(g, iso, lifetime, what):
    """Expiration is ISO 8601 UTC with a Z, about now + lifetime (stated to the second)."""
    try:
        left = epoch(iso) - time.time()
    except (TypeError, ValueError):
        g.true(False, "%s: %r is not YYYY-MM-DDTHH:MM:SSZ" % (what, iso))
        return
    g.true(lifetime - 3 <= left <= lifetime + 1, "%s: %s is %.1f s away, want about %d" % (
        what, iso, left, lifetime))


def sts_form(token, **changes):
    form = {"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", "RoleArn": ROLE_ARN,
            "RoleSessionName": "selftest-session", "WebIdentityToken": token}
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def sts_error(g, resp, status, code, what):
    """Checks STS's error document, shape included: ErrorResponse(Error(Type, Code, Message),
    RequestId), in STS's namespace."""
    g.eq(resp.status, status, what + ": status")
    root = ET.fromstring(resp.body)
    g.eq(root.tag, "{%s}ErrorResponse" % NS["sts"], what + ": root element")
    g.eq([c.tag.split("}")[1] for c in root], ["Error", "RequestId"], what + ": ErrorResponse children")
    err = root.find("sts:Error", NS)
    g.eq([c.tag.split("}")[1] for c in err], ["Type", "Code", "Message"], what + ": Error children")
    g.eq(err.findtext("sts:Code", namespaces=NS), code, what + ": Code")
    g.eq(err.findtext("sts:Type", namespaces=NS), "Receiver" if status >= 500 else "Sender", what + ": Type")
    g.true(err.findtext("sts:Message", namespaces=NS), what + ": a Message")
    g.true(root.findtext("sts:RequestId", namespaces=NS), what + ": a RequestId")
    g.eq(resp.headers.get("content-type"), "text/xml", what + ": Content-Type")


def sts_credentials(resp):
    """The Credentials element's fields, the assumed role's ARN and the RequestId of a 200."""
    root = ET.fromstring(resp.body)
    result = root.find("sts:AssumeRoleWithWebIdentityResult", NS)
    creds = result.find("sts:Credentials", NS)
    fields = {c.tag.split("}")[1]: c.text or "" for c in creds}
    fields["Arn"] = result.findtext("sts:AssumedRoleUser/sts:Arn", namespaces=NS)
    fields["AssumedRoleId"] = result.findtext("sts:AssumedRoleUser/sts:AssumedRoleId", namespaces=NS)
    fields["Audience"] = result.findtext("sts:Audience", namespaces=NS)
    fields["Subject"] = result.findtext("sts:SubjectFromWebIdentityToken", namespaces=NS)
    fields["RequestId"] = root.findtext("sts:ResponseMetadata/sts:RequestId", namespaces=NS)
    return root.tag, fields


def write_atomically(path, text):
    with open(path + ".tmp", "w") as fh:
        fh.write(text)
    os.replace(path + ".tmp", path)


# ---- the static mode ---------------------------------------------------------------------------

def check_imds_tokens(s, seen):
    with Group("IMDSv2 session tokens: PUT with a ttl, X-Forwarded-For refused") as g:
        r = s.imds_token("60")
        g.eq(r.status, 200, "PUT token")
        g.true(len(r.body) >= 20, "a token of some length")
        g.eq(r.headers.get("x-aws-ec2-metadata-token-ttl-seconds"), "60", "ttl header echoed")
        g.eq(r.headers.get("content-type"), "text/plain", "token Content-Type")
        seen.append(r.text())
        g.true(s.imds_token("60").text() != r.text(), "each PUT a new token")
        for ttl in (None, "0", "21601", "abc", "-5"):
            g.eq(s.imds_token(ttl).status, 400, "ttl %r: 400" % ttl)
        g.eq(s.imds_token("21600").status, 200, "ttl 21600 (the maximum)")
        g.eq(s.imds_token("60", {"X-Forwarded-For": "203.0.113.9"}).status, 403, "X-Forwarded-For: 403")
        g.eq(s.request("GET", "/latest/api/token", kind="listing").status, 405, "GET of the token path: 405")


def check_imds_credentials(s, seen, imds_sets):
    with Group("IMDSv2 role credentials: 401 without a valid token, the document's fields") as g:
        token = s.imds_token("60").text()
        seen.append(token)
        g.eq(s.imds_get(ROLE_PATH, None).status, 401, "role listing without a token")
        g.eq(s.imds_get(ROLE_PATH, "not-a-token").status, 401, "role listing with a bad token")
        g.eq(s.imds_get(ROLE_PATH + "rehome-test-role", None).status, 401, "credentials without a token")
        r = s.imds_get(ROLE_PATH, token)
        g.eq((r.status, r.text()), (200, "rehome-test-role"), "role listing")
        g.eq(s.imds_get(ROLE_PATH.rstrip("/"), token).text(), "rehome-test-role", "listing without the /")
        g.eq(s.imds_get(ROLE_PATH + "other-role", token).status, 404, "another role: 404")
        g.eq(s.imds_get("/latest/meta-data/placement/region", token).status, 404, "other metadata: 404")
        r = s.imds_get(ROLE_PATH + "rehome-test-role", token)
        g.eq(r.status, 200, "credentials")
        g.eq(r.headers.get("content-type"), "text/plain", "IMDS's Content-Type, even for JSON")
        doc = r.json()
        imds_sets.add((doc.get("LastUpdated"), doc.get("Expiration")))
        g.eq(sorted(doc), sorted(["Code", "LastUpdated", "Type", "AccessKeyId", "SecretAccessKey",
                                  "Token", "Expiration"]), "document fields")
        g.eq((doc.get("Code"), doc.get("Type")), ("Success", "AWS-HMAC"), "Code and Type")
        g.eq((doc.get("AccessKeyId"), doc.get("SecretAccessKey"), doc.get("Token")),
             (STATIC_KEY, STATIC_SECRET, STATIC_TOKEN), "the static keys")
        check_expiration(g, doc.get("Expiration"), LIFETIME, "Expiration")
        check_expiration(g, doc.get("LastUpdated"), 0, "LastUpdated")
        short = s.imds_token("1").text()
        seen.append(short)
        g.eq(s.imds_get(ROLE_PATH, short).status, 200, "a 1-second token works at once")
        time.sleep(1.3)
        g.eq(s.imds_get(ROLE_PATH, short).status, 401, "the same token after its ttl: 401")


def check_imds_cache(s, imds_sets):
    with Group("IMDS hands out the same credentials while more than half their lifetime remains") as g:
        token = s.imds_token("300").text()
        path = ROLE_PATH + "rehome-test-role"
        minted = s.stats()["minted"]
        first = s.imds_get(path, token).json()
        imds_sets.add((first["LastUpdated"], first["Expiration"]))
        docs = []

        def call():
            docs.append(s.imds_get(path, token).json())

        threads = [threading.Thread(target=call) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        g.eq(len(docs), 8, "8 concurrent callers answered")
        g.true(all(d == first for d in docs), "concurrent callers got the same credentials")
        g.true(s.stats()["minted"] - minted <= 1, "at most one set minted for 9 calls")
        # Past half the lifetime the next caller gets a new set.
        time.sleep(max(0.0, epoch(first["Expiration"]) - LIFETIME / 2 + 0.6 - time.time()))
        second = s.imds_get(path, token).json()
        imds_sets.add((second["LastUpdated"], second["Expiration"]))
        g.true(second["Expiration"] != first["Expiration"], "a new set once half the lifetime passed")
        check_expiration(g, second["Expiration"], LIFETIME, "the new set's Expiration")
        g.eq(s.imds_get(path, token).json(), second, "then that one again")


def check_container(s, workdir, seen):
    with Group("container credentials: the Authorization token, rotated through its file") as g:
        token_file = os.path.join(workdir, "container-token")
        for bad in (None, "", "wrong", "tok-1 ", "Bearer tok-1"):
            r = s.container(bad)
            g.eq(r.status, 401, "Authorization %r: 401" % bad)
            body = r.json()
            g.true(isinstance(body, dict) and body.get("code") and body.get("message"),
                   "401 body has code and message: %r" % body)
        r = s.container("tok-1")
        g.eq(r.status, 200, "the right token")
        g.eq(r.headers.get("content-type"), "application/json", "Content-Type")
        doc = r.json()
        g.eq(sorted(doc), sorted(["AccessKeyId", "SecretAccessKey", "Token", "Expiration", "RoleArn"]),
             "document fields")
        g.eq((doc.get("AccessKeyId"), doc.get("SecretAccessKey"), doc.get("Token"), doc.get("RoleArn")),
             (STATIC_KEY, STATIC_SECRET, STATIC_TOKEN, ROLE_ARN), "the static keys and the role")
        check_expiration(g, doc.get("Expiration"), LIFETIME, "Expiration")
        write_atomically(token_file, "tok-2")
        seen.append("tok-2")
        g.eq(s.container("tok-1").status, 401, "the old token after rotation")
        g.eq(s.container("tok-2").status, 200, "the new token after rotation")
        g.eq(s.request("GET", CONTAINER + "-other").status, 404, "another path: 404")
        g.eq(s.request("POST", CONTAINER, body=b"", kind="container").status, 405, "POST: 405")


def check_sts(s, workdir, seen):
    with Group("STS AssumeRoleWithWebIdentity: the response's XML, each error code") as g:
        token_file = os.path.join(workdir, "web-identity-token")
        r = s.sts(sts_form("jwt-1"))
        g.eq(r.status, 200, "POST form: 200")
        g.eq(r.headers.get("content-type"), "text/xml", "Content-Type")
        tag, f = sts_credentials(r)
        g.eq(tag, "{%s}AssumeRoleWithWebIdentityResponse" % NS["sts"], "root element in STS's namespace")
        g.eq((f.get("AccessKeyId"), f.get("SecretAccessKey"), f.get("SessionToken")),
             (STATIC_KEY, STATIC_SECRET, STATIC_TOKEN), "the static keys")
        check_expiration(g, f.get("Expiration"), LIFETIME, "Expiration")
        g.eq(f["Arn"], "arn:aws:sts::123456789012:assumed-role/rehome-test-role/selftest-session", "assumed Arn")
        g.true((f["AssumedRoleId"] or "").startswith("AROA") and f["AssumedRoleId"].endswith(":selftest-session"),
               "AssumedRoleId AROA...:session: %r" % f["AssumedRoleId"])
        g.eq(f["Audience"], "sts.amazonaws.com", "Audience")
        g.true(f["Subject"], "SubjectFromWebIdentityToken")
        g.true(f["RequestId"] and r.headers.get("x-amzn-requestid") == f["RequestId"], "RequestId, as header too")
        r = s.sts(sts_form("jwt-1"), method="GET")
        g.eq(r.status, 200, "GET with a query: 200")
        r = s.sts(sts_form("jwt-1", DurationSeconds="3600"))
        g.eq(r.status, 200, "DurationSeconds 3600: 200")
        check_expiration(g, sts_credentials(r)[1].get("Expiration"), LIFETIME, "DurationSeconds only shortens")
        sts_error(g, s.sts(sts_form("jwt-1", DurationSeconds="100")), 400, "ValidationError", "DurationSeconds 100")
        sts_error(g, s.sts(sts_form("jwt-1", RoleSessionName="a b")), 400, "ValidationError", "bad session name")
        sts_error(g, s.sts(sts_form("jwt-wrong")), 400, "InvalidIdentityToken", "wrong token")
        sts_error(g, s.sts(sts_form("jwt-1", RoleArn="arn:aws:iam::123456789012:role/other")), 403,
                  "AccessDenied", "another role")
        for name in ("RoleArn", "RoleSessionName", "WebIdentityToken", "Version"):
            sts_error(g, s.sts(sts_form("jwt-1", **{name: None})), 400, "MissingParameter", "without " + name)
        sts_error(g, s.sts(sts_form("jwt-1", Action="GetCallerIdentity")), 400, "InvalidAction", "another Action")
        sts_error(g, s.sts(sts_form("jwt-1", Version="2010-01-01")), 400, "InvalidAction", "another Version")
        sts_error(g, s.sts(sts_form("jwt-1", Action=None)), 400, "MissingAction", "no Action")
        write_atomically(token_file, "jwt-2\n")  # a trailing newline is not part of the token
        seen.append("jwt-2")
        sts_error(g, s.sts(sts_form("jwt-1")), 400, "InvalidIdentityToken", "the old token after rotation")
        g.eq(s.sts(sts_form("jwt-2")).status, 200, "the new token after rotation")


def check_failures(s):
    with Group("POST /__stand_in/fail: the next N credential answers fail, then recovery") as g:
        g.eq(s.fail({"count": 3, "status": 500}).json(), {"count": 3, "status": 500}, "fail: the setting")
        before = s.stats()
        token = s.imds_token("60").text()
        g.eq(s.imds_token("60").status, 200, "IMDS token PUTs are not credential answers")
        g.eq(s.imds_get(ROLE_PATH, token).status, 200, "nor is the role listing")
        g.eq(s.container("wrong").status, 401, "a refused request does not take a failure")
        g.eq(s.imds_get(ROLE_PATH + "rehome-test-role", token).status, 500, "IMDS credentials: 500")
        r = s.container("tok-2")
        g.eq(r.status, 500, "container: 500")
        g.true("code" in r.json(), "container's failure is JSON with a code")
        sts_error(g, s.sts(sts_form("jwt-2")), 500, "InternalFailure", "STS: 500")
        g.eq(s.container("tok-2").status, 200, "the 4th call: recovered")
        after = s.stats()
        g.eq(after["injected"] - before["injected"], 3, "stats: 3 injected")
        g.eq(after["refused"] - before["refused"], 4, "stats: refused counts them and the 401")
        s.fail({"count": 2, "status": 503})
        sts_error(g, s.sts(sts_form("jwt-2")), 503, "ServiceUnavailable", "503 asked: STS ServiceUnavailable")
        g.eq(s.fail({"count": 0}).json(), {"count": 0, "status": 500}, "count 0 resets")
        g.eq(s.container("tok-2").status, 200, "after the reset: 200")
        for bad in ({"count": -1}, {"status": 500}, {"count": 1, "status": 200}, [1]):
            g.eq(s.fail(bad).status, 400, "fail %r: 400" % (bad,))
        g.eq(s.request("POST", "/__stand_in/fail", body=b"{not json").status, 400, "bad JSON: 400")


def check_framing(s):
    with Group("HTTP/1.1 keep-alive: several answers on one connection, each with Content-Length") as g:
        c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
        calls = [("PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "5"}, "imds_tokens"),
                 ("GET", ROLE_PATH, {}, "listing"),
                 ("GET", CONTAINER, {"Authorization": "tok-2"}, "container"),
                 ("GET", "/nowhere", {}, None),
                 ("POST", "/", {"Content-Type": "application/x-www-form-urlencoded"}, "sts"),
                 ("GET", "/__stand_in/stats", {}, None)]
        for method, path, headers, kind in calls:
            body = b"Action=AssumeRoleWithWebIdentity" if method == "POST" else None
            r = s.request(method, path, headers, body, kind=kind, conn=c)
            g.eq(r.version, 11, "%s %s: HTTP/1.1" % (method, path))
            g.eq(r.headers.get("content-length"), str(len(r.body)), "%s %s: Content-Length" % (method, path))
        c.close()


def check_stats(s, imds_sets):
    with Group("GET /__stand_in/stats: the counts match what the client saw") as g:
        st = s.stats()
        g.eq(sorted(st), sorted(["imds_tokens", "imds_credentials", "container", "sts", "minted",
                                 "removed", "refused", "injected", "active_keys"]), "stats fields")
        for name, want in s.expected.items():
            g.eq(st.get(name), want, "stats " + name)
        # The static mode mints a set per container and STS answer, and IMDS one per set seen.
        g.eq(st.get("minted"), st.get("container") + st.get("sts") + len(imds_sets), "stats minted")
        g.eq((st.get("removed"), st.get("active_keys")), (0, []), "static mode: no radosgw keys")


def check_exit(s, seen):
    with Group("SIGTERM: a clean exit, nothing on stdout, no secret in the log") as g:
        rc, out = s.stop()
        g.eq(rc, 0, "exit status")
        g.eq(out, b"", "stdout")
        err = s.stderr()
        g.true("listening on 127.0.0.1:%d" % s.port in err, "the listening line on stderr")
        for secret in [STATIC_SECRET, STATIC_TOKEN, "tok-1", "tok-2", "jwt-1", "jwt-2"] + seen:
            g.true(secret not in err, "stderr shows %s..." % secret[:4])


def run_static(workdir):
    container_file = os.path.join(workdir, "container-token")
    web_file = os.path.join(workdir, "web-identity-token")
    write_atomically(container_file, "tok-1\n")
    write_atomically(web_file, "jwt-1")
    s = StandIn(workdir, "static", [
        "--static-key", STATIC_KEY, "--static-secret", STATIC_SECRET, "--static-token", STATIC_TOKEN,
        "--lifetime", str(LIFETIME), "--container-token-file", container_file,
        "--web-identity-token-file", web_file])
    seen, imds_sets = [], set()  # IMDS tokens handed out; IMDS credential sets seen
    try:
        check_imds_tokens(s, seen)
        check_imds_credentials(s, seen, imds_sets)
        check_imds_cache(s, imds_sets)
        check_container(s, workdir, seen)
        check_sts(s, workdir, seen)
        check_failures(s)
        check_framing(s)
        check_stats(s, imds_sets)
        check_exit(s, seen)
    finally:
        s.kill()


# ---- the radosgw mode --------------------------------------------------------------------------

def radosgw_keys(conf, uid):
    """The user's S3 access key ids, as radosgw-admin lists them."""
    out = subprocess.run(["radosgw-admin", "-c", conf, "user", "info", "--uid=" + uid],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return {k["access_key"] for k in json.loads(out).get("keys", [])}


def list_buckets(endpoint, key, secret):
    if not endpoint:
        return None
    return s3mini.S3(endpoint, key, secret).request("GET", "")[0]


def run_radosgw(a, workdir):
    lifetime = 6
    web_file = os.path.join(workdir, "rgw-web-identity-token")
    write_atomically(web_file, "jwt-rgw")
    s = StandIn(workdir, "radosgw", ["--ceph-conf", a.ceph_conf, "--uid", a.uid, "--lifetime", str(lifetime),
                                     "--web-identity-token-file", web_file])
    secrets_seen = ["jwt-rgw"]
    try:
        with Group("radosgw mode: every answer a new radosgw key, no session token, one per IMDS set") as g:
            c = s.container().json()
            sts = sts_credentials(s.sts(sts_form("jwt-rgw")))[1]
            token = s.imds_token("60").text()
            docs = []
            threads = [threading.Thread(target=lambda: docs.append(
                s.imds_get(ROLE_PATH + "rehome-test-role", token).json())) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            keys = {c["AccessKeyId"], sts["AccessKeyId"], docs[0]["AccessKeyId"]}
            secrets_seen += [c["SecretAccessKey"], sts["SecretAccessKey"], docs[0]["SecretAccessKey"], token]
            g.eq(len(keys), 3, "container, STS and IMDS: three different keys")
            g.true(all(d == docs[0] for d in docs), "4 IMDS callers at once: one set")
            g.true(all(len(k) == 20 and k.isalnum() and k.isupper() and k.startswith("STANDIN") for k in keys),
                   "key ids like STANDIN..., 20 upper-case characters: %s" % sorted(keys))
            g.eq((c["Token"], sts["SessionToken"], docs[0]["Token"]), ("", "", ""), "empty session tokens")
            check_expiration(g, c["Expiration"], lifetime, "Expiration")
            g.true(keys <= radosgw_keys(a.ceph_conf, a.uid), "the keys exist on radosgw")
            st = s.stats()
            g.eq((st["minted"], sorted(st["active_keys"])), (3, sorted(keys)), "stats: minted, active_keys")
            status = list_buckets(a.endpoint, c["AccessKeyId"], c["SecretAccessKey"])
            if status is not None:
                g.eq(status, 200, "a minted key signs a request radosgw accepts")
        with Group("radosgw mode: each key removed at its stated expiry") as g:
            last = max(epoch(x) for x in (c["Expiration"], sts["Expiration"], docs[0]["Expiration"]))
            time.sleep(max(0.0, last + 2 - time.time()))
            g.eq(keys & radosgw_keys(a.ceph_conf, a.uid), set(), "no minted key left on radosgw")
            st = s.stats()
            g.eq((st["removed"], st["active_keys"]), (3, []), "stats: removed, active_keys")
            status = list_buckets(a.endpoint, c["AccessKeyId"], c["SecretAccessKey"])
            if status is not None:
                g.eq(status, 403, "an expired key is refused by radosgw")
        with Group("radosgw mode: SIGTERM removes the keys not yet expired") as g:
            c = s.container().json()
            secrets_seen.append(c["SecretAccessKey"])
            g.true(c["AccessKeyId"] in radosgw_keys(a.ceph_conf, a.uid), "a fresh key exists")
            rc, out = s.stop()
            g.eq((rc, out), (0, b""), "exit status and stdout")
            g.true(c["AccessKeyId"] not in radosgw_keys(a.ceph_conf, a.uid), "removed at exit")
            err = s.stderr()
            g.true("removed " + c["AccessKeyId"] in err, "the log names the key removed")
            g.true(not any(x in err for x in secrets_seen), "no secret or token in the log")
    finally:
        s.kill()
    bad = StandIn(workdir, "radosgw-bad-uid", ["--ceph-conf", a.ceph_conf, "--uid", "no-such-user-standin"])
    try:
        with Group("radosgw mode: a radosgw-admin failure answers 500 with its reason") as g:
            r = bad.container()
            g.eq(r.status, 500, "container with an unknown user: 500")
            g.true("radosgw-admin" in r.json().get("message", ""), "the reason: %r" % r.body[:200])
            st = bad.stats()
            g.eq((st["minted"], st["refused"], st["active_keys"]), (0, 1, []), "stats")
            g.eq(bad.stop()[0], 0, "exit status")
            g.true("could not make credentials" in bad.stderr(), "the failure is logged")
    finally:
        bad.kill()


def run_part(part):
    try:
        part()
    except Exception:  # a stand-in that did not start, say: reported, and the rest still runs
        traceback.print_exc()
        Group.results.append(False)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    env = os.environ.get
    rgw_dir = env("REHOME_RGW_DIR")
    p.add_argument("--ceph-conf", default=os.path.join(rgw_dir, "ceph.conf") if rgw_dir else None,
                   help="the radosgw mode's check: radosgw-admin -c CONF [env REHOME_RGW_DIR/ceph.conf]")
    p.add_argument("--uid", default="rehome-test" if rgw_dir else None,
                   help="the radosgw user whose keys are minted [rehome-test with REHOME_RGW_DIR]")
    p.add_argument("--endpoint", default=env("REHOME_TEST_RGW_ENDPOINT"),
                   help="radosgw, to sign requests with minted keys [env REHOME_TEST_RGW_ENDPOINT]")
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="aws-credentials-selftest-") as workdir:
        run_part(lambda: run_static(workdir))
        if a.ceph_conf and a.uid:
            run_part(lambda: run_radosgw(a, workdir))
        elif env("REHOME_TEST_REQUIRE_SERVICES") == "1":
            print("FAIL  radosgw mode: no radosgw (give --ceph-conf and --uid, or REHOME_RGW_DIR)")
            Group.results.append(False)
        else:
            print("SKIP  radosgw mode: no radosgw (REHOME_RGW_DIR unset)")
    failed = Group.results.count(False)
    print("%s: %d of %d behaviours passed" % ("FAIL" if failed else "PASS", len(Group.results) - failed,
                                              len(Group.results)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
