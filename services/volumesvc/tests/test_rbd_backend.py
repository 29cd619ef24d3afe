"""The rbd backend on the one-node Ceph: blank, from an image, from a snapshot, extend,
delete; refusals leave nothing behind."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from pathlib import Path

import pytest

from polyvisor.common.errors import FailedPrecondition, InvalidArgument
from polyvisor.volumesvc.backends import build_backend
from polyvisor.volumesvc.backends.base import ImageSource, SnapshotRef, VolumeRef
from polyvisor.volumesvc.backends.rbd import RbdBackend
from tests.fixtures.ceph import CephCluster

GIB = 1024**3
MARK = b"POLYVISOR-MARKER"


@pytest.fixture
def backend(ceph_cluster: CephCluster) -> RbdBackend:
    b = build_backend(
        {
            "kind": "rbd",
            "conf": str(ceph_cluster.conf),
            "keyring": str(ceph_cluster.keyring),
            "pool": ceph_cluster.pool,
            "monitors": ceph_cluster.mon_v1,
            "secret_uuid": str(uuid.uuid4()),
        }
    )
    assert isinstance(b, RbdBackend)
    return b


def _names(cluster: CephCluster) -> list[str]:
    return json.loads(cluster.rbd("ls", "--format", "json", cluster.pool))


def _read(cluster: CephCluster, spec: str, tmp: Path, offset: int, n: int) -> bytes:
    out = tmp / f"read-{uuid.uuid4().hex[:6]}"
    cluster.rbd("export", "--no-progress", spec, str(out))
    with out.open("rb") as f:
        f.seek(offset)
        data = f.read(n)
    out.unlink()
    return data


async def test_volume_from_image_snapshot_and_copy_keep_the_bytes(
    backend: RbdBackend, ceph_cluster: CephCluster, tmp_path: Path
) -> None:
    vid, sid, cid = (uuid.uuid4().hex[:12] for _ in range(3))
    raw = tmp_path / "img.raw"
    with raw.open("wb") as f:
        f.truncate(64 << 20)
        f.seek(512 * 1024)
        f.write(MARK)
    qcow2 = tmp_path / "img.qcow2"
    await asyncio.to_thread(
        subprocess.run,
        ["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2)],
        check=True,
    )
    vol = VolumeRef(vid, 1)
    loc = await backend.create(vol, image=ImageSource("img", qcow2, "qcow2", 64 << 20))
    assert loc == f"{ceph_cluster.pool}/volume-{vid}"
    assert await backend.create(vol, image=ImageSource("img", qcow2, "qcow2", 64 << 20)) == loc
    info = json.loads(ceph_cluster.rbd("info", "--format", "json", loc))
    assert info["size"] == GIB
    assert _read(ceph_cluster, loc, tmp_path, 512 * 1024, len(MARK)) == MARK
    vol = VolumeRef(vid, 1, loc)

    snap = SnapshotRef(sid, vid, 1)
    snap = SnapshotRef(sid, vid, 1, await backend.create_snapshot(vol, snap))
    assert await backend.create_snapshot(vol, snap) == snap.location  # idempotent
    with pytest.raises(FailedPrecondition):
        await backend.delete(vol)  # it has a snapshot

    copy = VolumeRef(cid, 2)
    copy_loc = await backend.create(copy, snapshot=snap)
    copy_info = json.loads(ceph_cluster.rbd("info", "--format", "json", copy_loc))
    assert "parent" not in copy_info  # flattened: the snapshot can go
    await backend.extend(VolumeRef(cid, 2, copy_loc), 3)
    with pytest.raises(InvalidArgument):
        await backend.extend(VolumeRef(cid, 3, copy_loc), 1)
    assert json.loads(ceph_cluster.rbd("info", "--format", "json", copy_loc))["size"] == 3 * GIB
    assert _read(ceph_cluster, copy_loc, tmp_path, 512 * 1024, len(MARK)) == MARK

    conn = backend.connection(VolumeRef(cid, 3, copy_loc))
    assert conn.kind == "rbd"
    assert conn.attrs["pool"] == ceph_cluster.pool and conn.attrs["image"] == f"volume-{cid}"
    assert conn.attrs["monitors"] == ceph_cluster.mon_v1

    await backend.delete_snapshot(snap)
    await backend.delete_snapshot(snap)  # gone: done
    await backend.delete(vol)
    await backend.delete(VolumeRef(cid, 3, copy_loc))
    await backend.delete(VolumeRef(cid, 3, copy_loc))
    assert not [n for n in _names(ceph_cluster) if vid in n or cid in n]


async def test_refusals_leave_no_half_volume(
    backend: RbdBackend, ceph_cluster: CephCluster, tmp_path: Path
) -> None:
    vid = uuid.uuid4().hex[:12]
    big = tmp_path / "big.raw"
    with big.open("wb") as f:
        f.truncate(2 * GIB)
    with pytest.raises(InvalidArgument):
        await backend.create(VolumeRef(vid, 1), image=ImageSource("img", big, "raw", 2 * GIB))
    with pytest.raises(FailedPrecondition):
        await backend.create(VolumeRef(vid, 1), snapshot=SnapshotRef("nope", "nothing", 1))
    assert not [n for n in _names(ceph_cluster) if vid in n]
    cap = await backend.capacity()
    assert cap.total_gb >= 1 and 0 <= cap.free_gb <= cap.total_gb
    with pytest.raises(InvalidArgument):
        build_backend({"kind": "rbd", "monitors": "nohostport", "secret_uuid": str(uuid.uuid4())})
