"""Helpers of the VMware agent's tests: vcsim, test images, and pyvmomi read-backs.

Kept out of conftest.py so tests/agent_vmware and the bench can import them too.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim, vmodl

from polyvisor.agent_vmware.options import VmwareOptions
from polyvisor.agentkit.driver import ImageRef, LocalImage, RenditionWanted
from tests.fixtures.vcsim import VcsimEndpoint

T = TypeVar("T")

BOOT_MESSAGE = b"polyvisor boot ok\r\n"


def boot_sector() -> bytes:
    """A real 512-byte x86 boot sector: prints BOOT_MESSAGE on COM1 (0x3F8), then halts."""
    code = bytes.fromhex(
        "31c0"  # xor ax, ax
        "8ed8"  # mov ds, ax
        "baf803"  # mov dx, 0x3f8
        "be167c"  # mov si, 0x7c16 (the message below)
        "ac"  # next: lodsb
        "84c0"  # test al, al
        "7403"  # jz done
        "ee"  # out dx, al
        "ebf8"  # jmp next
        "fa"  # done: cli
        "f4"  # hlt
        "ebfd"  # jmp hlt
    )
    assert len(code) == 0x16
    body = code + BOOT_MESSAGE + b"\0"
    return body + bytes(510 - len(body)) + struct.pack("<H", 0xAA55)


def qemu_img() -> str:
    path = shutil.which("qemu-img")
    assert path, "qemu-img (Debian qemu-utils) is required"
    return path


def make_images(root: Path, extra_mib: int = 4) -> dict[str, Path]:
    """raw, qcow2 and streamOptimized/monolithicSparse vmdk of one small bootable disk."""
    root.mkdir(parents=True, exist_ok=True)
    raw = root / "disk.raw"
    # The boot sector, then a few MiB with scattered data so grains and holes both appear.
    data = bytearray(boot_sector() + bytes(extra_mib << 20))
    for i in range(1, extra_mib * 4):
        off = i * 262144 + 4096
        data[off : off + 64] = hashlib.sha256(str(i).encode()).digest() * 2
    raw.write_bytes(bytes(data))
    out = {"raw": raw}
    for name, args in {
        "qcow2": ["-O", "qcow2"],
        "streamOptimized": ["-O", "vmdk", "-o", "subformat=streamOptimized"],
        "sparse": ["-O", "vmdk", "-o", "subformat=monolithicSparse"],
    }.items():
        dest = root / f"disk.{name}"
        subprocess.run([qemu_img(), "convert", "-f", "raw", *args, str(raw), str(dest)], check=True)
        out[name] = dest
    return out


def local_image(
    path: Path,
    image_id: str,
    *,
    disk_format: str = "qcow2",
    disktype: str = "streamOptimized",
    adapter: str = "",
    virtual_size: int = 0,
) -> LocalImage:
    data = path.read_bytes()
    ref = ImageRef(
        image_id=image_id,
        disk_format=disk_format,
        vmware_adaptertype=adapter,
        virtual_size=virtual_size or len(data),
        os_type="linux",
        architecture="x86_64",
    )
    return LocalImage(
        ref=ref,
        rendition=RenditionWanted("vmdk", disktype),
        path=path,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def options_for(endpoint: VcsimEndpoint, **overrides: Any) -> VmwareOptions:
    values: dict[str, Any] = {
        "url": endpoint.url,
        "username": endpoint.username,
        "password": endpoint.password,
        "cluster_name": "DC0_C0",
        "probe_interval_s": 1.0,
        "probe_timeout_s": 5.0,
        "reconnect_min_s": 0.2,
        "reconnect_max_s": 1.0,
        "watch_wait_s": 1,
        "call_timeout_s": 30.0,
    }
    values.update(overrides)
    return VmwareOptions(**values)


class Direct:
    """A plain pyvmomi session for reading vcsim back in assertions."""

    def __init__(self, endpoint: VcsimEndpoint) -> None:
        self.si = SmartConnect(
            protocol="http",
            host=endpoint.host,
            port=endpoint.port,
            user=endpoint.username,
            pwd=endpoint.password,
            disableSslCertValidation=True,
        )
        self.content = self.si.RetrieveContent()

    def close(self) -> None:
        Disconnect(self.si)

    def objects(self, type_: type) -> list[Any]:
        view = self.content.viewManager.CreateContainerView(self.content.rootFolder, [type_], True)
        try:
            return list(view.view)
        finally:
            view.DestroyView()

    def cluster(self, name: str) -> vim.ClusterComputeResource:
        return next(c for c in self.objects(vim.ClusterComputeResource) if c.name == name)

    def vm_by_tag(self, server_id: str) -> vim.VirtualMachine | None:
        for vm in self.objects(vim.VirtualMachine):
            try:
                config = vm.config
            except vmodl.fault.ManagedObjectNotFound:
                continue  # destroyed since the listing (another test's VM going away)
            extra = {o.key: o.value for o in (config.extraConfig if config else [])}
            if extra.get("polyvisor.server_id") == server_id:
                return vm
        return None

    @staticmethod
    def extra(vm: vim.VirtualMachine) -> dict[str, str]:
        return {o.key: o.value for o in vm.config.extraConfig}


def datastore_dir(sim_data_dir: Path, datastore: str = "LocalDS_0") -> Path:
    """Where vcsim keeps a datastore's files."""
    found = sorted(sim_data_dir.glob(f"govcsim-*-{datastore}-*"))
    assert found, f"no directory for datastore {datastore} under {sim_data_dir}"
    return found[0]


def eventually(check: Callable[[], T], timeout: float = 20.0, interval: float = 0.05) -> T:
    """``check()`` once it returns something truthy (a bounded wait for a state, not a timing)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {result!r})")
        time.sleep(interval)
