"""ComputeService: the server methods."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeAlias

import grpc

from polyvisor.api import access, validation
from polyvisor.api import models as m
from polyvisor.api.convert.enums import CONSOLE_TYPE, HYPERVISOR_TYPE, SERVER_STATE
from polyvisor.api.convert.servers import action_to_proto, change_to_proto, server_to_proto
from polyvisor.api.handlers.context import bearer, principal
from polyvisor.api.handlers.server_pages import PageReader, field, server_field
from polyvisor.api.lifecycle import Action
from polyvisor.api.readcache import ReadCache
from polyvisor.api.serverindex import ServerIndex
from polyvisor.api.servers import CreateRequest, Servers
from polyvisor.api.spawnspec import Nic
from polyvisor.api.watch import ChangeFeed, Synced
from polyvisor.common.convert import set_ts
from polyvisor.common.errors import InvalidArgument, NotFound
from polyvisor.compute.v1 import server_actions_pb2 as apb
from polyvisor.compute.v1 import servers_pb2 as pb

Ctx: TypeAlias = grpc.aio.ServicerContext

_SYNCED = pb.SERVER_CHANGE_TYPE_SYNCED
_UNFILTERED = m.ServerFilters()


class ServerHandlers:
    servers: Servers
    feed: ChangeFeed
    cache: ReadCache
    index: ServerIndex | None
    pages: PageReader

    async def CreateServer(
        self, request: pb.CreateServerRequest, context: Ctx
    ) -> pb.CreateServerResponse:
        s = request.server
        created = await self.servers.create(
            principal(),
            bearer(context),
            CreateRequest(
                name=s.name,
                image_id=s.image_id,
                flavor_id=s.flavor_id,
                request_id=request.request_id,
                key_name=s.key_name,
                user_data=s.user_data,
                availability_zone=s.availability_zone,
                scheduler_hints=dict(s.scheduler_hints),
                metadata=dict(s.metadata),
                min_count=request.min_count,
                max_count=request.max_count,
                networks=tuple(
                    Nic(network_id=n.network_id, port_id=n.port_id, fixed_ip=n.fixed_ip)
                    for n in s.networks
                ),
                require_security_groups=s.require_security_groups,
                boot_volume_id=s.boot_volume_id,
                boot_volume_delete_on_termination=s.boot_volume_delete_on_termination,
            ),
        )
        return pb.CreateServerResponse(servers=[server_to_proto(x) for x in created])

    # GetServer and ListServers answer with the encoded response (bytes, sent as they are):
    # cached servers are never decoded and encoded again.

    async def GetServer(
        self, request: pb.GetServerRequest, context: Ctx
    ) -> pb.GetServerResponse | bytes:
        p = principal()
        cached = self.cache.get(request.server_id)
        if cached is not None:
            scope = access.resource_scope(p)
            if scope is not None and cached.project_id != scope:
                raise NotFound(
                    f"server {request.server_id} not found", {"server_id": request.server_id}
                )
            return cached.value
        epoch = self.cache.begin()
        server = await self.servers.get(p, request.server_id)
        data = server_field(server)
        self.cache.fill(server.id, server.project_id, server.revision, data, epoch)
        return data

    async def ListServers(
        self, request: pb.ListServersRequest, context: Ctx
    ) -> pb.ListServersResponse | bytes:
        filters = _UNFILTERED
        if (
            request.state
            or request.host
            or request.hypervisor_type
            or request.name
            or request.show_deleted
            or request.tags
        ):
            filters = m.ServerFilters(
                state=SERVER_STATE.name(request.state) if request.state else "",
                host=request.host,
                hypervisor_type=HYPERVISOR_TYPE.name(request.hypervisor_type),
                name=request.name,
                show_deleted=request.show_deleted,
                tags=tuple(validation.tag(t, "tags") for t in request.tags),
            )
        p = principal()
        if filters is _UNFILTERED and self.index is not None:
            body = await self.pages.from_index(
                p,
                request.project_id,
                request.all_projects,
                request.page_size,
                request.page_token,
                self.index,
            )
            if body is not None:
                return body
        keys, token = await self.servers.list_keys(
            p,
            request.page_size,
            request.page_token,
            filters,
            request.project_id,
            request.all_projects,
        )
        # Servers whose current revision is cached are sent as cached bytes; the others are
        # read in one query and cached. Revisions come from the page's keys (the index or the
        # page query, both current as of the request), so the page is never staler than the
        # database.
        return await self.pages.encoded(keys, field(2, token.encode()) if token else b"")

    async def GetServersRevision(
        self, request: pb.GetServersRevisionRequest, context: Ctx
    ) -> pb.GetServersRevisionResponse:
        """The index's revision once it holds every change committed before the call (as a
        page from it would be); 0 when there is no index or it cannot be sure."""
        applied = await self.index.revision() if self.index is not None else None
        return pb.GetServersRevisionResponse(revision=applied or 0)

    async def UpdateServer(
        self, request: pb.UpdateServerRequest, context: Ctx
    ) -> pb.UpdateServerResponse:
        paths = list(request.update_mask.paths)
        patch = _patch(request) if request.HasField("metadata_patch") else None
        if patch is None and not paths:
            raise InvalidArgument(
                "update_mask is required (name, metadata) unless metadata_patch is set",
                {"field": "update_mask"},
            )
        unknown = sorted(set(paths) - {"name", "metadata"})
        if unknown:
            raise InvalidArgument(
                f"update_mask paths not updatable: {', '.join(unknown)}", {"field": "update_mask"}
            )
        updated = await self.servers.update(
            principal(),
            request.server.id,
            request.server.name if "name" in paths else None,
            dict(request.server.metadata) if "metadata" in paths else None,
            patch,
        )
        self.cache.invalidate(updated.id)  # read-your-writes on this replica
        return pb.UpdateServerResponse(server=server_to_proto(updated))

    async def DeleteServer(
        self, request: pb.DeleteServerRequest, context: Ctx
    ) -> pb.DeleteServerResponse:
        s = await self.servers.act(
            principal(), request.server_id, Action.DELETE, request.request_id
        )
        self.cache.invalidate(s.id)
        return pb.DeleteServerResponse(server=server_to_proto(s))

    async def AddServerTag(
        self, request: pb.AddServerTagRequest, context: Ctx
    ) -> pb.AddServerTagResponse:
        s = await self.servers.tag(principal(), request.server_id, request.tag, add=True)
        self.cache.invalidate(s.id)
        return pb.AddServerTagResponse(server=server_to_proto(s))

    async def RemoveServerTag(
        self, request: pb.RemoveServerTagRequest, context: Ctx
    ) -> pb.RemoveServerTagResponse:
        s = await self.servers.tag(principal(), request.server_id, request.tag, add=False)
        self.cache.invalidate(s.id)
        return pb.RemoveServerTagResponse(server=server_to_proto(s))

    async def StartServer(
        self, request: pb.StartServerRequest, context: Ctx
    ) -> pb.StartServerResponse:
        s = await self.servers.act(principal(), request.server_id, Action.START, request.request_id)
        self.cache.invalidate(s.id)
        return pb.StartServerResponse(server=server_to_proto(s))

    async def StopServer(
        self, request: pb.StopServerRequest, context: Ctx
    ) -> pb.StopServerResponse:
        s = await self.servers.act(principal(), request.server_id, Action.STOP, request.request_id)
        self.cache.invalidate(s.id)
        return pb.StopServerResponse(server=server_to_proto(s))

    async def CreateServerImage(
        self, request: pb.CreateServerImageRequest, context: Ctx
    ) -> pb.CreateServerImageResponse:
        s, image_id = await self.servers.create_image(
            principal(),
            bearer(context),
            request.server_id,
            request.name,
            request.request_id,
            dict(request.properties),
        )
        self.cache.invalidate(s.id)
        return pb.CreateServerImageResponse(server=server_to_proto(s), image_id=image_id)

    async def ShelveServer(
        self, request: pb.ShelveServerRequest, context: Ctx
    ) -> pb.ShelveServerResponse:
        s, image_id = await self.servers.create_image(
            principal(),
            bearer(context),
            request.server_id,
            "",
            request.request_id,
            {"shelved": "true"},
            action=Action.SHELVE,
        )
        self.cache.invalidate(s.id)
        return pb.ShelveServerResponse(server=server_to_proto(s), image_id=image_id)

    async def RebuildServer(
        self, request: pb.RebuildServerRequest, context: Ctx
    ) -> pb.RebuildServerResponse:
        s = await self.servers.rebuild(
            principal(),
            bearer(context),
            request.server_id,
            request.image_id,
            request.request_id,
            name=request.name if request.HasField("name") else None,
            patch=_patch(request) if request.HasField("metadata_patch") else None,
        )
        self.cache.invalidate(s.id)
        return pb.RebuildServerResponse(server=server_to_proto(s))

    async def UnshelveServer(
        self, request: pb.UnshelveServerRequest, context: Ctx
    ) -> pb.UnshelveServerResponse:
        s = await self.servers.unshelve(
            principal(), bearer(context), request.server_id, request.request_id
        )
        self.cache.invalidate(s.id)
        return pb.UnshelveServerResponse(server=server_to_proto(s))

    async def RebootServer(
        self, request: pb.RebootServerRequest, context: Ctx
    ) -> pb.RebootServerResponse:
        if request.type not in (
            pb.REBOOT_TYPE_UNSPECIFIED,
            pb.REBOOT_TYPE_SOFT,
            pb.REBOOT_TYPE_HARD,
        ):
            raise InvalidArgument(f"unknown reboot type {request.type}", {"field": "type"})
        hard = request.type == pb.REBOOT_TYPE_HARD
        action = Action.REBOOT_HARD if hard else Action.REBOOT
        s = await self.servers.act(principal(), request.server_id, action, request.request_id)
        self.cache.invalidate(s.id)
        return pb.RebootServerResponse(server=server_to_proto(s))

    async def PauseServer(
        self, request: pb.PauseServerRequest, context: Ctx
    ) -> pb.PauseServerResponse:
        s = await self.servers.act(principal(), request.server_id, Action.PAUSE, request.request_id)
        self.cache.invalidate(s.id)
        return pb.PauseServerResponse(server=server_to_proto(s))

    async def UnpauseServer(
        self, request: pb.UnpauseServerRequest, context: Ctx
    ) -> pb.UnpauseServerResponse:
        s = await self.servers.act(
            principal(), request.server_id, Action.UNPAUSE, request.request_id
        )
        self.cache.invalidate(s.id)
        return pb.UnpauseServerResponse(server=server_to_proto(s))

    async def SuspendServer(
        self, request: pb.SuspendServerRequest, context: Ctx
    ) -> pb.SuspendServerResponse:
        s = await self.servers.act(
            principal(), request.server_id, Action.SUSPEND, request.request_id
        )
        self.cache.invalidate(s.id)
        return pb.SuspendServerResponse(server=server_to_proto(s))

    async def ResumeServer(
        self, request: pb.ResumeServerRequest, context: Ctx
    ) -> pb.ResumeServerResponse:
        s = await self.servers.act(
            principal(), request.server_id, Action.RESUME, request.request_id
        )
        self.cache.invalidate(s.id)
        return pb.ResumeServerResponse(server=server_to_proto(s))

    async def ListServerActions(
        self, request: apb.ListServerActionsRequest, context: Ctx
    ) -> apb.ListServerActionsResponse:
        items, token = await self.servers.list_actions(
            principal(), request.server_id, request.page_size, request.page_token
        )
        return apb.ListServerActionsResponse(
            actions=[action_to_proto(a) for a in items], next_page_token=token
        )

    async def GetServerAction(
        self, request: apb.GetServerActionRequest, context: Ctx
    ) -> apb.GetServerActionResponse:
        a = await self.servers.get_action(principal(), request.server_id, request.request_id)
        return apb.GetServerActionResponse(action=action_to_proto(a))

    async def GetServerConsoleOutput(
        self, request: pb.GetServerConsoleOutputRequest, context: Ctx
    ) -> pb.GetServerConsoleOutputResponse:
        text = await self.servers.console_output(principal(), request.server_id, request.lines)
        return pb.GetServerConsoleOutputResponse(output=text)

    async def GetServerConsole(
        self, request: pb.GetServerConsoleRequest, context: Ctx
    ) -> pb.GetServerConsoleResponse:
        wanted = CONSOLE_TYPE.name(request.type) or "VNC"
        c = await self.servers.console(principal(), request.server_id, wanted)
        out = pb.GetServerConsoleResponse(
            type=CONSOLE_TYPE.value(c.type), host=c.host, port=c.port, token=c.token, url=c.url,
            page_url=c.page_url,
        )  # fmt: skip
        set_ts(out.expire_time, c.expire_time)
        return out

    async def WatchServers(
        self, request: pb.WatchServersRequest, context: Ctx
    ) -> AsyncIterator[pb.WatchServersResponse]:
        p = principal()
        if request.from_revision < 0:
            raise InvalidArgument("from_revision must not be negative", {"field": "from_revision"})
        scope = access.list_scope(p, request.project_id, request.all_projects)
        if request.server_id:
            await self.servers.get(p, request.server_id)  # NOT_FOUND outside the caller's reach
        async for item in self.feed.watch(scope, request.from_revision, request.server_id):
            if isinstance(item, Synced):
                yield pb.WatchServersResponse(revision=item.revision, type=_SYNCED)
            else:
                yield change_to_proto(item)


def _patch(request: pb.UpdateServerRequest | pb.RebuildServerRequest) -> m.MetadataPatch:
    mp = request.metadata_patch
    return m.MetadataPatch(dict(mp.set), tuple(mp.remove), mp.replace, tuple(mp.keep))
