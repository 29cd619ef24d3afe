"""The VM's config spec and its guestinfo, built without vCenter."""

from __future__ import annotations

import json

import pytest
from pyVmomi import vim

from polyvisor.agent_vmware.guestinfo import ENCODING, decode, guestinfo_options
from polyvisor.agent_vmware.specs import (
    IDE_CONTROLLER_KEY,
    VmPlan,
    normalize_adapter,
    split_datastore_path,
    vm_config_spec,
)

SID = "0b6f2c1e-6a4e-4f7e-9d43-5d0f3c7f8a11"


def plan(adapter: str, **kw: object) -> VmPlan:
    values: dict[str, object] = {
        "server_id": SID,
        "display_name": "web-1",
        "datastore": "LocalDS_0",
        "directory": SID,
        "disk_file": f"{SID}/{SID}.vmdk",
        "disk_capacity_kb": 1024,
        "vcpus": 2,
        "memory_mb": 256,
        "adapter": adapter,
        "guest_id": "otherLinux64Guest",
        "vnc_port": 5901,
        "vnc_password": "Ab3dEf6h",
    }
    values.update(kw)
    return VmPlan(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("adapter", "controller"),
    [
        ("lsiLogic", vim.vm.device.VirtualLsiLogicController),
        ("busLogic", vim.vm.device.VirtualBusLogicController),
        ("lsiLogicsas", vim.vm.device.VirtualLsiLogicSASController),
        ("paraVirtual", vim.vm.device.ParaVirtualSCSIController),
    ],
)
def test_scsi_adapters_get_their_controller(adapter: str, controller: type) -> None:
    spec = vm_config_spec(plan(adapter))
    devices = [c.device for c in spec.deviceChange]
    ctrl = [d for d in devices if isinstance(d, controller)]
    disks = [d for d in devices if isinstance(d, vim.vm.device.VirtualDisk)]
    assert len(ctrl) == 1 and len(disks) == 1
    assert disks[0].controllerKey == ctrl[0].key
    assert disks[0].backing.fileName == f"[LocalDS_0] {SID}/{SID}.vmdk"
    assert all(c.fileOperation is None for c in spec.deviceChange)  # the disk exists already


def test_ide_disk_goes_on_the_built_in_controller() -> None:
    spec = vm_config_spec(plan("ide"))
    devices = [c.device for c in spec.deviceChange]
    assert len(devices) == 1
    assert devices[0].controllerKey == IDE_CONTROLLER_KEY


def test_identity_vnc_and_files() -> None:
    spec = vm_config_spec(plan("lsiLogic", extra_config={"guestinfo.metadata": "x"}))
    extra = {o.key: o.value for o in spec.extraConfig}
    assert extra["polyvisor.server_id"] == SID
    assert extra["RemoteDisplay.vnc.enabled"] == "true"
    assert extra["RemoteDisplay.vnc.port"] == "5901"
    assert extra["RemoteDisplay.vnc.password"] == "Ab3dEf6h"
    assert extra["guestinfo.metadata"] == "x"
    assert spec.name == SID and spec.instanceUuid == SID
    assert spec.files.vmPathName == f"[LocalDS_0] {SID}/{SID}.vmx"
    assert (spec.numCPUs, spec.memoryMB) == (2, 256)
    assert vm_config_spec(plan("lsiLogic", server_id="not-a-uuid")).instanceUuid is None


@pytest.mark.parametrize(
    ("given", "wanted"),
    [("", "lsiLogic"), ("lsilogic", "lsiLogic"), ("LSI_LOGIC_SAS", "lsiLogicsas"),
     ("pvscsi", "paraVirtual"), ("IDE", "ide"), ("busLogic", "busLogic")],
)  # fmt: skip
def test_adapter_names(given: str, wanted: str) -> None:
    assert normalize_adapter(given) == wanted


def test_unknown_adapter_is_refused() -> None:
    with pytest.raises(ValueError):
        normalize_adapter("virtio")


def test_datastore_paths() -> None:
    assert split_datastore_path("[ds 1] a/b.vmdk") == ("ds 1", "a/b.vmdk")
    with pytest.raises(ValueError):
        split_datastore_path("a/b.vmdk")


def test_guestinfo_carries_keys_and_user_data() -> None:
    opts = guestinfo_options(
        instance_id=SID,
        hostname="web-1",
        ssh_public_keys=["ssh-ed25519 AAAAC3Nza alice", " "],
        user_data=b"#cloud-config\nruncmd: [true]\n",
        metadata={"role": "web"},
    )
    assert opts["guestinfo.metadata.encoding"] == ENCODING
    meta = json.loads(decode(opts["guestinfo.metadata"], opts["guestinfo.metadata.encoding"]))
    assert meta["instance-id"] == SID
    assert meta["local-hostname"] == "web-1"
    assert meta["public-keys-data"] == "ssh-ed25519 AAAAC3Nza alice\n"
    assert meta["meta"] == {"role": "web"}
    ud = decode(opts["guestinfo.userdata"], opts["guestinfo.userdata.encoding"])
    assert ud == b"#cloud-config\nruncmd: [true]\n"
    assert "guestinfo.userdata" not in guestinfo_options(instance_id=SID, hostname="h")


def test_oversized_user_data_is_refused() -> None:
    import os

    with pytest.raises(ValueError):
        guestinfo_options(instance_id=SID, hostname="h", user_data=os.urandom(100 * 1024))


def test_vnc_is_never_enabled_without_a_password() -> None:
    from polyvisor.agent_vmware.specs import new_vnc_password

    with pytest.raises(ValueError):
        vm_config_spec(plan("lsiLogic", vnc_password=""))
    # Nothing in extra_config replaces it.
    spec = vm_config_spec(
        plan("lsiLogic", extra_config={"RemoteDisplay.vnc.password": "", "guestinfo.x": "y"})
    )
    assert {o.key: o.value for o in spec.extraConfig}["RemoteDisplay.vnc.password"] == "Ab3dEf6h"
    passwords = {new_vnc_password() for _ in range(100)}
    assert len(passwords) == 100 and all(len(p) == 8 and p.isalnum() for p in passwords)
