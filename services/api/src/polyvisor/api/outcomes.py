"""Applying a lifecycle `Outcome` to a server, inside the caller's transaction: the row (with
its change log entry), the outbox work (commands and follow-ups), the quota given back."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from polyvisor.api import lifecycle
from polyvisor.api import models as m
from polyvisor.api.store import actions, outbox, quotas
from polyvisor.api.store import servers as server_store
from polyvisor.api.store.db import Conn


async def apply(conn: Conn, server: m.Server, out: lifecycle.Outcome) -> m.Server:
    updated = server
    if out.change:
        updated = await server_store.save(conn, server, out.change, out.change_type)
        if settles(server, updated):
            await actions.finish(conn, server.id, datetime.now(UTC), result_fault(out, updated))
    await enqueue(conn, server.id, out.work)
    if out.change.state == lifecycle.State.DELETED and server.state != lifecycle.State.DELETED:
        await enqueue(conn, server.id, lifecycle.resize.on_deleted(server))
    if lifecycle.frees_ports(server, out):
        await outbox.add(conn, server.id, lifecycle.ReleasePorts())
    if out.change.state == lifecycle.State.DELETED and server.state != lifecycle.State.DELETED:
        await outbox.add(conn, server.id, lifecycle.ReleaseVolumes())
    if out.release_quota:
        await quotas.release(conn, server.project_id, 1, server.flavor.vcpus, server.flavor.ram_mb)
    if any(out.quota_back):
        await quotas.release(conn, server.project_id, 0, *out.quota_back)
    return updated


async def enqueue(conn: Conn, server_id: str, work: Iterable[lifecycle.OutboxWork]) -> None:
    """Queue outbox work, in order (per server the outbox hands it out in that order)."""
    for w in work:
        await outbox.add(conn, server_id, w)


def settles(before: m.Server, after: m.Server) -> bool:
    """Whether the action in flight on the server ended with this change."""
    if after.state == lifecycle.State.DELETED:
        return before.state != lifecycle.State.DELETED
    return after.task == lifecycle.Task.NONE and (
        before.task != lifecycle.Task.NONE or before.state == lifecycle.State.BUILDING
    )


def result_fault(out: lifecycle.Outcome, after: m.Server) -> m.Fault | None:
    """The fault the settled action ended with (None: it succeeded): the server went to ERROR,
    or the change recorded a fault (a refused or timed-out action leaves the state alone)."""
    if after.state == lifecycle.State.ERROR:
        return after.fault or m.Fault("INTERNAL", "the server is in ERROR")
    if out.change.fault is not lifecycle.UNSET and out.change.fault is not None:
        return out.change.fault
    return None
