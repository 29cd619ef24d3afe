"""The operator story through OpenStack's own clients, on the whole stack `./dev up`
starts, via the OpenStack API gateway (osapi): the real `openstack` CLI
(python-openstackclient) and openstacksdk, from PyPI, in their own venv
(tests/fixtures/osclients.py). Keystone password auth and the catalog; `hypervisor list`
shows the KVM host and both vCenter clusters; a qcow2 image uploaded with
`--property hypervisor_type=vmware` lands only on VMware; an unpinned one is booted on KVM
with a scheduler hint, both with `--network demo --wait`; `server list`; `console url show`
gives the console proxy's noVNC page (http, as Nova's novncproxy's); a flavor bigger than
every single ESXi host is refused and the server's fault says why, per filter; a volume
(Cinder through the gateway) is created, listed, attached to the KVM server (`in-use`, in
the server's volumes_attached), detached and deleted; `server delete --wait` leaves nothing
in libvirt or vCenter. Then the same through openstacksdk, with a volume's extend and
snapshot.

The tests run in order and share `story`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from deploy.dev.kvm import virt_type
from tests.e2e.bootdisk import make_disk
from tests.e2e.stack import Stack, eventually, libvirt_domains, vcsim_vms, vm_of
from tests.fixtures.osclients import ensure_venv

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

PREFIX = "osc-"


@pytest.fixture(scope="module")
def story() -> dict[str, Any]:
    return {}


@pytest.fixture(scope="module")
def osc(stack: Stack) -> dict[str, Any]:
    """How to run the OpenStack clients against this stack's gateway."""
    venv = ensure_venv()
    osapi = stack.endpoints.get("osapi") or {}
    assert osapi.get("state") == "running", (
        f"osapi is not running: {osapi}\n{stack.log_tail('osapi')}"
    )
    admin = stack.admin
    env = {
        "PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '')}",
        "HOME": str(stack.home),
        "OS_AUTH_URL": osapi["auth_url"],
        "OS_USERNAME": admin["username"],
        "OS_PASSWORD": admin["password"],
        "OS_PROJECT_NAME": admin["project"],
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_IDENTITY_API_VERSION": "3",
        "OS_REGION_NAME": "RegionOne",
        "COLUMNS": "200",
    }
    found = {"venv": venv, "env": env, "auth_url": osapi["auth_url"]}
    _remove_leftovers(found)
    return found


def _remove_leftovers(osc: dict[str, Any]) -> None:
    """What an earlier run on the same stack left (POLYVISOR_TEST_STACK_HOME)."""
    r = openstack(osc, "server", "list", "-f", "value", "-c", "Name")
    names = [n for n in r.stdout.split() if n.startswith((PREFIX, "sdk-"))]
    if names:
        openstack(osc, "server", "delete", "--wait", *names)
    r = openstack(osc, "image", "list", "-f", "value", "-c", "Name")
    names = [n for n in r.stdout.split() if n.startswith((PREFIX, "sdk-"))]
    if names:
        openstack(osc, "image", "delete", *names)
    openstack(osc, "flavor", "delete", f"{PREFIX}tiny", f"{PREFIX}too-big")
    openstack(osc, "volume", "delete", f"{PREFIX}vol")


def openstack(
    osc: dict[str, Any], *args: str, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(osc["venv"] / "bin" / "openstack"), *args],
        env=osc["env"], capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def openstack_json(osc: dict[str, Any], *args: str) -> Any:
    r = openstack(osc, *args, "-f", "json")
    assert r.returncode == 0, (
        f"openstack {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}"
    )
    return json.loads(r.stdout)


def kvm_type(stack: Stack) -> str:
    """What the dev stack's KVM agent reports: the virt type deploy/dev chose for this machine
    (TCG, "qemu", inside a virtual machine)."""
    return virt_type(stack.libvirt_uri)


def test_token_and_catalog(osc: dict[str, Any], story: dict[str, Any]) -> None:
    token = openstack_json(osc, "token", "issue")
    assert token["id"] and token["project_id"] and token["user_id"]
    story["project_id"] = token["project_id"]
    catalog = {e["Type"]: e for e in openstack_json(osc, "catalog", "list")}
    assert {"identity", "compute", "image", "network", "volumev3", "block-storage"} <= set(catalog)
    assert story["project_id"] in str(catalog["volumev3"]["Endpoints"]), catalog["volumev3"]


def _status(osc: dict[str, Any], path: str, token: str, subject: str = "") -> int:
    base = osc["auth_url"].removesuffix("/identity/v3")
    req = urllib.request.Request(base + path, headers={"X-Auth-Token": token})
    if subject:
        req.add_header("X-Subject-Token", subject)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_token_revoke_ends_the_token(osc: dict[str, Any]) -> None:
    """`openstack token revoke` (DELETE /v3/auth/tokens): the api refuses the token after."""
    keep = openstack_json(osc, "token", "issue")["id"]
    gone = openstack_json(osc, "token", "issue")["id"]
    assert _status(osc, "/compute/v2.1/flavors", gone) == 200
    r = openstack(osc, "token", "revoke", gone)
    assert r.returncode == 0, r.stderr
    assert _status(osc, "/compute/v2.1/flavors", gone) == 401
    assert _status(osc, "/identity/v3/auth/tokens", keep, subject=gone) == 404
    assert _status(osc, "/identity/v3/auth/tokens", keep, subject=keep) == 200
    assert _status(osc, "/compute/v2.1/flavors", keep) == 200


def test_hypervisor_list_shows_kvm_and_both_clusters(
    stack: Stack, osc: dict[str, Any], story: dict[str, Any]
) -> None:
    clusters = set(stack.endpoints["vcsim"]["clusters"])

    def reported() -> list[dict[str, Any]] | None:
        hyps = openstack_json(osc, "hypervisor", "list")
        up = [h for h in hyps if h["State"] == "up"]
        vmw = {
            h["Hypervisor Hostname"] for h in up if h["Hypervisor Type"] == "VMware vCenter Server"
        }
        kvm = [h for h in up if h["Hypervisor Type"] == "QEMU"]
        return hyps if kvm and vmw >= clusters else None

    eventually(
        reported, timeout=180, what="a KVM host and both clusters in `openstack hypervisor list`"
    )
    zones = openstack_json(osc, "availability", "zone", "list", "--compute")
    assert zones and all(z["Zone Status"] == "available" for z in zones)


def test_flavors_quota_and_images(
    osc: dict[str, Any], story: dict[str, Any], workdir: Path
) -> None:
    r = openstack(osc, "quota", "set", "--instances", "40", "--cores", "200", "--ram", "1000000",
                  story["project_id"])  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert openstack_json(osc, "flavor", "create", f"{PREFIX}tiny", "--vcpus", "1", "--ram", "64",
                          "--disk", "1")["ram"] == 64  # fmt: skip
    # Bigger than every single ESXi host of vcsim (about 4 GiB each), smaller than a cluster.
    openstack_json(osc, "flavor", "create", f"{PREFIX}too-big", "--vcpus", "1", "--ram", "6000",
                   "--disk", "1")  # fmt: skip
    disk = make_disk(workdir, "osc-boot")
    story["disk"] = str(disk)
    vmw = openstack_json(osc, "image", "create", "--disk-format", "qcow2", "--container-format", "bare",
                         "--property", "hypervisor_type=vmware", "--property", "vmware_adaptertype=lsiLogic",
                         "--file", str(disk), f"{PREFIX}only-vmw")  # fmt: skip
    assert vmw["status"] == "active" and vmw["disk_format"] == "qcow2"
    shown = openstack_json(osc, "image", "show", f"{PREFIX}only-vmw")
    assert shown["properties"]["hypervisor_type"] == "vmware"
    assert shown["properties"]["vmware_adaptertype"] == "lsiLogic"
    anyimg = openstack_json(osc, "image", "create", "--disk-format", "qcow2", "--file", str(disk),
                            f"{PREFIX}any")  # fmt: skip
    story["any_image"] = anyimg["id"]
    listed = {i["Name"] for i in openstack_json(osc, "image", "list")}
    assert {f"{PREFIX}only-vmw", f"{PREFIX}any"} <= listed
    pinned = openstack_json(osc, "image", "list", "--property", "hypervisor_type=vmware")
    assert f"{PREFIX}only-vmw" in {i["Name"] for i in pinned} and f"{PREFIX}any" not in {
        i["Name"] for i in pinned
    }


def _create(
    osc: dict[str, Any], stack: Stack, name: str, *args: str
) -> tuple[int, dict[str, Any], str]:
    r = openstack(osc, "server", "create", "--flavor", f"{PREFIX}tiny", "--network", "demo", *args,
                  "--wait", name, "-f", "json")  # fmt: skip
    server = openstack_json(osc, "server", "show", name)
    stack.created.add(server["id"])
    return r.returncode, server, r.stderr


def test_pinned_image_boots_on_vmware_and_a_hint_on_kvm(
    stack: Stack, osc: dict[str, Any], story: dict[str, Any]
) -> None:
    code, vmw, err = _create(osc, stack, f"{PREFIX}vmw", "--image", f"{PREFIX}only-vmw")
    assert code == 0 and vmw["status"] == "ACTIVE", (err, vmw)
    assert vmw["OS-EXT-SRV-ATTR:host"].startswith("vmware-"), vmw
    assert "demo" in str(vmw["addresses"]), vmw
    code, kvm, err = _create(osc, stack, f"{PREFIX}kvm", "--image", f"{PREFIX}any",
                             "--hint", f"hypervisor_type={kvm_type(stack)}")  # fmt: skip
    assert code == 0 and kvm["status"] == "ACTIVE", (err, kvm)
    assert not kvm["OS-EXT-SRV-ATTR:host"].startswith("vmware-"), kvm
    story["servers"] = {"vmw": vmw, "kvm": kvm}
    vm = vm_of(vcsim_vms(stack.endpoints["vcsim"]), {"id": vmw["id"],
                                                      "instance_name": vmw["OS-EXT-SRV-ATTR:instance_name"]})  # fmt: skip
    assert vm is not None, "the VMware server has no VM in vCenter"
    listed = {s["Name"]: s for s in openstack_json(osc, "server", "list")}
    assert (
        listed[f"{PREFIX}vmw"]["Status"] == "ACTIVE"
        and listed[f"{PREFIX}kvm"]["Status"] == "ACTIVE"
    )
    # The Image column names each server's image (the client asks Glance for `id=in:...`).
    assert listed[f"{PREFIX}vmw"]["Image"] == f"{PREFIX}only-vmw", listed
    assert listed[f"{PREFIX}kvm"]["Image"] == f"{PREFIX}any", listed
    nets = listed[f"{PREFIX}kvm"]["Networks"]
    assert any(ip.startswith("10.42.0.") for ip in nets["demo"]), listed


def console_page_base(stack: Stack) -> str:
    """Where the console proxy serves its noVNC page: its ws:// address over http."""
    return stack.endpoints["console"]["url"].replace("ws://", "http://", 1) + "/vnc.html?"


def test_console_url_is_the_console_proxys_page(stack: Stack, osc: dict[str, Any]) -> None:
    console = openstack_json(osc, "console", "url", "show", f"{PREFIX}kvm")
    kvm = openstack_json(osc, "server", "show", f"{PREFIX}kvm")
    url = console["url"]
    assert console["type"] == "novnc" and url.startswith(console_page_base(stack)), console
    query = parse_qs(urlsplit(url).query)
    assert query["server_id"] == [kvm["id"]] and query["token"][0], console
    # An address a browser opens: the page (whose script the browser test runs to the end).
    with urllib.request.urlopen(url, timeout=30) as r:
        assert r.status == 200 and r.headers.get_content_type() == "text/html"
        assert b'src="static/vnc.js"' in r.read()


def _kept_pages(stack: Stack) -> float:
    """How many server list pages the gateway has answered from the pages it keeps."""
    with urllib.request.urlopen(stack.endpoints["osapi"]["metrics"], timeout=10) as r:
        text = r.read().decode()
    found = re.search(r'^polyvisor_osapi_server_pages_total\{source="kept"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def test_a_kept_list_page_shows_a_rename_at_once(
    stack: Stack, osc: dict[str, Any], story: dict[str, Any]
) -> None:
    # One token, as a script or Terraform keeps: the gateway answers a page again while the
    # api says no server changed, and makes it anew as soon as one did.
    token = openstack_json(osc, "token", "issue")["id"]
    compute = osc["auth_url"].removesuffix("/identity/v3") + "/compute/v2.1"
    kvm = story["servers"]["kvm"]

    def call(method: str, path: str, body: Any = None) -> Any:
        req = urllib.request.Request(
            compute + path, method=method, headers={"X-Auth-Token": token,
                                                    "Content-Type": "application/json"},
            data=json.dumps(body).encode() if body is not None else None,
        )  # fmt: skip
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())

    def names() -> dict[str, str]:
        return {s["id"]: s["name"] for s in call("GET", "/servers/detail")["servers"]}

    before = _kept_pages(stack)
    first = names()
    assert first[kvm["id"]] == f"{PREFIX}kvm"
    for _ in range(5):  # a server's own report in between makes the page anew: read again
        assert names() == first
        if _kept_pages(stack) > before:
            break
    assert _kept_pages(stack) > before, "no read was answered with a kept page"
    call("PUT", f"/servers/{kvm['id']}", {"server": {"name": f"{PREFIX}renamed"}})
    assert names()[kvm["id"]] == f"{PREFIX}renamed"
    call("PUT", f"/servers/{kvm['id']}", {"server": {"name": f"{PREFIX}kvm"}})
    assert names() == first


def test_too_big_for_any_esxi_host_is_refused_with_the_explanation(
    stack: Stack, osc: dict[str, Any]
) -> None:
    r = openstack(osc, "server", "create", "--flavor", f"{PREFIX}too-big", "--image", f"{PREFIX}any",
                  "--network", "demo", "--hint", "hypervisor_type=vmware", "--wait", f"{PREFIX}big")  # fmt: skip
    assert r.returncode != 0, r.stdout
    server = openstack_json(osc, "server", "show", f"{PREFIX}big")
    stack.created.add(server["id"])
    assert server["status"] == "ERROR", server
    message = server["fault"]["message"].lower()
    assert "esxi" in message and "host" in message, server["fault"]
    assert vm_of(vcsim_vms(stack.endpoints["vcsim"]), server) is None


def _rest(osc: dict[str, Any], token: str, path: str) -> Any:
    """GET `path` under the gateway's base URL with `token` (polls cost less than the CLI)."""
    base = osc["auth_url"].removesuffix("/identity/v3")
    req = urllib.request.Request(base + path, headers={"X-Auth-Token": token})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def test_a_volume_attaches_to_the_kvm_server_and_goes(
    osc: dict[str, Any], story: dict[str, Any]
) -> None:
    name, server = f"{PREFIX}vol", story["servers"]["kvm"]
    vol = openstack_json(osc, "volume", "create", "--size", "1", name)
    assert (vol["status"], vol["size"]) == ("available", 1), vol
    listed = {v["Name"]: v for v in openstack_json(osc, "volume", "list")}
    assert listed[name]["Status"] == "available", listed
    r = openstack(osc, "server", "add", "volume", f"{PREFIX}kvm", name)
    assert r.returncode == 0, r.stderr
    token = openstack_json(osc, "token", "issue")["id"]
    one = f"/volume/v3/{story['project_id']}/volumes/{vol['id']}"
    eventually(lambda: _rest(osc, token, one)["volume"]["status"] == "in-use", timeout=120,
               what="the volume in-use", interval=0.5)  # fmt: skip
    shown = openstack_json(osc, "volume", "show", name)
    assert shown["status"] == "in-use", shown
    assert server["id"] in str(shown["attachments"]), shown
    srv = _rest(osc, token, f"/compute/v2.1/servers/{server['id']}")["server"]
    assert srv["os-extended-volumes:volumes_attached"] == [{"id": vol["id"]}], srv
    r = openstack(osc, "server", "remove", "volume", f"{PREFIX}kvm", name)
    assert r.returncode == 0, r.stderr
    eventually(lambda: _rest(osc, token, one)["volume"]["status"] == "available", timeout=120,
               what="the volume available again", interval=0.5)  # fmt: skip
    r = openstack(osc, "volume", "delete", name)
    assert r.returncode == 0, r.stderr
    assert _status(osc, one, token) == 404
    # with block storage in the catalog, `limits show` asks Cinder's /limits too
    limits = {x["Name"]: x["Value"] for x in openstack_json(osc, "limits", "show", "--absolute")}
    assert "max_total_volumes" in limits and "instances" in limits, limits


def test_server_delete_wait_leaves_nothing(
    stack: Stack, osc: dict[str, Any], story: dict[str, Any]
) -> None:
    names = [f"{PREFIX}vmw", f"{PREFIX}kvm", f"{PREFIX}big"]
    r = openstack(osc, "server", "delete", "--wait", *names)
    assert r.returncode == 0, r.stderr
    left = {s["Name"] for s in openstack_json(osc, "server", "list")}
    assert not left & set(names), left
    ids = {s["id"] for s in story["servers"].values()}
    domains = libvirt_domains(stack.libvirt_uri)
    if domains is not None:
        assert not any(sid in d for d in domains for sid in ids), domains
    vms = vcsim_vms(stack.endpoints["vcsim"])
    assert all(vm_of(vms, {"id": sid}) is None for sid in ids)


def test_the_same_story_through_openstacksdk(
    stack: Stack, osc: dict[str, Any], story: dict[str, Any]
) -> None:
    cfg = {"auth_url": osc["auth_url"], **stack.admin, "prefix": "sdk-", "disk": story["disk"],
           "flavor": f"{PREFIX}tiny", "big_flavor": f"{PREFIX}too-big",
           "any_image": story["any_image"], "kvm_type": kvm_type(stack)}  # fmt: skip
    script = Path(__file__).with_name("sdk_story.py")
    r = subprocess.run([str(osc["venv"] / "bin" / "python"), str(script), json.dumps(cfg)],
                       env=osc["env"], capture_output=True, text=True, timeout=900, check=False)  # fmt: skip
    assert r.returncode == 0, r.stderr[-4000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    for s in out["servers"].values():
        stack.created.add(s["id"])
    assert {"QEMU", "VMware vCenter Server"} <= set(out["hypervisors"]), out
    assert (
        out["image"]["hypervisor_type"] == "vmware"
        or out["image"]["properties"].get("hypervisor_type") == "vmware"
    )
    assert out["download_bytes"] == Path(story["disk"]).stat().st_size
    servers = out["servers"]
    assert servers["vmw"]["status"] == "ACTIVE" and servers["vmw"]["host"].startswith("vmware-"), (
        servers
    )
    assert servers["kvm"]["status"] == "ACTIVE" and not servers["kvm"]["host"].startswith("vmware-")
    assert servers["big"]["status"] == "ERROR" and "esxi" in servers["big"]["fault"].lower(), (
        servers["big"]
    )
    assert out["listed"] == ["sdk-big", "sdk-kvm", "sdk-vmw"]
    assert out["console_url"].startswith(console_page_base(stack)), out["console_url"]
    assert out["left"] == []
    # a private flavor's extra specs and access list (os-extra_specs, os-flavor-access)
    assert out["flavor"] == {"set": "2", "specs": {"k": "2"}, "access": [out["token_project"]],
                             "twice": "conflict", "access_after": []}  # fmt: skip
    # a volume's extend and snapshot (Cinder's os-extend, snapshots)
    assert out["volume"] == {"made": "available", "extended": 2, "snapshot": "available",
                             "snapshots": 1, "gone": True, "quota_counts_them": True}  # fmt: skip


def test_cleanup(osc: dict[str, Any]) -> None:
    r = openstack(osc, "image", "delete", f"{PREFIX}only-vmw", f"{PREFIX}any")
    assert r.returncode == 0, r.stderr
    r = openstack(osc, "flavor", "delete", f"{PREFIX}tiny", f"{PREFIX}too-big")
    assert r.returncode == 0, r.stderr
