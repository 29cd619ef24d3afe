"""The newest observation of a server's power state applied to it (`m.Observation`), kept on
its row beside, not in, the server users see: reading or writing it takes no revision and no
change log entry."""

from __future__ import annotations

from polyvisor.api import models as m
from polyvisor.api.store import rows
from polyvisor.api.store.db import Conn
from polyvisor.api.store.rows import SERVER_COLUMNS


async def lock_server(conn: Conn, server_id: str) -> tuple[m.Server | None, m.Observation | None]:
    """The server locked until the end of the transaction (`servers.lock`) and its newest
    observation, in one round trip (every agent event reads both)."""
    row = await conn.fetchrow(
        f"SELECT {SERVER_COLUMNS}, last_observed_generation, last_observed_by, "
        "last_observed_at FROM servers WHERE id = $1 FOR UPDATE",
        server_id,
    )
    if row is None:
        return None, None
    seen = None
    if row["last_observed_at"] is not None:
        seen = m.Observation(
            row["last_observed_generation"], row["last_observed_by"], row["last_observed_at"]
        )
    return rows.server(row), seen


async def newest(conn: Conn, server_id: str) -> m.Observation | None:
    """The newest observation recorded (read it under the server's row lock)."""
    row = await conn.fetchrow(
        "SELECT last_observed_generation, last_observed_by, last_observed_at "
        "FROM servers WHERE id = $1",
        server_id,
    )
    if row is None or row["last_observed_at"] is None:
        return None
    return m.Observation(
        row["last_observed_generation"], row["last_observed_by"], row["last_observed_at"]
    )


async def record(conn: Conn, server_id: str, seen: m.Observation) -> bool:
    """Record `seen` unless a newer observation is already recorded; False when one is.

    The WHERE clause is `lifecycle.supersedes` in SQL, so the row itself never moves back to
    an older observation, whichever replica or transaction writes it."""
    row = await conn.fetchrow(
        """
        UPDATE servers
        SET last_observed_generation = $2, last_observed_by = $3, last_observed_at = $4
        WHERE id = $1
          AND (last_observed_at IS NULL
               OR last_observed_generation < $2
               OR (last_observed_generation = $2
                   AND (last_observed_by <> $3 OR last_observed_at <= $4)))
        RETURNING id
        """,
        server_id,
        seen.generation,
        seen.agent_id,
        seen.at,
    )
    return row is not None
