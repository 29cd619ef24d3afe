"""Applying a lifecycle `Outcome` to a server, inside the caller's transaction: the row (with
its change log entry), the commands and follow-ups (outbox), the quota given back."""

from __future__ import annotations

from polyvisor.api import lifecycle, spawnspec
from polyvisor.api import models as m
from polyvisor.api.store import outbox, quotas
from polyvisor.api.store import servers as server_store
from polyvisor.api.store.db import Conn


async def apply(conn: Conn, server: m.Server, out: lifecycle.Outcome) -> m.Server:
    updated = server
    if out.changes:
        updated = await server_store.save(conn, server, out.changes, out.change_type)
    for cmd in out.commands:
        await outbox.add(
            conn, server.id, "command", spawnspec.command_payload(cmd, updated.attempts)
        )
    if out.reschedule:
        await outbox.add(conn, server.id, "reschedule", {"generation": updated.generation})
    if out.release_claim:
        await outbox.add(
            conn,
            server.id,
            "release_claim",
            {"reason": out.release_reason, "detail": out.release_detail},
        )
    if out.release_quota:
        await quotas.release(conn, server.project_id, 1, server.flavor.vcpus, server.flavor.ram_mb)
    return updated
