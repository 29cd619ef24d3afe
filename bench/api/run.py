"""GetServer and ListServers through the api, beside a bare grpc.aio echo server.

    .venv/bin/python bench/api/run.py [--servers 100000] [--seconds 10] [--quick]

Starts PostgreSQL, NATS and the api (`python -m polyvisor.api`, a real process) on loopback,
bulk-inserts the servers of one project directly with SQL (each with its change log entry, as
the api's own writes leave them, and one notification), then measures with 64 concurrent
clients (one asyncio client process, the same for every phase; every call authenticated with a
real token):

- the baseline: a bare grpc.aio echo server (a separate process, uvloop, one unary method
  returning its request) — the ceiling for Python gRPC on this machine;
- a second baseline: a method that does nothing, served through polyvisor.common's
  GrpcServer (metrics, error and request-id, auth; a real token): what the shared gRPC
  framework costs before the api does any work (framework_echo.py);
- GetServer, cold: each call reads a server never read before (the api's read cache misses:
  one PostgreSQL query per call);
- ListServers, pages of 100, each client walking the 100,000 servers page by page (ids and
  revisions from the api's in-memory index once one probe of PostgreSQL, shared by the pages
  asking at once, says it is current; servers whose revision is cached are sent from their
  cached encoding, the others read once and cached);
- GetServer of random servers, once every server has been read (a ListServers walk over the
  whole list fills the cache): the steady state of a read-mostly API, answered from memory.

Requests per second, the p99 latency, and the CPU time per request of the server process, of
the client process and of PostgreSQL (the postmaster and its backends; user + system, from
/proc: unlike the rates it hardly moves when other work loads the machine). The last line
printed is one JSON object.

One concern: one benchmark run, its baselines and its figures, read top to bottom.

Targets: GetServer (warm) at least half the echo rate; ListServers p99 under 20 ms and
within 2x the echo's own p99 (same clients, same run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import asyncpg  # noqa: E402
import grpc  # noqa: E402

from polyvisor.common.embedded import EmbeddedNats, EmbeddedPostgres  # noqa: E402
from polyvisor.compute.v1 import compute_service_pb2_grpc, servers_pb2  # noqa: E402
from polyvisor.identity.v1 import (  # noqa: E402
    identity_pb2,
    identity_requests_pb2,
    identity_service_pb2_grpc,
)
from tests.support.services import ServiceProcess, free_port, wait_serving  # noqa: E402

CONCURRENCY = 64
PAGE = 100
ECHO_METHOD = "/bench.Echo/Echo"

ECHO_SERVER = r"""
import asyncio, sys, grpc, uvloop
from grpc_health.v1 import health_pb2, health_pb2_grpc
async def main(port):
    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(_echo)})
    server.add_generic_rpc_handlers((handler,))
    from grpc_health.v1._async import HealthServicer
    hs = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(hs, server)
    await hs.set("", health_pb2.HealthCheckResponse.SERVING)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()
async def _echo(req, ctx):
    return req
uvloop.run(main(int(sys.argv[1])))
"""


def _uuid(n: int) -> str:
    return f"01a1fe00-0000-7000-8000-{n:012x}"


async def seed(dsn: str, count: int) -> tuple[str, list[str]]:
    """Insert `count` ACTIVE servers into the admin's project; (project id, server ids)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET search_path TO api, public")
        project_id = await conn.fetchval("SELECT id FROM projects WHERE name = 'admin'")
        user_id = await conn.fetchval("SELECT id FROM users WHERE name = 'admin'")
        await conn.execute(
            """
            INSERT INTO servers (
                id, project_id, user_id, name, image_id, flavor, vcpus, ram_mb, state, task,
                power_state, desired_power_state, host, hypervisor_type, availability_zone,
                addresses, metadata, console, request_id, request_index, revision, attempts,
                instance_name, launch_time, generation, key_name)
            SELECT format('01a1fe00-0000-7000-8000-%s', lpad(to_hex(g), 12, '0')),
                   $1, $2, 'bench-' || g, '6f1c2f7e-0000-4000-8000-000000000001',
                   '{"id": "m1.small", "name": "m1.small", "vcpus": 1, "ram_mb": 2048,
                     "disk_gb": 20, "extra_specs": {"hw:cpu_policy": "shared"}}'::jsonb,
                   1, 2048, 'ACTIVE', 'NONE', 'RUNNING', 'RUNNING', 'kvm-' || (g % 40),
                   'KVM', 'nova',
                   jsonb_build_array(jsonb_build_object(
                       'network', 'default', 'address', '10.0.' || (g / 250 % 250) || '.' || (g % 250),
                       'version', 4, 'mac_address', '52:54:00:00:00:01', 'type', 'FIXED')),
                   '{"owner": "bench", "tier": "web"}'::jsonb,
                   '{"type": "VNC", "host": "10.1.0.1", "port": 5901}'::jsonb,
                   'bench-' || g, 0, nextval('server_revision_seq'), 1,
                   'instance-' || lpad(to_hex(g), 8, '0'), now(), 2, 'bench-key'
            FROM generate_series(1, $3) AS g
            """,
            project_id,
            user_id,
            count,
        )
        # What the api's own writes leave beside each server (store.servers): its entry in
        # the change log, and a notification to every replica.
        await conn.execute(
            """
            INSERT INTO server_changes (revision, project_id, server_id, change_type, snapshot)
            SELECT revision, project_id, id, 'CREATED', to_jsonb(s) - 'spawn' - 'user_data'
            FROM servers AS s WHERE project_id = $1
            """,
            project_id,
        )
        await conn.execute("SELECT pg_notify('api_server_changes', $1)", project_id + " ")
        await conn.execute("ANALYZE servers")
        await conn.execute("ANALYZE server_changes")
    finally:
        await conn.close()
    return project_id, [_uuid(n) for n in range(1, count + 1)]


def _stat(pid: int | str) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and of its children, living or reaped (PostgreSQL: the postmaster,
    its backends and its background processes)."""
    fields = _stat(pid)
    ticks = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            child = _stat(entry)
        except OSError:  # gone since the listing
            continue
        if child[1] == str(pid):
            ticks += int(child[11]) + int(child[12])
    return ticks / os.sysconf("SC_CLK_TCK")


class Phase(tuple[float, float, int, float, float, float]):
    """(requests/s, p99 ms, errors, server CPU us per request, client CPU us per request,
    PostgreSQL CPU us per request)."""

    def figures(self) -> dict[str, float | int]:
        rps, p99, errors, server_cpu, client_cpu, pg_cpu = self
        return {
            "rps": round(rps),
            "p99_ms": round(p99, 2),
            "errors": errors,
            "server_cpu_us_per_call": round(server_cpu),
            "client_cpu_us_per_call": round(client_cpu),
            "postgres_cpu_us_per_call": round(pg_cpu),
        }


async def drive(
    call: Callable[[int], Awaitable[None]],
    seconds: float,
    server_pid: int | None = None,
    pg_pid: int | None = None,
) -> Phase:
    """`CONCURRENCY` loops calling `call` for `seconds`. The CPU figures are robust to other
    load on the machine."""
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def worker(i: int) -> None:
        nonlocal errors
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                return
            try:
                await call(i)
            except grpc.aio.AioRpcError:
                errors += 1
                continue
            latencies.append(time.perf_counter() - t0)

    cpu0 = cpu_seconds(server_pid) if server_pid else 0.0
    pg0 = tree_cpu_seconds(pg_pid) if pg_pid else 0.0
    own0 = time.process_time()
    start = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(CONCURRENCY)))
    elapsed = time.perf_counter() - start
    own = time.process_time() - own0
    cpu = cpu_seconds(server_pid) - cpu0 if server_pid else 0.0
    pg = tree_cpu_seconds(pg_pid) - pg0 if pg_pid else 0.0
    p99 = statistics.quantiles(latencies, n=100)[98] * 1000 if len(latencies) > 100 else 0.0
    n = len(latencies)
    per_call = 1e6 / n if n else 0.0
    return Phase((n / elapsed, p99, errors, cpu * per_call, own * per_call, pg * per_call))


async def measure_echo(seconds: float, warmup: float) -> Phase:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", ECHO_SERVER, str(port))
    try:
        await wait_serving(f"127.0.0.1:{port}", 30)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            echo = ch.unary_unary(ECHO_METHOD)
            payload = b"x" * 40
            md = (("authorization", "Bearer " + "t" * 200),)

            async def call(_: int) -> None:
                await echo(payload, metadata=md)

            await drive(call, warmup)
            return await drive(call, seconds, proc.pid)
    finally:
        proc.terminate()
        await proc.wait()


async def measure_framework_echo(
    seconds: float, warmup: float, public_key: Path, token: str
) -> Phase:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).with_name("framework_echo.py")),
        str(port),
        str(public_key),
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await wait_serving(f"127.0.0.1:{port}", 30)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = identity_service_pb2_grpc.IdentityServiceStub(ch)
            md = (("authorization", f"Bearer {token}"),)
            req = identity_requests_pb2.ValidateTokenRequest(token="x")

            async def call(_: int) -> None:
                await stub.ValidateToken(req, metadata=md)

            await drive(call, warmup)
            return await drive(call, seconds, proc.pid)
    finally:
        proc.terminate()
        await proc.wait()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--servers", type=int, default=100_000)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--quick", action="store_true", help="a smoke run (small and short)")
    args = ap.parse_args()
    if args.quick:
        args.servers, args.seconds = 2_000, 1.0
    warmup = min(2.0, args.seconds / 2)

    root = Path(tempfile.mkdtemp(prefix="polyvisor-bench-api-"))
    pg = EmbeddedPostgres(root / "pg", durable=False, die_with_parent=True)
    nats = EmbeddedNats(root / "nats", die_with_parent=True)
    pg.start()
    nats.start()
    dsn = pg.create_database("bench_api")
    port = free_port()
    api = ServiceProcess(
        "api",
        {
            "POLYVISOR_DATABASE_URL": dsn,
            "POLYVISOR_NATS_URL": nats.url or "",
            "POLYVISOR_GRPC_HOST": "127.0.0.1",
            "POLYVISOR_GRPC_PORT": str(port),
            "POLYVISOR_METRICS_PORT": "0",
            "POLYVISOR_LOG_LEVEL": "WARNING",
            "POLYVISOR_TOKEN_PRIVATE_KEY": str(root / "keys" / "token.key"),
            "POLYVISOR_TOKEN_PUBLIC_KEY": str(root / "keys" / "token.pub"),
            "POLYVISOR_BOOTSTRAP_ADMIN_USER": "admin",
            "POLYVISOR_BOOTSTRAP_ADMIN_PASSWORD": "admin-password",
            "POLYVISOR_BOOTSTRAP_ADMIN_PROJECT": "admin",
            "POLYVISOR_SCHEDULER_ADDRESS": "127.0.0.1:1",
            "POLYVISOR_IMAGESVC_ADDRESS": "127.0.0.1:1",
        },
        log_path=root / "api.log",
    )
    result: dict[str, object] = {
        "bench": "api",
        "servers": args.servers,
        "concurrency": CONCURRENCY,
    }
    try:
        await api.start(60)
        t0 = time.perf_counter()
        _, ids = await seed(dsn, args.servers)
        result["seed_s"] = round(time.perf_counter() - t0, 2)

        echo = await measure_echo(args.seconds, warmup)
        result["echo"] = echo.figures()
        assert api.proc is not None
        api_pid = api.proc.pid
        pg_pid = pg.pid
        assert pg_pid is not None

        async with grpc.aio.insecure_channel(api.address) as ch:
            auth = await identity_service_pb2_grpc.IdentityServiceStub(ch).Authenticate(
                identity_requests_pb2.AuthenticateRequest(
                    password=identity_pb2.PasswordCredentials(
                        project="admin", username="admin", password="admin-password"
                    )
                )
            )
            md = (("authorization", f"Bearer {auth.token}"),)
            framework = await measure_framework_echo(
                args.seconds, warmup, root / "keys" / "token.pub", auth.token
            )
            result["framework_echo"] = framework.figures()
            stub = compute_service_pb2_grpc.ComputeServiceStub(ch)
            rng = random.Random(7)

            unread = ids[:]
            rng.shuffle(unread)

            async def get_unread(_: int) -> None:
                server_id = unread.pop() if unread else ids[rng.randrange(len(ids))]
                await stub.GetServer(servers_pb2.GetServerRequest(server_id=server_id), metadata=md)

            await drive(get_unread, warmup)
            cold = await drive(get_unread, args.seconds, api_pid, pg_pid)

            tokens = [""] * CONCURRENCY
            for i in range(CONCURRENCY):  # spread the walkers over the whole list
                first = await stub.ListServers(
                    servers_pb2.ListServersRequest(page_size=PAGE), metadata=md
                )
                assert len(first.servers) == PAGE
                tokens[i] = first.next_page_token if i % 2 else ""

            async def page(i: int) -> None:
                resp = await stub.ListServers(
                    servers_pb2.ListServersRequest(page_size=PAGE, page_token=tokens[i]),
                    metadata=md,
                )
                tokens[i] = resp.next_page_token

            await drive(page, warmup)
            listing = await drive(page, args.seconds, api_pid, pg_pid)

            # Every server read once (a walk over the whole list), then random reads.
            walked, token = 0, ""
            while True:
                resp = await stub.ListServers(
                    servers_pb2.ListServersRequest(page_size=1000, page_token=token), metadata=md
                )
                walked += len(resp.servers)
                token = resp.next_page_token
                if not token:
                    break
            assert walked == len(ids), walked

            async def get(_: int) -> None:
                req = servers_pb2.GetServerRequest(server_id=ids[rng.randrange(len(ids))])
                await stub.GetServer(req, metadata=md)

            await drive(get, warmup)
            warm = await drive(get, args.seconds, api_pid, pg_pid)

        echo_rps, fw_rps = echo[0], framework[0]
        result["get_server"] = {
            **warm.figures(),
            "ratio_to_echo": round(warm[0] / echo_rps, 3) if echo_rps else 0,
            "ratio_to_framework_echo": round(warm[0] / fw_rps, 3) if fw_rps else 0,
        }
        result["get_server_cold"] = {
            **cold.figures(),
            "ratio_to_echo": round(cold[0] / echo_rps, 3) if echo_rps else 0,
        }
        result["list_servers_page_100"] = {
            **listing.figures(),
            "servers_per_s": round(listing[0] * PAGE),
            # Both at the same 64 clients in the same run: the machine's load weighs on both.
            "p99_ratio_to_echo_p99": round(listing[1] / echo[1], 2) if echo[1] else 0,
        }
        result["targets"] = {
            "get_server_ratio_to_echo_min": 0.5,
            "list_servers_p99_ms_max": 20.0,
            "get_server_met": bool(echo_rps and warm[0] / echo_rps >= 0.5),
            "list_servers_met": bool(listing[1] and listing[1] < 20.0),
            "list_servers_p99_ratio_to_echo_max": 2.0,
            "list_servers_ratio_met": bool(echo[1] and listing[1] / echo[1] <= 2.0),
        }
        result["load_avg_1m"] = round(os.getloadavg()[0], 2)
        result["cpus"] = os.cpu_count()
        result["seconds_per_phase"] = args.seconds
    finally:
        await api.stop()
        nats.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)  # a 100,000-server database: ~350 MB
    print(json.dumps(result))


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
