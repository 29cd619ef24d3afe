"""The ground every server operation stands on: the server domain's dependencies, reading one
server in the caller's scope, and doing a user action under the server's row lock (decided by
`lifecycle.plan`, written by `outcomes.apply`; commands go out after the commit, from the
outbox, see `orchestrator`).

`servers.Servers` puts the operations together: create (`server_create`), reads
(`server_reads`), day-2 changes (`server_day2`) and consoles (`server_consoles`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from polyvisor.api import (
    access,
    ids,
    lifecycle,
    outcomes,
    validation,
)
from polyvisor.api import models as m
from polyvisor.api.clients import ImageClient, SchedulerClient
from polyvisor.api.clients.volume import VolumeClient
from polyvisor.api.lifecycle import Action, Change
from polyvisor.api.models import State
from polyvisor.api.ports import ServerPorts
from polyvisor.api.store import actions
from polyvisor.api.store import servers as server_store
from polyvisor.api.store.db import Pool
from polyvisor.common.auth import Principal
from polyvisor.common.db import db_errors
from polyvisor.common.errors import FailedPrecondition, NotFound


class ServerBase:
    """What every group of server operations shares."""

    def __init__(
        self,
        pool: Pool,
        images: ImageClient,
        scheduler: SchedulerClient,
        deadlines: lifecycle.Deadlines,
        default_quota: m.QuotaLimits,
        console_ttl_s: float = 600.0,
        wake_outbox: Callable[[], None] = lambda: None,
        console_proxy_url: str = "",
        ports: ServerPorts | None = None,
        volumes: VolumeClient | None = None,
        console_output: Callable[[str, str, int], Awaitable[str]] | None = None,
    ) -> None:
        self.console_proxy_url = console_proxy_url.rstrip("/")
        self.pool = pool
        self.ports = ports
        self.volumes = volumes
        self._console_output = console_output
        self.images = images
        self.scheduler = scheduler
        self.deadlines = deadlines
        self.default_quota = default_quota
        self.console_ttl_s = console_ttl_s
        self.wake_outbox = wake_outbox

    async def get(self, p: Principal, server_id: str) -> m.Server:
        server_id = validation.required(server_id, "server_id")
        with db_errors():
            server = await server_store.get(self.pool, server_id, access.resource_scope(p))
        if server is None:
            raise NotFound(f"server {server_id} not found", {"server_id": server_id})
        return server

    # ------------------------------------------------------------------ actions

    async def require_host_capability(self, server: m.Server, capability: str, what: str) -> None:
        """FAILED_PRECONDITION unless the server's host reports ``capability`` ("host H
        cannot <what>: ...")."""
        try:
            provider = await self.scheduler.get_provider(server.host)
        except NotFound:
            raise FailedPrecondition(
                f"the host of server {server.id} ({server.host}) is not known to the scheduler",
                {"server_id": server.id, "host": server.host},
            ) from None
        if capability not in provider.capabilities:
            raise FailedPrecondition(
                f"host {server.host} cannot {what}: its hypervisor driver lacks the "
                f"'{capability}' capability",
                {"server_id": server.id, "host": server.host, "capability": capability},
            )

    async def _locked(self, conn: Any, p: Principal, server_id: str) -> m.Server:
        """The server, locked for a change by `p`: NOT_FOUND when `p` cannot see it (another
        project's server, whatever `p`'s role, as Nova answers), else PERMISSION_DENIED for a
        reader."""
        server_id = validation.required(server_id, "server_id")
        server = await server_store.lock(conn, server_id, access.resource_scope(p))
        if server is None:
            raise NotFound(f"server {server_id} not found", {"server_id": server_id})
        p.require_write()
        return server

    async def act(
        self,
        p: Principal,
        server_id: str,
        action: Action,
        request_id: str = "",
        args: dict[str, Any] | None = None,
        spawn_image: m.ImageInfo | None = None,
        also: Callable[[m.Server], Change] | None = None,
    ) -> m.Server:
        """Do a user action (see `lifecycle.actions`); a retry with the request id of the call
        that took effect returns the server without acting again. `args`: what the action
        was asked beyond its verb; `spawn_image`: the image the server's next build boots;
        `also`: what else changes with the action, from the locked server (a rebuild's new
        name), in its transaction."""

        def planned(server: m.Server, now: datetime, rid: str) -> lifecycle.Outcome:
            out = lifecycle.plan(action, server, now, self.deadlines, rid, args)
            if also is not None and not out.noop:
                out = replace(out, change=out.change.then(also(server)))
            return out

        return await self._acted(p, server_id, action.value, request_id, planned, spawn_image)

    async def _acted(
        self,
        p: Principal,
        server_id: str,
        name: str,
        request_id: str,
        planned: Callable[[m.Server, datetime, str], lifecycle.Outcome],
        spawn_image: m.ImageInfo | None = None,
    ) -> m.Server:
        """The action `name` as `planned` decides it from the locked server, recorded in the
        server's action history, in one transaction (a retry with the request id of the call
        that took effect returns the server without acting again)."""
        request_id = validation.request_id(request_id)
        with db_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                server = await self._locked(conn, p, server_id)
                if request_id and server.last_request_id == request_id:
                    return server  # a retry of a call that already took effect
                if server.state == State.DELETED:
                    raise NotFound(f"server {server_id} is deleted", {"server_id": server_id})
                now = datetime.now(UTC)
                # Every action has a request id in the history: the caller's, or one made up.
                rid = request_id or f"req-{ids.new_id()}"
                out = planned(server, now, rid)
                if spawn_image is not None:
                    await server_store.set_spawn_image(conn, server.id, spawn_image)
                if not out.noop:
                    await actions.start(conn, server, name, rid, p.user_id, now)
                    if out.change.task == lifecycle.Task.NONE:
                        # Done as it starts (no command: a reset of the state, a delete of
                        # a server on no host): it succeeded, whatever state it leaves.
                        await actions.finish(conn, server.id, now, None)
                updated = await outcomes.apply(conn, server, out)
        self.wake_outbox()
        return updated
