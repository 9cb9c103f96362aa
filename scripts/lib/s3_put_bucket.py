#!/usr/bin/env python3
"""Creates S3 buckets with a SigV4-signed PUT (Python standard library only).

Usage: s3_put_bucket.py ENDPOINT BUCKET [BUCKET...]
Env:   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION (default us-east-1)

ENDPOINT is http://host:port; buckets are addressed path-style. A bucket that already exists
and is ours (409 BucketAlreadyOwnedByYou) counts as created. Connection errors and 5xx answers
are retried for up to 30 s: a radosgw that just opened its port may still be settling.
Exits non-zero, saying why, if any bucket could not be created.

Why not curl --aws-sigv4: curl 7.88 signs without x-amz-content-sha256, which radosgw wants.
"""
import datetime
import hashlib
import hmac
import http.client
import os
import sys
import time
import urllib.parse

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sign_put_bucket(host: str, bucket: str, access_key: str, secret_key: str, region: str,
                    now: datetime.datetime) -> dict:
    """Returns the headers of a SigV4-signed `PUT /bucket` with an empty body."""
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    headers = {"host": host, "x-amz-content-sha256": EMPTY_SHA256, "x-amz-date": amz_date}
    signed = ";".join(sorted(headers))
    canonical = "\n".join([
        "PUT",
        "/" + urllib.parse.quote(bucket, safe=""),
        "",
        "".join("%s:%s\n" % (name, headers[name]) for name in sorted(headers)),
        signed,
        EMPTY_SHA256,
    ])
    scope = "%s/%s/s3/aws4_request" % (day, region)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(("AWS4" + secret_key).encode(), day)
    for part in (region, "s3", "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        access_key, scope, signed, signature)
    headers["content-length"] = "0"
    return headers


def put_bucket(endpoint: str, bucket: str, access_key: str, secret_key: str, region: str) -> None:
    """Creates one bucket; raises RuntimeError with the server's answer when it refuses."""
    url = urllib.parse.urlsplit(endpoint)
    if url.scheme != "http" or not url.hostname:
        raise RuntimeError("endpoint must be http://host:port, got %r" % endpoint)
    deadline = time.monotonic() + 30
    while True:
        status, body = send_put_bucket(url, bucket, access_key, secret_key, region)
        if status == 200 or (status == 409 and "BucketAlreadyOwnedByYou" in body):
            return
        if (status is None or status >= 500) and time.monotonic() < deadline:
            time.sleep(0.2)
            continue
        raise RuntimeError("PUT bucket %s on %s: %s %s" % (bucket, endpoint, status, body.strip()))


def send_put_bucket(url, bucket: str, access_key: str, secret_key: str, region: str):
    """One attempt: returns (HTTP status, body), or (None, error text) when the connection failed."""
    now = datetime.datetime.now(datetime.timezone.utc)
    headers = sign_put_bucket(url.netloc, bucket, access_key, secret_key, region, now)
    conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=10)
    try:
        conn.request("PUT", "/" + urllib.parse.quote(bucket, safe=""), headers=headers)
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    except OSError as error:
        return None, str(error)
    finally:
        conn.close()


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    endpoint, buckets = sys.argv[1], sys.argv[2:]
    access_key = os.environ.get("AWS_ACCESS_KEY_ID", "")
    secret_key = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
    region = os.environ.get("AWS_REGION") or "us-east-1"
    if not access_key or not secret_key:
        print("s3_put_bucket.py: error: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
              file=sys.stderr)
        return 2
    try:
        for bucket in buckets:
            put_bucket(endpoint, bucket, access_key, secret_key, region)
    except RuntimeError as error:
        print("s3_put_bucket.py: error: %s" % error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
