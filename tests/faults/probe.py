#!/usr/bin/env python3
"""Live-traffic probe: what a visitor of the site would see while rehome runs.

Continuously picks random rows, resolves each path to its bucket exactly as the frontend does
(`image/...` -> legacy bucket, `avatar/...` -> production bucket), GETs the object directly from
the S3 server (never through the fault proxy) and counts failures: any non-200 answer (403/404),
or content differing from the original. The originals are a manifest taken before the run
(legacy key suffix -> MD5, i.e. the single-part ETag): a row naming `avatar/X` or `image/X` whose
X is in the manifest must serve exactly those bytes. Paths outside both prefixes, NULL, empty,
and the seeded broken references (`image/missing-*`) are excluded by design. Keys the
application re-uploads in place (--volatile: a JSON list of suffixes) must exist, but their
content is the application's to change: the scenario checks the newest content at its end.

Usage: probe.py --database-url URL --endpoint http://rgw --legacy-bucket B --production-bucket B
                --manifest FILE.json [--volatile FILE.json] [--stats-file F] [--batch 40] [--seconds N]
Env:   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION
Runs until SIGTERM/SIGINT (or --seconds), then prints JSON stats (and writes --stats-file).
"""
import argparse
import hashlib
import json
import os
import signal
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgmini  # noqa: E402
import s3mini  # noqa: E402

BROKEN_BY_DESIGN = "image/missing-"


def resolve(path, legacy_bucket, production_bucket):
    """(bucket, key) the frontend would fetch, or None for paths excluded by design."""
    if not path or path.startswith(BROKEN_BY_DESIGN):
        return None
    if path.startswith("image/"):
        return legacy_bucket, path
    if path.startswith("avatar/"):
        return production_bucket, path
    return None


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", required=True)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--legacy-bucket", required=True)
    p.add_argument("--production-bucket", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--volatile")
    p.add_argument("--table", default="avatars")
    p.add_argument("--stats-file")
    p.add_argument("--batch", type=int, default=40)
    p.add_argument("--seconds", type=float, default=0)
    a = p.parse_args()
    with open(a.manifest) as fh:
        manifest = json.load(fh)  # suffix after the prefix -> md5
    if a.volatile:
        with open(a.volatile) as fh:
            for suffix in json.load(fh):
                manifest.pop(suffix, None)
    s3 = s3mini.S3(a.endpoint, os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"],
                   os.environ.get("AWS_REGION") or "us-east-1")
    stats = {"checks": 0, "failures": 0, "not_found": 0, "forbidden": 0, "other_status": 0,
             "content_mismatch": 0, "errors": 0, "excluded": 0, "content_checked": 0,
             "legacy_paths": 0, "production_paths": 0, "examples": []}
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    deadline = time.monotonic() + a.seconds if a.seconds else None
    db = None

    def fail(kind, detail):
        stats["failures"] += 1
        stats[kind] += 1
        if len(stats["examples"]) < 20:
            stats["examples"].append(detail)

    while not stopping and (deadline is None or time.monotonic() < deadline):
        try:
            if db is None:
                db = pgmini.Connection(a.database_url, "rehome-faults-probe")
            # Uniformly random ids (deleted ones simply miss): every row is equally likely.
            rows = db.query("SELECT id, path FROM %s WHERE id IN (SELECT 1 + floor(random() * "
                            "(SELECT coalesce(max(id), 0) FROM %s))::int FROM generate_series(1, %d))"
                            % (a.table, a.table, a.batch))
        except (pgmini.PgError, OSError):
            # The database being restarted is a scenario, not a probe failure: wait and retry.
            db = None
            time.sleep(0.2)
            continue
        for row_id, path in rows:
            target = resolve(path, a.legacy_bucket, a.production_bucket)
            if target is None:
                stats["excluded"] += 1
                continue
            bucket, key = target
            stats["legacy_paths" if bucket == a.legacy_bucket else "production_paths"] += 1
            try:
                status, _, body = s3.get(bucket, key)
            except OSError as e:
                stats["errors"] += 1  # the S3 server itself unreachable: not rehome's doing
                if len(stats["examples"]) < 20:
                    stats["examples"].append("row %s %s: connection error %s" % (row_id, path, e))
                continue
            stats["checks"] += 1
            if status == 404:
                fail("not_found", "row %s names %s/%s: 404" % (row_id, bucket, key))
            elif status == 403:
                fail("forbidden", "row %s names %s/%s: 403" % (row_id, bucket, key))
            elif status != 200:
                fail("other_status", "row %s names %s/%s: %d" % (row_id, bucket, key, status))
            else:
                want = manifest.get(key.split("/", 1)[1])
                if want is not None:
                    stats["content_checked"] += 1
                    if hashlib.md5(body).hexdigest() != want:
                        fail("content_mismatch", "row %s names %s/%s: content differs from the original"
                             % (row_id, bucket, key))
    if db is not None:
        db.close()
    out = json.dumps(stats)
    if a.stats_file:
        with open(a.stats_file, "w") as fh:
            fh.write(out + "\n")
    print(out, flush=True)


if __name__ == "__main__":
    main()
