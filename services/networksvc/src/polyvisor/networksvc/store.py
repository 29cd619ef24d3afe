"""All SQL of the network service (schema `network`).

IPAM is atomic in PostgreSQL, without retries:

- a subnet whose allocation pools hold at most `MATERIALISE_LIMIT` addresses gets one row per
  pool address in `ip_addresses` when it is created (port_id NULL: free). Handing out "any
  free address" is one statement: lock the lowest free row nobody else has locked
  (`FOR UPDATE SKIP LOCKED`) and give it the port. Concurrent creates skip each other's rows
  instead of waiting or colliding, so N concurrent creates take N distinct addresses, and when
  no free row is left the answer is an immediate "no free address";
- a larger subnet (an IPv6 /64) is sparse: a random pool address is claimed with
  `INSERT .. ON CONFLICT DO UPDATE .. WHERE port_id IS NULL` (a collision, improbable in such
  a pool, tries another address, a bounded number of times);
- a specific address is claimed the same way (the row may be a free pool row, a free row
  outside the pools, or new); a row held by a port is never taken.

Freeing is the port's delete: `port_id` goes back to NULL (ON DELETE SET NULL).

Security group membership changes and rule changes lock the group rows (in id order, always
after any address rows), bump their revision and write the whole new member and rule set as
an event, in the same transaction: events of one group are totally ordered by revision.
"""

from __future__ import annotations

import ipaddress
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import asyncpg

from polyvisor.common.db import db_errors
from polyvisor.common.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
)
from polyvisor.common.outbox import OutboxMessage
from polyvisor.networksvc.events import (
    GroupEventKind,
    GroupMember,
    NetworkEvent,
    PortEvent,
    PortEventKind,
    SecurityGroupEvent,
)
from polyvisor.networksvc.model import (
    AddressPair,
    AllocationPool,
    BindingState,
    BoundIp,
    Direction,
    FixedIp,
    HostRoute,
    Network,
    NetworkType,
    Port,
    PortBindingSpec,
    RemoteGroup,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
    VifType,
)
from polyvisor.networksvc.validation import NormalRule, SubnetPlan, check_fixed_ip, generate_mac

__all__ = ["EventEncoder", "NetworkDraft", "PortDraft", "Store", "SubnetDraft"]

#: event -> (subject, serialised payload); given by bus.py so the store needs no protobuf.
EventEncoder = Callable[[NetworkEvent], tuple[str, bytes]]

#: Tries of a sparse (random) allocation before the subnet counts as full.
SPARSE_TRIES = 16
#: Tries of a generated MAC before giving up (16M addresses; a clash is rare).
MAC_TRIES = 8


@dataclass(frozen=True, slots=True)
class NetworkDraft:
    name: str
    project_id: str
    network_type: NetworkType
    physical_network: str
    segmentation_id: int
    shared: bool
    admin_state_up: bool
    mtu: int
    request_id: str | None
    #: the VLAN range to allocate from when segmentation_id is 0
    vlan_range: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class SubnetDraft:
    name: str
    project_id: str
    network_id: str
    plan: SubnetPlan
    enable_dhcp: bool
    request_id: str | None


@dataclass(frozen=True, slots=True)
class PortDraft:
    name: str
    project_id: str
    network_id: str
    mac_address: str  # "" generates one
    fixed_ips: tuple[FixedIp, ...]  # empty: one address per IP version
    device_owner: str
    device_id: str
    security_group_ids: tuple[str, ...]
    port_security_enabled: bool
    allowed_address_pairs: tuple[AddressPair, ...]
    admin_state_up: bool
    request_id: str | None


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None


def _network(row: asyncpg.Record) -> Network:
    return Network(
        id=str(row["id"]),
        name=row["name"],
        project_id=row["project_id"],
        network_type=NetworkType(row["network_type"]),
        physical_network=row["physical_network"],
        segmentation_id=row["segmentation_id"],
        shared=row["shared"],
        admin_state_up=row["admin_state_up"],
        mtu=row["mtu"],
        subnet_ids=tuple(row["subnet_ids"] or ()),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _subnet(row: asyncpg.Record) -> Subnet:
    return Subnet(
        id=str(row["id"]),
        name=row["name"],
        project_id=row["project_id"],
        network_id=str(row["network_id"]),
        ip_version=row["ip_version"],
        cidr=row["cidr_text"],
        gateway_ip=row["gateway_text"] or "",
        allocation_pools=tuple(
            AllocationPool(p["start"], p["end"]) for p in row["allocation_pools"]
        ),
        dns_nameservers=tuple(row["dns_nameservers"]),
        host_routes=tuple(HostRoute(r["destination"], r["nexthop"]) for r in row["host_routes"]),
        enable_dhcp=row["enable_dhcp"],
        created_at=row["created_at"],
    )


def _port(row: asyncpg.Record) -> Port:
    ips = []
    for item in row["ips"] or ():
        subnet_id, _, ip = item.partition(" ")
        ips.append(FixedIp(subnet_id, ip))
    return Port(
        id=str(row["id"]),
        name=row["name"],
        project_id=row["project_id"],
        network_id=str(row["network_id"]),
        mac_address=str(row["mac_text"]),
        fixed_ips=tuple(ips),
        device_owner=row["device_owner"],
        device_id=row["device_id"],
        binding_host=row["binding_host"],
        vif_type=VifType(row["vif_type"]),
        binding_state=BindingState(row["binding_state"]),
        binding_message=row["binding_message"],
        port_security_enforced=row["port_security_enforced"],
        security_group_ids=tuple(row["sgs"] or ()),
        port_security_enabled=row["port_security_enabled"],
        allowed_address_pairs=tuple(
            AddressPair(p["ip_address"], p.get("mac_address", ""))
            for p in row["allowed_address_pairs"]
        ),
        admin_state_up=row["admin_state_up"],
        revision=row["revision"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _addresses(port: Port) -> set[str]:
    """What a port brings into the member set of its groups: its fixed IPs and the addresses
    (or CIDRs) of its allowed address pairs."""
    return {f.ip_address for f in port.fixed_ips} | {
        p.ip_address for p in port.allowed_address_pairs
    }


def _rule(row: asyncpg.Record) -> SecurityGroupRule:
    return SecurityGroupRule(
        id=str(row["id"]),
        security_group_id=str(row["security_group_id"]),
        project_id=row["project_id"],
        direction=Direction(row["direction"]),
        ethertype=row["ethertype"],
        protocol=row["protocol"],
        port_range_min=row["port_range_min"],
        port_range_max=row["port_range_max"],
        remote_ip_prefix=row["prefix_text"] or "",
        remote_group_id=str(row["remote_group_id"]) if row["remote_group_id"] else "",
        description=row["description"],
        created_at=row["created_at"],
    )


def _group(row: asyncpg.Record, rules: Sequence[SecurityGroupRule] = ()) -> SecurityGroup:
    return SecurityGroup(
        id=str(row["id"]),
        name=row["name"],
        description=row["description"],
        project_id=row["project_id"],
        is_default=row["is_default"],
        revision=row["revision"],
        rules=tuple(rules),
        created_at=row["created_at"],
    )


_NETWORK_SELECT = """
SELECT n.*, coalesce((SELECT array_agg(s.id::text ORDER BY s.created_at, s.id)
                      FROM network.subnets s WHERE s.network_id = n.id), '{}') AS subnet_ids
FROM network.networks n
"""
_SUBNET_SELECT = """
SELECT s.*, s.cidr::text AS cidr_text, host(s.gateway_ip) AS gateway_text FROM network.subnets s
"""
_PORT_SELECT = """
SELECT p.*, p.mac_address::text AS mac_text,
  coalesce((SELECT array_agg(a.subnet_id::text || ' ' || host(a.ip_address)
                             ORDER BY s.created_at, a.ip_address)
            FROM network.ip_addresses a JOIN network.subnets s ON s.id = a.subnet_id
            WHERE a.port_id = p.id), '{}') AS ips,
  coalesce((SELECT array_agg(g.security_group_id::text ORDER BY g.security_group_id)
            FROM network.port_security_groups g WHERE g.port_id = p.id), '{}') AS sgs
FROM network.ports p
"""
_RULE_SELECT = """
SELECT r.*, r.remote_ip_prefix::text AS prefix_text FROM network.security_group_rules r
"""


def _visible(alias: str, arg: str, *, shared: bool) -> str:
    """SQL: the row is the project's (or, for networks, shared)."""
    cond = f"{alias}.project_id = {arg}"
    return f"({cond} OR {alias}.shared)" if shared else cond


class Store:
    def __init__(self, pool: asyncpg.Pool, encode: EventEncoder) -> None:
        self._pool = pool
        self._encode = encode

    # ------------------------------------------------------------------ outbox

    async def _emit(self, conn: asyncpg.Connection, events: Sequence[NetworkEvent]) -> None:
        if not events:
            return
        rows = []
        for e in events:
            subject, payload = self._encode(e)
            rows.append((uuid.UUID(e.event_id), subject, payload))
        await conn.executemany(
            "INSERT INTO network.outbox (event_id, subject, payload) VALUES ($1, $2, $3)", rows
        )

    async def outbox_batch(self, limit: int = 100) -> list[OutboxMessage]:
        with db_errors():
            rows = await self._pool.fetch(
                "SELECT seq, event_id, subject, payload FROM network.outbox ORDER BY seq LIMIT $1",
                limit,
            )
        return [
            OutboxMessage(r["seq"], r["subject"], str(r["event_id"]), bytes(r["payload"]))
            for r in rows
        ]

    async def outbox_done(self, seqs: Sequence[int]) -> None:
        with db_errors():
            await self._pool.execute(
                "DELETE FROM network.outbox WHERE seq = ANY($1::bigint[])", list(seqs)
            )

    # ------------------------------------------------------------------ networks

    async def network_by_request(self, project_id: str, request_id: str) -> Network | None:
        with db_errors():
            row = await self._pool.fetchrow(
                _NETWORK_SELECT + " WHERE n.project_id = $1 AND n.request_id = $2",
                project_id,
                request_id,
            )
        return _network(row) if row else None

    async def segment_owner(
        self, physical_network: str, network_type: NetworkType, segmentation_id: int
    ) -> str | None:
        """The id of the network using that segment, if any."""
        with db_errors():
            row = await self._pool.fetchrow(
                "SELECT id FROM network.networks WHERE physical_network = $1 "
                "AND network_type = $2 AND segmentation_id = $3",
                physical_network,
                network_type.value,
                segmentation_id,
            )
        return str(row["id"]) if row else None

    async def insert_network(self, d: NetworkDraft) -> Network:
        net_id = uuid.uuid4()
        try:
            with db_errors():
                async with self._pool.acquire() as conn, conn.transaction():
                    seg = d.segmentation_id
                    if d.network_type is NetworkType.VLAN and not seg:
                        assert d.vlan_range is not None
                        # Serialise automatic allocation per physical network.
                        await conn.execute(
                            "SELECT pg_advisory_xact_lock(hashtext('network.vlan:' || $1))",
                            d.physical_network,
                        )
                        seg = await conn.fetchval(
                            "SELECT g FROM generate_series($1::int, $2::int) g WHERE NOT EXISTS "
                            "(SELECT 1 FROM network.networks n WHERE n.network_type = 'vlan' "
                            " AND n.physical_network = $3 AND n.segmentation_id = g) "
                            "ORDER BY g LIMIT 1",
                            d.vlan_range[0],
                            d.vlan_range[1],
                            d.physical_network,
                        )
                        if seg is None:
                            raise ResourceExhausted(
                                f"physical network {d.physical_network} has no free VLAN id in "
                                f"{d.vlan_range[0]}-{d.vlan_range[1]}"
                            )
                    await conn.execute(
                        "INSERT INTO network.networks (id, name, project_id, network_type, "
                        "physical_network, segmentation_id, shared, admin_state_up, mtu, "
                        "request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                        net_id,
                        d.name,
                        d.project_id,
                        d.network_type.value,
                        d.physical_network,
                        seg,
                        d.shared,
                        d.admin_state_up,
                        d.mtu,
                        d.request_id,
                    )
        except AlreadyExists as e:
            if e.details.get("constraint") == "networks_request_id" and d.request_id:
                found = await self.network_by_request(d.project_id, d.request_id)
                if found is not None:
                    return found
            if e.details.get("constraint") in ("networks_vlan", "networks_flat"):
                what = (
                    f"VLAN {d.segmentation_id}"
                    if d.network_type is NetworkType.VLAN
                    else "the flat segment"
                )
                raise AlreadyExists(
                    f"{what} of physical network {d.physical_network} is in use by another network",
                    {"physical_network": d.physical_network},
                ) from e
            raise
        got = await self.get_network(str(net_id))
        assert got is not None
        return got

    async def get_network(self, network_id: str) -> Network | None:
        nid = _uuid(network_id)
        if nid is None:
            return None
        with db_errors():
            row = await self._pool.fetchrow(_NETWORK_SELECT + " WHERE n.id = $1", nid)
        return _network(row) if row else None

    async def list_networks(
        self, project_id: str | None, *, name: str, after: str, limit: int
    ) -> list[Network]:
        """project_id None: every network; else the project's and the shared ones."""
        where = ["n.id > $1"]
        args: list[object] = [_uuid(after) or uuid.UUID(int=0)]
        if project_id is not None:
            args.append(project_id)
            where.append(_visible("n", f"${len(args)}", shared=True))
        if name:
            args.append(name)
            where.append(f"n.name = ${len(args)}")
        args.append(limit)
        sql = _NETWORK_SELECT + f" WHERE {' AND '.join(where)} ORDER BY n.id LIMIT ${len(args)}"
        with db_errors():
            rows = await self._pool.fetch(sql, *args)
        return [_network(r) for r in rows]

    async def delete_network(self, network_id: str) -> None:
        """Delete it with its subnets and its network:* ports; refused while other ports use it."""
        nid = uuid.UUID(network_id)
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(
                    "SELECT id FROM network.networks WHERE id = $1 FOR UPDATE", nid
                )
                if row is None:
                    raise NotFound(f"network {network_id} not found", {"network_id": network_id})
                busy = await conn.fetch(
                    "SELECT id, device_owner, device_id FROM network.ports WHERE network_id = $1 "
                    "AND device_owner NOT LIKE 'network:%' ORDER BY created_at LIMIT 3",
                    nid,
                )
                if busy:
                    count = await conn.fetchval(
                        "SELECT count(*) FROM network.ports WHERE network_id = $1 "
                        "AND device_owner NOT LIKE 'network:%'",
                        nid,
                    )
                    first = busy[0]
                    used_by = f" (used by {first['device_id']})" if first["device_id"] else ""
                    raise FailedPrecondition(
                        f"network {network_id} has {count} port(s) in use, e.g. port "
                        f"{first['id']}{used_by}: delete them first",
                        {"network_id": network_id, "ports": count},
                    )
                service_ports = await conn.fetch(
                    "SELECT id FROM network.ports WHERE network_id = $1", nid
                )
                for p in service_ports:
                    await self._delete_port_in(conn, str(p["id"]))
                await conn.execute("DELETE FROM network.networks WHERE id = $1", nid)

    # ------------------------------------------------------------------ subnets

    async def subnet_by_request(self, project_id: str, request_id: str) -> Subnet | None:
        with db_errors():
            row = await self._pool.fetchrow(
                _SUBNET_SELECT + " WHERE s.project_id = $1 AND s.request_id = $2",
                project_id,
                request_id,
            )
        return _subnet(row) if row else None

    async def insert_subnet(self, d: SubnetDraft) -> Subnet:
        sid = uuid.uuid4()
        plan = d.plan
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                # The network row lock serialises subnet creation per network, so the
                # overlap check below cannot race another create.
                if not await conn.fetchval(
                    "SELECT true FROM network.networks WHERE id = $1 FOR UPDATE",
                    uuid.UUID(d.network_id),
                ):
                    raise NotFound(f"network {d.network_id} not found")
                overlap = await conn.fetchrow(
                    "SELECT id, cidr::text AS cidr FROM network.subnets "
                    "WHERE network_id = $1 AND cidr && $2::cidr LIMIT 1",
                    uuid.UUID(d.network_id),
                    plan.cidr,
                )
                if overlap is not None:
                    raise InvalidArgument(
                        f"cidr {plan.cidr} overlaps subnet {overlap['id']} ({overlap['cidr']}) "
                        f"of network {d.network_id}",
                        {"subnet_id": str(overlap["id"])},
                    )
                await conn.execute(
                    "INSERT INTO network.subnets (id, name, project_id, network_id, ip_version, "
                    "cidr, gateway_ip, enable_dhcp, dns_nameservers, host_routes, "
                    "allocation_pools, ipam_mode, request_id) VALUES ($1, $2, $3, $4, $5, "
                    "$6::cidr, $7::inet, $8, $9, $10::jsonb, $11::jsonb, $12, $13)",
                    sid,
                    d.name,
                    d.project_id,
                    uuid.UUID(d.network_id),
                    plan.ip_version,
                    plan.cidr,
                    plan.gateway_ip or None,
                    d.enable_dhcp,
                    list(plan.dns_nameservers),
                    [
                        {"destination": r.destination, "nexthop": r.nexthop}
                        for r in plan.host_routes
                    ],
                    [{"start": p.start, "end": p.end} for p in plan.allocation_pools],
                    "materialised" if plan.materialised else "sparse",
                    d.request_id,
                )
                if plan.materialised:
                    for p in plan.allocation_pools:
                        size = int(ipaddress.ip_address(p.end)) - int(ipaddress.ip_address(p.start))
                        await conn.execute(
                            "INSERT INTO network.ip_addresses (subnet_id, ip_address, in_pool) "
                            "SELECT $1, $2::inet + g, true FROM generate_series(0::bigint, $3) g",
                            sid,
                            p.start,
                            size,
                        )
        if plan.materialised:
            # Statistics for the rows just laid out, so that plans joining them (member sets)
            # use the port_id index rather than scanning the subnet's free addresses.
            with db_errors():
                await self._pool.execute("ANALYZE network.ip_addresses")
        got = await self.get_subnet(str(sid))
        assert got is not None
        return got

    async def get_subnet(self, subnet_id: str) -> Subnet | None:
        sid = _uuid(subnet_id)
        if sid is None:
            return None
        with db_errors():
            row = await self._pool.fetchrow(_SUBNET_SELECT + " WHERE s.id = $1", sid)
        return _subnet(row) if row else None

    async def network_subnets(self, network_id: str) -> list[Subnet]:
        with db_errors():
            rows = await self._pool.fetch(
                _SUBNET_SELECT + " WHERE s.network_id = $1 ORDER BY s.created_at, s.id",
                uuid.UUID(network_id),
            )
        return [_subnet(r) for r in rows]

    async def list_subnets(
        self, project_id: str | None, *, network_id: str, after: str, limit: int
    ) -> list[Subnet]:
        where = ["s.id > $1"]
        args: list[object] = [_uuid(after) or uuid.UUID(int=0)]
        if project_id is not None:
            args.append(project_id)
            where.append(
                f"(s.project_id = ${len(args)} OR EXISTS (SELECT 1 FROM network.networks n "
                f"WHERE n.id = s.network_id AND (n.shared OR n.project_id = ${len(args)})))"
            )
        if network_id:
            nid = _uuid(network_id)
            if nid is None:
                return []
            args.append(nid)
            where.append(f"s.network_id = ${len(args)}")
        args.append(limit)
        sql = _SUBNET_SELECT + f" WHERE {' AND '.join(where)} ORDER BY s.id LIMIT ${len(args)}"
        with db_errors():
            rows = await self._pool.fetch(sql, *args)
        return [_subnet(r) for r in rows]

    async def delete_subnet(self, subnet_id: str) -> None:
        sid = uuid.UUID(subnet_id)
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                if not await conn.fetchval(
                    "SELECT true FROM network.subnets WHERE id = $1 FOR UPDATE", sid
                ):
                    raise NotFound(f"subnet {subnet_id} not found")
                used = await conn.fetchval(
                    "SELECT count(*) FROM network.ip_addresses "
                    "WHERE subnet_id = $1 AND port_id IS NOT NULL",
                    sid,
                )
                if used:
                    raise FailedPrecondition(
                        f"subnet {subnet_id} has {used} address(es) in use by ports",
                        {"subnet_id": subnet_id, "in_use": used},
                    )
                await conn.execute("DELETE FROM network.subnets WHERE id = $1", sid)

    async def subnet_usage(self, subnet_id: str) -> tuple[int, int]:
        """(addresses in use, free pool addresses known as rows)."""
        with db_errors():
            row = await self._pool.fetchrow(
                "SELECT count(*) FILTER (WHERE port_id IS NOT NULL) AS used, "
                "count(*) FILTER (WHERE port_id IS NULL AND in_pool) AS free "
                "FROM network.ip_addresses WHERE subnet_id = $1",
                uuid.UUID(subnet_id),
            )
        return row["used"], row["free"]

    # ------------------------------------------------------------------ IPAM

    @staticmethod
    def _in_pools(ip: str, pools: Sequence[AllocationPool]) -> bool:
        a = ipaddress.ip_address(ip)
        return any(
            ipaddress.ip_address(p.start) <= a <= ipaddress.ip_address(p.end)  # type: ignore[operator]
            for p in pools
        )

    async def _claim(
        self, conn: asyncpg.Connection, subnet: Subnet, ip: str, port_id: uuid.UUID
    ) -> bool:
        """Give that address to the port unless another port holds it."""
        got = await conn.fetchval(
            "INSERT INTO network.ip_addresses AS a (subnet_id, ip_address, in_pool, port_id) "
            "VALUES ($1, $2::inet, $3, $4) ON CONFLICT (subnet_id, ip_address) "
            "DO UPDATE SET port_id = EXCLUDED.port_id WHERE a.port_id IS NULL RETURNING true",
            uuid.UUID(subnet.id),
            ip,
            self._in_pools(ip, subnet.allocation_pools),
            port_id,
        )
        return bool(got)

    async def _allocate_any(
        self, conn: asyncpg.Connection, subnet: Subnet, mode: str, port_id: uuid.UUID
    ) -> str | None:
        """A free pool address of the subnet for the port, or None when there is none."""
        if mode == "materialised":
            return await conn.fetchval(
                "WITH c AS (SELECT ip_address FROM network.ip_addresses "
                "  WHERE subnet_id = $1 AND port_id IS NULL AND in_pool "
                "  ORDER BY ip_address LIMIT 1 FOR UPDATE SKIP LOCKED) "
                "UPDATE network.ip_addresses a SET port_id = $2 FROM c "
                "WHERE a.subnet_id = $1 AND a.ip_address = c.ip_address "
                "RETURNING host(a.ip_address)",
                uuid.UUID(subnet.id),
                port_id,
            )
        ranges = [
            (int(ipaddress.ip_address(p.start)), int(ipaddress.ip_address(p.end)))
            for p in subnet.allocation_pools
        ]
        total = sum(b - a + 1 for a, b in ranges)
        cls = ipaddress.IPv4Address if subnet.ip_version == 4 else ipaddress.IPv6Address
        for _ in range(SPARSE_TRIES):
            n = secrets.randbelow(total)
            for a, b in ranges:
                if n <= b - a:
                    candidate = str(cls(a + n))
                    break
                n -= b - a + 1
            if await self._claim(conn, subnet, candidate, port_id):
                return candidate
        return None

    # ------------------------------------------------------------------ ports

    async def port_by_request(self, project_id: str, request_id: str) -> Port | None:
        with db_errors():
            row = await self._pool.fetchrow(
                _PORT_SELECT + " WHERE p.project_id = $1 AND p.request_id = $2",
                project_id,
                request_id,
            )
        return _port(row) if row else None

    async def create_port(self, d: PortDraft) -> Port:
        """Insert the port, its addresses and group memberships, and their events, at once."""
        pid = uuid.uuid4()
        try:
            with db_errors():
                async with self._pool.acquire() as conn, conn.transaction():
                    await self._create_port_in(conn, pid, d)
        except AlreadyExists as e:
            if e.details.get("constraint") == "ports_request_id" and d.request_id:
                found = await self.port_by_request(d.project_id, d.request_id)
                if found is not None:
                    return found
            raise
        got = await self.get_port(str(pid))
        assert got is not None
        return got

    async def _create_port_in(self, conn: asyncpg.Connection, pid: uuid.UUID, d: PortDraft) -> None:
        nid = uuid.UUID(d.network_id)
        # FOR SHARE: a network (or subnet) delete waits for us, and we for it.
        if not await conn.fetchval(
            "SELECT true FROM network.networks WHERE id = $1 FOR SHARE", nid
        ):
            raise NotFound(f"network {d.network_id} not found", {"network_id": d.network_id})
        rows = await conn.fetch(
            _SUBNET_SELECT + " WHERE s.network_id = $1 ORDER BY s.created_at, s.id FOR SHARE",
            nid,
        )
        subnets = [(_subnet(r), r["ipam_mode"]) for r in rows]
        pairs = [{"ip_address": p.ip_address, "mac_address": p.mac_address}
                 for p in d.allowed_address_pairs]  # fmt: skip
        insert = (
            "INSERT INTO network.ports (id, name, project_id, network_id, mac_address, "
            "device_owner, device_id, port_security_enabled, allowed_address_pairs, "
            "admin_state_up, request_id) VALUES ($1, $2, $3, $4, $5::macaddr, $6, $7, $8, "
            "$9::jsonb, $10, $11) ON CONFLICT (mac_address) DO NOTHING RETURNING true"
        )
        for _ in range(MAC_TRIES if not d.mac_address else 1):
            mac = d.mac_address or generate_mac()
            if await conn.fetchval(
                insert, pid, d.name, d.project_id, nid, mac, d.device_owner, d.device_id,
                d.port_security_enabled, pairs, d.admin_state_up, d.request_id,
            ):  # fmt: skip
                break
        else:
            if d.mac_address:
                raise AlreadyExists(
                    f"MAC address {d.mac_address} is in use by another port",
                    {"mac_address": d.mac_address},
                )
            raise ResourceExhausted("could not generate a free MAC address; try again")

        if d.fixed_ips:
            by_id = {s.id: (s, m) for s, m in subnets}
            for f in d.fixed_ips:
                subnet, mode = by_id[f.subnet_id]
                if f.ip_address:
                    ip = check_fixed_ip(f.ip_address, subnet.cidr, subnet.gateway_ip, subnet.id)
                    if not await self._claim(conn, subnet, ip, pid):
                        raise AlreadyExists(
                            f"IP address {ip} is already allocated on subnet {subnet.id}",
                            {"subnet_id": subnet.id, "ip_address": ip},
                        )
                elif await self._allocate_any(conn, subnet, mode, pid) is None:
                    raise ResourceExhausted(
                        f"subnet {subnet.id} has no free address", {"subnet_id": subnet.id}
                    )
        else:
            for version in (4, 6):
                candidates = [(s, m) for s, m in subnets if s.ip_version == version]
                if not candidates:
                    continue
                for subnet, mode in candidates:
                    if await self._allocate_any(conn, subnet, mode, pid) is not None:
                        break
                else:
                    ids = ", ".join(s.id for s, _ in candidates)
                    raise ResourceExhausted(
                        f"subnet {ids} has no free address"
                        if len(candidates) == 1
                        else f"network {d.network_id} has no free IPv{version} address "
                        f"(subnets {ids} are full)",
                        {"network_id": d.network_id},
                    )
        if d.security_group_ids:
            await conn.executemany(
                "INSERT INTO network.port_security_groups (port_id, security_group_id) "
                "VALUES ($1, $2)",
                [(pid, uuid.UUID(g)) for g in d.security_group_ids],
            )
        port = await self._port_in(conn, pid)
        events: list[NetworkEvent] = [PortEvent(PortEventKind.CREATED, port, "")]
        events += await self._member_events(conn, port, ())
        await self._emit(conn, events)

    async def _port_in(self, conn: asyncpg.Connection, pid: uuid.UUID) -> Port:
        row = await conn.fetchrow(_PORT_SELECT + " WHERE p.id = $1", pid)
        return _port(row)

    async def get_port(self, port_id: str) -> Port | None:
        pid = _uuid(port_id)
        if pid is None:
            return None
        with db_errors():
            row = await self._pool.fetchrow(_PORT_SELECT + " WHERE p.id = $1", pid)
        return _port(row) if row else None

    async def list_ports(
        self,
        project_id: str | None,
        *,
        network_id: str,
        device_id: str,
        host: str,
        after: str,
        limit: int,
    ) -> list[Port]:
        where = ["p.id > $1"]
        args: list[object] = [_uuid(after) or uuid.UUID(int=0)]
        if project_id is not None:
            args.append(project_id)
            where.append(f"p.project_id = ${len(args)}")
        if network_id:
            nid = _uuid(network_id)
            if nid is None:
                return []
            args.append(nid)
            where.append(f"p.network_id = ${len(args)}")
        if device_id:
            args.append(device_id)
            where.append(f"p.device_id = ${len(args)}")
        if host:
            args.append(host)
            where.append(f"p.binding_host = ${len(args)}")
        args.append(limit)
        sql = _PORT_SELECT + f" WHERE {' AND '.join(where)} ORDER BY p.id LIMIT ${len(args)}"
        with db_errors():
            rows = await self._pool.fetch(sql, *args)
        return [_port(r) for r in rows]

    async def update_port(
        self, port_id: str, changes: dict[str, Any], *, expected_revision: int
    ) -> Port:
        """Apply `changes` (columns, plus "security_group_ids") if the port is still at
        `expected_revision` (else Aborted: it changed since it was validated)."""
        pid = uuid.UUID(port_id)
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                before = await conn.fetchrow(
                    "SELECT revision FROM network.ports WHERE id = $1 FOR UPDATE", pid
                )
                if before is None:
                    raise NotFound(f"port {port_id} not found")
                if before["revision"] != expected_revision:
                    raise Aborted(f"port {port_id} changed meanwhile; try again")
                old = await self._port_in(conn, pid)
                sets: list[str] = []
                args: list[object] = [pid]
                for col, value in changes.items():
                    if col == "security_group_ids":
                        continue
                    if col == "allowed_address_pairs":
                        value = [{"ip_address": p.ip_address, "mac_address": p.mac_address}
                                 for p in value]  # fmt: skip
                        args.append(value)
                        sets.append(f"{col} = ${len(args)}::jsonb")
                    else:
                        args.append(value)
                        sets.append(f"{col} = ${len(args)}")
                sets.append("revision = revision + 1")
                sets.append("updated_at = now()")
                await conn.execute(
                    f"UPDATE network.ports SET {', '.join(sets)} WHERE id = $1", *args
                )
                if "security_group_ids" in changes:
                    new = set(changes["security_group_ids"])
                    await conn.execute(
                        "DELETE FROM network.port_security_groups WHERE port_id = $1", pid
                    )
                    await conn.executemany(
                        "INSERT INTO network.port_security_groups (port_id, security_group_id) "
                        "VALUES ($1, $2)",
                        [(pid, uuid.UUID(g)) for g in sorted(new)],
                    )
                port = await self._port_in(conn, pid)
                events: list[NetworkEvent] = [
                    PortEvent(PortEventKind.UPDATED, port, port.binding_host)
                ]
                if {"security_group_ids", "allowed_address_pairs"} & set(changes):
                    events += await self._member_events(
                        conn,
                        port,
                        old.security_group_ids,
                        changed="allowed_address_pairs" in changes,
                    )
                await self._emit(conn, events)
        return port

    async def delete_port(self, port_id: str) -> None:
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                await self._delete_port_in(conn, port_id)

    async def _delete_port_in(self, conn: asyncpg.Connection, port_id: str) -> None:
        pid = uuid.UUID(port_id)
        row = await conn.fetchrow("SELECT id FROM network.ports WHERE id = $1 FOR UPDATE", pid)
        if row is None:
            raise NotFound(f"port {port_id} not found", {"port_id": port_id})
        port = await self._port_in(conn, pid)
        # ip_addresses.port_id is ON DELETE SET NULL: the addresses become free.
        await conn.execute("DELETE FROM network.ports WHERE id = $1", pid)
        gone = replace(port, revision=port.revision + 1)
        events: list[NetworkEvent] = [PortEvent(PortEventKind.DELETED, gone, port.binding_host)]
        events += await self._member_events(
            conn, replace(gone, security_group_ids=()), port.security_group_ids
        )
        await self._emit(conn, events)

    # ------------------------------------------------------------------ bindings

    async def set_binding(
        self,
        port_id: str,
        *,
        host: str,
        vif_type: VifType,
        state: BindingState,
        message: str = "",
        enforced: bool = False,
        device_id: str | None = None,
        device_owner: str | None = None,
        kind: PortEventKind,
        only_if_host: str | None = None,
        only_if_revision: int | None = None,
        with_spec: bool = False,
    ) -> tuple[Port, PortBindingSpec | None] | None:
        """Change the binding (and, `with_spec`, resolve the port's binding spec in the same
        transaction); None when a condition (host, revision) no longer holds."""
        pid = uuid.UUID(port_id)
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                old = await conn.fetchrow(
                    "SELECT binding_host, revision FROM network.ports WHERE id = $1 FOR UPDATE",
                    pid,
                )
                if old is None:
                    raise NotFound(f"port {port_id} not found")
                if only_if_host is not None and old["binding_host"] != only_if_host:
                    return None
                if only_if_revision is not None and old["revision"] != only_if_revision:
                    return None
                await conn.execute(
                    "UPDATE network.ports SET binding_host = $2, vif_type = $3, "
                    "binding_state = $4, binding_message = $5, port_security_enforced = $6, "
                    "device_id = coalesce($7, device_id), "
                    "device_owner = coalesce($8, device_owner), "
                    "revision = revision + 1, updated_at = now() WHERE id = $1",
                    pid,
                    host,
                    vif_type.value,
                    state.value,
                    message,
                    enforced,
                    device_id,
                    device_owner,
                )
                port = await self._port_in(conn, pid)
                await self._emit(conn, [PortEvent(kind, port, host or old["binding_host"])])
                spec = await self._spec_in(conn, port) if with_spec else None
        return port, spec

    async def _spec_in(self, conn: asyncpg.Connection, port: Port) -> PortBindingSpec:
        """What a binding spec resolves, read on `conn`: network, addresses with their
        subnets, rules of the port's groups, members of every group those rules name."""
        nrow = await conn.fetchrow(_NETWORK_SELECT + " WHERE n.id = $1", uuid.UUID(port.network_id))
        if nrow is None:
            raise NotFound(f"network {port.network_id} not found")
        subnets = {
            str(r["id"]): _subnet(r)
            for r in await conn.fetch(
                _SUBNET_SELECT + " WHERE s.network_id = $1", uuid.UUID(port.network_id)
            )
        }
        rules: list[SecurityGroupRule] = []
        remotes: list[RemoteGroup] = []
        if port.port_security_enabled and port.security_group_ids:
            rules = [
                _rule(r)
                for r in await conn.fetch(
                    _RULE_SELECT + " WHERE r.security_group_id = ANY($1::uuid[]) "
                    "ORDER BY r.security_group_id, r.created_at, r.id",
                    [uuid.UUID(g) for g in port.security_group_ids],
                )
            ]
            for gid in sorted({r.remote_group_id for r in rules if r.remote_group_id}):
                rev = await conn.fetchval(
                    "SELECT revision FROM network.security_groups WHERE id = $1", uuid.UUID(gid)
                )
                members = await self._members(conn, uuid.UUID(gid))
                remotes.append(RemoteGroup(gid, tuple(members), rev or 0))
        ips = []
        for f in port.fixed_ips:
            s = subnets[f.subnet_id]
            ips.append(
                BoundIp(
                    ip_address=f.ip_address,
                    ip_version=s.ip_version,
                    subnet_id=s.id,
                    cidr=s.cidr,
                    prefix_length=ipaddress.ip_network(s.cidr).prefixlen,
                    gateway_ip=s.gateway_ip,
                    dns_nameservers=s.dns_nameservers,
                    host_routes=s.host_routes,
                    enable_dhcp=s.enable_dhcp,
                )
            )
        return PortBindingSpec(port, _network(nrow), tuple(ips), tuple(rules), tuple(remotes))

    async def binding_spec(self, port: Port) -> PortBindingSpec:
        """The port's binding spec, from one snapshot."""
        with db_errors():
            async with (
                self._pool.acquire() as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                return await self._spec_in(conn, port)

    # ------------------------------------------------------------------ security groups

    @staticmethod
    async def _shares(conn: asyncpg.Connection, gid: uuid.UUID) -> list[GroupMember]:
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
                tuple(
                    sorted(set(r["ips"]) | {a["ip_address"] for a in r["allowed_address_pairs"]})
                ),
            )
            for r in rows
        ]

    @staticmethod
    async def _members(conn: asyncpg.Connection, gid: uuid.UUID) -> list[str]:
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

    @staticmethod
    async def _lock_groups(conn: asyncpg.Connection, group_ids: Sequence[str] | set[str]) -> None:
        """Lock the groups' rows in id order (FOR NO KEY UPDATE: rows referring to a group
        may still be inserted meanwhile, so two transactions never wait for each other)."""
        await conn.execute(
            "SELECT id FROM network.security_groups WHERE id = ANY($1::uuid[]) "
            "ORDER BY id FOR NO KEY UPDATE",
            sorted({uuid.UUID(g) for g in group_ids}),
        )

    @staticmethod
    async def _bump(conn: asyncpg.Connection, group_ids: Sequence[str] | set[str]) -> list[Any]:
        """Lock the groups (id order) and bump their revisions: (id, project_id, revision)."""
        rows = await conn.fetch(
            "UPDATE network.security_groups g SET revision = g.revision + 1 FROM "
            "(SELECT id FROM network.security_groups WHERE id = ANY($1::uuid[]) "
            " ORDER BY id FOR NO KEY UPDATE) l WHERE g.id = l.id "
            "RETURNING g.id, g.project_id, g.revision",
            sorted({uuid.UUID(g) for g in group_ids}),
        )
        return sorted(rows, key=lambda r: r["id"])

    async def _group_events(
        self,
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
        for r in await self._bump(conn, list(group_ids)):
            gid = str(r["id"])
            rules = await conn.fetch(
                _RULE_SELECT + " WHERE r.security_group_id = $1 ORDER BY r.created_at, r.id",
                r["id"],
            )
            events.append(
                SecurityGroupEvent(
                    kind=kind,
                    security_group_id=gid,
                    project_id=r["project_id"],
                    revision=r["revision"],
                    rules=tuple(_rule(x) for x in rules),
                    members=tuple(await self._members(conn, r["id"])),
                    member=(shares or {}).get(gid),
                )
            )
        return events

    async def _member_events(
        self, conn: asyncpg.Connection, port: Port, was: Iterable[str], *, changed: bool = True
    ) -> list[NetworkEvent]:
        """MEMBERS_CHANGED of the groups the port is or was in: every group it joined or
        left, and (`changed`: its addresses changed) every group it stays in."""
        now, before = set(port.security_group_ids), set(was)
        touched = (now ^ before) | ((now & before) if changed else set())
        share = tuple(sorted(_addresses(port)))
        shares = {
            g: GroupMember(port.id, port.revision, share if g in now else ()) for g in touched
        }
        return await self._group_events(conn, touched, GroupEventKind.MEMBERS_CHANGED, shares)

    async def group_members(self, group_id: str) -> tuple[RemoteGroup, list[GroupMember]] | None:
        """The member set and every member port's share of it (one snapshot)."""
        gid = uuid.UUID(group_id)
        with db_errors():
            async with (
                self._pool.acquire() as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                rev = await conn.fetchval(
                    "SELECT revision FROM network.security_groups WHERE id = $1", gid
                )
                if rev is None:
                    return None
                shares = await self._shares(conn, gid)
        union = sorted({a for m in shares for a in m.addresses})
        return RemoteGroup(group_id, tuple(union), rev), shares

    async def default_group_id(self, project_id: str) -> str | None:
        with db_errors():
            got = await self._pool.fetchval(
                "SELECT id FROM network.security_groups WHERE project_id = $1 AND is_default",
                project_id,
            )
        return str(got) if got else None

    async def ensure_default_group(self, project_id: str) -> str:
        """The project's default group, created (with its rules) if it does not exist yet:
        egress allowed (IPv4 and IPv6), ingress allowed from members of the group."""
        found = await self.default_group_id(project_id)
        if found:
            return found
        gid = uuid.uuid4()
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                made = await conn.fetchval(
                    "INSERT INTO network.security_groups (id, name, description, project_id, "
                    "is_default) VALUES ($1, 'default', 'Default security group', $2, true) "
                    "ON CONFLICT (project_id) WHERE is_default DO NOTHING RETURNING true",
                    gid,
                    project_id,
                )
                if made:
                    rules = [
                        ("egress", "IPv4", None),
                        ("egress", "IPv6", None),
                        ("ingress", "IPv4", gid),
                        ("ingress", "IPv6", gid),
                    ]
                    await conn.executemany(
                        "INSERT INTO network.security_group_rules (id, security_group_id, "
                        "project_id, direction, ethertype, remote_group_id) "
                        "VALUES ($1, $2, $3, $4, $5, $6)",
                        [(uuid.uuid4(), gid, project_id, d, e, rg) for d, e, rg in rules],
                    )
                    await self._emit(
                        conn,
                        await self._group_events(conn, [str(gid)], GroupEventKind.CREATED),
                    )
        if made:
            return str(gid)
        found = await self.default_group_id(project_id)
        assert found is not None
        return found

    async def group_by_request(self, project_id: str, request_id: str) -> SecurityGroup | None:
        with db_errors():
            row = await self._pool.fetchrow(
                "SELECT * FROM network.security_groups WHERE project_id = $1 AND request_id = $2",
                project_id,
                request_id,
            )
        return await self._with_rules(row) if row else None

    async def insert_group(
        self, name: str, description: str, project_id: str, request_id: str | None
    ) -> SecurityGroup:
        gid = uuid.uuid4()
        try:
            with db_errors():
                async with self._pool.acquire() as conn, conn.transaction():
                    await conn.execute(
                        "INSERT INTO network.security_groups (id, name, description, "
                        "project_id, request_id) VALUES ($1, $2, $3, $4, $5)",
                        gid,
                        name,
                        description,
                        project_id,
                        request_id,
                    )
                    await self._emit(
                        conn,
                        await self._group_events(conn, [str(gid)], GroupEventKind.CREATED),
                    )
        except AlreadyExists:
            if request_id:
                found = await self.group_by_request(project_id, request_id)
                if found is not None:
                    return found
            raise
        got = await self.get_group(str(gid))
        assert got is not None
        return got

    async def _with_rules(self, row: asyncpg.Record) -> SecurityGroup:
        with db_errors():
            rules = await self._pool.fetch(
                _RULE_SELECT + " WHERE r.security_group_id = $1 ORDER BY r.created_at, r.id",
                row["id"],
            )
        return _group(row, [_rule(r) for r in rules])

    async def get_group(self, group_id: str) -> SecurityGroup | None:
        gid = _uuid(group_id)
        if gid is None:
            return None
        with db_errors():
            row = await self._pool.fetchrow(
                "SELECT * FROM network.security_groups WHERE id = $1", gid
            )
        return await self._with_rules(row) if row else None

    async def groups_by_ids(self, group_ids: Sequence[str]) -> dict[str, SecurityGroup]:
        ids = [g for g in (_uuid(x) for x in group_ids) if g is not None]
        with db_errors():
            rows = await self._pool.fetch(
                "SELECT * FROM network.security_groups WHERE id = ANY($1::uuid[])", ids
            )
        return {str(r["id"]): _group(r) for r in rows}

    async def list_groups(
        self, project_id: str | None, *, name: str, after: str, limit: int
    ) -> list[SecurityGroup]:
        where = ["g.id > $1"]
        args: list[object] = [_uuid(after) or uuid.UUID(int=0)]
        if project_id is not None:
            args.append(project_id)
            where.append(f"g.project_id = ${len(args)}")
        if name:
            args.append(name)
            where.append(f"g.name = ${len(args)}")
        args.append(limit)
        sql = (
            f"SELECT * FROM network.security_groups g WHERE {' AND '.join(where)} "
            f"ORDER BY g.id LIMIT ${len(args)}"
        )
        with db_errors():
            rows = await self._pool.fetch(sql, *args)
            rules = await self._pool.fetch(
                _RULE_SELECT + " WHERE r.security_group_id = ANY($1::uuid[]) "
                "ORDER BY r.created_at, r.id",
                [r["id"] for r in rows],
            )
        by_group: dict[str, list[SecurityGroupRule]] = {}
        for r in rules:
            by_group.setdefault(str(r["security_group_id"]), []).append(_rule(r))
        return [_group(r, by_group.get(str(r["id"]), ())) for r in rows]

    async def delete_group(self, group_id: str) -> None:
        gid = uuid.UUID(group_id)
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(
                    "SELECT project_id, revision FROM network.security_groups "
                    "WHERE id = $1 FOR UPDATE",
                    gid,
                )
                if row is None:
                    raise NotFound(f"security group {group_id} not found")
                ports = await conn.fetchval(
                    "SELECT count(*) FROM network.port_security_groups "
                    "WHERE security_group_id = $1",
                    gid,
                )
                if ports:
                    raise FailedPrecondition(
                        f"security group {group_id} is in use by {ports} port(s)",
                        {"security_group_id": group_id, "ports": ports},
                    )
                referrer = await conn.fetchval(
                    "SELECT security_group_id FROM network.security_group_rules "
                    "WHERE remote_group_id = $1 AND security_group_id <> $1 LIMIT 1",
                    gid,
                )
                if referrer:
                    raise FailedPrecondition(
                        f"security group {group_id} is the remote group of a rule of "
                        f"security group {referrer}: delete that rule first",
                        {"security_group_id": group_id, "referrer": str(referrer)},
                    )
                await conn.execute("DELETE FROM network.security_groups WHERE id = $1", gid)
                await self._emit(
                    conn,
                    [
                        SecurityGroupEvent(
                            kind=GroupEventKind.DELETED,
                            security_group_id=group_id,
                            project_id=row["project_id"],
                            revision=row["revision"] + 1,
                        )
                    ],
                )

    async def insert_rule(
        self, group_id: str, project_id: str, rule: NormalRule, description: str
    ) -> SecurityGroupRule:
        rid = uuid.uuid4()
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                await self._lock_groups(conn, [group_id])
                try:
                    async with conn.transaction():
                        await conn.execute(
                            "INSERT INTO network.security_group_rules (id, security_group_id, "
                            "project_id, direction, ethertype, protocol, port_range_min, "
                            "port_range_max, remote_ip_prefix, remote_group_id, description) "
                            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::cidr, $10, $11)",
                            rid,
                            uuid.UUID(group_id),
                            project_id,
                            rule.direction.value,
                            rule.ethertype,
                            rule.protocol,
                            rule.port_range_min,
                            rule.port_range_max,
                            rule.remote_ip_prefix or None,
                            uuid.UUID(rule.remote_group_id) if rule.remote_group_id else None,
                            description,
                        )
                except asyncpg.UniqueViolationError:
                    raise AlreadyExists(
                        f"security group {group_id} already has this rule",
                        {"security_group_id": group_id},
                    ) from None
                await self._emit(
                    conn,
                    await self._group_events(conn, [group_id], GroupEventKind.RULES_CHANGED),
                )
                row = await conn.fetchrow(_RULE_SELECT + " WHERE r.id = $1", rid)
        return _rule(row)

    async def get_rule(self, rule_id: str) -> SecurityGroupRule | None:
        rid = _uuid(rule_id)
        if rid is None:
            return None
        with db_errors():
            row = await self._pool.fetchrow(_RULE_SELECT + " WHERE r.id = $1", rid)
        return _rule(row) if row else None

    async def list_rules(self, project_id: str | None, group_id: str) -> list[SecurityGroupRule]:
        where = ["true"]
        args: list[object] = []
        if project_id is not None:
            args.append(project_id)
            where.append(f"r.project_id = ${len(args)}")
        if group_id:
            gid = _uuid(group_id)
            if gid is None:
                return []
            args.append(gid)
            where.append(f"r.security_group_id = ${len(args)}")
        with db_errors():
            rows = await self._pool.fetch(
                _RULE_SELECT + f" WHERE {' AND '.join(where)} "
                "ORDER BY r.security_group_id, r.created_at, r.id",
                *args,
            )
        return [_rule(r) for r in rows]

    async def delete_rule(self, rule_id: str) -> None:
        rid = uuid.UUID(rule_id)
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                gid = await conn.fetchval(
                    "DELETE FROM network.security_group_rules WHERE id = $1 "
                    "RETURNING security_group_id",
                    rid,
                )
                if gid is None:
                    raise NotFound(f"security group rule {rule_id} not found")
                await self._emit(
                    conn,
                    await self._group_events(conn, [str(gid)], GroupEventKind.RULES_CHANGED),
                )
