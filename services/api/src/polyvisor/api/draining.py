"""Draining a host: every server on it moved off, one migration each (`resizing.migrate`):
ACTIVE servers live, SHUTOFF ones cold (they then wait in VERIFY_RESIZE like any cold
migration); a server in any other state (building, paused, resizing...) is left where it is.
Each server's outcome is said; a migration refused (no other host fits it, say) is one
server's failure, never the drain's."""

from __future__ import annotations

from dataclasses import dataclass

from polyvisor.api import ids, resizing
from polyvisor.api import models as m
from polyvisor.api.models import State
from polyvisor.api.servers import Servers
from polyvisor.api.store import servers as server_store
from polyvisor.common.auth import Principal
from polyvisor.common.db import db_errors
from polyvisor.common.errors import PolyvisorError

__all__ = ["Drained", "drain"]

_PAGE = 200


@dataclass(frozen=True, slots=True)
class Drained:
    server_id: str
    name: str
    outcome: str  # live, cold, skipped, failed
    detail: str = ""


async def on_host(servers: Servers, host: str) -> list[m.Server]:
    out: list[m.Server] = []
    after = ""
    while True:
        with db_errors():
            async with servers.pool.acquire() as conn:
                page = await server_store.assigned_to_host(conn, host, after, _PAGE)
        out.extend(page)
        if len(page) < _PAGE:
            return out
        after = page[-1].id


async def drain(servers: Servers, p: Principal, host: str) -> list[Drained]:
    """Start moving every server off `host` (the caller disabled it first)."""
    p.require_admin()
    done: list[Drained] = []
    for s in await on_host(servers, host):
        if s.state not in (State.ACTIVE, State.SHUTOFF) or s.task != m.Task.NONE:
            task = f", task {s.task}" if s.task != m.Task.NONE else ""
            done.append(Drained(s.id, s.name, "skipped", f"state {s.state}{task}"))
            continue
        live = s.state == State.ACTIVE
        try:
            await resizing.migrate(servers, p, s.id, live=live, request_id=f"drain-{ids.new_id()}")
        except PolyvisorError as exc:
            done.append(Drained(s.id, s.name, "failed", str(exc)))
            continue
        done.append(Drained(s.id, s.name, "live" if live else "cold"))
    return done
