"""Snapshot to image across hypervisors, end to end through the `polyvisor` CLI: a server on
KVM snapshotted to an image that boots on VMware, one on VMware snapshotted to an image that
boots on KVM (the image service makes each rendition); then shelve frees the host and
unshelve boots the server again from its image, keeping its addresses, and a rebuild
reinstalls it on its host.

The tests run in order and share `story`; they need only the stack and an admin login."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.bootdisk import BANNER, make_disk
from tests.e2e.stack import Stack, eventually, libvirt_domains, vcsim_vms, vm_of

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

WAIT = ("--wait", "--wait-timeout", "300")


@pytest.fixture(scope="module")
def story() -> dict[str, Any]:
    return {}


def boot(stack: Stack, name: str, image: str, hv: str) -> dict[str, Any]:
    r = stack.cli("server", "create", name, "--image", image, "--flavor", "e2e.img-tiny",
                  "--hint", f"hypervisor_type={hv}", *WAIT, "-f", "json")  # fmt: skip
    shown = stack.cli("server", "show", name, "-f", "json")
    if shown.returncode == 0:
        stack.created.add(json.loads(shown.stdout)["id"])
    assert r.returncode == 0, r.stderr + r.stdout
    server: dict[str, Any] = json.loads(r.stdout)
    assert server["state"] == "ACTIVE"
    return server


def kvm_console(stack: Stack, server_id: str) -> Path:
    return stack.home / "data" / "agent_kvm" / "instances" / server_id / "console.log"


def booted_on_kvm(stack: Stack, server: dict[str, Any]) -> None:
    """The guest printed the boot sector's line on its serial port (when this machine's
    libvirt is the stack's, its log is readable)."""
    log = kvm_console(stack, server["id"])
    if libvirt_domains(stack.libvirt_uri) is None:
        return
    eventually(
        lambda: log.exists() and BANNER in log.read_bytes(), timeout=120, what="the boot line"
    )


def test_setup(stack: Stack, story: dict[str, Any], workdir: Path) -> None:
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
    if "e2e.img-tiny" not in {f["name"] for f in stack.cli_json("flavor", "list")}:
        stack.cli_json("flavor", "create", "e2e.img-tiny", "--vcpus", "1", "--ram", "64",
                       "--disk", "1")  # fmt: skip
    disk = make_disk(workdir, "snapbase", "qcow2")
    image = stack.cli_json("image", "create", "e2e-snapbase", "--file", str(disk),
                           "--disk-format", "qcow2", "--property", "architecture=x86_64")  # fmt: skip
    assert image["status"] == "active"
    story["base"] = image


def snapshot(stack: Stack, server: dict[str, Any], name: str) -> dict[str, Any]:
    r = stack.cli("server", "image", "create", server["name"], "--name", name, *WAIT,
                  "-f", "json", timeout=900)  # fmt: skip
    assert r.returncode == 0, r.stderr + r.stdout
    made = json.loads(r.stdout)
    assert made["server"]["state"] == "ACTIVE" and made["server"]["task"] in ("", "none")
    image: dict[str, Any] = stack.cli_json("image", "show", made["image_id"])
    assert image["status"] == "active" and image["name"] == name
    props = image["properties"]
    assert props["instance_uuid"] == server["id"]
    assert props["base_image_ref"] == server["image_id"]
    assert props["image_type"] == "snapshot"
    assert props["snapshot_consistency"] in ("quiesced", "crash-consistent")
    assert image["hypervisor_type"] == ""  # not pinned: it boots anywhere through renditions
    return image


def test_a_kvm_snapshot_boots_on_vmware(stack: Stack, story: dict[str, Any]) -> None:
    src = boot(stack, "e2e-snap-src-kvm", "e2e-snapbase", story["kvm_type"])
    booted_on_kvm(stack, src)
    image = snapshot(stack, src, "e2e-snap-of-kvm")
    assert image["properties"]["source_hypervisor_type"] == story["kvm_type"]
    assert image["disk_format"] == "qcow2"
    copy = boot(stack, "e2e-snap-kvm-on-vmw", "e2e-snap-of-kvm", "vmware")
    assert copy["hypervisor_type"] == "vmware" and copy["image_id"] == image["id"]
    assert vm_of(vcsim_vms(stack.endpoints["vcsim"]), copy) is not None
    renditions = stack.cli_json("image", "renditions", image["id"])
    assert any(r["disk_format"] == "vmdk" and r["status"] == "active" for r in renditions)
    story["kvm_src"] = src


def test_a_vmware_snapshot_boots_on_kvm(stack: Stack, story: dict[str, Any]) -> None:
    src = boot(stack, "e2e-snap-src-vmw", "e2e-snapbase", "vmware")
    image = snapshot(stack, src, "e2e-snap-of-vmw")
    assert image["properties"]["source_hypervisor_type"] == "vmware"
    copy = boot(stack, "e2e-snap-vmw-on-kvm", "e2e-snap-of-vmw", story["kvm_type"])
    assert copy["hypervisor_type"] == story["kvm_type"]
    booted_on_kvm(stack, copy)  # the bytes vCenter held are the disk that boots


def test_image_create_in_the_wrong_state_names_the_allowed_ones(
    stack: Stack, story: dict[str, Any]
) -> None:
    name = story["kvm_src"]["name"]
    r = stack.cli("server", "shelve", name, *WAIT, "-f", "json", timeout=900)
    assert r.returncode == 0, r.stderr + r.stdout
    shelved = json.loads(r.stdout)
    assert shelved["server"]["state"] == "SHELVED_OFFLOADED" and not shelved["server"]["host"]
    story["shelved_image"] = shelved["image_id"]
    r = stack.cli("server", "image", "create", name)
    assert r.returncode == 1
    assert "SHELVED_OFFLOADED" in r.stderr and "ACTIVE, SHUTOFF" in r.stderr, r.stderr


def test_unshelve_boots_it_again_with_its_addresses(stack: Stack, story: dict[str, Any]) -> None:
    before = story["kvm_src"]
    r = stack.cli("server", "unshelve", before["name"], *WAIT, "-f", "json")
    assert r.returncode == 0, r.stderr + r.stdout
    after = json.loads(r.stdout)
    assert after["state"] == "ACTIVE" and after["id"] == before["id"] and after["host"]
    assert after.get("addresses", []) == before.get("addresses", [])
    if after["hypervisor_type"] != "vmware":
        booted_on_kvm(stack, after)


def test_rebuild_reinstalls_on_the_same_host(stack: Stack, story: dict[str, Any]) -> None:
    server = stack.cli_json("server", "show", "e2e-snap-src-vmw")
    r = stack.cli("server", "rebuild", server["name"], "--image", "e2e-snap-of-kvm", *WAIT,
                  "-f", "json")  # fmt: skip
    assert r.returncode == 0, r.stderr + r.stdout
    after = json.loads(r.stdout)
    assert after["state"] == "ACTIVE" and after["id"] == server["id"]
    assert after["host"] == server["host"] and after["image_id"] == story_image(
        stack, "e2e-snap-of-kvm"
    )


def story_image(stack: Stack, name: str) -> str:
    return str(stack.cli_json("image", "show", name)["id"])


def test_delete_what_the_story_made(stack: Stack) -> None:
    for name in ("e2e-snap-src-kvm", "e2e-snap-kvm-on-vmw", "e2e-snap-src-vmw",
                 "e2e-snap-vmw-on-kvm"):  # fmt: skip
        r = stack.cli("server", "delete", name, *WAIT)
        assert r.returncode == 0, r.stderr
