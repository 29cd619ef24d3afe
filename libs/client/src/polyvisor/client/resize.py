"""The SDK's resize calls, part of `client.servers` (`ServersWithResize`, the servers API
with these three calls):

    await client.servers.resize(server_id, "m1.large", wait=True)    # -> VERIFY_RESIZE
    await client.servers.confirm_resize(server_id, wait=True)        # -> ACTIVE (or SHUTOFF)
    await client.servers.revert_resize(server_id, wait=True)         # back to the old flavor
    await client.servers.migrate(server_id, host="kvm-2", wait=True) # admin: cold migration
    await client.servers.migrate(server_id, hypervisor_type="vmware", wait=True)  # across types
    await client.servers.evacuate(server_id, wait=True)  # admin: its host is down: rebuilt elsewhere

With `wait`, each returns once the server has settled where the call takes it; one that
settled elsewhere raises ServerFault with the server's fault (a flavor that fits nowhere: the
scheduler's explanation, per filter, in `fault.no_valid_host`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection

from polyvisor.client import enums
from polyvisor.client.errors import ServerFault
from polyvisor.client.servers import ServersApi
from polyvisor.compute.v1 import servers_pb2
from polyvisor.types.v1 import server_status_pb2

__all__ = ["VERIFY_RESIZE", "ServersWithResize"]

_S = server_status_pb2.ServerState
VERIFY_RESIZE = _S.SERVER_STATE_VERIFY_RESIZE
_SETTLED = (_S.SERVER_STATE_ACTIVE, _S.SERVER_STATE_SHUTOFF)

Progress = Callable[[servers_pb2.Server], None]


class ServersWithResize(ServersApi):
    """`ServersApi` with resize, confirm and revert."""

    async def resize(
        self,
        server_id: str,
        flavor: str,
        *,
        wait: bool = False,
        wait_timeout: float = 1800.0,
        progress: Progress | None = None,
    ) -> servers_pb2.Server:
        """Move the server to `flavor` (id or name): on its host when the flavor fits there,
        else on another host of its hypervisor type. It then waits in VERIFY_RESIZE for a
        confirm or a revert (or the confirm window)."""
        resp = await self._s.call(
            self._s.compute.ResizeServer,
            servers_pb2.ResizeServerRequest(
                server_id=server_id, flavor_id=flavor, request_id=str(uuid.uuid4())
            ),
        )
        return await self._settle(resp.server, (VERIFY_RESIZE,), wait, wait_timeout, progress)

    async def migrate(
        self,
        server_id: str,
        *,
        host: str = "",
        live: bool = False,
        hypervisor_type: str | int = "",
        wait: bool = False,
        wait_timeout: float = 1800.0,
        progress: Progress | None = None,
    ) -> servers_pb2.Server:
        """Admin: move the server to another host of its hypervisor type (`host`, still
        checked by the scheduler's filters; "": the scheduler picks one), on the same flavor.
        A cold migration then waits in VERIFY_RESIZE for a confirm or a revert, as a resize.

        With `hypervisor_type` another than the server's (e.g. "vmware" for a KVM server), a
        cold move across types: the server is stopped, its disk carried over as an image,
        spawned there with the same id, ports and addresses, and removed from the source; it
        ends ACTIVE (or SHUTOFF, as it was) on the destination, with nothing to confirm. The
        guest's drivers for the destination's devices are the caller's concern."""
        target = enums.coerce(enums.HYPERVISOR_TYPE, hypervisor_type) if hypervisor_type else 0
        resp = await self._s.call(
            self._s.compute.MigrateServer,
            servers_pb2.MigrateServerRequest(
                server_id=server_id,
                host=host,
                live=live,
                request_id=str(uuid.uuid4()),
                hypervisor_type=target,
            ),
        )
        if target and target != resp.server.hypervisor_type:  # a move across types
            done = await self._settle(resp.server, _SETTLED, wait, wait_timeout, progress)
            if wait and done.HasField("fault") and done.fault.code:
                raise ServerFault(done)
            return done
        if not live:
            return await self._settle(resp.server, (VERIFY_RESIZE,), wait, wait_timeout, progress)
        # A live migration ends ACTIVE: on the destination, or (with its fault) where it was.
        done = await self._settle(resp.server, _SETTLED, wait, wait_timeout, progress)
        if wait and done.HasField("fault") and done.fault.code:
            raise ServerFault(done)
        return done

    async def evacuate(
        self,
        server_id: str,
        *,
        host: str = "",
        wait: bool = False,
        wait_timeout: float = 1800.0,
        progress: Progress | None = None,
    ) -> servers_pb2.Server:
        """Admin: the server's host is down (and its agent answers nothing): rebuild it from
        its image on `host` (still checked by the scheduler's filters; "": the scheduler picks
        one), keeping its id, name, flavor, ports and addresses. It comes up ACTIVE there, or
        SHUTOFF (made powered off, never started) when it was stopped."""
        resp = await self._s.call(
            self._s.compute.EvacuateServer,
            servers_pb2.EvacuateServerRequest(server_id=server_id, host=host),
        )
        return await self._settle(
            resp.server,
            (_S.SERVER_STATE_ACTIVE, _S.SERVER_STATE_SHUTOFF),
            wait,
            wait_timeout,
            progress,
        )

    async def abort_migration(self, server_id: str) -> servers_pb2.Server:
        """Admin: cancel the live migration in flight; the server stays where it is."""
        resp = await self._s.call(
            self._s.compute.AbortServerMigration,
            servers_pb2.AbortServerMigrationRequest(
                server_id=server_id, request_id=str(uuid.uuid4())
            ),
        )
        return resp.server

    async def migrations(self) -> list[servers_pb2.Server]:
        """Admin: the servers of every project with a move in flight or waiting for its
        confirm (a migration or a resize)."""
        return [s for s in await self.list(all_projects=True) if s.HasField("resize")]

    async def confirm_resize(
        self,
        server_id: str,
        *,
        wait: bool = False,
        wait_timeout: float = 600.0,
        progress: Progress | None = None,
    ) -> servers_pb2.Server:
        """Keep the new flavor; the old one (and host) is given back."""
        resp = await self._s.call(
            self._s.compute.ConfirmResize,
            servers_pb2.ConfirmResizeRequest(server_id=server_id, request_id=str(uuid.uuid4())),
        )
        return await self._settle(resp.server, _SETTLED, wait, wait_timeout, progress)

    async def revert_resize(
        self,
        server_id: str,
        *,
        wait: bool = False,
        wait_timeout: float = 1800.0,
        progress: Progress | None = None,
    ) -> servers_pb2.Server:
        """Back to the old flavor and host, as the server was before the resize."""
        resp = await self._s.call(
            self._s.compute.RevertResize,
            servers_pb2.RevertResizeRequest(server_id=server_id, request_id=str(uuid.uuid4())),
        )
        return await self._settle(resp.server, _SETTLED, wait, wait_timeout, progress)

    async def _settle(
        self,
        server: servers_pb2.Server,
        states: Collection[int],
        wait: bool,
        wait_timeout: float,
        progress: Progress | None,
    ) -> servers_pb2.Server:
        if not wait:
            return server
        return await self.wait_for(
            server.id,
            states,
            wait_timeout=wait_timeout,
            settled=True,
            progress=progress,
            fail_elsewhere=True,
        )
