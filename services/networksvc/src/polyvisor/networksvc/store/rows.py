"""What every table family of the store shares: drafts, row decoding, the SELECTs, and the
base of the query classes (pool and outbox writer)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncpg

from polyvisor.networksvc.events import (
    NetworkEvent,
)
from polyvisor.networksvc.model import (
    AddressPair,
    AllocationPool,
    BindingState,
    Direction,
    FixedIp,
    HostRoute,
    Network,
    NetworkType,
    Port,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
    VifType,
)
from polyvisor.networksvc.validation import SubnetPlan

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


def as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None


def network_of(row: asyncpg.Record) -> Network:
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


def subnet_of(row: asyncpg.Record) -> Subnet:
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


def port_of(row: asyncpg.Record) -> Port:
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


def addresses_of(port: Port) -> set[str]:
    """What a port brings into the member set of its groups: its fixed IPs and the addresses
    (or CIDRs) of its allowed address pairs."""
    return {f.ip_address for f in port.fixed_ips} | {
        p.ip_address for p in port.allowed_address_pairs
    }


def rule_of(row: asyncpg.Record) -> SecurityGroupRule:
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


def group_of(row: asyncpg.Record, rules: Sequence[SecurityGroupRule] = ()) -> SecurityGroup:
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


NETWORK_SELECT = """
SELECT n.*, coalesce((SELECT array_agg(s.id::text ORDER BY s.created_at, s.id)
                      FROM network.subnets s WHERE s.network_id = n.id), '{}') AS subnet_ids
FROM network.networks n
"""
SUBNET_SELECT = """
SELECT s.*, s.cidr::text AS cidr_text, host(s.gateway_ip) AS gateway_text FROM network.subnets s
"""
PORT_SELECT = """
SELECT p.*, p.mac_address::text AS mac_text,
  coalesce((SELECT array_agg(a.subnet_id::text || ' ' || host(a.ip_address)
                             ORDER BY s.created_at, a.ip_address)
            FROM network.ip_addresses a JOIN network.subnets s ON s.id = a.subnet_id
            WHERE a.port_id = p.id), '{}') AS ips,
  coalesce((SELECT array_agg(g.security_group_id::text ORDER BY g.security_group_id)
            FROM network.port_security_groups g WHERE g.port_id = p.id), '{}') AS sgs
FROM network.ports p
"""
RULE_SELECT = """
SELECT r.*, r.remote_ip_prefix::text AS prefix_text FROM network.security_group_rules r
"""


def visible(alias: str, arg: str, *, shared: bool) -> str:
    """SQL: the row is the project's (or, for networks, shared)."""
    cond = f"{alias}.project_id = {arg}"
    return f"({cond} OR {alias}.shared)" if shared else cond


class Queries:
    """The pool every query class runs on, and the outbox writer (`Store` is all of them)."""

    def __init__(self, pool: asyncpg.Pool, encode: EventEncoder) -> None:
        self._pool = pool
        self._encode = encode

    async def _emit(self, conn: asyncpg.Connection, events: Sequence[NetworkEvent]) -> None:
        """Queue `events` in the transaction of `conn` (published after the commit)."""
        if not events:
            return
        rows = []
        for e in events:
            subject, payload = self._encode(e)
            rows.append((uuid.UUID(e.event_id), subject, payload))
        await conn.executemany(
            "INSERT INTO network.outbox (event_id, subject, payload) VALUES ($1, $2, $3)", rows
        )


async def port_in(conn: asyncpg.Connection, pid: uuid.UUID) -> Port:
    row = await conn.fetchrow(PORT_SELECT + " WHERE p.id = $1", pid)
    return port_of(row)
