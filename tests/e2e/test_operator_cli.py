"""The operator story, end to end, through the `polyvisor` CLI (a subprocess, as typed).

One cloud, a KVM host and two VMware clusters side by side (the stack `./dev up` starts):
upload a qcow2 image with no hypervisor_type and boot it on KVM and on VMware (the image
service makes the vmdk rendition); pinned images land only on their hypervisor; the
architecture filter keeps images off hosts that cannot run them; a flavor larger than every
single ESXi host but smaller than the cluster's total is refused with the scheduler's
explanation; consoles come back with ports in each hypervisor's range; deleting everything
leaves nothing in libvirt or vCenter (vcsim) and releases every claim.

The tests run in order and share `story`; a failing step makes the later ones fail too.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.bootdisk import make_disk
from tests.e2e.stack import (
    Stack,
    eventually,
    libvirt_domains,
    vcsim_vms,
    vm_of,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

WAIT = ("--wait", "--wait-timeout", "300")
KVM_VNC = range(5900, 6001)
ESX_VNC = range(5900, 6106)


@pytest.fixture(scope="module")
def story() -> dict[str, Any]:
    return {}


def create_server(stack: Stack, name: str, *args: str) -> tuple[int, dict[str, Any] | None, str]:
    """`server create NAME ARGS --wait -f json`: (exit code, the server if it exists, stderr)."""
    r = stack.cli("server", "create", name, *args, *WAIT, "-f", "json")
    server = None
    if r.returncode == 0:
        server = json.loads(r.stdout)
    else:
        shown = stack.cli("server", "show", name, "-f", "json")
        if shown.returncode == 0:
            server = json.loads(shown.stdout)
    if server is not None:
        stack.created.add(server["id"])
    return r.returncode, server, r.stderr + r.stdout


# ---------------------------------------------------------------------- the cloud is there


def test_stack_is_up(stack: Stack) -> None:
    bad = stack.not_running()
    assert not bad, f"./dev up did not start everything: {bad}\n{stack.up_output[-4000:]}"
    assert len(stack.endpoints["vcsim"]["clusters"]) == 2


def test_login_then_every_hypervisor_reports(stack: Stack, story: dict[str, Any]) -> None:
    admin = stack.admin
    r = stack.cli("login", "--username", admin["username"], f"--password={admin['password']}",
                  "--project", admin["project"], "-f", "json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    who = json.loads(r.stdout)
    assert "admin" in who["roles"] and who["project"] == admin["project"]
    story["project_id"] = who["project_id"]
    clusters = set(stack.endpoints["vcsim"]["clusters"])

    def reported() -> list[dict[str, Any]] | None:
        hyps = stack.cli_json("hypervisor", "list")
        kvm = [h for h in hyps if h["hypervisor_type"] in ("kvm", "qemu") and h["state"] == "up"]
        vmw = {
            h["cluster_name"]
            for h in hyps
            if h["hypervisor_type"] == "vmware" and h["state"] == "up"
        }
        return hyps if kvm and vmw >= clusters else None

    hyps = eventually(reported, timeout=180, what="a KVM host and both VMware clusters up")
    kvm = next(h for h in hyps if h["hypervisor_type"] in ("kvm", "qemu"))
    story["kvm_type"], story["kvm_host"] = kvm["hypervisor_type"], kvm["id"]
    assert kvm["features"]["vnc_port_range"] == {"min": 5900, "max": 6000}
    assert any(si["architecture"] == "x86_64" for si in kvm["supported_instances"])

    story["clusters"] = {}
    for h in (h for h in hyps if h["hypervisor_type"] == "vmware"):
        shown = stack.cli_json("hypervisor", "show", h["id"])
        assert len(shown["esxi_hosts"]) == 3, shown
        assert all(
            e["memory_mb"] > 0 and e["connection_state"] == "connected" for e in shown["esxi_hosts"]
        )
        assert shown["features"]["vnc_port_range"] == {"min": 5900, "max": 6105}
        story["clusters"][h["id"]] = shown
        table = stack.cli("hypervisor", "show", h["id"])  # the table shows the ESXi hosts
        assert table.returncode == 0 and all(e["name"] in table.stdout for e in shown["esxi_hosts"])


def test_quota_and_flavors(stack: Stack, story: dict[str, Any]) -> None:
    quota = stack.cli_json("quota", "set", "--project", story["project_id"], "--instances", "40",
                           "--cores", "200", "--ram", "1000000")  # fmt: skip
    assert quota["limits"] == {"instances": 40, "vcpus": 200, "ram_mb": 1000000}
    assert (
        stack.cli_json(
            "flavor", "create", "e2e.tiny", "--vcpus", "1", "--ram", "64", "--disk", "1"
        )["ram_mb"]
        == 64
    )
    # Larger than every single ESXi host, smaller than a cluster's total.
    cluster = next(iter(story["clusters"].values()))
    biggest = max(e["memory_mb"] for e in cluster["esxi_hosts"])
    total = sum(e["memory_mb"] for e in cluster["esxi_hosts"])
    ram = biggest + 512
    assert ram < total
    big = stack.cli_json(
        "flavor", "create", "e2e.esxi-too-big", "--vcpus", "1", "--ram", str(ram), "--disk", "1"
    )
    story["big_ram"] = big["ram_mb"]
    names = [f["name"] for f in stack.cli_json("flavor", "list")]
    assert {"e2e.tiny", "e2e.esxi-too-big"} <= set(names)


def test_upload_images(stack: Stack, story: dict[str, Any], workdir: Path) -> None:
    disk = make_disk(workdir, "boot", "qcow2")
    kvm_type = story["kvm_type"]
    for name, props in (
        ("e2e-any", ["architecture=x86_64"]),
        ("e2e-vmware", ["architecture=x86_64", "hypervisor_type=vmware"]),
        ("e2e-kvm", ["architecture=x86_64", f"hypervisor_type={kvm_type}"]),
        ("e2e-arm", ["architecture=aarch64"]),
    ):
        args = ["image", "create", name, "--file", str(disk), "--disk-format", "qcow2"]
        for p in props:
            args += ["--property", p]
        image = stack.cli_json(*args)
        assert image["status"] == "active", image
        assert image["disk_format"] == "qcow2" and image["size"] == disk.stat().st_size
        assert [r["disk_format"] for r in image["renditions"] if r["original"]] == ["qcow2"]
        story.setdefault("images", {})[name] = image
    assert story["images"]["e2e-any"]["hypervisor_type"] == ""
    listed = {i["name"] for i in stack.cli_json("image", "list")}
    assert {"e2e-any", "e2e-vmware", "e2e-kvm", "e2e-arm"} <= listed


# ---------------------------------------------------------------------- one image, every hypervisor


def test_unpinned_qcow2_boots_on_kvm(stack: Stack, story: dict[str, Any]) -> None:
    code, server, err = create_server(stack, "e2e-any-kvm", "--image", "e2e-any", "--flavor", "e2e.tiny",
                                      "--hint", f"hypervisor_type={story['kvm_type']}")  # fmt: skip
    assert code == 0, err
    assert server is not None and server["state"] == "ACTIVE"
    assert server["hypervisor_type"] == story["kvm_type"] and server["host"] == story["kvm_host"]
    story["kvm_server"] = server
    domains = libvirt_domains(stack.libvirt_uri)
    if domains is not None:
        assert any(server["id"] in d or d == server["instance_name"] for d in domains), domains


def test_unpinned_qcow2_boots_on_vmware_through_a_vmdk_rendition(
    stack: Stack, story: dict[str, Any]
) -> None:
    code, server, err = create_server(stack, "e2e-any-vmw", "--image", "e2e-any", "--flavor", "e2e.tiny",
                                      "--hint", "hypervisor_type=vmware")  # fmt: skip
    assert code == 0, err
    assert server is not None and server["state"] == "ACTIVE"
    assert server["hypervisor_type"] == "vmware" and server["host"] in story["clusters"]
    assert server["esxi_host"], server
    story["vmw_server"] = server
    vm = vm_of(vcsim_vms(stack.endpoints["vcsim"]), server)
    assert vm is not None, "no VM in vCenter for the server"
    assert vm.cluster == story["clusters"][server["host"]]["cluster_name"]
    assert vm.esxi_host == server["esxi_host"]
    renditions = stack.cli_json("image", "renditions", "e2e-any")
    vmdk = [r for r in renditions if r["disk_format"] == "vmdk"]
    assert vmdk and vmdk[0]["status"] == "active" and not vmdk[0]["original"], renditions
    assert vmdk[0]["vmware_disktype"] == "streamOptimized"


def test_pinned_images_land_only_on_their_hypervisor(stack: Stack, story: dict[str, Any]) -> None:
    for i in (1, 2):
        code, server, err = create_server(
            stack, f"e2e-pin-vmw-{i}", "--image", "e2e-vmware", "--flavor", "e2e.tiny"
        )
        assert code == 0, err
        assert (
            server is not None
            and server["hypervisor_type"] == "vmware"
            and server["host"] in story["clusters"]
        )
        code, server, err = create_server(
            stack, f"e2e-pin-kvm-{i}", "--image", "e2e-kvm", "--flavor", "e2e.tiny"
        )
        assert code == 0, err
        assert server is not None and server["host"] == story["kvm_host"]
    # Asking for the other hypervisor cannot override the pin: refused (up front, or by the
    # scheduler), and the error names the pin.
    code, server, err = create_server(stack, "e2e-pin-conflict", "--image", "e2e-vmware", "--flavor", "e2e.tiny",
                                      "--hint", f"hypervisor_type={story['kvm_type']}")  # fmt: skip
    assert code == 1, err
    assert "vmware" in err, err
    if server is not None:
        assert (
            server["state"] == "ERROR"
            and server["fault"]["code"] == "NO_VALID_HOST"
            and not server["host"]
        )


def test_architecture_keeps_images_off_hosts_that_cannot_run_them(
    stack: Stack, story: dict[str, Any]
) -> None:
    # Every host here is x86_64: an aarch64 image has nowhere to go, and says why.
    code, server, err = create_server(
        stack, "e2e-arm-1", "--image", "e2e-arm", "--flavor", "e2e.tiny"
    )
    assert code == 1, err
    if server is not None:
        assert server["state"] == "ERROR" and not server["host"]
        nvh = server["fault"]["no_valid_host"]
        assert nvh["total_hosts"] >= 3 and nvh["filters"], server["fault"]
    assert "aarch64" in err or "architecture" in err.lower(), err
    # And every server of an x86_64 image sits on a host that supports x86_64.
    hyps = {h["id"]: h for h in stack.cli_json("hypervisor", "list")}
    for s in stack.cli_json("server", "list"):
        if s["state"] == "ACTIVE":
            archs = {si["architecture"] for si in hyps[s["host"]]["supported_instances"]}
            assert "x86_64" in archs, (s["name"], s["host"], archs)


def test_flavor_bigger_than_any_esxi_host_is_refused_with_the_explanation(
    stack: Stack, story: dict[str, Any]
) -> None:
    code, server, err = create_server(stack, "e2e-too-big", "--image", "e2e-any", "--flavor", "e2e.esxi-too-big",
                                      "--hint", "hypervisor_type=vmware")  # fmt: skip
    assert code == 1, err
    assert "Why (examples)" in err, err  # the per-filter table
    text = err.lower()
    if server is not None:
        assert server["state"] == "ERROR" and not server["host"]
        fault = server["fault"]
        assert fault["code"] == "NO_VALID_HOST"
        nvh = fault["no_valid_host"]
        assert nvh["summary"] and nvh["filters"]
        assert any(f["hosts_removed"] > 0 for f in nvh["filters"])
        text += " ".join(
            [nvh["summary"], *(e["reason"] for f in nvh["filters"] for e in f["examples"])]
        ).lower()
    assert "esxi" in text, err
    assert vm_of(vcsim_vms(stack.endpoints["vcsim"]), server or {"id": "none-e2e-too-big"}) is None


def test_consoles_come_back_in_each_hypervisors_port_range(
    stack: Stack, story: dict[str, Any]
) -> None:
    proxy = stack.endpoints["console"]["url"]
    for key, ports in (("kvm_server", KVM_VNC), ("vmw_server", ESX_VNC)):
        sid = story[key]["id"]
        # The console opens through the proxy, never at the hypervisor.
        c = stack.cli_json("server", "console", sid)
        assert c["type"] == "vnc" and c["url"].startswith(f"{proxy}/websockify?"), c
        assert c["token"] in c["url"] and sid in c["url"], c
        # Where the VNC server itself listens, in the hypervisor's range.
        where = stack.cli_json("server", "show", sid)["console"]  # the Server message's field
        assert where["host"] and int(where["port"]) in ports, where


def test_stop_start_reboot(stack: Stack, story: dict[str, Any]) -> None:
    for key in ("kvm_server", "vmw_server"):
        sid = story[key]["id"]
        assert stack.cli_json("server", "stop", sid, *WAIT)[0]["state"] == "SHUTOFF"
        assert stack.cli_json("server", "start", sid, *WAIT)[0]["state"] == "ACTIVE"
        assert stack.cli_json("server", "reboot", sid, "--hard", *WAIT)[0]["state"] == "ACTIVE"
        shown = stack.cli_json("server", "show", sid)
        if shown["power_state"] != "running":
            time.sleep(5)  # not a retry: say whether the inconsistency lasts
            later = stack.cli_json("server", "show", sid)
            raise AssertionError(
                f"{key}: ACTIVE after a hard reboot, but power_state {shown['power_state']!r} "
                f"(5 s later: {later['state']} / {later['power_state']}); server: {shown}"
            )


# ---------------------------------------------------------------------- and nothing remains


def test_delete_everything_and_nothing_remains(stack: Stack, story: dict[str, Any]) -> None:
    servers = stack.cli_json("server", "list")
    assert servers, "the story created servers"
    ids = [s["id"] for s in servers]
    r = stack.cli("server", "delete", *ids, *WAIT)
    assert r.returncode == 0, r.stderr
    assert stack.cli_json("server", "list") == []
    gone = stack.cli("server", "show", story["kvm_server"]["id"], "-f", "json")
    assert gone.returncode == 3 or json.loads(gone.stdout)["state"] == "DELETED", (
        gone.stdout + gone.stderr
    )

    domains = libvirt_domains(stack.libvirt_uri)
    if domains is not None:
        left = [d for d in domains if any(sid in d for sid in stack.created)]
        assert left == [], left
    vms = vcsim_vms(stack.endpoints["vcsim"])
    left_vms = [vm_of(vms, {"id": sid}) for sid in stack.created]
    assert [v for v in left_vms if v is not None] == []

    def released() -> bool:
        hyps = stack.cli_json("hypervisor", "list")
        return all(
            h["running_servers"] == 0 and (h["used"] or {}).get("memory_mb", 0) == 0 for h in hyps
        )

    eventually(released, timeout=60, what="every claim released")

    r = stack.cli("image", "delete", *story["images"])
    assert r.returncode == 0, r.stderr
    assert stack.cli("flavor", "delete", "e2e.tiny", "e2e.esxi-too-big").returncode == 0
    assert not {i["name"] for i in stack.cli_json("image", "list")} & set(story["images"])
    assert stack.cli("image", "show", "e2e-any").returncode == 3
    stack.created.clear()
