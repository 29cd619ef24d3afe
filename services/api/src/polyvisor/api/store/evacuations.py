"""Evacuations (table `evacuations`): which hosts a server was rebuilt away from."""

from __future__ import annotations

from datetime import datetime

from polyvisor.api.store.db import Conn

__all__ = ["record", "stale_on"]

#: At most this many ids in one answer (an agent asks again on its next pass).
LIMIT = 10_000


async def record(conn: Conn, server_id: str, source_host: str, at: datetime) -> None:
    await conn.execute(
        "INSERT INTO evacuations (server_id, source_host, evacuated_at) VALUES ($1, $2, $3) "
        "ON CONFLICT (source_host, server_id) DO UPDATE SET evacuated_at = EXCLUDED.evacuated_at",
        server_id,
        source_host,
        at,
    )


async def stale_on(conn: Conn, host: str) -> list[str]:
    """The servers evacuated from `host` that are not on it now (deleted ones included):
    a copy of one of them on `host` is stale."""
    records = await conn.fetch(
        "SELECT e.server_id FROM evacuations e JOIN servers s ON s.id = e.server_id "
        "WHERE e.source_host = $1 AND (s.host IS DISTINCT FROM $1 OR s.state = 'DELETED') "
        "ORDER BY e.server_id LIMIT $2",
        host,
        LIMIT,
    )
    return [r["server_id"] for r in records]
