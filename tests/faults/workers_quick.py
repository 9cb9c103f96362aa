#!/usr/bin/env python3
"""Scenario g of scripts/faults at its quick size, as one more CTest suite (scripts/test): 4
workers on one job of 2,000 objects, 8 SIGKILLs to random workers (each restarted at once) and
one worker frozen with SIGSTOP past its lease; nothing lost, no row dangling, and the claim log
shows one live owner per range at any time and no commit from a fenced epoch.

Usage: workers_quick.py --rehome BIN --seed-bin BIN [--objects N] [--kills N] [--work DIR]
Services from the suites' environment (scripts/services); without them: exit 125 (skipped),
or 1 when REHOME_TEST_REQUIRE_SERVICES=1.
"""
import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import s3mini  # noqa: E402
import scenarios  # noqa: E402


class Context:
    """What a scenario needs of scripts/faults' context, from the suites' environment."""

    def __init__(self, work, rehome, seed_bin, seed):
        env = os.environ
        self.env, self.work, self.rehome, self.seed_bin, self.seed = dict(env), work, rehome, seed_bin, seed
        self.rgw = env["REHOME_TEST_RGW_ENDPOINT"]
        self.access_key = env.get("REHOME_TEST_RGW_ACCESS_KEY") or env["AWS_ACCESS_KEY_ID"]
        self.secret_key = env.get("REHOME_TEST_RGW_SECRET_KEY") or env["AWS_SECRET_ACCESS_KEY"]
        self.pg_port = re.search(r":(\d+)/", env["REHOME_TEST_PG_CONNINFO"]).group(1)
        self.worlds = []
        self.quick = True

    def pg_url(self, db):
        return "postgresql://postgres@127.0.0.1:%s/%s" % (self.pg_port, db)

    def s3(self):
        return s3mini.S3(self.rgw, self.access_key, self.secret_key)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rehome", required=True)
    p.add_argument("--seed-bin", required=True)
    p.add_argument("--objects", type=int, default=2000)
    p.add_argument("--kills", type=int, default=8)
    p.add_argument("--work", default=None, help="keep logs here (default: a temp dir, removed on success)")
    p.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    a = p.parse_args()
    if not (os.environ.get("REHOME_TEST_RGW_ENDPOINT") and os.environ.get("REHOME_TEST_PG_CONNINFO")):
        if os.environ.get("REHOME_TEST_REQUIRE_SERVICES") == "1":
            print("FAIL: no PostgreSQL or radosgw (scripts/services)")
            return 1
        print("SKIP: no PostgreSQL or radosgw")
        return 125
    work = a.work or tempfile.mkdtemp(prefix="rehome-workers-")
    ctx = Context(work, a.rehome, a.seed_bin, a.seed)
    started = time.monotonic()
    try:
        # A name of its own: the Release and sanitizer passes share the services.
        r = scenarios.workers(ctx, a.objects, a.kills, name="workers%d" % (os.getpid() % 100000))
    finally:
        for w in ctx.worlds:
            w.close()
    r["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(r, indent=2))
    print("%s: %s (seed %d; logs in %s)" % ("PASS" if r["pass"] else "FAIL", r["faults"], a.seed, work))
    if r["pass"] and not a.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if r["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
