"""ComputeService's resize RPCs: ResizeServer, MigrateServer (a cold migration is a resize to
the same flavor on another host), ConfirmResize, RevertResize (see
`polyvisor.api.resizing` and `lifecycle.resize`); a migration to another hypervisor type is
`polyvisor.api.cross_moves`'."""

from __future__ import annotations

from typing import TypeAlias

import grpc

from polyvisor.api import cross_moves, resizing
from polyvisor.api.convert.enums import HYPERVISOR_TYPE
from polyvisor.api.convert.servers import server_to_proto
from polyvisor.api.handlers.context import bearer, principal
from polyvisor.api.readcache import ReadCache
from polyvisor.api.servers import Servers
from polyvisor.compute.v1 import servers_pb2 as pb

Ctx: TypeAlias = grpc.aio.ServicerContext


class ResizeHandlers:
    servers: Servers
    cache: ReadCache

    async def ResizeServer(
        self, request: pb.ResizeServerRequest, context: Ctx
    ) -> pb.ResizeServerResponse:
        s = await resizing.resize(
            self.servers, principal(), request.server_id, request.flavor_id, request.request_id
        )
        self.cache.invalidate(s.id)
        return pb.ResizeServerResponse(server=server_to_proto(s))

    async def MigrateServer(
        self, request: pb.MigrateServerRequest, context: Ctx
    ) -> pb.MigrateServerResponse:
        p = principal()
        hypervisor_type = HYPERVISOR_TYPE.name(request.hypervisor_type)
        current = await self.servers.get(p, request.server_id) if hypervisor_type else None
        if current is not None and hypervisor_type != current.hypervisor_type.upper():
            s = await cross_moves.migrate_across(
                self.servers,
                p,
                bearer(context),
                request.server_id,
                hypervisor_type,
                request.host,
                request.live,
                request.request_id,
            )
        else:
            s = await resizing.migrate(
                self.servers, p, request.server_id, request.host, request.live, request.request_id
            )
        self.cache.invalidate(s.id)
        return pb.MigrateServerResponse(server=server_to_proto(s))

    async def AbortServerMigration(
        self, request: pb.AbortServerMigrationRequest, context: Ctx
    ) -> pb.AbortServerMigrationResponse:
        s = await resizing.abort_migration(
            self.servers, principal(), request.server_id, request.request_id
        )
        self.cache.invalidate(s.id)
        return pb.AbortServerMigrationResponse(server=server_to_proto(s))

    async def ConfirmResize(
        self, request: pb.ConfirmResizeRequest, context: Ctx
    ) -> pb.ConfirmResizeResponse:
        s = await resizing.confirm(self.servers, principal(), request.server_id, request.request_id)
        self.cache.invalidate(s.id)
        return pb.ConfirmResizeResponse(server=server_to_proto(s))

    async def RevertResize(
        self, request: pb.RevertResizeRequest, context: Ctx
    ) -> pb.RevertResizeResponse:
        s = await resizing.revert(self.servers, principal(), request.server_id, request.request_id)
        self.cache.invalidate(s.id)
        return pb.RevertResizeResponse(server=server_to_proto(s))
