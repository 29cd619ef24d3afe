"""The outbox: work to do after a commit, claimed by any replica.

An entry is claimed with a lease (FOR UPDATE SKIP LOCKED, so replicas never wait on each
other); the claimer finishes it by deleting it in the transaction that records its effects,
or gives it back with a delay. Per server only the oldest entry is claimable, so commands to
one server leave in the order they were decided.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from polyvisor.api.store import rows
from polyvisor.api.store.db import Conn

WAKE_CHANNEL = "api_outbox"


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    server_id: str
    kind: str
    payload: dict[str, Any]
    body: bytes | None
    attempts: int
    lease: str


async def add(
    conn: Conn, server_id: str, kind: str, payload: dict[str, Any], body: bytes | None = None
) -> int:
    entry_id = await conn.fetchval(
        "INSERT INTO outbox (server_id, kind, payload, body) VALUES ($1, $2, $3::jsonb, $4) "
        "RETURNING id",
        server_id,
        kind,
        payload,
        body,
    )
    await conn.execute("SELECT pg_notify($1, $2)", WAKE_CHANNEL, server_id)
    return int(entry_id)


async def claim(conn: Conn, limit: int, lease_s: float) -> list[Entry]:
    lease = uuid.uuid4().hex
    records = await conn.fetch(
        """
        UPDATE outbox SET lease = $1, leased_until = now() + make_interval(secs => $2),
                          attempts = attempts + 1
        WHERE id IN (
            SELECT o.id FROM outbox o
            WHERE o.available_at <= now()
              AND (o.leased_until IS NULL OR o.leased_until < now())
              AND NOT EXISTS (
                  SELECT 1 FROM outbox p WHERE p.server_id = o.server_id AND p.id < o.id)
            ORDER BY o.id
            LIMIT $3
            FOR UPDATE SKIP LOCKED)
        RETURNING id, server_id, kind, payload, body, attempts, lease
        """,
        lease,
        lease_s,
        limit,
    )
    return [
        Entry(
            id=r["id"],
            server_id=r["server_id"],
            kind=r["kind"],
            payload=dict(rows.js(r["payload"]) or {}),
            body=r["body"],
            attempts=r["attempts"],
            lease=r["lease"],
        )
        for r in sorted(records, key=lambda r: r["id"])
    ]


async def finish(conn: Conn, entry: Entry) -> bool:
    """Delete a claimed entry; False when the lease was lost (someone else has it now)."""
    status = await conn.execute(
        "DELETE FROM outbox WHERE id = $1 AND lease = $2", entry.id, entry.lease
    )
    return status.endswith(" 1")


async def retry_later(conn: Conn, entry: Entry, delay_s: float, error: str) -> None:
    await conn.execute(
        """
        UPDATE outbox SET lease = NULL, leased_until = NULL,
                          available_at = now() + make_interval(secs => $3), last_error = $4
        WHERE id = $1 AND lease = $2
        """,
        entry.id,
        entry.lease,
        delay_s,
        error[:2000],
    )


async def pending(conn: Conn, server_id: str | None = None) -> int:
    if server_id is None:
        return int(await conn.fetchval("SELECT count(*) FROM outbox"))
    return int(await conn.fetchval("SELECT count(*) FROM outbox WHERE server_id = $1", server_id))
