"""Short-lived console tokens (stored as digests)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from polyvisor.api import models as m
from polyvisor.api.store.db import Conn


@dataclass(frozen=True, slots=True)
class TokenRow:
    server_id: str
    project_id: str
    user_id: str
    type: str
    host: str
    port: int
    expire_time: datetime


async def insert(
    conn: Conn,
    digest: str,
    server: m.Server,
    console: m.Console,
    expire_time: datetime,
    user_id: str,
) -> None:
    await conn.execute(
        "INSERT INTO console_tokens (token_digest, server_id, project_id, type, host, port, "
        "expire_time, user_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        digest,
        server.id,
        server.project_id,
        console.type,
        console.host,
        console.port,
        expire_time,
        user_id,
    )


async def take(conn: Conn, digest: str) -> TokenRow | None:
    """The token, removed: whoever takes it first has it, nobody else ever (single use).
    An expired token is removed too, and not returned."""
    row = await conn.fetchrow(
        "DELETE FROM console_tokens WHERE token_digest = $1 "
        "RETURNING server_id, project_id, user_id, type, host, port, expire_time, "
        "expire_time > now() AS live",
        digest,
    )
    if row is None or not row["live"]:
        return None
    return TokenRow(
        row["server_id"],
        row["project_id"],
        row["user_id"],
        row["type"],
        row["host"],
        row["port"],
        row["expire_time"],
    )


async def prune(conn: Conn) -> int:
    status = await conn.execute("DELETE FROM console_tokens WHERE expire_time < now()")
    return int(status.split()[-1])
