"""Snapshot to image on real libvirt: the running boot-sector guest's disk is copied at one
instant (external snapshot, copy, active block commit), uploaded with the agent's own identity,
and the image boots; the guest keeps running on its own disk and nothing is left behind. A
snapshot that fails kills its image with the reason."""

from __future__ import annotations

import uuid

import pytest

from polyvisor.agentkit.commands import EventKind
from polyvisor.image.v1 import images_pb2
from tests.agent_kvm.boot_sector import BOOT_LINE
from tests.agent_kvm.kvm_support import ImageService, KvmAgent, domains, virsh

pytestmark = pytest.mark.slow


def is_(kind: EventKind, sid: str):  # type: ignore[no-untyped-def]
    return lambda e: e.kind == kind and e.server_id == sid


async def snapshotted(agent: KvmAgent, sid: str, generation: int):  # type: ignore[no-untyped-def]
    """The answer to the snapshot command of `generation`, which must be SNAPSHOTTED."""
    done = await agent.tap.wait_for(
        lambda e: (
            e.server_id == sid
            and e.generation == generation
            and e.kind in (EventKind.SNAPSHOTTED, EventKind.COMMAND_FAILED)
        ),
        timeout=180,
    )
    assert done.kind == EventKind.SNAPSHOTTED, done.fault_message
    return done


async def test_a_running_guest_snapshots_to_an_image_that_boots(
    kvm_agent: KvmAgent, boot_image: tuple[str, str], imagesvc: ImageService
) -> None:
    image_id, sha = boot_image
    agent = kvm_agent
    await agent.start()
    sid = str(uuid.uuid4())
    name = f"polyvisor-{sid}"
    await agent.send(sid, 1, "spawn", image_id=image_id, sha256=sha, memory_mb=64, disk_gb=1)
    await agent.tap.wait_for(is_(EventKind.SPAWNED, sid), timeout=120)
    await agent.serial_line(sid, BOOT_LINE)

    snap_id = await imagesvc.snapshot_image(agent.host)
    await agent.send(sid, 2, "snapshot", image_id=snap_id)
    done = await snapshotted(agent, sid, 2)
    assert done.power_state == "RUNNING"
    image = await imagesvc.get(snap_id)
    assert image.status == images_pb2.IMAGE_STATUS_ACTIVE, image.status_message
    # No guest agent in a boot sector: crash-consistent, and the image says so.
    assert image.properties["snapshot_consistency"] == "crash-consistent"
    assert "block commit" in image.properties["snapshot_method"]

    # The guest runs on its own disk again, live and in its definition; no overlay is left.
    assert virsh("domstate", name).strip() == "running"
    disk = agent.instances_dir / sid / "disk.qcow2"
    for xml in (virsh("dumpxml", name), virsh("dumpxml", "--inactive", name)):
        assert f"file='{disk}'" in xml and "snapshot-" not in xml
    names = sorted(p.name for p in (agent.instances_dir / sid).iterdir())
    assert "disk.qcow2" in names and not [n for n in names if "snapshot" in n], names
    assert not list((agent.root / "snapshots").glob("*"))

    # The image is the disk: a new server from it boots the same sector.
    copy = str(uuid.uuid4())
    await agent.send(copy, 1, "spawn", image_id=snap_id, memory_mb=64, disk_gb=1)
    await agent.tap.wait_for(is_(EventKind.SPAWNED, copy), timeout=120)
    await agent.serial_line(copy, BOOT_LINE)

    # A redelivered command (the agent restarted after the upload) answers without a copy.
    await agent.send(sid, 3, "snapshot", image_id=snap_id)
    again = await snapshotted(agent, sid, 3)
    assert again.power_state == "UNSPECIFIED"  # nothing observed: nothing was done

    for s, gen in ((sid, 4), (copy, 2)):
        await agent.send(s, gen, "destroy")
        await agent.tap.wait_for(is_(EventKind.DESTROYED, s))
    assert name not in domains()
    await agent.stop()


async def test_a_failed_snapshot_kills_its_image_with_the_reason(
    kvm_agent: KvmAgent, imagesvc: ImageService
) -> None:
    agent = kvm_agent
    await agent.start()
    sid = str(uuid.uuid4())  # never spawned: the host has no such server
    snap_id = await imagesvc.snapshot_image(agent.host)
    await agent.send(sid, 1, "snapshot", image_id=snap_id)
    failed = await agent.tap.wait_for(is_(EventKind.COMMAND_FAILED, sid))
    assert "no domain" in failed.fault_message
    image = await imagesvc.get(snap_id)
    assert image.status == images_pb2.IMAGE_STATUS_KILLED
    assert "no domain" in image.status_message and image.size == 0
    await agent.stop()


async def test_an_agent_cannot_upload_an_image_it_was_not_asked_for(
    kvm_agent: KvmAgent, boot_image: tuple[str, str], imagesvc: ImageService
) -> None:
    image_id, sha = boot_image
    agent = kvm_agent
    await agent.start()
    sid = str(uuid.uuid4())
    await agent.send(sid, 1, "spawn", image_id=image_id, sha256=sha, memory_mb=64, disk_gb=1)
    await agent.tap.wait_for(is_(EventKind.SPAWNED, sid), timeout=120)
    other = await imagesvc.snapshot_image("another-host")
    await agent.send(sid, 2, "snapshot", image_id=other)
    failed = await agent.tap.wait_for(is_(EventKind.COMMAND_FAILED, sid))
    assert "PERMISSION_DENIED" in failed.fault_message
    assert (await imagesvc.get(other)).status == images_pb2.IMAGE_STATUS_QUEUED
    await agent.send(sid, 3, "destroy")
    await agent.tap.wait_for(is_(EventKind.DESTROYED, sid))
    await agent.stop()


async def test_an_overlay_left_by_an_agent_killed_mid_snapshot_is_folded_back(
    kvm_agent: KvmAgent, boot_image: tuple[str, str], imagesvc: ImageService
) -> None:
    """An agent killed between the external snapshot and the block commit leaves the guest
    writing to the overlay. The retried command (the api's deadline sends it again) commits
    it first, then snapshots: the guest ends on its own disk, with no overlay file."""
    image_id, sha = boot_image
    agent = kvm_agent
    await agent.start()
    sid = str(uuid.uuid4())
    name = f"polyvisor-{sid}"
    await agent.send(sid, 1, "spawn", image_id=image_id, sha256=sha, memory_mb=64, disk_gb=1)
    await agent.tap.wait_for(is_(EventKind.SPAWNED, sid), timeout=120)
    disk = agent.instances_dir / sid / "disk.qcow2"
    leftover = disk.with_name("disk.qcow2.snapshot-4242.qcow2")
    # What the killed agent had done: the external snapshot, and nothing after it.
    virsh("snapshot-create-as", name, "--disk-only", "--atomic", "--no-metadata",
          "--diskspec", f"vda,snapshot=external,file={leftover}",
          "--diskspec", "hdc,snapshot=no")  # fmt: skip
    assert f"file='{leftover}'" in virsh("dumpxml", name)

    snap_id = await imagesvc.snapshot_image(agent.host)
    await agent.send(sid, 2, "snapshot", image_id=snap_id)
    await snapshotted(agent, sid, 2)
    assert (await imagesvc.get(snap_id)).status == images_pb2.IMAGE_STATUS_ACTIVE
    xml = virsh("dumpxml", name)
    assert f"file='{disk}'" in xml and "snapshot-" not in xml
    assert not leftover.exists()
    await agent.send(sid, 3, "destroy")
    await agent.tap.wait_for(is_(EventKind.DESTROYED, sid))
    await agent.stop()
