"""A KVM server moved to vSphere and back (`polyvisor server migrate --hypervisor-type`),
through the `polyvisor` CLI on the whole stack: it keeps its id, its port (same id, MAC and
address), its claims follow it exactly, and its disk's content survives both moves. The
content is a random marker block written into the KVM disk from the host while the server
was stopped (so it is in no image the stack holds): after the first move it is read back from
the vmdk vCenter (vcsim) keeps on its datastore, after the second from the KVM disk again,
each time converted with qemu-img and compared by hash.

The tests run in order and share `story`; they need the stack with a real libvirtd (the
disk of a test-driver domain is never written)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.bootdisk import make_disk
from tests.e2e.stack import Stack, eventually, libvirt_domains, vcsim_vms, vm_of

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

WAIT = ("--wait", "--wait-timeout", "300")
MARKER_OFFSET = 8 * 1024 * 1024  # past the base image's data: zeros in every image
MARKER_SIZE = 4096
TINY = (1, 64)  # the flavor's vcpus, memory_mb


@pytest.fixture(scope="module")
def story() -> dict[str, Any]:
    return {}


def run(stack: Stack, *args: str) -> Any:
    r = stack.cli(*args, "-f", "json", timeout=600)
    assert r.returncode == 0, r.stderr + r.stdout
    return json.loads(r.stdout)


def act(stack: Stack, verb: str, state: str) -> None:
    r = stack.cli("server", verb, "e2e-xmove", *WAIT)
    assert r.returncode == 0, r.stderr + r.stdout
    assert run(stack, "server", "show", "e2e-xmove")["state"] == state


def _used(stack: Stack, host: str) -> tuple[int, int]:
    h = run(stack, "hypervisor", "show", host)
    return int(h["used"].get("vcpus", 0)), int(h["used"].get("memory_mb", 0))


def _usage(stack: Stack) -> dict[str, tuple[int, int]]:
    return {h["id"]: _used(stack, h["id"]) for h in stack.cli_json("hypervisor", "list")}


def _port(stack: Stack, server_id: str) -> dict[str, Any]:
    ports = stack.cli_json("port", "list", "--device-id", server_id)
    assert len(ports) == 1, ports
    p = ports[0]
    return {"id": p["id"], "mac": p["mac_address"], "ips": p.get("fixed_ips")}


def _kvm_disk(stack: Stack, server_id: str) -> Path:
    """The root disk file of the server's libvirt domain."""
    xml = subprocess.run(
        ["virsh", "-c", stack.libvirt_uri, "dumpxml", f"polyvisor-{server_id}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for disk in ET.fromstring(xml).findall("devices/disk"):
        src = disk.find("source")
        if disk.get("device") == "disk" and src is not None and src.get("file"):
            return Path(src.get("file", ""))
    raise AssertionError(f"no file-backed root disk in the domain of {server_id}")


def _marker_hash(disk: Path, fmt: str, work: Path) -> str:
    """sha256 of the marker block of `disk` (any format qemu-img reads), through raw."""
    raw = work / f"{disk.name}.raw"
    subprocess.run(
        ["qemu-img", "convert", "-U", "-f", fmt, "-O", "raw", str(disk), str(raw)], check=True
    )
    try:
        with open(raw, "rb") as f:
            f.seek(MARKER_OFFSET)
            return hashlib.sha256(f.read(MARKER_SIZE)).hexdigest()
    finally:
        raw.unlink()


def _vcsim_disk(stack: Stack, server_id: str) -> tuple[Path, str]:
    """The VM's disk in vcsim's datastore directory (its folder is the server id), and the
    format qemu-img reads it in: the flat extent (raw) when there is one (vcsim copies a
    disk's descriptor verbatim: it names the extent it was copied from), else the vmdk."""
    found = [p for p in (stack.home / "vcsim").rglob("*.vmdk") if p.parent.name == server_id]
    assert found, f"no vmdk of {server_id} under {stack.home / 'vcsim'}"
    flat = [p for p in found if p.name.endswith("-flat.vmdk")]
    return (flat[0], "raw") if flat else (found[0], "vmdk")


def test_setup(stack: Stack, story: dict[str, Any], workdir: Path) -> None:
    if libvirt_domains(stack.libvirt_uri) is None:
        pytest.skip("the stack's libvirt is the test driver: no disk to write a marker into")
    if shutil.which("qemu-io") is None:
        pytest.skip("qemu-io (Debian qemu-utils) is missing")
    admin = stack.admin
    r = stack.cli("login", "--username", admin["username"], f"--password={admin['password']}",
                  "--project", admin["project"])  # fmt: skip
    assert r.returncode == 0, r.stderr
    hyps = eventually(
        lambda: [h for h in stack.cli_json("hypervisor", "list") if h["state"] == "up"] or None,
        timeout=180,
        what="hypervisors up",
    )
    story["kvm_type"] = next(h["hypervisor_type"] for h in hyps if h["hypervisor_type"] != "vmware")
    if "e2e.xm-tiny" not in {f["name"] for f in stack.cli_json("flavor", "list")}:
        stack.cli_json("flavor", "create", "e2e.xm-tiny", "--vcpus", str(TINY[0]), "--ram",
                       str(TINY[1]), "--disk", "1")  # fmt: skip
    disk = make_disk(workdir, "xmove", "qcow2")
    stack.cli_json("image", "create", "e2e-xmove", "--file", str(disk), "--disk-format", "qcow2",
                   "--property", "architecture=x86_64")  # fmt: skip
    server = run(stack, "server", "create", "e2e-xmove", "--image", "e2e-xmove", "--flavor",
                 "e2e.xm-tiny", "--hint", f"hypervisor_type={story['kvm_type']}", *WAIT)  # fmt: skip
    stack.created.add(server["id"])
    assert server["state"] == "ACTIVE"
    story["server"] = server
    story["port"] = _port(stack, server["id"])

    # The marker, written from the host while the server is stopped; then it runs again.
    act(stack, "stop", "SHUTOFF")
    marker = workdir / "marker.bin"
    marker.write_bytes(os.urandom(MARKER_SIZE))
    story["hash"] = hashlib.sha256(marker.read_bytes()).hexdigest()
    kvm_disk = _kvm_disk(stack, server["id"])
    subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c",
         f"write -s {marker} {MARKER_OFFSET} {MARKER_SIZE}", str(kvm_disk)],
        check=True, capture_output=True,
    )  # fmt: skip
    assert _marker_hash(kvm_disk, "qcow2", workdir) == story["hash"]
    act(stack, "start", "ACTIVE")


def _moved(stack: Stack, story: dict[str, Any], to: str, before: dict[str, tuple[int, int]]) -> Any:
    first = story["server"]
    source = run(stack, "server", "show", "e2e-xmove")["host"]
    r = stack.cli("server", "migrate", "e2e-xmove", "--hypervisor-type", to, *WAIT, "-f", "json",
                  timeout=900)  # fmt: skip
    assert r.returncode == 0, r.stderr + r.stdout
    assert "drivers" in r.stderr  # the guest's drivers are the operator's concern: it says so
    moved = json.loads(r.stdout)
    assert moved["id"] == first["id"] and moved["state"] == "ACTIVE"
    assert moved["hypervisor_type"] == to and moved["host"] != source
    assert not moved.get("resize") and not moved.get("fault")
    assert _port(stack, moved["id"]) == story["port"]
    assert moved.get("addresses") == first.get("addresses")
    # The claim moved exactly: the source gave the flavor back, the destination holds it.
    after = _usage(stack)
    assert after[source] == (before[source][0] - TINY[0], before[source][1] - TINY[1])
    dest = moved["host"]
    assert after[dest] == (before[dest][0] + TINY[0], before[dest][1] + TINY[1])
    assert {h: u for h, u in after.items() if h not in (source, dest)} == {
        h: u for h, u in before.items() if h not in (source, dest)
    }
    # The image that carried the disk is gone.
    eventually(
        lambda: (
            not [
                i
                for i in stack.cli_json("image", "list")
                if i["name"].startswith("move of e2e-xmove")
            ]
        ),
        timeout=120,
        what="the transfer image deleted",
    )
    return moved


def test_to_vmware_keeps_id_ports_and_disk(
    stack: Stack, story: dict[str, Any], workdir: Path
) -> None:
    sid = story["server"]["id"]
    moved = _moved(stack, story, "vmware", _usage(stack))
    vm = vm_of(vcsim_vms(stack.endpoints["vcsim"]), moved)
    assert vm is not None
    assert f"polyvisor-{sid}" not in (libvirt_domains(stack.libvirt_uri) or set())
    disk, fmt = _vcsim_disk(stack, sid)
    assert _marker_hash(disk, fmt, workdir) == story["hash"]


def test_and_back_to_kvm_keeps_them_too(stack: Stack, story: dict[str, Any], workdir: Path) -> None:
    sid = story["server"]["id"]
    moved = _moved(stack, story, story["kvm_type"], _usage(stack))
    assert f"polyvisor-{sid}" in (libvirt_domains(stack.libvirt_uri) or set())
    assert vm_of(vcsim_vms(stack.endpoints["vcsim"]), moved) is None
    assert _marker_hash(_kvm_disk(stack, sid), "qcow2", workdir) == story["hash"]


def test_what_cannot_move_is_refused(stack: Stack, story: dict[str, Any]) -> None:
    r = stack.cli("server", "migrate", "e2e-xmove", "--hypervisor-type", "vmware", "--live")
    assert r.returncode != 0 and "cold" in r.stderr, r.stderr + r.stdout
    r = stack.cli("server", "migrate", "e2e-xmove", "--hypervisor-type", "lxc")
    assert r.returncode != 0 and "no disk image to carry" in r.stderr, r.stderr + r.stdout
    shown = run(stack, "server", "show", "e2e-xmove")
    assert shown["state"] == "ACTIVE" and shown["hypervisor_type"] == story["kvm_type"]


def test_clean_up(stack: Stack, story: dict[str, Any]) -> None:
    r = stack.cli("server", "delete", "e2e-xmove", *WAIT)
    assert r.returncode == 0, r.stderr
    stack.cli("flavor", "delete", "e2e.xm-tiny")
    stack.cli("image", "delete", "e2e-xmove")
