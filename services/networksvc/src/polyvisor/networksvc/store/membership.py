"""Security group members and events: who is in a group, the group locks and revisions, and
the whole-set events every member or rule change writes."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import asyncpg

from polyvisor.networksvc.events import (
    GroupEventKind,
    GroupMember,
    NetworkEvent,
    SecurityGroupEvent,
)
from polyvisor.networksvc.model import (
    Port,
)
from polyvisor.networksvc.store.rows import (
    RULE_SELECT,
    addresses_of,
    rule_of,
)


async def member_shares(conn: asyncpg.Connection, gid: uuid.UUID) -> list[GroupMember]:
    """Every member port's share of the group's member set. The addresses come from a
    correlated subquery per port (always the port_id index, whatever the statistics of
    a freshly laid-out subnet say)."""
    rows = await conn.fetch(
        "SELECT p.id, p.revision, p.allowed_address_pairs, "
        "ARRAY(SELECT host(x.ip_address) FROM network.ip_addresses x "
        "      WHERE x.port_id = p.id) AS ips "
        "FROM network.port_security_groups g JOIN network.ports p ON p.id = g.port_id "
        "WHERE g.security_group_id = $1 ORDER BY p.id",
        gid,
    )
    return [
        GroupMember(
            str(r["id"]),
            r["revision"],
            tuple(sorted(set(r["ips"]) | {a["ip_address"] for a in r["allowed_address_pairs"]})),
        )
        for r in rows
    ]


async def member_set(conn: asyncpg.Connection, gid: uuid.UUID) -> list[str]:
    """The group's member set, sorted: one statement returning one array. Each member
    port's fixed IPs come from the port_id index (OFFSET 0 keeps the lateral subquery
    per port whatever the statistics say: a subnet's rows are laid out in bulk, and a
    plan from stale statistics would scan them all), then the address pairs of the
    members that have some."""
    got = await conn.fetchval(
        "SELECT array(SELECT ip FROM ("
        "  SELECT a.ip FROM network.port_security_groups g CROSS JOIN LATERAL ("
        "    SELECT host(x.ip_address) AS ip FROM network.ip_addresses x "
        "    WHERE x.port_id = g.port_id OFFSET 0) a "
        "  WHERE g.security_group_id = $1 "
        "  UNION SELECT pair->>'ip_address' FROM network.port_security_groups g "
        "  JOIN network.ports p ON p.id = g.port_id, "
        "  jsonb_array_elements(p.allowed_address_pairs) AS pair "
        "  WHERE g.security_group_id = $1 AND p.allowed_address_pairs <> '[]'::jsonb"
        ") m ORDER BY ip)",
        gid,
    )
    return list(got)


async def lock_groups(conn: asyncpg.Connection, group_ids: Sequence[str] | set[str]) -> None:
    """Lock the groups' rows in id order (FOR NO KEY UPDATE: rows referring to a group
    may still be inserted meanwhile, so two transactions never wait for each other)."""
    await conn.execute(
        "SELECT id FROM network.security_groups WHERE id = ANY($1::uuid[]) "
        "ORDER BY id FOR NO KEY UPDATE",
        sorted({uuid.UUID(g) for g in group_ids}),
    )


async def bump(conn: asyncpg.Connection, group_ids: Sequence[str] | set[str]) -> list[Any]:
    """Lock the groups (id order) and bump their revisions: (id, project_id, revision)."""
    rows = await conn.fetch(
        "UPDATE network.security_groups g SET revision = g.revision + 1 FROM "
        "(SELECT id FROM network.security_groups WHERE id = ANY($1::uuid[]) "
        " ORDER BY id FOR NO KEY UPDATE) l WHERE g.id = l.id "
        "RETURNING g.id, g.project_id, g.revision",
        sorted({uuid.UUID(g) for g in group_ids}),
    )
    return sorted(rows, key=lambda r: r["id"])


async def group_events(
    conn: asyncpg.Connection,
    group_ids: Iterable[str],
    kind: GroupEventKind,
    shares: Mapping[str, GroupMember] | None = None,
) -> list[NetworkEvent]:
    """Lock the groups (id order), bump their revisions, and describe each whole: its rule
    set and member set at the new revision (and, for a member change, the changed port's
    share). Call last in the transaction: the locks are held to the commit, so a group's
    events carry its states in revision order. The member set is read per member port
    by index (O(members) lookups)."""
    events: list[NetworkEvent] = []
    for r in await bump(conn, list(group_ids)):
        gid = str(r["id"])
        rules = await conn.fetch(
            RULE_SELECT + " WHERE r.security_group_id = $1 ORDER BY r.created_at, r.id",
            r["id"],
        )
        events.append(
            SecurityGroupEvent(
                kind=kind,
                security_group_id=gid,
                project_id=r["project_id"],
                revision=r["revision"],
                rules=tuple(rule_of(x) for x in rules),
                members=tuple(await member_set(conn, r["id"])),
                member=(shares or {}).get(gid),
            )
        )
    return events


async def member_events(
    conn: asyncpg.Connection, port: Port, was: Iterable[str], *, changed: bool = True
) -> list[NetworkEvent]:
    """MEMBERS_CHANGED of the groups the port is or was in: every group it joined or
    left, and (`changed`: its addresses changed) every group it stays in."""
    now, before = set(port.security_group_ids), set(was)
    touched = (now ^ before) | ((now & before) if changed else set())
    share = tuple(sorted(addresses_of(port)))
    shares = {g: GroupMember(port.id, port.revision, share if g in now else ()) for g in touched}
    return await group_events(conn, touched, GroupEventKind.MEMBERS_CHANGED, shares)
