"""AddServerPort and RemoveServerPort (polyvisor.compute.v1.ComputeService)."""

from __future__ import annotations

from typing import Any, TypeAlias

from polyvisor.api.convert.servers import server_to_proto
from polyvisor.api.handlers.context import bearer, principal
from polyvisor.api.readcache import ReadCache
from polyvisor.api.server_nics import ServerNics
from polyvisor.api.servers import Servers
from polyvisor.api.spawnspec import Nic
from polyvisor.compute.v1 import servers_pb2 as pb

Ctx: TypeAlias = Any


class ServerNicHandlers:
    servers: Servers
    cache: ReadCache

    async def AddServerPort(
        self, request: pb.AddServerPortRequest, context: Ctx
    ) -> pb.AddServerPortResponse:
        n = request.network
        s, port_id = await ServerNics(self.servers).add(
            principal(),
            bearer(context),
            request.server_id,
            Nic(network_id=n.network_id, port_id=n.port_id, fixed_ip=n.fixed_ip),
            request.request_id,
        )
        self.cache.invalidate(s.id)
        return pb.AddServerPortResponse(server=server_to_proto(s), port_id=port_id)

    async def RemoveServerPort(
        self, request: pb.RemoveServerPortRequest, context: Ctx
    ) -> pb.RemoveServerPortResponse:
        s = await ServerNics(self.servers).remove(
            principal(), bearer(context), request.server_id, request.port_id, request.request_id
        )
        self.cache.invalidate(s.id)
        return pb.RemoveServerPortResponse(server=server_to_proto(s))
