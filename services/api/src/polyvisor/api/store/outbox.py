"""The outbox: work to do after a commit, claimed by any replica.

An entry is claimed with a lease (FOR UPDATE SKIP LOCKED, so replicas never wait on each
other); the claimer finishes it by deleting it in the transaction that records its effects,
or gives it back with a delay. Per server only the oldest entry is claimable, so commands to
one server leave in the order they were decided.

Why not `polyvisor.common.outbox` (the publisher imagesvc and networksvc use): that one only
publishes events, in one global order, by one loop per replica, and deletes what JetStream
acked. Here an entry is work with effects beyond a publish (scheduler and image-service RPCs,
port release), run by several workers and replicas at once: it needs leases, per-server order
instead of a global one, finishing in the transaction that records the effects, and retries
with a delay per entry. The common publisher has none of these.

Each row holds one typed `lifecycle.OutboxWork` as (kind, payload JSON); `encode`/`decode`
are the only places that shape knows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from polyvisor.api.lifecycle.commands import COMMANDS, AgentCommand, Verb
from polyvisor.api.lifecycle.work import (
    BindPorts,
    DeleteTransferImage,
    FailImage,
    OutboxWork,
    ReleaseClaim,
    ReleasePort,
    ReleasePorts,
    ReleaseReason,
    ReleaseVolumes,
    ReplaceClaim,
    Reschedule,
    Schedule,
    ScheduleMove,
    Send,
    SettleVolume,
)
from polyvisor.api.store import rows
from polyvisor.api.store.db import Conn

WAKE_CHANNEL = "api_outbox"


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    server_id: str
    work: OutboxWork
    attempts: int
    lease: str

    @property
    def kind(self) -> str:
        return _KINDS[type(self.work)]


_KINDS: dict[type, str] = {
    Schedule: "schedule",
    Reschedule: "reschedule",
    Send: "command",
    ReleaseClaim: "release_claim",
    ReleasePorts: "release_ports",
    FailImage: "fail_image",
    ScheduleMove: "schedule_move",
    ReplaceClaim: "replace_claim",
    ReleasePort: "release_port",
    SettleVolume: "settle_volume",
    ReleaseVolumes: "release_volumes",
    BindPorts: "bind_ports",
    DeleteTransferImage: "delete_transfer_image",
}


def encode(work: OutboxWork) -> tuple[str, dict[str, Any]]:
    """(kind, payload) of a row."""
    if isinstance(work, Schedule | Reschedule | ScheduleMove):
        return _KINDS[type(work)], {"generation": work.generation}
    if isinstance(work, ReleaseClaim):
        release: dict[str, Any] = {"reason": work.reason.value, "detail": work.detail}
        return "release_claim", {**release, "move": True} if work.move else release
    if isinstance(work, ReplaceClaim):
        return "replace_claim", {}
    if isinstance(work, ReleasePorts):
        return "release_ports", {}
    if isinstance(work, FailImage):
        return "fail_image", {"image_id": work.image_id, "reason": work.reason}
    if isinstance(work, SettleVolume):
        return "settle_volume", {"volume_id": work.volume_id, "attached": work.attached}
    if isinstance(work, ReleaseVolumes):
        return "release_volumes", {}
    if isinstance(work, BindPorts):
        return "bind_ports", {"host": work.host}
    if isinstance(work, DeleteTransferImage):
        return "delete_transfer_image", {"image_id": work.image_id}
    if isinstance(work, ReleasePort):
        return "release_port", {
            "port_id": work.port_id,
            "delete": work.delete,
            "nic_index": work.nic_index,
        }
    cmd = work.command
    payload: dict[str, Any] = {"verb": cmd.verb.value}
    for f in fields(cmd):
        value = getattr(cmd, f.name)
        payload[f.name] = value.isoformat() if isinstance(value, datetime) else value
    return "command", payload


def decode(kind: str, payload: dict[str, Any]) -> OutboxWork:
    """The work of a row; ValueError for a kind or verb this code does not know."""
    if kind == "schedule":
        return Schedule(int(payload.get("generation", 0)))
    if kind == "reschedule":
        return Reschedule(int(payload.get("generation", 0)))
    if kind == "schedule_move":
        return ScheduleMove(int(payload.get("generation", 0)))
    if kind == "replace_claim":
        return ReplaceClaim()
    if kind == "release_claim":
        return ReleaseClaim(
            ReleaseReason(payload.get("reason") or "DELETED"),
            str(payload.get("detail") or ""),
            move=bool(payload.get("move", False)),
        )
    if kind == "release_ports":
        return ReleasePorts()
    if kind == "fail_image":
        return FailImage(str(payload["image_id"]), str(payload.get("reason") or ""))
    if kind == "release_port":
        return ReleasePort(
            str(payload.get("port_id") or ""),
            bool(payload.get("delete")),
            int(payload.get("nic_index", -1)),
        )
    if kind == "settle_volume":
        return SettleVolume(str(payload.get("volume_id") or ""), bool(payload.get("attached")))
    if kind == "release_volumes":
        return ReleaseVolumes()
    if kind == "bind_ports":
        return BindPorts(str(payload["host"]))
    if kind == "delete_transfer_image":
        return DeleteTransferImage(str(payload["image_id"]))
    if kind == "command":
        return Send(_command(payload))
    raise ValueError(f"unknown outbox entry kind {kind!r}")


def _command(payload: dict[str, Any]) -> AgentCommand:
    cls = COMMANDS[Verb(payload["verb"])]
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in payload:
            continue
        value = payload[f.name]
        if f.name == "deadline" and value is not None:
            value = datetime.fromisoformat(value)
        values[f.name] = value
    return cls(**values)


async def add(conn: Conn, server_id: str, work: OutboxWork) -> int:
    kind, payload = encode(work)
    entry_id = await conn.fetchval(
        "WITH e AS (INSERT INTO outbox (server_id, kind, payload) "
        "VALUES ($1, $2, $3::jsonb) RETURNING id) "
        "SELECT e.id FROM e, pg_notify($4, $1)",  # one round trip: creates add several
        server_id,
        kind,
        payload,
        WAKE_CHANNEL,
    )
    return int(entry_id)


@dataclass(frozen=True, slots=True)
class Undecodable:
    """A claimed row whose work this code cannot read (written by a newer version)."""

    id: int
    server_id: str
    kind: str
    error: str
    attempts: int
    lease: str


async def claim(conn: Conn, limit: int, lease_s: float) -> list[Entry | Undecodable]:
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
        RETURNING id, server_id, kind, payload, attempts, lease
        """,
        lease,
        lease_s,
        limit,
    )
    out: list[Entry | Undecodable] = []
    for r in sorted(records, key=lambda r: r["id"]):
        try:
            work = decode(r["kind"], dict(rows.js(r["payload"]) or {}))
        except (ValueError, KeyError, TypeError) as e:
            out.append(
                Undecodable(r["id"], r["server_id"], r["kind"], repr(e), r["attempts"], r["lease"])
            )
            continue
        out.append(Entry(r["id"], r["server_id"], work, r["attempts"], r["lease"]))
    return out


async def finish(conn: Conn, entry: Entry | Undecodable) -> bool:
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
