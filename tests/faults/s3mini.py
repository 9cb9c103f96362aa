"""A minimal SigV4 S3 client (Python standard library only) for the fault suite.

Path-style addressing, one keep-alive connection per client object (not thread-safe: one
object per thread), no retries: the suite wants to see every failure. The fault suite talks to
radosgw directly; fault_proxy.py's AWS-behaviour mode (aws_behaviour.py) uses it for its own
look-ups, and aws_behaviour_selftest.py talks both to radosgw and through the proxy.
Signing follows scripts/lib/s3_put_bucket.py, generalised to any method, query and body.
"""
import datetime
import hashlib
import hmac
import http.client
import re
import urllib.parse
import xml.etree.ElementTree as ET


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _q(text: str, safe: str = "-_.~") -> str:
    return urllib.parse.quote(text, safe=safe)


class S3:
    def __init__(self, endpoint: str, access_key: str, secret_key: str, region: str = "us-east-1"):
        u = urllib.parse.urlsplit(endpoint)
        self.host, self.port, self.netloc = u.hostname, u.port or 80, u.netloc
        self.access_key, self.secret_key, self.region = access_key, secret_key, region
        self.conn = None

    def _sign(self, method, path, query, headers, body, unsigned_payload=False):
        now = datetime.datetime.now(datetime.timezone.utc)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        day = amz_date[:8]
        # UNSIGNED-PAYLOAD is what rehome sends for streamed bodies: the body is not hashed.
        payload_hash = "UNSIGNED-PAYLOAD" if unsigned_payload else hashlib.sha256(body).hexdigest()
        h = {k.lower(): str(v).strip() for k, v in headers.items()}
        h.update({"host": self.netloc, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date})
        signed = ";".join(sorted(h))
        canonical_query = "&".join("%s=%s" % (_q(k), _q(v)) for k, v in sorted(query.items()))
        canonical = "\n".join([method, _q(path, "-_.~/"), canonical_query,
                               "".join("%s:%s\n" % (k, h[k]) for k in sorted(h)), signed, payload_hash])
        scope = "%s/%s/s3/aws4_request" % (day, self.region)
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        key = _hmac(("AWS4" + self.secret_key).encode(), day)
        for part in (self.region, "s3", "aws4_request"):
            key = _hmac(key, part)
        sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        h["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
            self.access_key, scope, signed, sig)
        return h, canonical_query

    def request(self, method, bucket, key="", query=None, headers=None, body=b"", unsigned_payload=False):
        """Returns (status, headers dict lower-cased, body bytes). Raises OSError on a broken connection."""
        status, _, header_list, data = self.exchange(method, bucket, key, query, headers, body, unsigned_payload)
        return status, {k.lower(): v for k, v in header_list}, data

    def exchange(self, method, bucket, key="", query=None, headers=None, body=b"", unsigned_payload=False):
        """Like request(), but returns (status, reason, [(name, value)] as received, body bytes):
        what a proxy needs to relay a response it obtained itself."""
        query = query or {}
        path = "/" + bucket + ("/" + key if key else "")
        h, qs = self._sign(method, path, query, headers or {}, body, unsigned_payload)
        url = _q(path, "-_.~/") + ("?" + qs if qs else "")
        for attempt in range(2):  # one reconnect: keep-alive connections go stale
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                self.conn.request(method, url, body=body, headers=h)
                r = self.conn.getresponse()
                data = r.read()
                return r.status, r.reason, r.getheaders(), data
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def get(self, bucket, key, headers=None):
        return self.request("GET", bucket, key, headers=headers)

    def head(self, bucket, key, headers=None):
        return self.request("HEAD", bucket, key, headers=headers)

    def copy(self, bucket, key, source_bucket, source_key, headers=None):
        """CopyObject; returns (status, headers, body) as request() does, whatever the status."""
        h = {"x-amz-copy-source": "/" + source_bucket + "/" + _q(source_key, "-_.~/")}
        h.update(headers or {})
        return self.request("PUT", bucket, key, headers=h)

    def create_bucket(self, bucket):
        status, _, data = self.request("PUT", bucket)
        if status != 200:
            raise RuntimeError("PUT bucket %s: %s %s" % (bucket, status, data[:200]))

    def put(self, bucket, key, body: bytes):
        status, _, data = self.request("PUT", bucket, key, headers={"content-type": "image/png"}, body=body)
        if status != 200:
            raise RuntimeError("PUT %s/%s: %s %s" % (bucket, key, status, data[:200]))

    def put_multipart(self, bucket, key, parts, headers=None):
        """Uploads `parts` (bytes each; all but the last at least 5 MiB on AWS, any size on
        radosgw) as one multipart object; returns its ETag ("<md5 of md5s>-<n>")."""
        h = {"content-type": "image/png"}
        h.update(headers or {})
        status, _, data = self.request("POST", bucket, key, query={"uploads": ""}, headers=h)
        if status != 200:
            raise RuntimeError("CreateMultipartUpload %s/%s: %s %s" % (bucket, key, status, data[:200]))
        upload_id = ET.fromstring(data).find("{*}UploadId").text
        done = []
        for n, part in enumerate(parts, 1):
            status, rh, data = self.request("PUT", bucket, key, body=part,
                                            query={"partNumber": str(n), "uploadId": upload_id})
            if status != 200:
                raise RuntimeError("UploadPart %d of %s/%s: %s %s" % (n, bucket, key, status, data[:200]))
            done.append("<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>" % (n, rh["etag"]))
        body = ("<CompleteMultipartUpload>%s</CompleteMultipartUpload>" % "".join(done)).encode()
        status, _, data = self.request("POST", bucket, key, query={"uploadId": upload_id}, body=body)
        if status != 200 or b"<Error>" in data:
            raise RuntimeError("CompleteMultipartUpload %s/%s: %s %s" % (bucket, key, status, data[:200]))
        status, rh, _ = self.head(bucket, key)
        return rh.get("etag", "").strip('"')

    def list(self, bucket, prefix):
        """Yields (key, etag without quotes, size) for every object under prefix."""
        token = None
        while True:
            q = {"list-type": "2", "prefix": prefix, "max-keys": "1000"}
            if token:
                q["continuation-token"] = token
            status, _, data = self.request("GET", bucket, query=q)
            if status != 200:
                raise RuntimeError("LIST %s/%s: %s %s" % (bucket, prefix, status, data[:200]))
            text = re.sub(rb'xmlns="[^"]*"', b"", data, count=1)
            root = ET.fromstring(text)
            for c in root.findall("Contents"):
                yield c.findtext("Key"), c.findtext("ETag").strip('"'), int(c.findtext("Size"))
            token = root.findtext("NextContinuationToken")
            if root.findtext("IsTruncated") != "true" or not token:
                return
