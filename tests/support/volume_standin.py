"""An in-memory volume service for the gateway's handler tests: volumes, snapshots and two
volume types of one project, with the volume service's refusals the tests meet (NOT_FOUND,
INVALID_ARGUMENT for a shrink, FAILED_PRECONDITION for an attached volume or one with
snapshots, RESOURCE_EXHAUSTED over QUOTA_GB), and attach/detach as the api's reservations leave a volume."""

from __future__ import annotations

import uuid
from typing import Any

import grpc

from polyvisor.volume.v1 import volume_service_pb2 as vs
from polyvisor.volume.v1 import volumes_pb2 as vp

__all__ = ["PROJECT", "Volumes", "rpc_error"]

PROJECT = "p1"
#: A volume bigger than this is refused as over the project's quota.
QUOTA_GB = 100


def rpc_error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


class Volumes:
    def __init__(self) -> None:
        self.volumes: dict[str, vp.Volume] = {}
        self.snapshots: dict[str, vp.Snapshot] = {}
        self.types = [
            vp.VolumeType(id=str(uuid.uuid4()), name="file", backend="file", is_default=True),
            vp.VolumeType(id=str(uuid.uuid4()), name="shared", backend="file", multiattach=True),
        ]
        self.calls: list[str] = []
        self.quota = vp.VolumeQuota(
            project_id=PROJECT, volumes=20, gigabytes=QUOTA_GB, snapshots=20
        )

    def _vol(self, volume_id: str) -> vp.Volume:
        if volume_id not in self.volumes:
            raise rpc_error(grpc.StatusCode.NOT_FOUND, f"volume {volume_id} not found")
        return self.volumes[volume_id]

    # -- volumes

    async def CreateVolume(self, req: vs.CreateVolumeRequest, **_: Any) -> Any:
        self.calls.append("CreateVolume")
        v = vp.Volume()
        v.CopyFrom(req.volume)
        names = {t.name: t for t in self.types}
        if v.volume_type and v.volume_type not in names:
            raise rpc_error(grpc.StatusCode.NOT_FOUND, f"volume type {v.volume_type} not found")
        if v.source_snapshot_id:
            snap = self.snapshots.get(v.source_snapshot_id)
            if snap is None:
                raise rpc_error(grpc.StatusCode.NOT_FOUND, "snapshot not found")
            v.size_gb = v.size_gb or snap.size_gb
        if v.size_gb > QUOTA_GB:
            raise rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED, "gigabytes quota exceeded")
        v.id, v.project_id = str(uuid.uuid4()), PROJECT
        v.volume_type = v.volume_type or "file"
        v.status = vp.VOLUME_STATUS_AVAILABLE
        v.bootable = bool(v.source_image_id)
        v.create_time.GetCurrentTime()
        self.volumes[v.id] = v
        return vs.CreateVolumeResponse(volume=v)

    async def GetVolume(self, req: vs.GetVolumeRequest, **_: Any) -> Any:
        return vs.GetVolumeResponse(volume=self._vol(req.volume_id))

    async def ListVolumes(self, req: vs.ListVolumesRequest, **_: Any) -> Any:
        self.calls.append("ListVolumes")
        items = sorted(
            (v for v in self.volumes.values()
             if not req.server_id or any(a.server_id == req.server_id for a in v.attachments)),
            key=lambda v: v.id,
        )  # fmt: skip
        items = [v for v in items if v.id > req.page_token]
        size = req.page_size or 100
        page, more = items[:size], len(items) > size
        return vs.ListVolumesResponse(
            volumes=page, next_page_token=page[-1].id if more and page else ""
        )

    async def DeleteVolume(self, req: vs.DeleteVolumeRequest, **_: Any) -> Any:
        v = self._vol(req.volume_id)
        if v.attachments:
            raise rpc_error(grpc.StatusCode.FAILED_PRECONDITION, f"volume {v.id} is in use")
        if any(s.volume_id == v.id for s in self.snapshots.values()):
            raise rpc_error(grpc.StatusCode.FAILED_PRECONDITION, f"volume {v.id} has snapshots")
        del self.volumes[v.id]
        return vs.DeleteVolumeResponse()

    async def ExtendVolume(self, req: vs.ExtendVolumeRequest, **_: Any) -> Any:
        v = self._vol(req.volume_id)
        if req.new_size_gb <= v.size_gb:
            raise rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "volumes never shrink")
        v.size_gb = req.new_size_gb
        return vs.ExtendVolumeResponse(volume=v)

    async def UpdateVolume(self, req: vs.UpdateVolumeRequest, **_: Any) -> Any:
        v = self._vol(req.volume_id)
        if req.HasField("name"):
            v.name = req.name
        if req.HasField("description"):
            v.description = req.description
        return vs.UpdateVolumeResponse(volume=v)

    async def ListVolumeTypes(self, req: vs.ListVolumeTypesRequest, **_: Any) -> Any:
        return vs.ListVolumeTypesResponse(volume_types=self.types)

    # -- quotas (the caller's project only; -1: none)

    async def GetVolumeQuota(self, req: vs.GetVolumeQuotaRequest, **_: Any) -> Any:
        if req.project_id not in ("", PROJECT):
            raise rpc_error(grpc.StatusCode.PERMISSION_DENIED, "another project's quota")
        q = vp.VolumeQuota()
        q.CopyFrom(self.quota)
        q.volumes_used = len(self.volumes)
        q.gigabytes_used = sum(v.size_gb for v in self.volumes.values()) + sum(
            s.size_gb for s in self.snapshots.values()
        )
        q.snapshots_used = len(self.snapshots)
        return vs.GetVolumeQuotaResponse(quota=q)

    async def UpdateVolumeQuota(self, req: vs.UpdateVolumeQuotaRequest, **_: Any) -> Any:
        self.quota.CopyFrom(req.quota)
        return await self.GetVolumeQuota(vs.GetVolumeQuotaRequest(project_id=req.quota.project_id))

    # -- snapshots

    async def CreateSnapshot(self, req: vs.CreateSnapshotRequest, **_: Any) -> Any:
        v = self._vol(req.snapshot.volume_id)
        if v.attachments and not req.force:
            raise rpc_error(grpc.StatusCode.FAILED_PRECONDITION, f"volume {v.id} is in use")
        s = vp.Snapshot(id=str(uuid.uuid4()), volume_id=v.id, name=req.snapshot.name,
                        description=req.snapshot.description, project_id=PROJECT,
                        size_gb=v.size_gb, status=vp.SNAPSHOT_STATUS_AVAILABLE)  # fmt: skip
        self.snapshots[s.id] = s
        return vs.CreateSnapshotResponse(snapshot=s)

    async def GetSnapshot(self, req: vs.GetSnapshotRequest, **_: Any) -> Any:
        if req.snapshot_id not in self.snapshots:
            raise rpc_error(grpc.StatusCode.NOT_FOUND, f"snapshot {req.snapshot_id} not found")
        return vs.GetSnapshotResponse(snapshot=self.snapshots[req.snapshot_id])

    async def ListSnapshots(self, req: vs.ListSnapshotsRequest, **_: Any) -> Any:
        items = sorted(
            (
                s
                for s in self.snapshots.values()
                if not req.volume_id or s.volume_id == req.volume_id
            ),
            key=lambda s: s.id,
        )
        return vs.ListSnapshotsResponse(snapshots=items)

    async def DeleteSnapshot(self, req: vs.DeleteSnapshotRequest, **_: Any) -> Any:
        await self.GetSnapshot(vs.GetSnapshotRequest(snapshot_id=req.snapshot_id))
        del self.snapshots[req.snapshot_id]
        return vs.DeleteSnapshotResponse()

    # -- what the api's AttachVolume / DetachVolume leave (for a compute stand-in)

    def attach(self, volume_id: str, server_id: str, host: str = "kvm-1") -> None:
        v = self._vol(volume_id)
        if v.attachments:
            raise rpc_error(grpc.StatusCode.FAILED_PRECONDITION, f"volume {v.id} is in use")
        a = v.attachments.add(server_id=server_id, host=host, state="attached")
        a.attach_time.GetCurrentTime()
        v.status = vp.VOLUME_STATUS_IN_USE

    def detach(self, volume_id: str, server_id: str) -> None:
        v = self._vol(volume_id)
        kept = [a for a in v.attachments if a.server_id != server_id]
        if len(kept) == len(v.attachments):
            raise rpc_error(
                grpc.StatusCode.FAILED_PRECONDITION, f"volume {v.id} is not attached to it"
            )
        del v.attachments[:]
        v.attachments.extend(kept)
        v.status = vp.VOLUME_STATUS_IN_USE if kept else vp.VOLUME_STATUS_AVAILABLE
