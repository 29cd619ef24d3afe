"""Adopt end to end through the `polyvisor` CLI: a VM made directly with pyvmomi in a vCenter
cluster and a domain defined directly with libvirt on the KVM host are listed by `hypervisor
unmanaged list`, become servers with `server adopt` (their size claimed on their hypervisor,
exactly), and deleting those servers removes the VM and the domain."""

from __future__ import annotations

import contextlib
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stack import Stack, eventually, libvirt_domains, vcsim_vms

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]


def run(stack: Stack, *args: str) -> Any:
    r = stack.cli(*args, "-f", "json", timeout=600)
    assert r.returncode == 0, r.stderr + r.stdout
    return json.loads(r.stdout)


def used(stack: Stack, host: str) -> tuple[int, int, int]:
    u = run(stack, "hypervisor", "show", host)["used"]
    return int(u.get("vcpus", 0)), int(u.get("memory_mb", 0)), int(u.get("disk_gb", 0))


@pytest.fixture(scope="module")
def admin(stack: Stack) -> Stack:
    a = stack.admin
    r = stack.cli("login", "--username", a["username"], f"--password={a['password']}",
                  "--project", a["project"])  # fmt: skip
    assert r.returncode == 0, r.stderr
    eventually(
        lambda: [h for h in stack.cli_json("hypervisor", "list") if h["state"] == "up"] or None,
        timeout=180,
        what="hypervisors up",
    )
    return stack


@pytest.fixture
def vcenter_vm(stack: Stack) -> Iterator[tuple[str, str]]:
    """A VM made by hand in DC0_C0: 1 vCPU, 96 MB, a 2 GiB disk, running. (name, ref)"""
    from pyVim.connect import Disconnect, SmartConnect
    from pyVim.task import WaitForTask
    from pyVmomi import vim

    v = stack.endpoints["vcsim"]
    si = SmartConnect(host=v["host"], port=int(v["port"]), protocol="http", user=v["username"],
                      pwd=v["password"], disableSslCertValidation=True)  # fmt: skip
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(
        content.rootFolder, [vim.ClusterComputeResource], True
    )
    cluster = next(c for c in view.view if c.name == "DC0_C0")
    view.Destroy()
    name = f"e2e-legacy-{uuid.uuid4().hex[:6]}"
    disk = vim.vm.device.VirtualDisk(
        key=-2, controllerKey=-1, unitNumber=0, capacityInKB=2 << 20,
        backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(diskMode="persistent", fileName=""),
    )  # fmt: skip
    scsi = vim.vm.device.VirtualLsiLogicController(key=-1, busNumber=0, sharedBus="noSharing")
    config = vim.vm.ConfigSpec(
        name=name, numCPUs=1, memoryMB=96, guestId="otherGuest64",
        files=vim.vm.FileInfo(vmPathName="[LocalDS_0]"),
        deviceChange=[
            vim.vm.device.VirtualDeviceSpec(operation="add", device=scsi),
            vim.vm.device.VirtualDeviceSpec(operation="add", fileOperation="create", device=disk),
        ],
    )  # fmt: skip
    task = cluster.parent.parent.vmFolder.CreateVM_Task(config=config, pool=cluster.resourcePool)
    WaitForTask(task)
    vm = task.info.result
    WaitForTask(vm.PowerOnVM_Task())
    try:
        yield name, str(vm.config.instanceUuid)
    finally:
        with contextlib.suppress(Exception):  # deleted through Polyvisor already
            WaitForTask(vm.PowerOffVM_Task())
        with contextlib.suppress(Exception):
            WaitForTask(vm.Destroy_Task())
        Disconnect(si)


@pytest.fixture
def libvirt_domain(stack: Stack) -> Iterator[tuple[str, str]]:
    """A domain defined by hand on the KVM host: 1 vCPU, 80 MiB, a 1 GiB disk. (name, ref)"""
    if libvirt_domains(stack.libvirt_uri) is None:
        pytest.skip("the KVM agent runs on libvirt's test driver: another process cannot add")
    import libvirt

    name, ref = f"e2e-legacy-{uuid.uuid4().hex[:6]}", str(uuid.uuid4())
    disk = Path("/var/tmp") / f"{name}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "1G"], check=True)
    conn = libvirt.open(stack.libvirt_uri)
    conn.defineXML(
        f"<domain type='qemu'><name>{name}</name><uuid>{ref}</uuid>"
        "<memory unit='MiB'>80</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os>"
        "<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        f"<source file='{disk}'/><target dev='vda' bus='virtio'/></disk></devices></domain>"
    )
    try:
        yield name, ref
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            conn.lookupByUUIDString(ref).undefine()
        conn.close()
        disk.unlink(missing_ok=True)


def _adopt(stack: Stack, host: str, name: str, ref: str, size: tuple[int, int, int]) -> None:
    listed = {v["ref"]: v for v in run(stack, "hypervisor", "unmanaged", "list", host)}
    assert ref in listed, f"{ref} not among {sorted(listed)}"
    assert (
        listed[ref]["vcpus"],
        int(listed[ref]["memory_mb"]),
        int(listed[ref]["disk_gb"]),
    ) == size
    before = used(stack, host)
    server = run(stack, "server", "adopt", host, ref, "--name", name)
    stack.created.add(server["id"])
    assert server["id"] == ref and server["host"] == host and server["name"] == name
    res = server["flavor"]["resources"]
    assert (res["vcpus"], int(res["memory_mb"]), int(res["disk_gb"])) == size
    after = used(stack, host)
    assert after == tuple(b + s for b, s in zip(before, size, strict=True))
    assert ref not in {v["ref"] for v in run(stack, "hypervisor", "unmanaged", "list", host)}
    again = stack.cli("server", "adopt", host, ref)
    assert again.returncode != 0 and "no unmanaged VM" in again.stderr, again.stderr

    r = stack.cli("server", "delete", ref, "--wait", "--wait-timeout", "300", timeout=600)
    assert r.returncode == 0, r.stderr
    assert used(stack, host) == before


def test_a_vcenter_vm_made_by_hand_is_adopted_and_deleted(
    admin: Stack, vcenter_vm: tuple[str, str]
) -> None:
    name, ref = vcenter_vm
    host = next(
        h["id"] for h in admin.cli_json("hypervisor", "list") if h.get("cluster_name") == "DC0_C0"
    )
    _adopt(admin, host, f"{name}-srv", ref, (1, 96, 2))
    assert ref not in {vm.instance_uuid for vm in vcsim_vms(admin.endpoints["vcsim"])}


def test_a_libvirt_domain_defined_by_hand_is_adopted_and_deleted(
    admin: Stack, libvirt_domain: tuple[str, str]
) -> None:
    name, ref = libvirt_domain
    host = next(
        h["id"] for h in admin.cli_json("hypervisor", "list") if h["hypervisor_type"] != "vmware"
    )
    _adopt(admin, host, f"{name}-srv", ref, (1, 80, 1))
    domains = libvirt_domains(admin.libvirt_uri)
    assert domains is not None and name not in domains
