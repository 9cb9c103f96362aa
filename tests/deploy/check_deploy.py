#!/usr/bin/python3
"""Offline checks of the deployment files (deploy/): no cluster, no container engine.

  - yamllint on every YAML file (deploy/.yamllint);
  - each Kubernetes document against the JSON schema of the fields used
    (tests/deploy/kubernetes.schema.json: unknown or misspelt fields fail);
  - what the schema cannot say: the Job retries neither exit 2 nor exit 3; restartPolicy Never;
    no completions (a work queue); DATABASE_URL from a Secret; every REHOME_* variable is one
    that `rehome run --help` names; the metrics port agrees across the arguments, the container
    port and the scrape annotations; non-root; memory sized above the measured RSS;
  - the Containerfile: Debian 12, installs the package, runs as a non-root user;
  - and that these checks can fail: mutated copies of the Job must be refused.

Runs on Debian's python3 (python3-yaml, python3-jsonschema) and yamllint (scripts/bootstrap).
Usage: check_deploy.py --rehome BIN
Exit 0 when every check passes; 125 (skipped) when a tool is missing, 1 with
REHOME_TEST_REQUIRE_SERVICES=1.
"""
import argparse
import copy
import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEPLOY = os.path.join(os.path.dirname(os.path.dirname(HERE)), "deploy")


def missing(what):
    required = os.environ.get("REHOME_TEST_REQUIRE_SERVICES") == "1"
    print("%s: %s (scripts/bootstrap installs it)" % ("FAIL" if required else "SKIP", what))
    sys.exit(1 if required else 125)


try:
    import jsonschema
    import yaml
except ImportError as e:
    missing("python3-yaml or python3-jsonschema: %s" % e)


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


def job_problems(job, rehome_env):
    """What is wrong with the Job beyond its schema, as a list of sentences."""
    out = []
    spec = job["spec"]
    pod = spec["template"]["spec"]
    containers = [c for c in pod["containers"] if c["name"] == "rehome"]
    if len(containers) != 1:
        return ["no container named rehome"]
    c = containers[0]
    fail_codes = set()
    for rule in spec.get("podFailurePolicy", {}).get("rules", []):
        codes = rule.get("onExitCodes")
        if rule["action"] == "FailJob" and codes and codes["operator"] == "In" and \
                codes.get("containerName", "rehome") == "rehome":
            fail_codes |= set(codes["values"])
    for code, meaning in ((2, "bad settings"), (3, "finished with problems left")):
        if code not in fail_codes:
            out.append("podFailurePolicy retries exit %d (%s): it must FailJob" % (code, meaning))
    if fail_codes - {2, 3}:
        out.append("podFailurePolicy fails the Job on exit %s, which a rerun may fix" % sorted(fail_codes - {2, 3}))
    if pod["restartPolicy"] != "Never":
        out.append("restartPolicy must be Never (podFailurePolicy requires it)")
    if "completions" in spec:
        out.append("completions set: the workers are a work queue (the Job ends when one exits 0)")
    if spec.get("parallelism", 1) < 2:
        out.append("parallelism below 2: the manifest is there to run several workers")
    args = c.get("args", [])
    if not args or args[0] != "run":
        out.append("the container does not run `rehome run`")
    env = env_of(c)
    db = env.get("DATABASE_URL", {})
    if "secretKeyRef" not in db.get("valueFrom", {}):
        out.append("DATABASE_URL must come from a Secret (it may hold a password)")
    for name in env:
        if name.startswith("REHOME_") and name not in rehome_env:
            out.append("%s is not a variable rehome reads (rehome run --help)" % name)
    for secret_env in ("AWS_SECRET_ACCESS_KEY",):
        if secret_env in env and "value" in env[secret_env]:
            out.append("%s as a literal value: take it from a Secret" % secret_env)
    # The metrics port: --metrics-address or REHOME_METRICS_ADDRESS, the container port, and
    # the scrape annotations must agree.
    address = None
    if "--metrics-address" in args and args.index("--metrics-address") + 1 < len(args):
        address = args[args.index("--metrics-address") + 1]
    elif "REHOME_METRICS_ADDRESS" in env:
        address = env["REHOME_METRICS_ADDRESS"].get("value")
    annotations = spec["template"].get("metadata", {}).get("annotations", {})
    if not address:
        out.append("no --metrics-address: nothing to scrape")
    else:
        port = int(address.rsplit(":", 1)[1])
        if not address.startswith(":") and not address.startswith("0.0.0.0:"):
            out.append("--metrics-address %s listens on one host only: Prometheus scrapes the pod's IP" % address)
        if port not in [p["containerPort"] for p in c.get("ports", [])]:
            out.append("metrics port %d is not a containerPort" % port)
        if annotations.get("prometheus.io/scrape") != "true" or annotations.get("prometheus.io/port") != str(port):
            out.append("the scrape annotations do not name metrics port %d" % port)
    secure = pod.get("securityContext", {}).get("runAsNonRoot") or c.get("securityContext", {}).get("runAsNonRoot")
    if not secure:
        out.append("runAsNonRoot is not set")

    def mebibytes(q):
        m = re.fullmatch(r"([0-9]+)(Ki|Mi|Gi|Ti|k|M|G|T)?", q)
        scale = {None: 1 / 2**20, "Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 2**20,
                 "k": 1000 / 2**20, "M": 1e6 / 2**20, "G": 1e9 / 2**20, "T": 1e12 / 2**20}
        return int(m.group(1)) * scale[m.group(2)]
    resources = c.get("resources", {})
    request = resources.get("requests", {}).get("memory")
    limit = resources.get("limits", {}).get("memory")
    # docs/PERFORMANCE.md: 24-28 MB peak RSS for server-side copies; streamed copies hold up to
    # a 128 MiB body budget on top.
    if not request or mebibytes(request) < 64:
        out.append("memory request %s is below twice the measured RSS (28 MB): 64Mi at least" % request)
    if not limit or mebibytes(limit) < 256:
        out.append("memory limit %s leaves no room for streamed copies' 128 MiB budget: 256Mi at least" % limit)
    if not resources.get("requests", {}).get("cpu"):
        out.append("no CPU request")
    return out


def containerfile_problems(text):
    out = []
    lines = [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
    froms = [l for l in lines if l.upper().startswith("FROM ")]
    if not froms or not re.match(r"FROM\s+debian:12", froms[-1], re.I):
        out.append("not built on Debian 12")
    users = [l.split(None, 1)[1] for l in lines if l.upper().startswith("USER ")]
    if not users or users[-1].split(":")[0] in ("0", "root"):
        out.append("does not run as a non-root user")
    if not re.search(r"apt-get install[^\n]*rehome_\*_amd64\.deb", text.replace("\\\n", " ")):
        out.append("does not install the Debian package with apt")
    if not any(l.upper().startswith("ENTRYPOINT") and "/usr/bin/rehome" in l for l in lines):
        out.append("its entry point is not /usr/bin/rehome")
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rehome", required=True)
    a = p.parse_args()
    if not shutil.which("yamllint"):
        missing("yamllint")
    failures = []

    def check(name, problems):
        print("%s %s" % ("ok  " if not problems else "FAIL", name))
        for problem in problems:
            print("       " + problem)
        if problems:
            failures.append(name)

    # From deploy/: the configuration's ignore paths are relative to where yamllint runs.
    lint = subprocess.run(["yamllint", "-f", "parsable", "-c", ".yamllint", "."], cwd=DEPLOY,
                          capture_output=True, text=True)
    check("yamllint deploy/", lint.stdout.splitlines() + ([lint.stderr.strip()] if lint.returncode and lint.stderr else [])
          if lint.returncode or lint.stdout.strip() else [])

    with open(os.path.join(HERE, "kubernetes.schema.json")) as fh:
        schema = json.load(fh)
    validator = jsonschema.Draft202012Validator(schema)
    help_text = subprocess.run([a.rehome, "run", "--help"], capture_output=True, text=True, check=True).stdout
    rehome_env = set(re.findall(r"\[env (REHOME_[A-Z_]+)\]", help_text))
    if not rehome_env:
        failures.append("rehome run --help names no REHOME_ variables")

    k8s = os.path.join(DEPLOY, "kubernetes")
    jobs = []
    for name in sorted(os.listdir(k8s)):
        if not name.endswith((".yaml", ".yml")):
            continue
        with open(os.path.join(k8s, name)) as fh:
            docs = [d for d in yaml.safe_load_all(fh) if d is not None]
        for i, doc in enumerate(docs):
            what = "%s #%d (%s %s)" % (name, i + 1, doc.get("kind"), doc.get("metadata", {}).get("name"))
            errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
            check("schema: " + what, ["%s: %s" % ("/".join(map(str, e.absolute_path)), e.message[:200])
                                      for e in errors])
            if doc.get("kind") == "Job":
                jobs.append(doc)
                check("the Job's sense: " + what, job_problems(doc, rehome_env))
    check("a Job in deploy/kubernetes/", [] if jobs else ["none found"])

    with open(os.path.join(DEPLOY, "Containerfile")) as fh:
        check("deploy/Containerfile", containerfile_problems(fh.read()))

    # The checks must be able to fail: each mutation of the Job is refused by the schema or by
    # the sense checks.
    if jobs:
        def mutated(change):
            j = copy.deepcopy(jobs[0])
            change(j)
            return j

        def pod(j):
            return j["spec"]["template"]["spec"]

        def rehome(j):
            return [c for c in pod(j)["containers"] if c["name"] == "rehome"][0]
        mutations = {
            "a misspelt field (paralellism)": lambda j: j["spec"].update(paralellism=j["spec"].pop("parallelism")),
            "exit 3 retried": lambda j: [r["onExitCodes"]["values"].remove(3) for r in j["spec"]["podFailurePolicy"]["rules"]
                                         if "onExitCodes" in r],
            "restartPolicy OnFailure": lambda j: pod(j).update(restartPolicy="OnFailure"),
            "an unknown REHOME_ variable": lambda j: rehome(j)["env"].append({"name": "REHOME_ROW_WORKER", "value": "2"}),
            "the scrape port off by one": lambda j: j["spec"]["template"]["metadata"]["annotations"].update(
                {"prometheus.io/port": "9465"}),
            "a memory limit below the body budget": lambda j: rehome(j)["resources"]["limits"].update(memory="100Mi"),
            "a CPU quantity that is not one": lambda j: rehome(j)["resources"]["requests"].update(cpu="half"),
            "DATABASE_URL as a literal": lambda j: [e.update(value="postgresql://u:p@db/app") or e.pop("valueFrom")
                                                   for e in rehome(j)["env"] if e["name"] == "DATABASE_URL"],
        }
        escaped = []
        for what, change in mutations.items():
            j = mutated(change)
            if not list(validator.iter_errors(j)) and not job_problems(j, rehome_env):
                escaped.append(what)
        check("every mutation of the Job is refused (%d)" % len(mutations), ["not refused: " + m for m in escaped])
        escaped = [what for what, text in {
            "root": "FROM debian:12-slim\nRUN apt-get install -y ./rehome_*_amd64.deb\nUSER root\nENTRYPOINT [\"/usr/bin/rehome\"]\n",
            "another base": "FROM alpine:3\nRUN apt-get install -y ./rehome_*_amd64.deb\nUSER 10001\nENTRYPOINT [\"/usr/bin/rehome\"]\n",
        }.items() if not containerfile_problems(text)]
        check("mutations of the Containerfile are refused", ["not refused: " + m for m in escaped])

    print("PASS" if not failures else "FAIL: %s" % ", ".join(failures))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
