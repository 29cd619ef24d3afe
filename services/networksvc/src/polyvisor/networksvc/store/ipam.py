"""Address allocation on one connection: a given address, or any free pool address (see the
package docstring for why this needs no retries)."""

from __future__ import annotations

import ipaddress
import secrets
import uuid
from collections.abc import Sequence

import asyncpg

from polyvisor.networksvc.model import (
    AllocationPool,
    Subnet,
)
from polyvisor.networksvc.store.rows import (
    SPARSE_TRIES,
)


def in_pools(ip: str, pools: Sequence[AllocationPool]) -> bool:
    a = ipaddress.ip_address(ip)
    return any(
        ipaddress.ip_address(p.start) <= a <= ipaddress.ip_address(p.end)  # type: ignore[operator]
        for p in pools
    )


async def claim(conn: asyncpg.Connection, subnet: Subnet, ip: str, port_id: uuid.UUID) -> bool:
    """Give that address to the port unless another port holds it."""
    got = await conn.fetchval(
        "INSERT INTO network.ip_addresses AS a (subnet_id, ip_address, in_pool, port_id) "
        "VALUES ($1, $2::inet, $3, $4) ON CONFLICT (subnet_id, ip_address) "
        "DO UPDATE SET port_id = EXCLUDED.port_id WHERE a.port_id IS NULL RETURNING true",
        uuid.UUID(subnet.id),
        ip,
        in_pools(ip, subnet.allocation_pools),
        port_id,
    )
    return bool(got)


async def allocate_any(
    conn: asyncpg.Connection, subnet: Subnet, mode: str, port_id: uuid.UUID
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
        if await claim(conn, subnet, candidate, port_id):
            return candidate
    return None
