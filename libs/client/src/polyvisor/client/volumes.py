"""The volume service: volumes, their snapshots and types, and attaching them to servers.

    async with AsyncClient() as cloud:
        vol = await cloud.volumes.create("data", size_gb=10)
        await cloud.volumes.attach(server.id, vol.id)        # waits until its host has it
        snap = await cloud.volumes.snapshot(vol.id, "before-upgrade", force=True)
        await cloud.volumes.detach(server.id, vol.id)
        await cloud.volumes.extend(vol.id, 20)

Methods return the contract's protobuf messages (polyvisor.volume.v1). `find` takes a name or
an id. Creates send a request id, so a create retried after a lost answer creates once.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from polyvisor.client.errors import AmbiguousName, NotFound, ServerFault
from polyvisor.client.server_nics import _FAILED, _SETTLED
from polyvisor.client.server_waiting import ServerWatching
from polyvisor.client.servers import is_uuid
from polyvisor.client.session import Session
from polyvisor.compute.v1 import servers_pb2
from polyvisor.volume.v1 import volume_service_pb2 as pb
from polyvisor.volume.v1 import volumes_pb2 as vpb

__all__ = ["VolumesApi"]


class VolumesApi:
    def __init__(self, session: Session, poll_interval: float = 1.0) -> None:
        self._s = session
        self._servers = ServerWatching(session, poll_interval=poll_interval)

    def _call(self, name: str) -> Callable[[Any], Awaitable[Any]]:
        async def call(req: Any) -> Any:
            return await self._s.call(getattr(self._s.volume, name), req)

        return call

    # -- volumes

    async def create(
        self,
        name: str = "",
        *,
        size_gb: int = 0,
        volume_type: str = "",
        description: str = "",
        image_id: str = "",
        snapshot_id: str = "",
        bootable: bool = False,
    ) -> vpb.Volume:
        resp = await self._call("CreateVolume")(
            pb.CreateVolumeRequest(
                volume=vpb.Volume(
                    name=name,
                    size_gb=size_gb,
                    volume_type=volume_type,
                    description=description,
                    source_image_id=image_id,
                    source_snapshot_id=snapshot_id,
                    bootable=bootable,
                ),
                request_id=str(uuid.uuid4()),
            )
        )
        return resp.volume

    async def get(self, volume_id: str) -> vpb.Volume:
        resp = await self._call("GetVolume")(pb.GetVolumeRequest(volume_id=volume_id))
        return resp.volume

    async def list(self, *, all_projects: bool = False, server_id: str = "") -> list[vpb.Volume]:
        out: list[vpb.Volume] = []
        req = pb.ListVolumesRequest(all_projects=all_projects, server_id=server_id)
        while True:
            resp = await self._call("ListVolumes")(req)
            out.extend(resp.volumes)
            if not resp.next_page_token:
                return out
            req.page_token = resp.next_page_token

    async def find(self, name_or_id: str) -> vpb.Volume:
        if is_uuid(name_or_id):
            try:
                return await self.get(name_or_id)
            except NotFound:
                pass
        matches = [v for v in await self.list() if v.name == name_or_id]
        if not matches:
            raise NotFound(f"no volume with name or id {name_or_id!r}")
        if len(matches) > 1:
            ids = ", ".join(v.id for v in matches)
            raise AmbiguousName(
                f"{len(matches)} volumes are named {name_or_id!r} ({ids}): use an id"
            )
        return matches[0]

    async def delete(self, volume_id: str) -> None:
        await self._call("DeleteVolume")(pb.DeleteVolumeRequest(volume_id=volume_id))

    async def extend(self, volume_id: str, new_size_gb: int) -> vpb.Volume:
        resp = await self._call("ExtendVolume")(
            pb.ExtendVolumeRequest(volume_id=volume_id, new_size_gb=new_size_gb)
        )
        return resp.volume

    async def update(
        self, volume_id: str, *, name: str | None = None, description: str | None = None
    ) -> vpb.Volume:
        """A new name and/or description (None: kept)."""
        req = pb.UpdateVolumeRequest(volume_id=volume_id, name=name, description=description)
        return (await self._call("UpdateVolume")(req)).volume

    # -- snapshots

    async def snapshot(
        self, volume_id: str, name: str = "", *, description: str = "", force: bool = False
    ) -> vpb.Snapshot:
        resp = await self._call("CreateSnapshot")(
            pb.CreateSnapshotRequest(
                snapshot=vpb.Snapshot(volume_id=volume_id, name=name, description=description),
                force=force,
                request_id=str(uuid.uuid4()),
            )
        )
        return resp.snapshot

    async def snapshots(
        self, *, volume_id: str = "", all_projects: bool = False
    ) -> builtins.list[Any]:
        out: builtins.list[Any] = []
        req = pb.ListSnapshotsRequest(volume_id=volume_id, all_projects=all_projects)
        while True:
            resp = await self._call("ListSnapshots")(req)
            out.extend(resp.snapshots)
            if not resp.next_page_token:
                return out
            req.page_token = resp.next_page_token

    async def delete_snapshot(self, snapshot_id: str) -> None:
        await self._call("DeleteSnapshot")(pb.DeleteSnapshotRequest(snapshot_id=snapshot_id))

    # -- types (creating one is for admins)

    async def types(self) -> builtins.list[vpb.VolumeType]:
        resp = await self._call("ListVolumeTypes")(pb.ListVolumeTypesRequest())
        return builtins.list(resp.volume_types)

    async def create_type(
        self,
        name: str,
        *,
        backend: str,
        hypervisor_types: builtins.list[str],
        multiattach: bool = False,
        description: str = "",
    ) -> vpb.VolumeType:
        resp = await self._call("CreateVolumeType")(
            pb.CreateVolumeTypeRequest(
                volume_type=vpb.VolumeType(
                    name=name,
                    backend=backend,
                    hypervisor_types=hypervisor_types,
                    multiattach=multiattach,
                    description=description,
                )
            )
        )
        return resp.volume_type

    # -- on servers (the compute api)

    async def attach(
        self, server_id: str, volume_id: str, *, wait: bool = True, wait_timeout: float = 120.0
    ) -> servers_pb2.Server:
        """Attach the volume to the server (ACTIVE: hot-plugged; SHUTOFF). With `wait`, once
        its host has it (ServerFault if it could not)."""
        resp = await self._s.call(
            self._s.compute.AttachVolume,
            servers_pb2.AttachVolumeRequest(
                server_id=server_id, volume_id=volume_id, request_id=str(uuid.uuid4())
            ),
        )
        if not wait:
            server: servers_pb2.Server = resp.server
            return server
        return await self._settled(server_id, wait_timeout)

    async def detach(
        self, server_id: str, volume_id: str, *, wait: bool = True, wait_timeout: float = 120.0
    ) -> servers_pb2.Server:
        """Detach the volume from the server (its bytes are kept)."""
        resp = await self._s.call(
            self._s.compute.DetachVolume,
            servers_pb2.DetachVolumeRequest(
                server_id=server_id, volume_id=volume_id, request_id=str(uuid.uuid4())
            ),
        )
        if not wait:
            server: servers_pb2.Server = resp.server
            return server
        return await self._settled(server_id, wait_timeout)

    async def _settled(self, server_id: str, wait_timeout: float) -> servers_pb2.Server:
        server = await self._servers.wait_for(
            server_id, _SETTLED, wait_timeout=wait_timeout, settled=True
        )
        if server.HasField("fault") and server.fault.code in _FAILED:
            raise ServerFault(server)
        return server
