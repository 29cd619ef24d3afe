"""A file volume on real guests (qemu:///system): made by the volume service's file backend,
attached live to a running boot-sector guest, detached, attached to a second server; its
bytes (a marker block written from the host) survive all of it and the first server's
deletion. The verbs are idempotent (a repeated command answers as done). A boot-sector guest
boots from a file volume, whose file and bytes outlive the server."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from pathlib import Path

import pytest

from polyvisor.agentkit.commands import EventKind
from polyvisor.volumesvc.backends.base import VolumeRef
from polyvisor.volumesvc.backends.file import FileBackend
from tests.agent_kvm.boot_sector import BOOT_LINE, boot_sector
from tests.agent_kvm.kvm_support import KvmAgent, virsh

pytestmark = pytest.mark.slow

MARKER = ("1M", "64k", "0x5a")  # offset, length, byte


def is_(kind: EventKind, sid: str):  # type: ignore[no-untyped-def]
    return lambda e: e.kind == kind and e.server_id == sid


def _qemu_io(path: str, op: str) -> str:
    off, length, byte = MARKER
    r = subprocess.run(
        ["qemu-io", *(("-r", "-U") if op == "read" else ("-n",)), "-f", "qcow2", "-c",
         f"{op} -P {byte} {off} {length}", path],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return r.stdout + r.stderr


def marker_intact(path: str) -> bool:
    out = _qemu_io(path, "read")
    return "read 65536/65536 bytes" in out and "fail" not in out.lower()


def disks(name: str, inactive: bool = False) -> str:
    return virsh("domblklist", name, *(["--inactive"] if inactive else []))


async def test_file_volume_moves_between_running_guests_and_keeps_its_bytes(
    kvm_agent: KvmAgent, boot_image: tuple[str, str], world_dir: Path
) -> None:
    image_id, sha = boot_image
    agent = kvm_agent
    await agent.start()
    backend = FileBackend(world_dir / "volumes")
    vid = str(uuid.uuid4())
    path = await backend.create(VolumeRef(vid, 1))
    (world_dir / "volumes").chmod(0o755)
    await asyncio.to_thread(_qemu_io, path, "write")
    assert await asyncio.to_thread(marker_intact, path)
    conn = backend.connection(VolumeRef(vid, 1, path))
    vol = {"volume_id": vid, "volume_kind": conn.kind, "volume_attrs": dict(conn.attrs)}

    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    for sid in (a, b):
        await agent.send(sid, 1, "spawn", image_id=image_id, sha256=sha, memory_mb=64, disk_gb=1)
    for sid in (a, b):
        await agent.tap.wait_for(is_(EventKind.SPAWNED, sid), timeout=180)
        await agent.serial_line(sid, BOOT_LINE)
    dom_a, dom_b = f"polyvisor-{a}", f"polyvisor-{b}"

    # attached live to the running guest A: in its running domain and its definition
    await agent.send(a, 2, "attach_volume", **vol)
    await agent.tap.wait_for(is_(EventKind.VOLUME_ATTACHED, a), timeout=60)
    assert path in disks(dom_a) and path in disks(dom_a, inactive=True)
    assert vid in virsh("dumpxml", dom_a)  # the disk's serial: the volume id
    assert virsh("domstate", dom_a).strip() == "running"
    # a repeated attach (a redelivery, a retry) answers as done: still one disk
    await agent.send(a, 3, "attach_volume", **vol)
    await agent.tap.wait_for(is_(EventKind.VOLUME_ATTACHED, a), timeout=60)
    assert disks(dom_a).count(path) == 1

    await agent.send(a, 4, "detach_volume", **vol)
    await agent.tap.wait_for(is_(EventKind.VOLUME_DETACHED, a), timeout=60)
    assert path not in disks(dom_a) and path not in disks(dom_a, inactive=True)

    # to the second server; the first one's deletion leaves the volume alone
    await agent.send(b, 2, "attach_volume", **vol)
    await agent.tap.wait_for(is_(EventKind.VOLUME_ATTACHED, b), timeout=60)
    assert path in disks(dom_b)
    await agent.send(a, 5, "destroy")
    await agent.tap.wait_for(is_(EventKind.DESTROYED, a), timeout=60)
    assert await asyncio.to_thread(Path(path).exists)
    await agent.send(b, 3, "detach_volume", **vol)
    await agent.tap.wait_for(is_(EventKind.VOLUME_DETACHED, b), timeout=60)
    assert path not in disks(dom_b)
    assert await asyncio.to_thread(marker_intact, path)

    # a driver without the kind answers COMMAND_FAILED naming it
    await agent.send(b, 4, "attach_volume", volume_id=vid, volume_kind="vmdk",
                     volume_attrs={"path": "[ds] x.vmdk"})  # fmt: skip
    failed = await agent.tap.wait_for(is_(EventKind.COMMAND_FAILED, b), timeout=60)
    assert "volume_vmdk" in failed.fault_message
    await agent.send(b, 5, "destroy")
    await agent.tap.wait_for(is_(EventKind.DESTROYED, b), timeout=60)
    assert await asyncio.to_thread(marker_intact, path)


async def test_a_boot_sector_guest_boots_from_a_file_volume_that_outlives_it(
    kvm_agent: KvmAgent, world_dir: Path
) -> None:
    """The volume is the domain's boot disk as it is (no image fetched, no copy); destroying
    the server leaves the volume's file with its bytes."""
    agent = kvm_agent
    await agent.start()
    backend = FileBackend(world_dir / "volumes")
    vid = str(uuid.uuid4())
    path = await backend.create(VolumeRef(vid, 1))
    (world_dir / "volumes").chmod(0o755)
    sector = world_dir / f"{vid}.sector"
    sector.write_bytes(boot_sector(b"BOOTED FROM VOLUME"))
    out = await asyncio.to_thread(
        subprocess.run,
        ["qemu-io", "-n", "-f", "qcow2", "-c", f"write -s {sector} 0 512", path],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert "wrote 512/512 bytes" in out.stdout, out.stdout + out.stderr
    await asyncio.to_thread(_qemu_io, path, "write")
    conn = backend.connection(VolumeRef(vid, 1, path))
    vol = {"volume_id": vid, "volume_kind": conn.kind, "volume_attrs": dict(conn.attrs)}

    sid = str(uuid.uuid4())
    await agent.send(sid, 1, "spawn", memory_mb=64, disk_gb=1, **vol)
    await agent.tap.wait_for(is_(EventKind.SPAWNED, sid), timeout=180)
    await agent.serial_line(sid, b"BOOTED FROM VOLUME")
    assert path in disks(f"polyvisor-{sid}").splitlines()[2]  # the first disk: vda
    assert not any((agent.root / "cache").rglob("*.qcow2"))  # no image fetched

    await agent.send(sid, 2, "destroy")
    await agent.tap.wait_for(is_(EventKind.DESTROYED, sid), timeout=60)
    assert await asyncio.to_thread(marker_intact, path)
    head = world_dir / f"{vid}.head"
    await asyncio.to_thread(
        subprocess.run,
        ["qemu-img", "dd", "-f", "qcow2", "-O", "raw", f"if={path}", f"of={head}", "bs=512",
         "count=1"],
        capture_output=True, check=True,
    )  # fmt: skip
    assert head.read_bytes()[:512] == sector.read_bytes()
