"""Resize requests: the new flavor checked (visible to the project, a disk that does not
shrink, the spawn image's minimums), the quota of the difference taken, then the RESIZE
transition (`lifecycle.resize`); confirm and revert are plain actions.

The quota follows the server's flavor: a resize takes the difference at once (refused when
the project has no room for it) and a revert gives it back (`Outcome.quota_back`), so a delete
at any point gives back what the server holds.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

from polyvisor.api import ids, image_checks, lifecycle, outcomes, validation
from polyvisor.api import models as m
from polyvisor.api.boot_volumes import refuse_for_volume_root
from polyvisor.api.lifecycle import Action
from polyvisor.api.lifecycle.resize import MoveKind
from polyvisor.api.models import State
from polyvisor.api.servers import Servers
from polyvisor.api.store import actions, quotas
from polyvisor.api.store import flavors as flavor_store
from polyvisor.api.store import servers as server_store
from polyvisor.common.auth import Principal
from polyvisor.common.db import db_errors
from polyvisor.common.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
)

__all__ = ["abort_migration", "confirm", "migrate", "resize", "revert"]


def _server_flavor(f: m.Flavor) -> m.ServerFlavor:
    return m.ServerFlavor(f.id, f.name, f.vcpus, f.ram_mb, f.disk_gb, dict(f.extra_specs))


def _check_flavor(server: m.Server, flavor: m.Flavor) -> None:
    old = server.flavor
    if flavor.id == old.id and (flavor.vcpus, flavor.ram_mb, flavor.disk_gb) == (
        old.vcpus,
        old.ram_mb,
        old.disk_gb,
    ):
        raise InvalidArgument(
            f"server {server.id} already has flavor {flavor.name}; a resize needs another one",
            {"field": "flavor_id", "flavor_id": flavor.id},
        )
    if flavor.disk_gb < old.disk_gb:
        raise InvalidArgument(
            f"flavor {flavor.name} has a {flavor.disk_gb} GB disk, smaller than the server's "
            f"{old.disk_gb} GB: a disk never shrinks",
            {"field": "flavor_id", "disk_gb": flavor.disk_gb, "current_disk_gb": old.disk_gb},
        )


async def resize(
    servers: Servers, p: Principal, server_id: str, flavor_ref: str, request_id: str = ""
) -> m.Server:
    """Start resizing `server_id` to the flavor `flavor_ref` (id or name)."""
    p.require_write()
    flavor_ref = validation.required(flavor_ref, "flavor_id")
    request_id = validation.request_id(request_id)
    with db_errors():
        flavor = await flavor_store.get(servers.pool, flavor_ref, p.project_id)
    if flavor is None:
        raise NotFound(f"flavor {flavor_ref} not found", {"flavor_id": flavor_ref})
    with db_errors():
        async with servers.pool.acquire() as conn, conn.transaction():
            server = await servers._locked(conn, p, server_id)
            if request_id and server.last_request_id == request_id:
                return server  # a retry of a call that already took effect
            if server.state == State.DELETED:
                raise NotFound(f"server {server_id} is deleted", {"server_id": server_id})
            lifecycle.ACTIONS[Action.RESIZE].check(server)
            spec, _ = await server_store.spawn_data(conn, server.id)
            refuse_for_volume_root(spec, server.id, "resized")
            _check_flavor(server, flavor)
            if spec is not None:
                image_checks.check_flavor_fits_image(flavor, spec.image)
            dv = flavor.vcpus - server.flavor.vcpus
            dr = flavor.ram_mb - server.flavor.ram_mb
            if (dv > 0 or dr > 0) and not await quotas.consume(
                conn, server.project_id, 0, max(dv, 0), max(dr, 0)
            ):
                raise ResourceExhausted(
                    f"quota exceeded: resizing to {flavor.name} needs {max(dv, 0)} more vcpus "
                    f"and {max(dr, 0)} MB more RAM than the project has left",
                    {"project_id": server.project_id, "fault_code": "QUOTA_EXCEEDED"},
                )
            if dv < 0 or dr < 0:
                await quotas.release(conn, server.project_id, 0, max(-dv, 0), max(-dr, 0))
            now = datetime.now(UTC)
            rid = request_id or f"req-{ids.new_id()}"
            args = {"flavor": asdict(_server_flavor(flavor))}
            out = lifecycle.plan(Action.RESIZE, server, now, servers.deadlines, rid, args)
            await actions.start(conn, server, Action.RESIZE.value, rid, p.user_id, now)
            updated = await outcomes.apply(conn, server, out)
    servers.wake_outbox()
    return updated


async def migrate(
    servers: Servers,
    p: Principal,
    server_id: str,
    host: str = "",
    live: bool = False,
    request_id: str = "",
) -> m.Server:
    """Admin: start a migration of `server_id` to `host` (or a host the scheduler picks): a
    resize to the same flavor that must leave the host it is on. Cold: confirmed or reverted
    as a resize is; live: the server runs on while it moves and is ACTIVE there at the end."""
    p.require_admin()
    request_id = validation.request_id(request_id)
    with db_errors():
        async with servers.pool.acquire() as conn, conn.transaction():
            server = await servers._locked(conn, p, server_id)
            if request_id and server.last_request_id == request_id:
                return server  # a retry of a call that already took effect
            if server.state == State.DELETED:
                raise NotFound(f"server {server_id} is deleted", {"server_id": server_id})
            lifecycle.ACTIONS[Action.RESIZE].check(server)
            if live and server.state != State.ACTIVE:
                raise FailedPrecondition(
                    f"server {server_id} is {server.state}: a live migration moves an ACTIVE "
                    "server (migrate it cold)",
                    {"server_id": server_id, "state": server.state, "allowed_states": "ACTIVE"},
                )
            spec, _ = await server_store.spawn_data(conn, server.id)
            refuse_for_volume_root(spec, server.id, "migrated")
            if host and host == server.host:
                raise InvalidArgument(
                    f"server {server_id} is on host {host} already: a migration moves it to "
                    "another host",
                    {"field": "host", "host": host},
                )
            now = datetime.now(UTC)
            rid = request_id or f"req-{ids.new_id()}"
            kind = MoveKind.LIVE if live else MoveKind.MIGRATE
            args = {"flavor": asdict(server.flavor), "kind": kind.value, "host": host}
            out = lifecycle.plan(Action.RESIZE, server, now, servers.deadlines, rid, args)
            name = "live_migrate" if live else "migrate"
            await actions.start(conn, server, name, rid, p.user_id, now)
            updated = await outcomes.apply(conn, server, out)
    servers.wake_outbox()
    return updated


async def abort_migration(
    servers: Servers, p: Principal, server_id: str, request_id: str = ""
) -> m.Server:
    """Admin: cancel the live migration of `server_id` in flight (its host answers)."""
    p.require_admin()
    with db_errors():
        async with servers.pool.acquire() as conn, conn.transaction():
            server = await servers._locked(conn, p, server_id)
            out = lifecycle.resize.abort_live(server)
            updated = await outcomes.apply(conn, server, out)
    servers.wake_outbox()
    return updated


async def confirm(servers: Servers, p: Principal, server_id: str, request_id: str = "") -> m.Server:
    """Keep the new flavor: the old one (and host) is given back."""
    return await servers.act(p, server_id, Action.CONFIRM_RESIZE, request_id)


async def revert(servers: Servers, p: Principal, server_id: str, request_id: str = "") -> m.Server:
    """Back to the old flavor and host, as the server was; the new claim is given back."""
    return await servers.act(p, server_id, Action.REVERT_RESIZE, request_id)
