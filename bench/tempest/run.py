"""Tempest, OpenStack's own integration tests, against the OpenStack API gateway.

    .venv/bin/python bench/tempest/run.py [--stack-home DIR] [--filter REGEX]

Installs tempest from PyPI in a venv of its own (tests/fixtures/osclients.py, cached under
.polyvisor/venvs/), uses the dev stack at --stack-home (or POLYVISOR_TEST_STACK_HOME) or
starts one as `./dev up` does, makes what the tests need through the gateway itself (a
member project and user, a public image of the boot disk, two flavors), generates
tempest.conf, counts the Tempest tests of each API area, runs those listed in
bench/tempest/tests.txt, and prints passed/failed/skipped per area. The last line is one
JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.e2e import stack as stack_mod  # noqa: E402
from tests.e2e.bootdisk import make_disk  # noqa: E402
from tests.fixtures.osclients import TEMPEST_PINS, ensure_venv  # noqa: E402

AREAS = {
    "identity": "tempest.api.identity.",
    "compute": "tempest.api.compute.",
    "image": "tempest.api.image.",
    "network": "tempest.api.network.",
}
LIST = Path(__file__).with_name("tests.txt")
RESULT = re.compile(r"^\{\d+\} (?:setUpClass \()?(tempest\.[\w.]+)\)? .*\.\.\. (ok|FAILED|SKIPPED)")


def _call(
    method: str, url: str, body: Any = None, token: str = "", ctype: str = "application/json"
) -> tuple[Any, dict[str, str]]:
    data = json.dumps(body).encode() if body is not None and ctype == "application/json" else body
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", ctype)
    if token:
        req.add_header("X-Auth-Token", token)
    with urllib.request.urlopen(req, timeout=300) as resp:
        raw = resp.read()
        return (json.loads(raw) if raw else None), dict(resp.headers)


def _ensure(base: str, tok: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """Create a project or user by name, or find the one an earlier run made."""
    plural = f"{kind}s"
    try:
        return _call("POST", f"{base}/identity/v3/{plural}", {kind: body}, tok)[0][kind]
    except urllib.error.HTTPError as exc:
        if exc.code != 409:
            raise
    listed = _call("GET", f"{base}/identity/v3/{plural}?name={body['name']}", token=tok)[0][plural]
    return dict(listed[0])


def provision(base: str, admin: dict[str, str], work: Path) -> dict[str, Any]:
    """A member and a reader in each of three projects, a public image, two flavors: through the
    gateway."""
    auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": admin["username"], "domain": {"id": "default"}, "password": admin["password"]}}},
        "scope": {"project": {"name": admin["project"], "domain": {"id": "default"}}}}}  # fmt: skip
    _, headers = _call("POST", f"{base}/identity/v3/auth/tokens", auth)
    tok = headers["X-Subject-Token"]
    password = "tm-" + os.urandom(10).hex()
    users = []
    for name in ("tempest-1", "tempest-2", "tempest-3"):
        project = _ensure(base, tok, "project", {"name": name})
        # A member and a reader in each project: a test that asks for both wants them in
        # one project, and Tempest locks an account (user and project) for one persona.
        for role in ("member", "reader"):
            uname = f"{name}-{role}"
            found = _call("GET", f"{base}/identity/v3/users?name={uname}", token=tok)[0]["users"]
            for old in found:  # an earlier run's: made again, with this run's password
                _call("DELETE", f"{base}/identity/v3/users/{old['id']}", token=tok)
            user = _ensure(base, tok, "user", {"name": uname, "password": password,
                                               "default_project_id": project["id"]})  # fmt: skip
            _call(
                "PUT",
                f"{base}/identity/v3/projects/{project['id']}/users/{user['id']}/roles/{role}",
                token=tok,
            )
            users.append({"username": uname, "project_name": name, "password": password,
                          "roles": [role]})  # fmt: skip
    disk = make_disk(work, "tempest-boot")
    image = _call("POST", f"{base}/image/v2/images", {"name": "tempest-boot", "disk_format": "qcow2",
                  "container_format": "bare", "visibility": "public"}, tok)[0]  # fmt: skip
    _call(
        "PUT",
        f"{base}/image/v2/images/{image['id']}/file",
        disk.read_bytes(),
        tok,
        "application/octet-stream",
    )
    flavors = []
    for name, ram in (("tempest.tiny", 64), ("tempest.small", 96)):
        try:
            f = _call(
                "POST",
                f"{base}/compute/v2.1/flavors",
                {"flavor": {"name": name, "ram": ram, "vcpus": 1, "disk": 1}},
                tok,
            )
            flavors.append(f[0]["flavor"]["id"])
        except urllib.error.HTTPError:
            listed = _call("GET", f"{base}/compute/v2.1/flavors?is_public=None", token=tok)[0][
                "flavors"
            ]
            flavors.append(next(x["id"] for x in listed if x["name"] == name))
    return {"users": users, "image": image["id"], "flavor": flavors[0], "flavor_alt": flavors[1]}


def write_conf(ws: Path, auth_url: str, admin: dict[str, str], made: dict[str, Any]) -> None:
    accounts = ws / "accounts.yaml"
    # Members first, each of another project: Tempest gives a test's alt credentials (no role
    # asked) the first free account in this order, and its multi-tenant tests want the alt in
    # another project than the primary (a member); the reader of the primary's own project may
    # rightly not change its servers (403, where the test waits for the other tenant's 404).
    entries = sorted(({**u, "domain_name": "Default"} for u in made["users"]),
                     key=lambda u: u["roles"] != ["member"])  # fmt: skip
    entries.append({"username": admin["username"], "project_name": admin["project"],
                    "password": admin["password"], "domain_name": "Default", "roles": ["admin"]})  # fmt: skip
    accounts.write_text(json.dumps(entries))
    (ws / "etc" / "tempest.conf").write_text(f"""[DEFAULT]
log_file = {ws / "tempest.log"}
[oslo_concurrency]
lock_path = {ws / "locks"}
[auth]
use_dynamic_credentials = False
test_accounts_file = {accounts}
admin_username = {admin["username"]}
admin_password = {admin["password"]}
admin_project_name = {admin["project"]}
admin_domain_name = Default
default_credentials_domain_name = Default
[identity]
uri_v3 = {auth_url}
auth_version = v3
region = RegionOne
[identity-feature-enabled]
api_v2 = False
application_credentials = True
[compute]
image_ref = {made["image"]}
image_ref_alt = {made["image"]}
flavor_ref = {made["flavor"]}
flavor_ref_alt = {made["flavor_alt"]}
fixed_network_name = demo
min_microversion = 2.1
max_microversion = 2.96
build_timeout = 300
[compute-feature-enabled]
resize = False
live_migration = False
cold_migration = False
change_password = False
interface_attach = False
rescue = False
console_output = True
snapshot = True
pause = True
suspend = True
shelve = True
vnc_console = True
spice_console = False
serial_console = False
personality = False
attach_encrypted_volume = False
config_drive = False
# Polyvisor sets no guest password: the gateway answers as a Nova with
# [api]enable_instance_password = False does (no adminPass).
enable_instance_password = False
[image]
build_timeout = 300
[image-feature-enabled]
import_image = False
[network]
project_networks_reachable = False
[network-feature-enabled]
ipv6 = False
[service_available]
nova = True
glance = True
neutron = True
cinder = False
swift = False
[validation]
run_validation = False
""")


def tally(
    output: str, selected: list[str], failed: list[str] | None = None
) -> dict[str, Counter[str]]:
    """passed/failed/skipped per area from `tempest run`'s output. A class whose setUpClass
    failed or skipped counts once for each of its tests that was chosen (tempest reports it
    once for the class). The ids that failed are appended to `failed`."""
    counts: dict[str, Counter[str]] = {a: Counter() for a in AREAS}
    for line in output.splitlines():
        m = RESULT.match(line.strip())
        area = next((a for a, p in AREAS.items() if m and m.group(1).startswith(p)), None)
        if m is None or area is None:
            continue
        outcome = {"ok": "passed", "FAILED": "failed", "SKIPPED": "skipped"}[m.group(2)]
        if outcome == "failed" and failed is not None:
            failed.append(m.group(1))
        if "setUpClass (" in line:
            counts[area][outcome] += sum(1 for t in selected if t.startswith(m.group(1) + "."))
        else:
            counts[area][outcome] += 1
    return counts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stack-home", default=os.environ.get("POLYVISOR_TEST_STACK_HOME", ""))
    ap.add_argument("--filter", default="", metavar="REGEX",
                    help="run only the listed tests whose id this matches (re.search)")  # fmt: skip
    args = ap.parse_args()
    venv = ensure_venv(TEMPEST_PINS)
    tempest = str(venv / "bin" / "tempest")
    own = not args.stack_home
    home = Path(args.stack_home or tempfile.mkdtemp(prefix="polyvisor-tempest-"))
    home.chmod(0o755)
    stack = stack_mod.start(home)
    ws = home / "tempest"
    try:
        osapi = stack.endpoints["osapi"]
        base, auth_url = osapi["url"], osapi["auth_url"]
        shutil.rmtree(ws, ignore_errors=True)
        name = f"polyvisor-{os.getpid()}"  # tempest keeps a registry of workspaces by name
        subprocess.run([tempest, "init", "--name", name, str(ws)], check=True, capture_output=True)
        made = provision(base, stack.admin, home / "tempest-work")
        write_conf(ws, auth_url, stack.admin, made)
        listed = subprocess.run([tempest, "run", "--list-tests"], cwd=ws, capture_output=True, text=True,
                                check=False).stdout.split()  # fmt: skip
        exist = {a: sum(1 for t in listed if t.startswith(p)) for a, p in AREAS.items()}
        patterns = [
            re.compile(line)
            for line in LIST.read_text().splitlines()
            if line and not line.startswith("#")
        ]
        selected = [t for t in listed if any(x.search(t) for x in patterns)]
        include = LIST
        if args.filter:  # the listed tests the filter matches, each by its exact id
            selected = [t for t in selected if re.search(args.filter, t)]
            if not selected:  # an empty include list would run every Tempest test
                raise SystemExit(f"no test of {LIST.name} matches --filter {args.filter!r}")
            include = ws / "include-filtered.txt"
            include.write_text("".join(f"^{re.escape(t)}$\n" for t in selected))
        chosen = {a: sum(1 for t in selected if t.startswith(p)) for a, p in AREAS.items()}
        run = subprocess.run([tempest, "run", "--include-list", str(include), "--concurrency", "1"], cwd=ws,
                             capture_output=True, text=True, check=False, timeout=3600)  # fmt: skip
        sys.stdout.write(run.stdout[-20000:])
        failed: list[str] = []
        counts = tally(run.stdout, selected, failed)
        result = {"bench": "tempest", "tempest": TEMPEST_PINS[0].split("==")[1], "areas": {
            a: {"exist": exist[a], "chosen": chosen[a], **{k: counts[a][k] for k in ("passed", "failed", "skipped")}}
            for a in AREAS}, "failed_tests": failed}  # fmt: skip
        if args.filter:
            result["filter"] = args.filter
        print(json.dumps(result))
    finally:
        subprocess.run([tempest, "workspace", "remove", "--name", f"polyvisor-{os.getpid()}"],
                       capture_output=True, check=False)  # fmt: skip
        if own:
            stack_mod.stop(home)
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
