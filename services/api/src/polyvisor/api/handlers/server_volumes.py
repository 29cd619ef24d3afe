"""AttachVolume and DetachVolume (polyvisor.compute.v1.ComputeService)."""

from __future__ import annotations

from typing import Any, TypeAlias

from polyvisor.api.convert.servers import server_to_proto
from polyvisor.api.handlers.context import principal
from polyvisor.api.readcache import ReadCache
from polyvisor.api.server_volumes import ServerVolumes
from polyvisor.api.servers import Servers
from polyvisor.compute.v1 import servers_pb2 as pb

Ctx: TypeAlias = Any


class ServerVolumeHandlers:
    servers: Servers
    cache: ReadCache

    async def AttachVolume(
        self, request: pb.AttachVolumeRequest, context: Ctx
    ) -> pb.AttachVolumeResponse:
        s = await ServerVolumes(self.servers).attach(
            principal(), request.server_id, request.volume_id, request.request_id
        )
        self.cache.invalidate(s.id)
        return pb.AttachVolumeResponse(server=server_to_proto(s))

    async def DetachVolume(
        self, request: pb.DetachVolumeRequest, context: Ctx
    ) -> pb.DetachVolumeResponse:
        s = await ServerVolumes(self.servers).detach(
            principal(), request.server_id, request.volume_id, request.request_id
        )
        self.cache.invalidate(s.id)
        return pb.DetachVolumeResponse(server=server_to_proto(s))
