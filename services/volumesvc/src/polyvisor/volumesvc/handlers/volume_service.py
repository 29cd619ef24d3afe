"""polyvisor.volume.v1.VolumeService."""

from __future__ import annotations

from typing import Any

from polyvisor.common.auth import bearer_token
from polyvisor.common.id_paging import after, next_token, page_size
from polyvisor.common.interceptors import current_principal
from polyvisor.volume.v1 import volume_service_pb2 as pb
from polyvisor.volume.v1 import volume_service_pb2_grpc as svc_grpc
from polyvisor.volumesvc.convert import (
    connection_to_pb,
    quota_from_pb,
    quota_to_pb,
    snapshot_to_pb,
    type_from_pb,
    type_to_pb,
    volume_draft_from_pb,
    volume_to_pb,
)
from polyvisor.volumesvc.model import Attachment
from polyvisor.volumesvc.volumes import Volumes

__all__ = ["SERVICE_NAME", "VolumeServiceHandlers"]

SERVICE_NAME = "polyvisor.volume.v1.VolumeService"


class VolumeServiceHandlers(svc_grpc.VolumeServiceServicer):
    def __init__(self, volumes: Volumes) -> None:
        self._v = volumes

    async def CreateVolume(self, request: pb.CreateVolumeRequest, context: Any) -> Any:
        vol = await self._v.create(
            current_principal(),
            volume_draft_from_pb(request.volume),
            request.request_id,
            bearer_token(context.invocation_metadata()),
        )
        return pb.CreateVolumeResponse(volume=volume_to_pb(vol))

    async def GetVolume(self, request: pb.GetVolumeRequest, context: Any) -> Any:
        vol = await self._v.get(current_principal(), request.volume_id)
        return pb.GetVolumeResponse(volume=volume_to_pb(vol))

    async def ListVolumes(self, request: pb.ListVolumesRequest, context: Any) -> Any:
        size = page_size(request.page_size)
        items = await self._v.list(
            current_principal(),
            all_projects=request.all_projects,
            server_id=request.server_id,
            after=after(request.page_token),
            size=size,
        )
        return pb.ListVolumesResponse(
            volumes=[volume_to_pb(v) for v in items], next_page_token=next_token(items, size)
        )

    async def DeleteVolume(self, request: pb.DeleteVolumeRequest, context: Any) -> Any:
        await self._v.delete(current_principal(), request.volume_id)
        return pb.DeleteVolumeResponse()

    async def ExtendVolume(self, request: pb.ExtendVolumeRequest, context: Any) -> Any:
        vol = await self._v.extend(current_principal(), request.volume_id, request.new_size_gb)
        return pb.ExtendVolumeResponse(volume=volume_to_pb(vol))

    async def UpdateVolume(self, request: pb.UpdateVolumeRequest, context: Any) -> Any:
        vol = await self._v.describe(
            current_principal(),
            request.volume_id,
            request.name if request.HasField("name") else None,
            request.description if request.HasField("description") else None,
        )
        return pb.UpdateVolumeResponse(volume=volume_to_pb(vol))

    async def CreateSnapshot(self, request: pb.CreateSnapshotRequest, context: Any) -> Any:
        s = request.snapshot
        snap = await self._v.create_snapshot(
            current_principal(),
            s.volume_id,
            s.name,
            s.description,
            request.force,
            request.request_id,
        )
        return pb.CreateSnapshotResponse(snapshot=snapshot_to_pb(snap))

    async def GetSnapshot(self, request: pb.GetSnapshotRequest, context: Any) -> Any:
        snap = await self._v.get_snapshot(current_principal(), request.snapshot_id)
        return pb.GetSnapshotResponse(snapshot=snapshot_to_pb(snap))

    async def ListSnapshots(self, request: pb.ListSnapshotsRequest, context: Any) -> Any:
        size = page_size(request.page_size)
        items = await self._v.list_snapshots(
            current_principal(),
            all_projects=request.all_projects,
            volume_id=request.volume_id,
            after=after(request.page_token),
            size=size,
        )
        return pb.ListSnapshotsResponse(
            snapshots=[snapshot_to_pb(s) for s in items], next_page_token=next_token(items, size)
        )

    async def DeleteSnapshot(self, request: pb.DeleteSnapshotRequest, context: Any) -> Any:
        await self._v.delete_snapshot(current_principal(), request.snapshot_id)
        return pb.DeleteSnapshotResponse()

    async def CreateVolumeType(self, request: pb.CreateVolumeTypeRequest, context: Any) -> Any:
        t = await self._v.create_type(current_principal(), type_from_pb(request.volume_type))
        return pb.CreateVolumeTypeResponse(volume_type=type_to_pb(t))

    async def ListVolumeTypes(self, request: pb.ListVolumeTypesRequest, context: Any) -> Any:
        types = await self._v.list_types(current_principal())
        return pb.ListVolumeTypesResponse(volume_types=[type_to_pb(t) for t in types])

    async def DeleteVolumeType(self, request: pb.DeleteVolumeTypeRequest, context: Any) -> Any:
        await self._v.delete_type(current_principal(), request.volume_type_id)
        return pb.DeleteVolumeTypeResponse()

    async def GetVolumeQuota(self, request: pb.GetVolumeQuotaRequest, context: Any) -> Any:
        q = await self._v.quota(current_principal(), request.project_id)
        return pb.GetVolumeQuotaResponse(quota=quota_to_pb(q))

    async def UpdateVolumeQuota(self, request: pb.UpdateVolumeQuotaRequest, context: Any) -> Any:
        q = await self._v.set_quota(current_principal(), quota_from_pb(request.quota))
        return pb.UpdateVolumeQuotaResponse(quota=quota_to_pb(q))

    async def ReserveVolume(self, request: pb.ReserveVolumeRequest, context: Any) -> Any:
        vol, conn = await self._v.reserve(
            current_principal(),
            request.volume_id,
            Attachment(
                server_id=request.server_id,
                host=request.host,
                hypervisor_type=request.hypervisor_type,
                state="attaching",
                root=request.root,
                delete_on_termination=request.delete_on_termination,
            ),
            request.project_id,
        )
        return pb.ReserveVolumeResponse(
            volume=volume_to_pb(vol), connection=connection_to_pb(conn), backend_kind=conn.kind
        )

    async def CompleteAttachment(self, request: pb.CompleteAttachmentRequest, context: Any) -> Any:
        vol = await self._v.complete(current_principal(), request.volume_id, request.server_id)
        return pb.CompleteAttachmentResponse(volume=volume_to_pb(vol))

    async def BeginDetach(self, request: pb.BeginDetachRequest, context: Any) -> Any:
        vol, conn = await self._v.begin_detach(
            current_principal(), request.volume_id, request.server_id, request.server_deleted
        )
        return pb.BeginDetachResponse(volume=volume_to_pb(vol), connection=connection_to_pb(conn))

    async def RemoveAttachment(self, request: pb.RemoveAttachmentRequest, context: Any) -> Any:
        vol = await self._v.remove_attachment(
            current_principal(), request.volume_id, request.server_id
        )
        return pb.RemoveAttachmentResponse(volume=volume_to_pb(vol))
