"""AWS-behaviour mode for fault_proxy.py: a loopback stand-in for AWS-only S3 behaviour.

radosgw (Ceph 16.2) lacks some behaviour of AWS S3 that rehome must cope with. In this mode the
proxy, in front of a real radosgw, supplies it: tests then exercise rehome's handling of it on
loopback. This is a documented stand-in for tests, not an S3 implementation: it imitates what a
client sees, on the operations rehome uses, with path-style addressing only.

The proxy still forwards every request it forwards byte for byte (a SigV4 signature covers the
path and the signed headers, so they can never change). Instead it may
  (a) answer a request itself, without forwarding it (a 412, a 403 InvalidObjectState, ...);
  (b) rewrite the response (headers and body; a rewritten body is re-framed with
      Content-Length, as radosgw sends some responses chunked);
  (c) make its own signed requests to radosgw (s3mini, with --access-key/--secret-key) to look
      objects up, and re-issue a request whose condition radosgw would judge wrongly (below).
      A re-issued request is signed with the proxy's keys, not the client's: radosgw does not
      check the client's signature on it (the proxy does not either). Fine on loopback.

Configuration: a JSON object (--aws FILE.json at start, or POST /__fault_proxy/aws at run time,
which replaces the whole of it; POST `null` turns the mode off). Patterns are Python
re.fullmatch patterns on "bucket/key". Every key is optional:
  "kms": PATTERN          objects that are SSE-KMS encrypted
  "kms_buckets": [B, ...] buckets whose default encryption is SSE-KMS: every object in them,
                          including copies written into them
      For a KMS object every ETag the client sees (HEAD/GET ETag, ListObjects <ETag>,
      PutObject's ETag, <CopyObjectResult><ETag>, CompleteMultipartUpload's <ETag>) becomes
      md5("kms:" + bucket + "/" + key + ":" + upstream ETag without quotes): not the MD5 of the
      content, the same for the same object, different for a copy under another key, as on AWS.
      (radosgw 16.2 answers CompleteMultipartUpload with an empty <ETag>: left empty.)
      HEAD, GET, PUT and Copy answers add x-amz-server-side-encryption: aws:kms and the
      stand-in key id. Quoting is kept as radosgw had it.
  "archived": PATTERN     objects in GLACIER: HEAD adds x-amz-storage-class: GLACIER, listings
                          show <StorageClass>GLACIER</StorageClass>; GET of the object and a
                          CopyObject from it answer 403 InvalidObjectState (not forwarded) when
                          the object exists.
  "checksums": "none" | "new" | "all"   (default "none")
      The proxy keeps in memory a full-object CRC32 per object (as AWS stores one for objects
      written since 2024-12), keyed by bucket/key with the upstream ETag it was computed for;
      a record is only used while the object still has that ETag. "new": recorded for each
      successful single PutObject (from the body forwarded) and carried by CopyObject from
      source to destination; older objects have none. "all": besides, an object without a
      valid record gets one computed by the proxy (a GET from radosgw). Returned on HEAD and
      GET (whole object, 200) only when the request has x-amz-checksum-mode: ENABLED, as
      x-amz-checksum-crc32 (base64 of 4 big-endian bytes) and x-amz-checksum-type: FULL_OBJECT.
  "conditions": true | false  (default true) AWS's conditional writes, judged against the ETags
                          the client sees (KMS ones included), by the proxy's own HEADs:
      CopyObject  If-None-Match: *             412 if the destination exists
                  If-Match: "e"                412 if it differs, 404 NoSuchKey if missing
                  x-amz-copy-source-if-match   412 if the source's ETag differs
                  x-amz-copy-source-if-none-match  412 if the source's ETag matches
      PutObject   If-Match: "e"                as for CopyObject. radosgw 16.2 compares If-Match
                  with the stored ETag unquoted, so it refuses every quoted If-Match; when the
                  condition holds the proxy therefore re-issues the PUT itself (own
                  credentials, same headers and body) with If-Match: <upstream ETag, unquoted>,
                  which radosgw does judge atomically. If-None-Match: * is left to radosgw.
      HEAD/GET of a KMS object with If-Match/If-None-Match: judged here too (412, 304); when
                  they hold, the request is re-issued without them (radosgw would compare them
                  with the upstream ETag).
      The look-up and the write are two requests: a writer in between is not seen (a race AWS
      does not have). Good enough for tests, which do not race themselves.
  "bucket_regions": {B: REGION, ...}  buckets that live in another region than the proxy's
                          clients may assume: a request to one whose SigV4 credential scope names
                          another region is answered as AWS's regional endpoints do, without
                          forwarding: 400 AuthorizationHeaderMalformed ("the region 'X' is wrong;
                          expecting 'Y'", <Region>Y</Region>; no body for HEAD) with
                          x-amz-bucket-region: Y. Signed for Y, it is forwarded (radosgw accepts
                          any region in the scope).
  "acls_disabled": [B, ...]  buckets with Object Ownership "bucket owner enforced": a PutObject
                          or CopyObject into them carrying x-amz-acl (other than
                          bucket-owner-full-control, which AWS accepts) or an x-amz-grant-*
                          header answers 400 AccessControlListNotSupported (not forwarded).

Stats (added to /__fault_proxy/stats once the mode is configured): see STAT_NAMES.

Not covered: virtual-hosted addressing, UploadPart/UploadPartCopy conditions and checksums,
GetObjectAttributes, versioned reads of archived/KMS objects beyond the ETag rewrite.
"""
import base64
import hashlib
import http.client
import json
import re
import struct
import threading
import urllib.parse
import zlib

import s3mini

KMS_KEY_ID = "arn:aws:kms:us-east-1:000000000000:key/stand-in"
CHECKSUM_MODES = ("none", "new", "all")
CONFIG_KEYS = ("kms", "kms_buckets", "archived", "checksums", "conditions", "acls_disabled",
               "bucket_regions")
STAT_NAMES = [
    "aws_kms_etags",             # ETags replaced by a KMS-style one (header or list entry)
    "aws_glacier_shown",         # x-amz-storage-class / <StorageClass> set to GLACIER
    "aws_invalid_object_state",  # 403 InvalidObjectState answered (GET of / copy from archived)
    "aws_checksums",             # x-amz-checksum-crc32 returned on HEAD/GET
    "aws_checksums_recorded",    # records made from a PutObject body or carried by CopyObject
    "aws_checksums_computed",    # records computed lazily ("all")
    "aws_precondition_failed",   # 412 answered
    "aws_not_modified",          # 304 answered (GET/HEAD If-None-Match on a KMS object)
    "aws_no_such_key",           # 404 answered (If-Match on a missing destination)
    "aws_acl_refused",           # 400 AccessControlListNotSupported answered
    "aws_wrong_region",          # 400 AuthorizationHeaderMalformed answered (bucket_regions)
    "aws_answered",              # requests answered by the proxy (not forwarded as received)
    "aws_reissued",              # requests the proxy sent itself instead of forwarding
    "aws_lookups",               # the proxy's own HEAD/GET look-ups
    "aws_errors",                # rewrites that failed (the response is relayed unchanged)
]
# Query parameters that leave a GET/HEAD on a key a plain GetObject/HeadObject.
OBJECT_READ_QUERY = {"versionId", "partNumber", "x-id", "response-content-type", "response-content-language",
                     "response-expires", "response-cache-control", "response-content-disposition",
                     "response-content-encoding"}
# Query parameters that leave a GET on a bucket a listing (v1 or v2) or a version listing.
LIST_QUERY = {"list-type", "prefix", "delimiter", "max-keys", "continuation-token", "start-after",
              "encoding-type", "fetch-owner", "marker", "versions", "key-marker", "version-id-marker",
              "x-id"}
# Request headers a re-issued request must not copy: framing, signing and hop-by-hop.
NOT_REISSUED = {"host", "authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token",
                "content-length", "transfer-encoding", "expect", "connection", "keep-alive",
                "x-amz-decoded-content-length", "x-amz-trailer", "user-agent", "accept-encoding"}


class ConfigError(ValueError):
    pass


class Config:
    """A validated AWS-mode configuration; as_json() gives it back with defaults filled in."""

    def __init__(self, obj):
        if not isinstance(obj, dict):
            raise ConfigError("the AWS configuration must be a JSON object (or null: off)")
        unknown = set(obj) - set(CONFIG_KEYS)
        if unknown:
            raise ConfigError("unknown keys %s; known: %s" % (sorted(unknown), ", ".join(CONFIG_KEYS)))
        self.kms = self._pattern(obj, "kms")
        self.archived = self._pattern(obj, "archived")
        self.kms_buckets = self._buckets(obj, "kms_buckets")
        self.acls_disabled = self._buckets(obj, "acls_disabled")
        self.checksums = obj.get("checksums", "none")
        if self.checksums not in CHECKSUM_MODES:
            raise ConfigError("checksums must be one of %s" % ", ".join(CHECKSUM_MODES))
        self.conditions = obj.get("conditions", True)
        if not isinstance(self.conditions, bool):
            raise ConfigError("conditions must be true or false")
        self.bucket_regions = obj.get("bucket_regions", {})
        if not isinstance(self.bucket_regions, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in self.bucket_regions.items()):
            raise ConfigError("bucket_regions must be an object of bucket name to region")

    @staticmethod
    def _pattern(obj, name):
        text = obj.get(name)
        if text is None:
            return None
        if not isinstance(text, str):
            raise ConfigError("%s must be a string (a regular expression)" % name)
        try:
            return re.compile(text)
        except re.error as e:
            raise ConfigError("%s: bad pattern %r: %s" % (name, text, e))

    @staticmethod
    def _buckets(obj, name):
        value = obj.get(name, [])
        if not isinstance(value, list) or not all(isinstance(b, str) for b in value):
            raise ConfigError("%s must be a list of bucket names" % name)
        return frozenset(value)

    def needs_lookups(self):
        """Whether some behaviour makes the proxy send its own requests (needs credentials)."""
        return self.conditions or self.archived is not None or self.checksums == "all"

    def is_kms(self, bucket, key):
        return bucket in self.kms_buckets or (self.kms is not None and self.kms.fullmatch(bucket + "/" + key))

    def is_archived(self, bucket, key):
        return self.archived is not None and self.archived.fullmatch(bucket + "/" + key) is not None

    def as_json(self):
        return {"kms": self.kms.pattern if self.kms else None, "kms_buckets": sorted(self.kms_buckets),
                "archived": self.archived.pattern if self.archived else None, "checksums": self.checksums,
                "conditions": self.conditions, "acls_disabled": sorted(self.acls_disabled),
                "bucket_regions": dict(sorted(self.bucket_regions.items()))}


# ---- small helpers -----------------------------------------------------------------------------

def unquote_etag(etag):
    """The ETag's value: no W/ prefix, no quotes, as radosgw stores it."""
    etag = (etag or "").strip()
    if etag.startswith("W/"):
        etag = etag[2:]
    return etag.strip('"')


def kms_etag(bucket, key, upstream_etag):
    """The ETag a KMS object shows: not the content's MD5, stable for one object and upstream
    ETag, different for the same content under another key (as AWS's are)."""
    return hashlib.md5(("kms:%s/%s:%s" % (bucket, key, unquote_etag(upstream_etag))).encode()).hexdigest()


def requote_like(original, value):
    """value, quoted as original was (radosgw quotes ETag headers but not <CopyObjectResult>)."""
    stripped = original.strip()
    for q in ('&quot;', '"'):
        if stripped.startswith(q) and stripped.endswith(q) and len(stripped) >= 2 * len(q):
            return q + value + q
    return value


def crc32_b64(data):
    return base64.b64encode(struct.pack(">I", zlib.crc32(data) & 0xFFFFFFFF)).decode()


def decode_chunks(raw):
    """The payload of an HTTP chunked or aws-chunked body (same grammar; chunk extensions such
    as chunk-signature and trailers are dropped)."""
    out, pos = [], 0
    while True:
        eol = raw.index(b"\r\n", pos)
        size = int(raw[pos:eol].split(b";")[0].strip(), 16)
        pos = eol + 2
        if size == 0:
            return b"".join(out)
        out.append(raw[pos:pos + size])
        pos += size + 2


def etag_list(value):
    """The ETags of an If-Match/If-None-Match value ("a", "b" or *), without quotes."""
    return [unquote_etag(v) for v in value.split(",") if v.strip()]


def error_body(code, message, resource=None, condition=None, region=None):
    extra = ""
    if region:
        extra += "<Region>%s</Region>" % region
    if condition:
        extra += "<Condition>%s</Condition>" % condition
    if resource:
        extra += "<Resource>%s</Resource>" % xml_escape(resource)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message>%s'
            '<RequestId>fault-proxy-aws</RequestId></Error>' % (code, message, extra)).encode()


def xml_escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def xml_unescape(text):
    return (text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&apos;", "'")
            .replace("&amp;", "&"))


class Message:
    """A response head (status line and headers, their case and order kept) plus its raw body,
    so that an unchanged response can be relayed byte for byte and a changed one re-framed."""

    def __init__(self, status, reason, headers, body, raw_head=None):
        self.status, self.reason = status, reason
        self.headers = [list(h) for h in headers]
        self.body = body          # as framed on the wire (chunked framing included)
        self.raw_head = raw_head  # the original bytes while nothing changed
        self.head_changed = self.body_changed = False

    @classmethod
    def parse(cls, raw_head, body):
        lines = raw_head.decode("latin-1").split("\r\n")
        version_status = lines[0].split(" ", 2)
        headers = []
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers.append((name.strip(), value.strip()))
        return cls(int(version_status[1]), version_status[2] if len(version_status) > 2 else "",
                   headers, body, raw_head)

    def get(self, name):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    def set(self, name, value):
        """Replaces the header (first occurrence, its case kept) or appends it. Names compare
        case-insensitively: a second ETag header would leave clients reading the first."""
        for h in self.headers:
            if h[0].lower() == name.lower():
                if h[1] != value:
                    h[1] = value
                    self.head_changed = True
                return
        self.headers.append([name, value])
        self.head_changed = True

    def remove(self, name):
        before = len(self.headers)
        self.headers = [h for h in self.headers if h[0].lower() != name.lower()]
        self.head_changed |= len(self.headers) != before

    def chunked(self):
        return "chunked" in (self.get("transfer-encoding") or "").lower()

    def payload(self):
        return decode_chunks(self.body) if self.chunked() else self.body

    def set_payload(self, data):
        """A new body, framed with Content-Length (the response may have come chunked)."""
        self.remove("transfer-encoding")
        self.set("Content-Length", str(len(data)))
        self.body, self.body_changed = data, True

    def encode(self):
        """(raw head, body) for the client: the original bytes when nothing changed."""
        if not (self.head_changed or self.body_changed) and self.raw_head is not None:
            return self.raw_head, self.body
        head = "HTTP/1.1 %d %s\r\n" % (self.status, self.reason)
        head += "".join("%s: %s\r\n" % (n, v) for n, v in self.headers)
        return (head + "\r\n").encode("latin-1"), self.body


def answer(status, code, message, method, resource=None, condition=None, extra_headers=(), region=None):
    """A response the proxy makes itself: an S3 XML error (no body for HEAD, as S3 does)."""
    body = b"" if method == "HEAD" or status == 304 else error_body(code, message, resource, condition,
                                                                      region)
    headers = [("x-amz-request-id", "fault-proxy-aws")]
    if body:
        headers.append(("Content-Type", "application/xml"))
    headers.append(("Content-Length", str(len(body))))
    headers.extend(extra_headers)
    return Message(status, http.client.responses.get(status, "Error"), headers, body)


class Plan:
    """What the proxy does with one request: `answer` (a Message sent instead of forwarding)
    or forward it and pass the response through `rewrite(Message) -> Message`."""

    def __init__(self, answer=None, rewrite=None):
        self.answer, self.rewrite = answer, rewrite


class Request:
    """The parts of a client request the behaviours look at (path-style addressing)."""

    def __init__(self, method, target, headers, body):
        self.method, self.headers, self.body = method, headers, body
        split = urllib.parse.urlsplit(target)
        self.query = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
        path = urllib.parse.unquote(split.path)
        self.bucket, _, self.key = path.lstrip("/").partition("/")
        copy = self.header("x-amz-copy-source")
        self.source_bucket = self.source_key = None
        if copy is not None:
            source = urllib.parse.unquote(copy.split("?", 1)[0]).lstrip("/")
            self.source_bucket, _, self.source_key = source.partition("/")

    def header(self, name):
        for n, v in self.headers:
            if n == name:
                return v
        return None

    def operation(self):
        """The S3 operation this is, of those the behaviours concern, or None."""
        q, m = set(self.query), self.method
        if not self.bucket:
            return None
        if not self.key:
            if m == "GET" and q <= LIST_QUERY:
                return "ListObjectVersions" if "versions" in q else "ListObjects"
            return None
        if m in ("GET", "HEAD") and q <= OBJECT_READ_QUERY:
            return "GetObject" if m == "GET" else "HeadObject"
        if m == "PUT" and q <= {"x-id"}:
            return "CopyObject" if self.source_bucket is not None else "PutObject"
        if m == "POST" and "uploadId" in q:
            return "CompleteMultipartUpload"
        return None

    def payload(self):
        """The object's bytes in a PutObject body: chunked and aws-chunked framing removed."""
        body = self.body
        if "chunked" in (self.header("transfer-encoding") or "").lower():
            body = decode_chunks(body)
        sha = self.header("x-amz-content-sha256") or ""
        if "aws-chunked" in (self.header("content-encoding") or "") or sha.startswith("STREAMING-"):
            body = decode_chunks(body)
        return body


class Aws:
    """The AWS-behaviour mode: configuration, checksum records, and a Plan per request."""

    def __init__(self, upstream, access_key, secret_key, region, count):
        self.upstream, self.access_key, self.secret_key, self.region = upstream, access_key, secret_key, region
        self.count = count            # count(stat name): the proxy's counters
        self.lock = threading.Lock()
        self.config = None            # None: the mode is off, requests pass untouched
        self.records = {}             # "bucket/key" -> (upstream ETag unquoted, crc32 base64)
        self.local = threading.local()  # one s3mini client (one connection) per proxy thread

    # ---- configuration ----

    def configure(self, obj):
        """Replaces the configuration (None: off). Raises ConfigError, leaving it unchanged."""
        config = None if obj is None else Config(obj)
        if config is not None and config.needs_lookups() and not (self.access_key and self.secret_key):
            raise ConfigError("conditions, archived and checksums \"all\" make the proxy look objects up: "
                              "start it with --access-key and --secret-key (or set \"conditions\": false)")
        with self.lock:
            self.config = config

    def config_json(self):
        config = self.config
        return None if config is None else config.as_json()

    # ---- the proxy's own requests ----

    def client(self):
        c = getattr(self.local, "client", None)
        if c is None:
            c = self.local.client = s3mini.S3(self.upstream, self.access_key, self.secret_key, self.region)
        return c

    def lookup(self, bucket, key):
        """HEAD upstream: (status, headers lower-cased). OSError propagates (the proxy then
        resets the client connection, as for a failed forward)."""
        self.count("aws_lookups")
        status, headers, _ = self.client().request("HEAD", bucket, key)
        return status, headers

    def visible_etag(self, config, bucket, key, upstream_etag):
        return kms_etag(bucket, key, upstream_etag) if config.is_kms(bucket, key) else unquote_etag(upstream_etag)

    def reissue(self, req, drop=(), add=()):
        """Sends the request upstream signed with the proxy's own credentials, minus the headers
        in `drop` and plus `add`: for conditions radosgw would judge wrongly. Returns a Message."""
        self.count("aws_reissued")
        headers = {n: v for n, v in req.headers if n not in NOT_REISSUED and n not in drop}
        if "aws-chunked" in headers.get("content-encoding", ""):
            rest = [e.strip() for e in headers["content-encoding"].split(",") if e.strip() != "aws-chunked"]
            if rest:
                headers["content-encoding"] = ", ".join(rest)
            else:
                del headers["content-encoding"]
        headers.update(add)
        body = req.payload() if req.method == "PUT" else b""
        status, reason, header_list, data = self.client().exchange(req.method, req.bucket, req.key, req.query,
                                                                    headers, body)
        kept = [(n, v) for n, v in header_list if n.lower() not in ("transfer-encoding", "connection")
                and (req.method == "HEAD" or n.lower() != "content-length")]
        if req.method != "HEAD":
            kept.append(("Content-Length", str(len(data))))
        return Message(status, reason, kept, data)

    # ---- checksum records ----

    def record(self, bucket, key, upstream_etag, crc):
        with self.lock:
            self.records[bucket + "/" + key] = (unquote_etag(upstream_etag), crc)
        self.count("aws_checksums_recorded")

    def checksum_for(self, config, bucket, key, upstream_etag, whole_body=None):
        """The CRC32 for the object as it is now (upstream_etag), or None."""
        etag = unquote_etag(upstream_etag)
        with self.lock:
            rec = self.records.get(bucket + "/" + key)
        if rec is not None and rec[0] == etag:
            return rec[1]
        if config.checksums != "all":
            return None
        if whole_body is None:  # "all": computed from the object as radosgw has it now
            self.count("aws_lookups")
            status, headers, whole_body = self.client().request("GET", bucket, key)
            if status != 200 or unquote_etag(headers.get("etag")) != etag:
                return None  # gone or replaced in between: no checksum rather than a wrong one
        crc = crc32_b64(whole_body)
        with self.lock:
            self.records[bucket + "/" + key] = (etag, crc)
        self.count("aws_checksums_computed")
        return crc

    # ---- per request ----

    def plan(self, method, target, headers, body):
        """The Plan for one request, or None to forward it untouched."""
        config = self.config
        if config is None:
            return None
        req = Request(method, target, headers, body)
        expected = config.bucket_regions.get(req.bucket)
        if expected is not None:
            signed = self.signed_region(req)
            if signed is not None and signed != expected:
                self.count("aws_wrong_region")
                return Plan(answer=answer(
                    400, "AuthorizationHeaderMalformed",
                    "The authorization header is malformed; the region '%s' is wrong; expecting '%s'"
                    % (signed, expected), req.method, region=expected,
                    extra_headers=[("x-amz-bucket-region", expected)]))
        op = req.operation()
        if op in ("GetObject", "HeadObject"):
            return self.plan_read(config, req)
        if op in ("ListObjects", "ListObjectVersions"):
            if config.kms_buckets or config.kms or config.archived:
                return Plan(rewrite=lambda m: self.rewrite_list(config, req, m))
            return None
        if op in ("PutObject", "CopyObject"):
            return self.plan_write(config, req, op)
        if op == "CompleteMultipartUpload" and config.is_kms(req.bucket, req.key):
            return Plan(rewrite=lambda m: self.rewrite_xml_etag(req.bucket, req.key, m,
                                                                "CompleteMultipartUploadResult")[0])
        return None

    @staticmethod
    def signed_region(req):
        """The region of the request's SigV4 credential scope, or None."""
        auth = req.header("authorization") or ""
        m = re.search(r"Credential=[^/]+/\d{8}/([^/]+)/s3/aws4_request", auth)
        return m.group(1) if m else None

    def plan_read(self, config, req):
        bucket, key = req.bucket, req.key
        if req.method == "GET" and config.is_archived(bucket, key):
            status, _ = self.lookup(bucket, key)
            if status == 200:  # a missing object is radosgw's to answer (404)
                self.count("aws_invalid_object_state")
                return Plan(answer=answer(403, "InvalidObjectState",
                                          "The operation is not valid for the object's storage class",
                                          req.method, "/%s/%s" % (bucket, key)))
        if config.is_kms(bucket, key) and (req.header("if-match") or req.header("if-none-match")):
            return self.plan_kms_conditional_read(config, req)
        return Plan(rewrite=lambda m: self.rewrite_read(config, req, m))

    def plan_kms_conditional_read(self, config, req):
        """GET/HEAD If-Match/If-None-Match on a KMS object: the client compares with the KMS
        ETag, radosgw would with the MD5 one, so the proxy judges and re-issues without them."""
        status, headers = self.lookup(req.bucket, req.key)
        if status != 200:
            return Plan(rewrite=lambda m: self.rewrite_read(config, req, m))
        visible = self.visible_etag(config, req.bucket, req.key, headers.get("etag"))
        if_match, if_none = req.header("if-match"), req.header("if-none-match")
        if if_match is not None and not any(e in ("*", visible) for e in etag_list(if_match)):
            self.count("aws_precondition_failed")
            return Plan(answer=answer(412, "PreconditionFailed", "At least one of the pre-conditions you "
                                      "specified did not hold", req.method, condition="If-Match"))
        if if_none is not None and any(e in ("*", visible) for e in etag_list(if_none)):
            self.count("aws_not_modified")
            return Plan(answer=answer(304, "", "", req.method, extra_headers=[("ETag", '"%s"' % visible)]))
        response = self.reissue(req, drop=("if-match", "if-none-match"))
        return Plan(answer=self.rewrite_read(config, req, response))

    def rewrite_read(self, config, req, m):
        bucket, key = req.bucket, req.key
        if m.status not in (200, 206, 304):
            return m
        upstream_etag = m.get("etag")
        if config.is_kms(bucket, key):
            if upstream_etag is not None:
                m.set("ETag", requote_like(upstream_etag, kms_etag(bucket, key, upstream_etag)))
                self.count("aws_kms_etags")
            if m.status != 304:
                m.set("x-amz-server-side-encryption", "aws:kms")
                m.set("x-amz-server-side-encryption-aws-kms-key-id", KMS_KEY_ID)
        if req.method == "HEAD" and m.status == 200 and config.is_archived(bucket, key):
            m.set("x-amz-storage-class", "GLACIER")
            self.count("aws_glacier_shown")
        if (m.status == 200 and config.checksums != "none" and upstream_etag is not None
                and (req.header("x-amz-checksum-mode") or "").upper() == "ENABLED"):
            whole = m.payload() if req.method == "GET" and "partNumber" not in req.query else None
            crc = self.checksum_for(config, bucket, key, upstream_etag, whole)
            if crc is not None:
                m.set("x-amz-checksum-crc32", crc)
                m.set("x-amz-checksum-type", "FULL_OBJECT")
                self.count("aws_checksums")
        return m

    def rewrite_list(self, config, req, m):
        """ListObjects(V2)/ListObjectVersions: KMS ETags and GLACIER storage classes per entry."""
        if m.status != 200:
            return m
        text = m.payload().decode("utf-8")
        url_encoded = "<EncodingType>url</EncodingType>" in text  # keys encoded only if it says so
        changed = False

        def entry(match):
            nonlocal changed
            block = match.group(0)
            k = re.search(r"<Key>(.*?)</Key>", block, re.S)
            if k is None:
                return block
            key = xml_unescape(k.group(1))
            if url_encoded:
                key = urllib.parse.unquote(key)
            if config.is_kms(req.bucket, key):
                def etag(e):
                    visible = kms_etag(req.bucket, key, xml_unescape(e.group(1)))
                    return "<ETag>%s</ETag>" % requote_like(e.group(1), visible)
                block, n = re.subn(r"<ETag>(.*?)</ETag>", etag, block, count=1, flags=re.S)
                if n:
                    changed = True
                    self.count("aws_kms_etags")
            if config.is_archived(req.bucket, key):
                if "<StorageClass>" in block:
                    block = re.sub(r"<StorageClass>.*?</StorageClass>", "<StorageClass>GLACIER</StorageClass>", block)
                else:
                    block = block.replace("</Size>", "</Size><StorageClass>GLACIER</StorageClass>", 1)
                changed = True
                self.count("aws_glacier_shown")
            return block

        text = re.sub(r"<(Contents|Version)>.*?</\1>", entry, text, flags=re.S)
        if changed:
            m.set_payload(text.encode("utf-8"))
        return m

    def rewrite_xml_etag(self, bucket, key, m, root):
        """The <ETag> of a 200 answer whose XML root is `root` (radosgw leaves it unquoted in
        CopyObjectResult, quoted with &quot; elsewhere: kept as it was). A 200 whose body is an
        <Error> (a copy failing late) is left alone, and so is an empty <ETag> (radosgw 16.2's
        CompleteMultipartUploadResult has one)."""
        if m.status != 200:
            return m, None
        text = m.payload().decode("utf-8")
        if "<%s" % root not in text:
            return m, None
        e = re.search(r"<ETag>(.*?)</ETag>", text, re.S)
        if e is None or not unquote_etag(xml_unescape(e.group(1))):
            return m, None
        upstream = xml_unescape(e.group(1))
        visible = requote_like(e.group(1), kms_etag(bucket, key, upstream))
        m.set_payload((text[:e.start(1)] + visible + text[e.end(1):]).encode("utf-8"))
        m.set("x-amz-server-side-encryption", "aws:kms")
        m.set("x-amz-server-side-encryption-aws-kms-key-id", KMS_KEY_ID)
        self.count("aws_kms_etags")
        return m, upstream

    # ---- writes ----

    def plan_write(self, config, req, op):
        bucket, key = req.bucket, req.key
        if bucket in config.acls_disabled:
            acl = req.header("x-amz-acl")
            grants = [n for n, _ in req.headers if n.startswith("x-amz-grant-")]
            if (acl is not None and acl.strip() != "bucket-owner-full-control") or grants:
                self.count("aws_acl_refused")
                return Plan(answer=answer(400, "AccessControlListNotSupported", "The bucket does not allow ACLs",
                                          req.method, "/%s/%s" % (bucket, key)))
        if op == "CopyObject" and config.is_archived(req.source_bucket, req.source_key):
            status, _ = self.lookup(req.source_bucket, req.source_key)
            if status == 200:
                self.count("aws_invalid_object_state")
                return Plan(answer=answer(403, "InvalidObjectState",
                                          "The operation is not valid for the object's storage class", req.method,
                                          "/%s/%s" % (req.source_bucket, req.source_key)))
        reissue_with = None
        if config.conditions:
            refusal, reissue_with = self.judge_write(config, req, op)
            if refusal is not None:
                return Plan(answer=refusal)
        if reissue_with is not None:
            # PutObject with an If-Match that holds: radosgw would refuse the quoted form.
            response = self.reissue(req, drop=("if-match",), add={"if-match": reissue_with})
            return Plan(answer=self.rewrite_write(config, req, op, response))
        return Plan(rewrite=lambda m: self.rewrite_write(config, req, op, m))

    def judge_write(self, config, req, op):
        """AWS's conditional writes, judged by HEADs before the write (a writer in between is
        not seen: fine for tests, which do not race themselves). Returns (an answer refusing
        the write or None, the If-Match value to re-issue a PutObject with or None)."""
        bucket, key = req.bucket, req.key

        def failed(condition):
            self.count("aws_precondition_failed")
            return answer(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold",
                          req.method, "/%s/%s" % (bucket, key), condition)

        if op == "CopyObject":
            src_match = req.header("x-amz-copy-source-if-match")
            src_none = req.header("x-amz-copy-source-if-none-match")
            if src_match is not None or src_none is not None:
                status, headers = self.lookup(req.source_bucket, req.source_key)
                if status == 200:  # a missing source: radosgw answers 404 NoSuchKey itself
                    visible = self.visible_etag(config, req.source_bucket, req.source_key, headers.get("etag"))
                    if src_match is not None and not any(e in ("*", visible) for e in etag_list(src_match)):
                        return failed("x-amz-copy-source-If-Match"), None
                    if src_none is not None and any(e in ("*", visible) for e in etag_list(src_none)):
                        return failed("x-amz-copy-source-If-None-Match"), None
        if_match = req.header("if-match")
        if_none = req.header("if-none-match")
        # radosgw honours If-None-Match: * on PutObject itself (atomically): left to it.
        check_none = op == "CopyObject" and if_none is not None and if_none.strip() == "*"
        if if_match is None and not check_none:
            return None, None
        status, headers = self.lookup(bucket, key)
        if status not in (200, 404):
            return None, None  # cannot judge (403...): radosgw answers the write as it will
        if check_none and status == 200:
            return failed("If-None-Match"), None
        if if_match is None:
            return None, None
        if status == 404:
            self.count("aws_no_such_key")
            return answer(404, "NoSuchKey", "The specified key does not exist.", req.method,
                          "/%s/%s" % (bucket, key)), None
        upstream = unquote_etag(headers.get("etag"))
        visible = self.visible_etag(config, bucket, key, upstream)
        if not any(e in ("*", visible) for e in etag_list(if_match)):
            return failed("If-Match"), None
        # radosgw ignores If-Match on CopyObject; on PutObject it compares the raw header with
        # the unquoted ETag, so the PUT is re-issued with the upstream ETag it does judge.
        return None, (upstream if op == "PutObject" else None)

    def rewrite_write(self, config, req, op, m):
        bucket, key = req.bucket, req.key
        if m.status != 200:
            return m
        kms = config.is_kms(bucket, key)
        if op == "PutObject":
            upstream = m.get("etag")
            if upstream is None:
                return m
            if kms:
                m.set("ETag", requote_like(upstream, kms_etag(bucket, key, upstream)))
                m.set("x-amz-server-side-encryption", "aws:kms")
                m.set("x-amz-server-side-encryption-aws-kms-key-id", KMS_KEY_ID)
                self.count("aws_kms_etags")
            if config.checksums != "none":
                self.record(bucket, key, upstream, crc32_b64(req.payload()))
            return m
        # CopyObject: the new object's upstream ETag is in <CopyObjectResult>.
        if kms:
            m, upstream = self.rewrite_xml_etag(bucket, key, m, "CopyObjectResult")
        else:
            text = m.payload().decode("utf-8", "replace")
            e = re.search(r"<CopyObjectResult.*?<ETag>(.*?)</ETag>", text, re.S)
            upstream = xml_unescape(e.group(1)) if e else None
        if upstream is not None and config.checksums != "none":
            # Carried from the source when its record is for what was copied (a copy keeps the
            # source's upstream ETag on radosgw).
            with self.lock:
                rec = self.records.get(req.source_bucket + "/" + req.source_key)
            if rec is not None and rec[0] == unquote_etag(upstream):
                self.record(bucket, key, upstream, rec[1])
        return m


def load_config_file(path):
    with open(path) as fh:
        return json.load(fh)
