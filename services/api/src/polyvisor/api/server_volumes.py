"""Attaching a volume to a server that exists, and detaching it (AttachVolume,
DetachVolume): the checks, the reservation in the volume service, then the action
(`lifecycle`, ATTACH_VOLUME and DETACH_VOLUME).

An attach is refused before anything is reserved when the server is busy or in a state that
cannot take it, or the volume is attached to it already. The volume service then refuses
another project's volume (NOT_FOUND), one in use without multi-attach, and a type the
server's hypervisor cannot use (FAILED_PRECONDITION); the host must report the capability of
the volume's backend kind (``volume_file``, ``volume_vmdk``, ``volume_rbd``). A refusal after
the reservation gives it back: nothing is left half done.

A detach is refused for a volume the server does not have, and for its root volume.
"""

from __future__ import annotations

from polyvisor.api import lifecycle, validation
from polyvisor.api import models as m
from polyvisor.api.clients.volume import VolumeClient, VolumeConnection
from polyvisor.api.lifecycle import Action
from polyvisor.api.servers import Servers
from polyvisor.api.spawnspec import volume_capability
from polyvisor.common.auth import Principal
from polyvisor.common.errors import FailedPrecondition, PolyvisorError
from polyvisor.common.logging import get_logger

__all__ = ["ServerVolumes", "volume_capability"]

log = get_logger(__name__)


def _args(conn: VolumeConnection) -> dict[str, object]:
    return {
        "volume_id": conn.volume_id,
        "connection_kind": conn.kind,
        "connection_attrs": dict(conn.attrs),
    }


class ServerVolumes:
    def __init__(self, servers: Servers) -> None:
        self.servers = servers

    def _volumes(self) -> VolumeClient:
        if self.servers.volumes is None:
            raise FailedPrecondition("this cloud has no volume service: servers have no volumes")
        return self.servers.volumes

    async def _ready(self, p: Principal, server_id: str, action: Action) -> m.Server:
        p.require_write()
        server = await self.servers.get(p, validation.required(server_id, "server_id"))
        lifecycle.ACTIONS[action].check(server)  # busy or wrong state: nothing is reserved
        return server

    async def _host_can(self, server: m.Server, kind: str) -> None:
        await self.servers.require_host_capability(
            server, volume_capability(kind), f"attach {kind} volumes"
        )

    async def attach(
        self, p: Principal, server_id: str, volume_id: str, request_id: str = ""
    ) -> m.Server:
        volumes = self._volumes()
        volume_id = validation.required(volume_id, "volume_id")
        request_id = validation.request_id(request_id)
        if request_id:
            seen = await self.servers.get(p, validation.required(server_id, "server_id"))
            if seen.last_request_id == request_id:  # a retry of the call that took effect
                return seen
        server = await self._ready(p, server_id, Action.ATTACH_VOLUME)
        if any(v.volume_id == volume_id for v in await volumes.of_server(server.id)):
            raise FailedPrecondition(
                f"volume {volume_id} is attached to server {server.id} already",
                {"volume_id": volume_id, "server_id": server.id},
            )
        conn = await volumes.reserve(
            volume_id, server.id, server.project_id, server.host, server.hypervisor_type
        )
        try:
            await self._host_can(server, conn.kind)
            updated = await self.servers.act(
                p, server.id, Action.ATTACH_VOLUME, request_id, _args(conn)
            )
        except PolyvisorError:
            await volumes.remove(volume_id, server.id)
            raise
        log.info("volume being attached", server_id=server.id, volume_id=volume_id)
        return updated

    async def detach(
        self, p: Principal, server_id: str, volume_id: str, request_id: str = ""
    ) -> m.Server:
        volumes = self._volumes()
        volume_id = validation.required(volume_id, "volume_id")
        server = await self._ready(p, server_id, Action.DETACH_VOLUME)
        conn = await volumes.begin_detach(volume_id, server.id)
        try:
            updated = await self.servers.act(
                p, server.id, Action.DETACH_VOLUME, request_id, _args(conn)
            )
        except PolyvisorError:
            await volumes.complete(volume_id, server.id)
            raise
        log.info("volume being detached", server_id=server.id, volume_id=volume_id)
        return updated
