"""Port create, and port create + bind, through the network service, beside a bare PostgreSQL
insert of the same rows in the same run.

    .venv/bin/python bench/network/run.py [--ports 4000] [--concurrency 32] [--quick]

Starts PostgreSQL, NATS and the network service (`python -m polyvisor.networksvc`, a real
process) on loopback, creates one VLAN network with a /16 subnet (65,533 pool addresses) and
measures, with `--concurrency` clients in one asyncio process (every call authenticated with
a real token):

- `create`: CreatePort with no fixed IP (MAC generated, the lowest free address taken by the
  IPAM statement, the project's default security group joined, events written to the outbox);
- `create_bind`: CreatePort then BindPort (what the api does for each server NIC), the bind
  answering with the resolved binding spec;
- `bare_sql`: the same rows written straight to PostgreSQL with asyncpg, one transaction per
  port: the port row, the address claimed with the same UPDATE .. FOR UPDATE SKIP LOCKED, the
  group membership, the binding update: the floor for what the service's database work costs.

Ports per second, p50 and p99 latency per port. Every address handed out is checked distinct.
Then (`lease`, api_lease.py) the time from server create through the public API to the DHCP
lease in a real Linux guest, on a private dev stack. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import asyncpg  # noqa: E402
import grpc  # noqa: E402

from polyvisor.common.auth import (  # noqa: E402
    API_IDENTITY,
    TokenSigner,
    ensure_keypair,
)
from polyvisor.common.embedded import EmbeddedNats, EmbeddedPostgres  # noqa: E402
from polyvisor.network.v1 import bindings_pb2 as bpb  # noqa: E402
from polyvisor.network.v1 import network_service_pb2_grpc as svc_grpc  # noqa: E402
from polyvisor.network.v1 import networks_pb2 as pb  # noqa: E402
from tests.support.services import ServiceProcess, free_port  # noqa: E402


class Phase:
    def __init__(self, name: str) -> None:
        self.name = name
        self.latencies: list[float] = []
        self.elapsed = 0.0

    def figures(self) -> dict[str, float | int]:
        lat = sorted(self.latencies)
        return {
            "ports": len(lat),
            "ports_per_s": round(len(lat) / self.elapsed, 1) if self.elapsed else 0.0,
            "p50_ms": round(statistics.median(lat) * 1000, 2) if lat else 0.0,
            "p99_ms": round(lat[int(len(lat) * 0.99) - 1] * 1000, 2) if lat else 0.0,
        }


async def run_phase(
    name: str, n: int, concurrency: int, one: Callable[[int], Awaitable[None]]
) -> Phase:
    phase = Phase(name)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker() -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            t = time.perf_counter()
            await one(i)
            phase.latencies.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    phase.elapsed = time.perf_counter() - t0
    return phase


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ports", type=int, default=4000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--quick", action="store_true", help="a smoke run (small)")
    ap.add_argument("--lease-rounds", type=int, default=3,
                    help="servers timed from create to DHCP lease (api_lease.py); 0: none")  # fmt: skip
    args = ap.parse_args()
    if args.quick:
        args.ports = 200
        args.lease_rounds = min(args.lease_rounds, 1)

    root = Path(tempfile.mkdtemp(prefix="polyvisor-bench-network-"))
    pg = EmbeddedPostgres(root / "pg", durable=False, die_with_parent=True)
    nats = EmbeddedNats(root / "nats", die_with_parent=True)
    pg.start()
    nats.start()
    dsn = pg.create_database("bench_network")
    private, public = root / "keys" / "token.key", root / "keys" / "token.pub"
    ensure_keypair(private, public)
    signer = TokenSigner.from_file(private)
    admin, _ = signer.issue(user_id="admin", project_id="admin", roles=["admin", "member"])
    api, _ = signer.issue(user_id=API_IDENTITY, project_id="", roles=[], kind="service")
    port = free_port()
    svc = ServiceProcess(
        "networksvc",
        {
            "POLYVISOR_DATABASE_URL": dsn,
            "POLYVISOR_NATS_URL": nats.url or "",
            "POLYVISOR_GRPC_HOST": "127.0.0.1",
            "POLYVISOR_GRPC_PORT": str(port),
            "POLYVISOR_METRICS_PORT": "0",
            "POLYVISOR_LOG_LEVEL": "WARNING",
            "POLYVISOR_TOKEN_PUBLIC_KEY": str(public),
        },
        log_path=root / "networksvc.log",
    )
    result: dict[str, object] = {
        "bench": "network",
        "ports": args.ports,
        "concurrency": args.concurrency,
    }
    try:
        await svc.start(60)
        async with grpc.aio.insecure_channel(svc.address) as ch:
            stub = svc_grpc.NetworkServiceStub(ch)
            md_admin = (("authorization", f"Bearer {admin}"),)
            md_api = (("authorization", f"Bearer {api}"),)

            async def network(vlan: int) -> tuple[str, str]:
                net = (
                    await stub.CreateNetwork(
                        pb.CreateNetworkRequest(
                            network=pb.Network(
                                name=f"bench-{vlan}",
                                network_type=pb.NETWORK_TYPE_VLAN,
                                physical_network="physnet1",
                                segmentation_id=vlan,
                            )
                        ),
                        metadata=md_admin,
                    )
                ).network
                sub = (
                    await stub.CreateSubnet(
                        pb.CreateSubnetRequest(
                            subnet=pb.Subnet(network_id=net.id, cidr=f"10.{vlan}.0.0/16")
                        ),
                        metadata=md_admin,
                    )
                ).subnet
                return net.id, sub.id

            addresses: dict[str, set[str]] = {"create": set(), "create_bind": set()}

            async def create(phase: str, net_id: str) -> pb.Port:
                p = (
                    await stub.CreatePort(
                        pb.CreatePortRequest(
                            request_id=str(uuid.uuid4()), port=pb.Port(network_id=net_id)
                        ),
                        metadata=md_admin,
                    )
                ).port
                addresses[phase].add(p.fixed_ips[0].ip_address)
                return p

            net1, _ = await network(11)
            await create("create", net1)  # the default group and warm connections
            addresses["create"].clear()
            created = await run_phase(
                "create", args.ports, args.concurrency, lambda i: create("create", net1)
            )
            assert len(addresses["create"]) == args.ports, "an address was handed out twice"

            net2, _ = await network(12)

            async def create_bind(i: int) -> None:
                p = await create("create_bind", net2)
                await stub.BindPort(
                    bpb.BindPortRequest(
                        port_id=p.id,
                        host=f"kvm-{i % 16}",
                        vif_type=pb.VIF_TYPE_BRIDGE,
                        device_id=f"server-{i}",
                        device_owner="compute:kvm",
                    ),
                    metadata=md_api,
                )

            bound = await run_phase("create_bind", args.ports, args.concurrency, create_bind)
            assert len(addresses["create_bind"]) == args.ports, "an address was handed out twice"
            net3, sub3 = await network(13)

        # The same rows, straight into PostgreSQL.
        pool = await asyncpg.create_pool(dsn, min_size=args.concurrency, max_size=args.concurrency)
        assert pool is not None
        group = await pool.fetchval(
            "SELECT id FROM network.security_groups WHERE project_id = 'admin' AND is_default"
        )
        bare_addresses: set[str] = set()

        async def bare(i: int) -> None:
            pid = uuid.uuid4()
            mac = f"fa:16:3f:{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}"
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "INSERT INTO network.ports (id, project_id, network_id, mac_address) "
                    "VALUES ($1, 'admin', $2, $3::macaddr)",
                    pid,
                    uuid.UUID(net3),
                    mac,
                )
                ip = await conn.fetchval(
                    "WITH c AS (SELECT ip_address FROM network.ip_addresses "
                    "  WHERE subnet_id = $1 AND port_id IS NULL AND in_pool "
                    "  ORDER BY ip_address LIMIT 1 FOR UPDATE SKIP LOCKED) "
                    "UPDATE network.ip_addresses a SET port_id = $2 FROM c "
                    "WHERE a.subnet_id = $1 AND a.ip_address = c.ip_address "
                    "RETURNING host(a.ip_address)",
                    uuid.UUID(sub3),
                    pid,
                )
                await conn.execute(
                    "INSERT INTO network.port_security_groups (port_id, security_group_id) "
                    "VALUES ($1, $2)",
                    pid,
                    group,
                )
                await conn.execute(
                    "UPDATE network.ports SET binding_host = $2, vif_type = 'bridge', "
                    "binding_state = 'pending', device_id = $3 WHERE id = $1",
                    pid,
                    f"kvm-{i % 16}",
                    f"server-{i}",
                )
            bare_addresses.add(ip)

        baseline = await run_phase("bare_sql", args.ports, args.concurrency, bare)
        await pool.close()
        assert len(bare_addresses) == args.ports

        result["create"] = created.figures()
        result["create_bind"] = bound.figures()
        result["bare_sql"] = baseline.figures()
        api_rate = bound.figures()["ports_per_s"]
        bare_rate = baseline.figures()["ports_per_s"]
        result["create_bind_vs_bare_sql"] = round(api_rate / bare_rate, 3) if bare_rate else 0.0
        for name in ("create", "create_bind", "bare_sql"):
            f = result[name]
            print(
                f"{name:<12} {f['ports_per_s']:>8} ports/s  p50 {f['p50_ms']:>7} ms  "  # type: ignore[index]
                f"p99 {f['p99_ms']:>7} ms"  # type: ignore[index]
            )
    finally:
        await svc.stop()
        nats.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)
    if args.lease_rounds > 0:
        from bench.network.api_lease import measure

        result["lease"] = await asyncio.to_thread(measure, args.lease_rounds)
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
