"""Resize end to end through the `polyvisor` CLI, as the README's operator story types it: a
KVM server resized and confirmed (its new size on the host, the old flavor's claim given back),
a VMware server resized and reverted (back on its old flavor), and a resize to a flavor no host
has room for refused with the scheduler's explanation.

The tests run in order and share `story`; they need only the stack and an admin login."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.bootdisk import make_disk
from tests.e2e.stack import Stack, eventually, libvirt_domains, vcsim_vms, vm_of

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

WAIT = ("--wait", "--wait-timeout", "300")


@pytest.fixture(scope="module")
def story() -> dict[str, Any]:
    return {}


def run(stack: Stack, *args: str) -> dict[str, Any]:
    r = stack.cli(*args, "-f", "json", timeout=600)
    assert r.returncode == 0, r.stderr + r.stdout
    out: dict[str, Any] = json.loads(r.stdout)
    return out


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
    flavors = {f["name"] for f in stack.cli_json("flavor", "list")}
    for name, vcpus, ram, disk in (("e2e.rs-tiny", 1, 64, 1), ("e2e.rs-small", 2, 128, 2),
                                   ("e2e.rs-huge", 1024, 128, 2)):  # fmt: skip
        if name not in flavors:
            stack.cli_json("flavor", "create", name, "--vcpus", str(vcpus), "--ram", str(ram),
                           "--disk", str(disk))  # fmt: skip
    if "e2e-rs" not in {i["name"] for i in stack.cli_json("image", "list")}:
        disk = make_disk(workdir, "rs", "qcow2")
        stack.cli_json("image", "create", "e2e-rs", "--file", str(disk), "--disk-format",
                       "qcow2", "--property", "architecture=x86_64")  # fmt: skip
    for name, hv in (("e2e-rs-kvm", story["kvm_type"]), ("e2e-rs-vmw", "vmware")):
        s = run(stack, "server", "create", name, "--image", "e2e-rs", "--flavor", "e2e.rs-tiny",
                "--hint", f"hypervisor_type={hv}", *WAIT)  # fmt: skip
        stack.created.add(s["id"])
        assert s["state"] == "ACTIVE"
        story[name] = s


def test_resize_then_confirm_on_kvm(stack: Stack, story: dict[str, Any]) -> None:
    before = story["e2e-rs-kvm"]
    r = stack.cli("server", "resize", "e2e-rs-kvm", "e2e.rs-small", *WAIT, "-f", "json",
                  timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr + r.stdout
    resized = json.loads(r.stdout)
    assert resized["state"] == "VERIFY_RESIZE" and "VERIFY_RESIZE" in r.stderr  # progress line
    assert resized["flavor"]["name"] == "e2e.rs-small"
    assert resized["resize"]["old_flavor"]["name"] == "e2e.rs-tiny"
    assert resized["host"] == before["host"]  # it fits its host: it stays there
    done = run(stack, "server", "resize", "confirm", "e2e-rs-kvm", *WAIT)
    assert done["state"] == "ACTIVE" and done["flavor"]["name"] == "e2e.rs-small"
    assert "resize" not in done or not done["resize"]
    if libvirt_domains(stack.libvirt_uri) is not None:
        info = subprocess.run(
            ["virsh", "-c", stack.libvirt_uri, "dominfo", f"polyvisor-{done['id']}"],
            capture_output=True, text=True, check=False,
        ).stdout  # fmt: skip
        assert re.search(r"CPU\(s\):\s+2\b", info), info
        assert re.search(r"Max memory:\s+131072 KiB", info), info


def test_resize_then_revert_on_vmware(stack: Stack, story: dict[str, Any]) -> None:
    before = story["e2e-rs-vmw"]
    resized = run(stack, "server", "resize", "e2e-rs-vmw", "e2e.rs-small", *WAIT)
    assert resized["state"] == "VERIFY_RESIZE" and resized["flavor"]["name"] == "e2e.rs-small"
    vm = vm_of(vcsim_vms(stack.endpoints["vcsim"]), resized)
    assert vm is not None
    back = run(stack, "server", "resize", "revert", "e2e-rs-vmw", *WAIT)
    assert back["state"] == "ACTIVE" and back["flavor"]["name"] == "e2e.rs-tiny"
    assert back["host"] == before["host"]


def _used(stack: Stack, host: str) -> tuple[int, int]:
    h = run(stack, "hypervisor", "show", host)
    return int(h["used"].get("vcpus", 0)), int(h["used"].get("memory_mb", 0))


def test_resize_moves_to_the_other_cluster_when_its_own_is_disabled(
    stack: Stack, story: dict[str, Any]
) -> None:
    """Its cluster disabled, a resize moves the VM to the other cluster (RelocateVM by the
    source's agent, the destination's agent owns it then); revert brings it back, confirm
    leaves it there; the claims follow it exactly."""
    source = run(stack, "server", "show", "e2e-rs-vmw")["host"]
    others = [h["id"] for h in stack.cli_json("hypervisor", "list", "--type", "vmware")]
    dest = next(h for h in others if h != source)
    src_before, dst_before = _used(stack, source), _used(stack, dest)
    r = stack.cli("hypervisor", "disable", source, "--reason", "e2e: drain")
    assert r.returncode == 0, r.stderr
    try:
        moved = run(stack, "server", "resize", "e2e-rs-vmw", "e2e.rs-small", *WAIT)
        assert moved["state"] == "VERIFY_RESIZE" and moved["host"] == dest
        vm = vm_of(vcsim_vms(stack.endpoints["vcsim"]), moved)
        assert (
            vm is not None and vm.cluster == run(stack, "hypervisor", "show", dest)["cluster_name"]
        )
        # both flavors held until the confirm: the old one here, the new one there
        assert _used(stack, source) == src_before
        assert _used(stack, dest) == (dst_before[0] + 2, dst_before[1] + 128)
        back = run(stack, "server", "resize", "revert", "e2e-rs-vmw", *WAIT)
        assert back["state"] == "ACTIVE" and back["host"] == source
        assert (_used(stack, source), _used(stack, dest)) == (src_before, dst_before)

        run(stack, "server", "resize", "e2e-rs-vmw", "e2e.rs-small", *WAIT)
        done = run(stack, "server", "resize", "confirm", "e2e-rs-vmw", *WAIT)
        assert done["state"] == "ACTIVE" and done["host"] == dest
        assert _used(stack, source) == (src_before[0] - 1, src_before[1] - 64)
        assert _used(stack, dest) == (dst_before[0] + 2, dst_before[1] + 128)
        # the destination's agent owns it now: stop and start go there
        for verb, state in (("stop", "SHUTOFF"), ("start", "ACTIVE")):
            r = stack.cli("server", verb, "e2e-rs-vmw", *WAIT)
            assert r.returncode == 0, r.stderr + r.stdout
            assert run(stack, "server", "show", "e2e-rs-vmw")["state"] == state
    finally:
        stack.cli("hypervisor", "enable", source)


def test_vmotion_and_cold_migration_between_the_clusters(
    stack: Stack, story: dict[str, Any]
) -> None:
    """`server migrate --live` relocates the running VM to the other cluster (vMotion); a
    cold `server migrate` moves it back, stopped, and waits for the confirm; the claims
    follow it exactly."""
    here = run(stack, "server", "show", "e2e-rs-vmw")["host"]
    there = next(
        h["id"] for h in stack.cli_json("hypervisor", "list", "--type", "vmware") if h["id"] != here
    )
    on_here, on_there = _used(stack, here), _used(stack, there)
    small = (2, 128)  # the server's flavor (e2e.rs-small)

    moved = run(stack, "server", "migrate", "e2e-rs-vmw", "--live", *WAIT)
    assert moved["state"] == "ACTIVE" and moved["host"] == there
    vm = vm_of(vcsim_vms(stack.endpoints["vcsim"]), moved)
    assert vm is not None and vm.cluster == run(stack, "hypervisor", "show", there)["cluster_name"]
    assert _used(stack, here) == (on_here[0] - small[0], on_here[1] - small[1])
    assert _used(stack, there) == (on_there[0] + small[0], on_there[1] + small[1])

    cold = run(stack, "server", "migrate", "e2e-rs-vmw", *WAIT)
    assert cold["state"] == "VERIFY_RESIZE" and cold["host"] == here
    done = run(stack, "server", "resize", "confirm", "e2e-rs-vmw", *WAIT)
    assert done["state"] == "ACTIVE" and done["host"] == here
    assert (_used(stack, here), _used(stack, there)) == (on_here, on_there)


def test_a_flavor_no_host_has_room_for_is_explained(stack: Stack, story: dict[str, Any]) -> None:
    # Beyond the project's quota first: refused at once, nothing asked of the scheduler.
    r = stack.cli("server", "resize", "e2e-rs-kvm", "e2e.rs-huge", *WAIT, timeout=600)
    assert r.returncode != 0 and "QUOTA_EXCEEDED" in r.stderr, r.stderr + r.stdout
    quota = stack.cli("quota", "set", "--cores", "4096")
    assert quota.returncode == 0, quota.stderr
    r = stack.cli("server", "resize", "e2e-rs-kvm", "e2e.rs-huge", *WAIT, timeout=600)
    assert r.returncode != 0
    assert "no host fits flavor e2e.rs-huge" in r.stderr + r.stdout
    shown = run(stack, "server", "show", "e2e-rs-kvm")
    assert shown["state"] == "ACTIVE" and shown["flavor"]["name"] == "e2e.rs-small"


def test_clean_up(stack: Stack, story: dict[str, Any]) -> None:
    r = stack.cli("server", "delete", "e2e-rs-kvm", "e2e-rs-vmw", *WAIT)
    assert r.returncode == 0, r.stderr
    stack.cli("flavor", "delete", "e2e.rs-tiny", "e2e.rs-small", "e2e.rs-huge")
    stack.cli("image", "delete", "e2e-rs")
