"""A vmdk volume end to end through the `polyvisor` CLI on the dev stack (its volume service
has a `vmdk` backend on vcsim's datastore, its VMware agents attach them): created, attached
to a VMware server (a disk on an LSI Logic SCSI controller whose file is the volume's, on the
datastore), kept when that server is deleted, attached to a second server (vcsim refuses a
disk whose file is gone: the attach is the proof it survived), detached again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.bootdisk import make_disk
from tests.e2e.stack import Stack, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

WAIT = ("--wait", "--wait-timeout", "300")


def run(stack: Stack, *args: str) -> Any:
    r = stack.cli(*args, "-f", "json", timeout=600)
    assert r.returncode == 0, r.stderr + r.stdout
    return json.loads(r.stdout) if r.stdout.strip() else None


def vm_disks(vcsim: dict[str, Any], server_id: str) -> dict[str, tuple[str, str]]:
    """The disks of the server's VM: file -> (its controller's type, its datastore)."""
    from pyVim.connect import Disconnect, SmartConnect
    from pyVmomi import vim

    si = SmartConnect(
        host=vcsim["host"], port=int(vcsim["port"]), protocol="http",
        user=vcsim["username"], pwd=vcsim["password"], disableSslCertValidation=True,
    )  # fmt: skip
    try:
        vm = si.content.searchIndex.FindByUuid(None, server_id, True, True)
        assert vm is not None, f"no VM of server {server_id}"
        devices = {d.key: d for d in vm.config.hardware.device}
        return {
            d.backing.fileName: (
                type(devices[d.controllerKey]).__name__,
                d.backing.datastore.name if d.backing.datastore is not None else "",
            )
            for d in vm.config.hardware.device
            if isinstance(d, vim.vm.device.VirtualDisk)
        }
    finally:
        Disconnect(si)


def test_a_vmdk_volume_outlives_its_server_and_moves_to_another(
    stack: Stack, workdir: Path
) -> None:
    admin = stack.admin
    r = stack.cli("login", "--username", admin["username"], f"--password={admin['password']}",
                  "--project", admin["project"])  # fmt: skip
    assert r.returncode == 0, r.stderr
    eventually(
        lambda: [
            h for h in stack.cli_json("hypervisor", "list", "--type", "vmware")
            if h["state"] == "up"
        ] or None,
        timeout=180,
        what="a VMware hypervisor up",
    )  # fmt: skip
    if "e2e.vol-tiny" not in {f["name"] for f in stack.cli_json("flavor", "list")}:
        stack.cli_json("flavor", "create", "e2e.vol-tiny", "--vcpus", "1", "--ram", "64",
                       "--disk", "1")  # fmt: skip
    if "e2e-vol" not in {i["name"] for i in stack.cli_json("image", "list")}:
        disk = make_disk(workdir, "vol", "qcow2")
        stack.cli_json("image", "create", "e2e-vol", "--file", str(disk), "--disk-format",
                       "qcow2", "--property", "architecture=x86_64")  # fmt: skip
    servers = []
    for name in ("e2e-vmdk-a", "e2e-vmdk-b"):
        s = run(stack, "server", "create", name, "--image", "e2e-vol", "--flavor",
                "e2e.vol-tiny", "--hint", "hypervisor_type=vmware", *WAIT)  # fmt: skip
        stack.created.add(s["id"])
        assert s["state"] == "ACTIVE"
        servers.append(s)
    a, b = servers
    vol = run(stack, "volume", "create", "e2e-vmdk", "--size", "1", "--type", "vmdk")
    eventually(
        lambda: run(stack, "volume", "show", vol["id"])["status"] == "available" or None,
        timeout=60,
        what="the vmdk volume available",
    )

    # attached: a disk whose file is the volume's, on an LSI Logic controller, on the datastore
    run(stack, "server", "add", "volume", a["id"], vol["id"], *WAIT)
    disks = vm_disks(stack.endpoints["vcsim"], a["id"])
    (path,) = [f for f in disks if f.endswith(f"volumes/{vol['id']}.vmdk")]
    controller, datastore = disks[path]
    assert controller == "vim.vm.device.VirtualLsiLogicController", controller
    assert path.startswith(f"[{datastore}] ") and datastore
    assert len(disks) == 2  # and the server's own root disk

    # the server deleted: the volume is detached and kept
    r = stack.cli("server", "delete", a["id"], *WAIT, timeout=600)
    assert r.returncode == 0, r.stderr + r.stdout
    stack.created.discard(a["id"])
    kept = eventually(
        lambda: (v := run(stack, "volume", "show", vol["id"]))["status"] == "available" and v,
        timeout=120,
        what="the volume available again",
    )
    assert not kept.get("attached_to")  # (the JSON output leaves empty fields out)

    # attached to the second server: its file is still on the datastore
    run(stack, "server", "add", "volume", b["id"], vol["id"], *WAIT)
    assert path in vm_disks(stack.endpoints["vcsim"], b["id"])
    run(stack, "server", "remove", "volume", b["id"], vol["id"], *WAIT)
    assert path not in vm_disks(stack.endpoints["vcsim"], b["id"])

    r = stack.cli("server", "delete", b["id"], *WAIT, timeout=600)
    assert r.returncode == 0, r.stderr + r.stdout
    stack.created.discard(b["id"])
    r = stack.cli("volume", "delete", vol["id"], timeout=120)
    assert r.returncode == 0, r.stderr + r.stdout
