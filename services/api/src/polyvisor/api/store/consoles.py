"""Short-lived console tokens (stored as digests)."""

from __future__ import annotations

from datetime import datetime

from polyvisor.api import models as m
from polyvisor.api.store.db import Conn


async def insert(
    conn: Conn, digest: str, server: m.Server, console: m.Console, expire_time: datetime
) -> None:
    await conn.execute(
        "INSERT INTO console_tokens (token_digest, server_id, project_id, type, host, port, "
        "expire_time) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        digest,
        server.id,
        server.project_id,
        console.type,
        console.host,
        console.port,
        expire_time,
    )


async def prune(conn: Conn) -> int:
    status = await conn.execute("DELETE FROM console_tokens WHERE expire_time < now()")
    return int(status.split()[-1])
