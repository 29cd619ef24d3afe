"""The volume service over real gRPC, PostgreSQL, NATS and qemu-img: the lifecycle of a
volume and its snapshots, the attachment bookkeeping the api drives, and bad input."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import grpc
import nats
import pytest

from polyvisor.volume.v1 import volume_service_pb2 as pb
from polyvisor.volume.v1 import volumes_pb2 as vpb

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _fails(code: grpc.StatusCode, call: object) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call  # type: ignore[misc]
    assert err.value.code() == code, err.value.details()
    return err.value.details() or ""


async def _create(caller, size: int = 1, **fields) -> vpb.Volume:  # type: ignore[no-untyped-def]
    resp = await caller.CreateVolume(
        pb.CreateVolumeRequest(volume=vpb.Volume(size_gb=size, **fields))
    )
    return resp.volume


def _files(d: Path) -> list[str]:
    return sorted(p.name for p in d.rglob("*") if p.is_file())


async def test_volume_snapshot_extend_delete(service, nats_url: str) -> None:  # type: ignore[no-untyped-def]
    user = service.caller()
    vol = await _create(user, 1, name="data")
    assert vol.status == vpb.VOLUME_STATUS_AVAILABLE and vol.volume_type == "file"
    assert (await _files_async(service.directory / "file")) == [f"{vol.id}.qcow2"]
    # a create without a request id is a new volume; with one, a retry answers the same
    again = await _create(user, 1, name="data")
    assert again.id != vol.id
    rid = uuid.uuid4().hex
    a = (
        await user.CreateVolume(
            pb.CreateVolumeRequest(volume=vpb.Volume(size_gb=1), request_id=rid)
        )
    ).volume
    b = (
        await user.CreateVolume(
            pb.CreateVolumeRequest(volume=vpb.Volume(size_gb=1), request_id=rid)
        )
    ).volume
    assert a.id == b.id

    await _fails(
        grpc.StatusCode.INVALID_ARGUMENT,
        user.ExtendVolume(pb.ExtendVolumeRequest(volume_id=vol.id, new_size_gb=1)),
    )
    grown = (
        await user.ExtendVolume(pb.ExtendVolumeRequest(volume_id=vol.id, new_size_gb=2))
    ).volume
    assert grown.size_gb == 2
    # a new name, then a description that leaves the name alone
    named = (await user.UpdateVolume(pb.UpdateVolumeRequest(volume_id=vol.id, name="db"))).volume
    assert (named.name, named.description, named.size_gb) == ("db", "", 2)
    described = (
        await user.UpdateVolume(pb.UpdateVolumeRequest(volume_id=vol.id, description="d"))
    ).volume
    assert (described.name, described.description) == ("db", "d")
    await _fails(
        grpc.StatusCode.INVALID_ARGUMENT,
        user.UpdateVolume(pb.UpdateVolumeRequest(volume_id=vol.id, name="x" * 256)),
    )

    snap = (
        await user.CreateSnapshot(pb.CreateSnapshotRequest(snapshot=vpb.Snapshot(volume_id=vol.id)))
    ).snapshot
    assert snap.status == vpb.SNAPSHOT_STATUS_AVAILABLE and snap.size_gb == 2
    await _fails(grpc.StatusCode.INVALID_ARGUMENT, _create(user, 1, source_snapshot_id=snap.id))
    copy = await _create(user, 0, source_snapshot_id=snap.id)
    assert copy.size_gb == 2 and copy.source_snapshot_id == snap.id
    details = await _fails(
        grpc.StatusCode.FAILED_PRECONDITION,
        user.DeleteVolume(pb.DeleteVolumeRequest(volume_id=vol.id)),
    )
    assert "snapshot" in details

    # another project sees none of it
    other = service.caller()
    await _fails(grpc.StatusCode.NOT_FOUND, other.GetVolume(pb.GetVolumeRequest(volume_id=vol.id)))
    await _fails(
        grpc.StatusCode.NOT_FOUND,
        other.UpdateVolume(pb.UpdateVolumeRequest(volume_id=vol.id, name="theirs")),
    )
    await _fails(grpc.StatusCode.NOT_FOUND, _create(other, 2, source_snapshot_id=snap.id))
    listed = (await other.ListVolumes(pb.ListVolumesRequest())).volumes
    assert listed == []

    await user.DeleteSnapshot(pb.DeleteSnapshotRequest(snapshot_id=snap.id))
    for v in (vol, again, a, copy):
        await user.DeleteVolume(pb.DeleteVolumeRequest(volume_id=v.id))
    assert (await user.ListVolumes(pb.ListVolumesRequest())).volumes == []
    assert await _files_async(service.directory / "file") == []

    # the volume's events, in order, on events.volume.<id>
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        sub = await js.subscribe(f"events.volume.{vol.id}", ordered_consumer=True)
        kinds = []
        while "deleted" not in kinds:
            msg = await sub.next_msg(timeout=30)
            ev = vpb.VolumeEvent.FromString(msg.data)
            kinds.append(ev.kind)
        assert kinds == [
            "created",
            "available",
            "extended",
            "updated",
            "updated",
            "snapshot_created",
            "snapshot_deleted",
            "deleted",
        ]
    finally:
        await nc.close()


async def _files_async(d: Path) -> list[str]:
    return await asyncio.to_thread(_files, d)


async def test_attachments_and_their_refusals(service) -> None:  # type: ignore[no-untyped-def]
    user, api = service.caller(), service.api()
    vol = await _create(user, 1)

    def reserve(server: str, project: str = user.project, hv: str = "qemu", **kw):  # type: ignore[no-untyped-def]
        return api.ReserveVolume(
            pb.ReserveVolumeRequest(
                volume_id=vol.id,
                server_id=server,
                project_id=project,
                host="h1",
                hypervisor_type=hv,
                **kw,
            )
        )

    # only the api attaches
    await _fails(
        grpc.StatusCode.PERMISSION_DENIED,
        user.ReserveVolume(
            pb.ReserveVolumeRequest(volume_id=vol.id, server_id="s1", project_id=user.project)
        ),
    )
    await _fails(grpc.StatusCode.NOT_FOUND, reserve("s1", project="someone-else"))
    details = await _fails(grpc.StatusCode.FAILED_PRECONDITION, reserve("s1", hv="vmware"))
    assert "cannot use" in details
    got = await reserve("s1")
    assert got.volume.status == vpb.VOLUME_STATUS_ATTACHING
    assert got.connection.kind == "file" and got.connection.attrs["format"] == "qcow2"
    assert got.connection.attrs["path"].endswith(f"{vol.id}.qcow2")
    assert (await reserve("s1")).volume.status == vpb.VOLUME_STATUS_ATTACHING  # idempotent
    await _fails(grpc.StatusCode.FAILED_PRECONDITION, reserve("s2"))  # in use, no multi-attach
    done = await api.CompleteAttachment(
        pb.CompleteAttachmentRequest(volume_id=vol.id, server_id="s1")
    )
    assert done.volume.status == vpb.VOLUME_STATUS_IN_USE
    assert [a.server_id for a in done.volume.attachments] == ["s1"]
    await _fails(grpc.StatusCode.FAILED_PRECONDITION, reserve("s2"))
    await _fails(
        grpc.StatusCode.FAILED_PRECONDITION,
        user.DeleteVolume(pb.DeleteVolumeRequest(volume_id=vol.id)),
    )
    await _fails(
        grpc.StatusCode.FAILED_PRECONDITION,
        user.ExtendVolume(pb.ExtendVolumeRequest(volume_id=vol.id, new_size_gb=3)),
    )
    listed = await user.ListVolumes(pb.ListVolumesRequest(server_id="s1"))
    assert [v.id for v in listed.volumes] == [vol.id]
    await _fails(
        grpc.StatusCode.FAILED_PRECONDITION,
        api.BeginDetach(pb.BeginDetachRequest(volume_id=vol.id, server_id="s2")),
    )
    await api.BeginDetach(pb.BeginDetachRequest(volume_id=vol.id, server_id="s1"))
    gone = await api.RemoveAttachment(pb.RemoveAttachmentRequest(volume_id=vol.id, server_id="s1"))
    assert gone.volume.status == vpb.VOLUME_STATUS_AVAILABLE and not gone.volume.attachments

    # a root volume is not detached while its server lives
    await reserve("s3", root=True)
    await api.CompleteAttachment(pb.CompleteAttachmentRequest(volume_id=vol.id, server_id="s3"))
    details = await _fails(
        grpc.StatusCode.FAILED_PRECONDITION,
        api.BeginDetach(pb.BeginDetachRequest(volume_id=vol.id, server_id="s3")),
    )
    assert "root" in details
    await api.BeginDetach(
        pb.BeginDetachRequest(volume_id=vol.id, server_id="s3", server_deleted=True)
    )
    await api.RemoveAttachment(pb.RemoveAttachmentRequest(volume_id=vol.id, server_id="s3"))

    # a type that allows it attaches to two servers
    shared = await _create(user, 1, volume_type="shared")
    for s in ("a", "b"):
        await api.ReserveVolume(
            pb.ReserveVolumeRequest(
                volume_id=shared.id, server_id=s, project_id=user.project, hypervisor_type="kvm"
            )
        )
        await api.CompleteAttachment(pb.CompleteAttachmentRequest(volume_id=shared.id, server_id=s))
    both = (await user.GetVolume(pb.GetVolumeRequest(volume_id=shared.id))).volume
    assert sorted(a.server_id for a in both.attachments) == ["a", "b"]
    for s in ("a", "b"):
        await api.BeginDetach(pb.BeginDetachRequest(volume_id=shared.id, server_id=s))
        await api.RemoveAttachment(pb.RemoveAttachmentRequest(volume_id=shared.id, server_id=s))
    for v in (vol, shared):
        await user.DeleteVolume(pb.DeleteVolumeRequest(volume_id=v.id))


async def test_quota_types_and_bad_input(service) -> None:  # type: ignore[no-untyped-def]
    user, admin = service.caller(), service.admin()
    await admin.UpdateVolumeQuota(
        pb.UpdateVolumeQuotaRequest(
            quota=vpb.VolumeQuota(project_id=user.project, volumes=5, gigabytes=2, snapshots=1)
        )
    )
    v = await _create(user, 2)
    details = await _fails(grpc.StatusCode.RESOURCE_EXHAUSTED, _create(user, 1))
    assert "gigabytes" in details
    q = (await user.GetVolumeQuota(pb.GetVolumeQuotaRequest())).quota
    assert (q.volumes_used, q.gigabytes_used) == (1, 2)
    await _fails(grpc.StatusCode.INVALID_ARGUMENT, _create(user, 0))
    await _fails(grpc.StatusCode.NOT_FOUND, _create(user, 1, volume_type="nope"))
    await _fails(grpc.StatusCode.NOT_FOUND, user.GetVolume(pb.GetVolumeRequest(volume_id="x")))
    await _fails(
        grpc.StatusCode.PERMISSION_DENIED,
        user.CreateVolumeType(
            pb.CreateVolumeTypeRequest(
                volume_type=vpb.VolumeType(name="t", backend="file", hypervisor_types=["kvm"])
            )
        ),
    )
    await _fails(
        grpc.StatusCode.INVALID_ARGUMENT,
        admin.CreateVolumeType(
            pb.CreateVolumeTypeRequest(
                volume_type=vpb.VolumeType(name="t", backend="nope", hypervisor_types=["kvm"])
            )
        ),
    )
    name = f"t-{uuid.uuid4().hex[:6]}"
    t = (
        await admin.CreateVolumeType(
            pb.CreateVolumeTypeRequest(
                volume_type=vpb.VolumeType(name=name, backend="file", hypervisor_types=["KVM"])
            )
        )
    ).volume_type
    assert t.backend_kind == "file" and list(t.hypervisor_types) == ["kvm"]
    types = {
        x.name: x for x in (await user.ListVolumeTypes(pb.ListVolumeTypesRequest())).volume_types
    }
    assert types["file"].is_default and types["shared"].multiattach and name in types
    await admin.DeleteVolumeType(pb.DeleteVolumeTypeRequest(volume_type_id=t.id))
    details = await _fails(
        grpc.StatusCode.FAILED_PRECONDITION,
        admin.DeleteVolumeType(pb.DeleteVolumeTypeRequest(volume_type_id=types["file"].id)),
    )
    await user.DeleteVolume(pb.DeleteVolumeRequest(volume_id=v.id))
