"""Evacuating a host that is down: its servers built again elsewhere (`lifecycle.evacuate`),
each from its image, keeping its id, name, flavor, ports and addresses.

Refused while the host is up at the scheduler (its agent's reports still come) or while a
process of its agent still answers on the bus (a VMware agent cut from its vCenter reports the
host down, but the VMs may run on): two copies of a server must never run at once. The host
is disabled (nothing new lands there when it comes back until the operator enables it).

`EvacuateServer` does the same for one server, on a host the admin may name (the scheduler's
filters still apply to it: it is the build's forced host), and leaves the hypervisor enabled.

Each server's outcome is said: "rebuilding", "skipped" (an action in flight, or a state that
holds no host) or "failed": a server that cannot be rebuilt elsewhere (no image: an adopted
server; an image no longer usable; volumes attached, which a rebuild from the image would
leave behind) stays where it is, with a HOST_UNREACHABLE fault saying why.

Each evacuation is recorded (`store.evacuations`): when the host's agent comes back, it asks
which of its servers were evacuated (ListEvacuatedServers) and destroys their stale copies.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from polyvisor.api import draining, ids, image_checks, outcomes
from polyvisor.api import models as m
from polyvisor.api.lifecycle import Change, Outcome
from polyvisor.api.lifecycle import evacuate as lifecycle_evacuate
from polyvisor.api.servers import Servers
from polyvisor.api.spawnspec import SpawnSpec
from polyvisor.api.store import actions, evacuations
from polyvisor.api.store import servers as server_store
from polyvisor.common.auth import Principal
from polyvisor.common.db import db_errors
from polyvisor.common.errors import FailedPrecondition, InvalidArgument, NotFound, PolyvisorError

__all__ = ["AgentProbe", "Evacuated", "Evacuation"]


class AgentProbe(Protocol):
    async def agent_answers(self, host: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class Evacuated:
    server_id: str
    name: str
    outcome: str  # rebuilding, skipped, failed
    detail: str = ""


class _CannotRebuild(Exception):
    """The server cannot be rebuilt elsewhere (the message says why)."""


class Evacuation:
    def __init__(self, servers: Servers, agents: AgentProbe) -> None:
        self.servers = servers
        self.agents = agents

    async def check_down(self, p: Principal, host: str, *, up: bool) -> None:
        """FAILED_PRECONDITION unless `host` may be evacuated: down at the scheduler (`up`:
        what the scheduler says) and no process of its agent answering."""
        p.require_admin()
        if up:
            raise FailedPrecondition(
                f"hypervisor {host} is up (its agent reports): an evacuation rebuilds the "
                "servers of a host that is down; drain a host that is up",
                {"hypervisor_id": host, "reason": "HOST_UP"},
            )
        if await self.agents.agent_answers(host):
            raise FailedPrecondition(
                f"the agent of hypervisor {host} still answers (its hypervisor is unreachable "
                "from it, but the servers may still run there): not evacuated, so that no "
                "server runs twice",
                {"hypervisor_id": host, "reason": "AGENT_ANSWERS"},
            )

    async def evacuate(self, p: Principal, bearer: str, host: str) -> list[Evacuated]:
        """Rebuild every server of `host` elsewhere (`check_down` said it may be, and the
        caller disabled it); what became of each server."""
        p.require_admin()
        on_host = await draining.on_host(self.servers, host)
        done = [await self._one(p, bearer, host, s) for s in on_host]
        self.servers.wake_outbox()
        return done

    async def evacuate_server(
        self, p: Principal, bearer: str, server: m.Server, target: str = ""
    ) -> m.Server:
        """Rebuild `server` (its host is down: `check_down` said so) elsewhere, on `target`
        when given; FAILED_PRECONDITION when it cannot be (its fault then says why)."""
        p.require_admin()
        host = server.host
        if target and target == host:
            raise InvalidArgument(
                f"server {server.id} is on host {host}, which is down: evacuate it to another",
                {"field": "host", "host": target},
            )
        lifecycle_evacuate.check_evacuable(server, host)
        try:
            image = await self._rebuildable(bearer, server)
        except _CannotRebuild as e:
            await self._fault(server, host, str(e))
            raise FailedPrecondition(str(e), {"server_id": server.id, "host": host}) from e
        await self._start(p, host, server.id, image, target)
        self.servers.wake_outbox()
        with db_errors():
            found = await server_store.get(self.servers.pool, server.id, None)
        assert found is not None
        return found

    async def _one(self, p: Principal, bearer: str, host: str, s: m.Server) -> Evacuated:
        try:
            lifecycle_evacuate.check_evacuable(s, host)
        except FailedPrecondition as e:
            return Evacuated(s.id, s.name, "skipped", e.message)
        try:
            image = await self._rebuildable(bearer, s)
        except _CannotRebuild as e:
            detail = str(e)
            await self._fault(s, host, detail)
            return Evacuated(s.id, s.name, "failed", detail)
        try:
            await self._start(p, host, s.id, image)
        except PolyvisorError as e:
            return Evacuated(s.id, s.name, "failed", e.message)
        return Evacuated(s.id, s.name, "rebuilding")

    async def _rebuildable(self, bearer: str, s: m.Server) -> m.ImageInfo:
        """The image `s` is rebuilt from; _CannotRebuild when there is none to use."""
        with db_errors():
            spec, _ = await server_store.spawn_data(self.servers.pool, s.id)
        image_id = spec.image.id if spec is not None else ""
        if spec is not None and spec.root_volume is not None:
            raise _CannotRebuild(
                f"server {s.id} boots from volume {spec.root_volume.volume_id}, which an "
                f"evacuation does not move yet: it stays on its host {s.host}"
            )
        if not image_id:
            raise _CannotRebuild(
                f"server {s.id} has no image to be rebuilt from (an adopted VM): it stays on "
                f"its host {s.host}, which is down"
            )
        if self.servers.volumes is not None:
            attached = await self.servers.volumes.of_server(s.id)
            if attached:
                names = ", ".join(v.volume_id for v in attached)
                raise _CannotRebuild(
                    f"server {s.id} has volumes attached ({names}), which a rebuild from its "
                    f"image elsewhere would leave behind: it stays on its host {s.host}"
                )
        try:
            image = await self.servers.images.get_image(image_id, bearer)
            image_checks.check_image_usable(image)
        except (NotFound, FailedPrecondition) as e:
            raise _CannotRebuild(
                f"server {s.id} cannot be rebuilt from its image {image_id} ({e.message}): it "
                f"stays on its host {s.host}"
            ) from e
        return image

    async def _fault(self, s: m.Server, host: str, detail: str) -> None:
        fault = m.Fault("HOST_UNREACHABLE", detail, host, "", datetime.now(UTC))
        with db_errors():
            async with self.servers.pool.acquire() as conn, conn.transaction():
                locked = await server_store.lock(conn, s.id)
                if locked is not None and locked.host == host:
                    await outcomes.apply(conn, locked, Outcome(Change(fault=fault)))

    async def _start(
        self, p: Principal, host: str, server_id: str, image: m.ImageInfo, target: str = ""
    ) -> None:
        with db_errors():
            async with self.servers.pool.acquire() as conn, conn.transaction():
                server = await server_store.lock(conn, server_id)
                if server is None:
                    raise NotFound(f"server {server_id} not found", {"server_id": server_id})
                lifecycle_evacuate.check_evacuable(server, host)
                now = datetime.now(UTC)
                rid = f"evacuate-{ids.new_id()}"
                out = lifecycle_evacuate.evacuate(server, now, rid, self.servers.deadlines)
                spec, _ = await server_store.spawn_data(conn, server_id)
                if spec is not None:
                    elsewhere = _elsewhere(spec, image, target)
                    await server_store.set_spawn_spec(conn, server_id, elsewhere)
                await actions.start(conn, server, "evacuate", rid, p.user_id, now)
                await outcomes.apply(conn, server, out)
                await evacuations.record(conn, server_id, host, now)


def _elsewhere(spec: SpawnSpec, image: m.ImageInfo, target: str = "") -> SpawnSpec:
    """The spec of the build elsewhere: the image as it is now (its renditions), and no
    longer forced onto the host it leaves (onto `target` when the admin named one; the
    scheduler's filters still apply to it)."""
    return replace(spec, image=image, hints=replace(spec.hints, force_host=target))
