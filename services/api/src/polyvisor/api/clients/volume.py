"""The volume service's client: the attachments of servers reserved, confirmed and released
as the api (its own service token); the volume service checks the project, the state,
multi-attach and the hypervisor type."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc

from polyvisor.api.clients.base import CHANNEL_OPTIONS, map_rpc_error
from polyvisor.volume.v1 import volume_service_pb2 as pb
from polyvisor.volume.v1 import volume_service_pb2_grpc

__all__ = ["AttachedVolume", "VolumeClient", "VolumeConnection"]


@dataclass(frozen=True, slots=True)
class VolumeConnection:
    volume_id: str
    kind: str
    attrs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AttachedVolume:
    volume_id: str
    root: bool
    delete_on_termination: bool


class VolumeClient:
    PEER = "volume service"

    def __init__(self, address: str, token: Callable[[], Any], timeout_s: float = 30.0) -> None:
        self._channel = grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
        self.stub = volume_service_pb2_grpc.VolumeServiceStub(self._channel)
        self._token = token
        self.timeout_s = timeout_s

    async def close(self) -> None:
        await self._channel.close()

    async def _call(self, method: Callable[..., Any], request: Any) -> Any:
        try:
            return await method(request, timeout=self.timeout_s, metadata=self._token())
        except grpc.aio.AioRpcError as e:
            raise map_rpc_error(e, self.PEER) from e

    async def reserve(
        self,
        volume_id: str,
        server_id: str,
        project_id: str,
        host: str,
        hypervisor_type: str,
        *,
        root: bool = False,
        delete_on_termination: bool = False,
    ) -> VolumeConnection:
        resp = await self._call(
            self.stub.ReserveVolume,
            pb.ReserveVolumeRequest(
                volume_id=volume_id,
                server_id=server_id,
                project_id=project_id,
                host=host,
                hypervisor_type=hypervisor_type,
                root=root,
                delete_on_termination=delete_on_termination,
            ),
        )
        c = resp.connection
        return VolumeConnection(resp.volume.id, c.kind, dict(c.attrs))

    async def complete(self, volume_id: str, server_id: str) -> None:
        await self._call(
            self.stub.CompleteAttachment,
            pb.CompleteAttachmentRequest(volume_id=volume_id, server_id=server_id),
        )

    async def begin_detach(
        self, volume_id: str, server_id: str, server_deleted: bool = False
    ) -> VolumeConnection:
        resp = await self._call(
            self.stub.BeginDetach,
            pb.BeginDetachRequest(
                volume_id=volume_id, server_id=server_id, server_deleted=server_deleted
            ),
        )
        c = resp.connection
        return VolumeConnection(resp.volume.id, c.kind, dict(c.attrs))

    async def remove(self, volume_id: str, server_id: str) -> None:
        await self._call(
            self.stub.RemoveAttachment,
            pb.RemoveAttachmentRequest(volume_id=volume_id, server_id=server_id),
        )

    async def of_server(self, server_id: str) -> list[AttachedVolume]:
        out: list[AttachedVolume] = []
        token = ""
        while True:
            resp = await self._call(
                self.stub.ListVolumes,
                pb.ListVolumesRequest(server_id=server_id, page_size=100, page_token=token),
            )
            for v in resp.volumes:
                for a in v.attachments:
                    if a.server_id == server_id:
                        out.append(AttachedVolume(v.id, a.root, a.delete_on_termination))
            token = resp.next_page_token
            if not token:
                return out

    async def delete(self, volume_id: str) -> None:
        await self._call(self.stub.DeleteVolume, pb.DeleteVolumeRequest(volume_id=volume_id))
