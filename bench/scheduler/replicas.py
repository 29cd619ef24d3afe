"""bench/scheduler's third part: two scheduler replicas (real processes) placing requests on
the same hosts, with the conflicts they resolve and the over-commit check (see `run`)."""

from __future__ import annotations

import asyncio
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(HERE), str(REPO)]

import asyncpg  # noqa: E402
import workload  # noqa: E402
from figures import say, stats_ms  # noqa: E402

from polyvisor.common.bus.client import Bus  # noqa: E402
from polyvisor.common.bus.subjects import subject_token  # noqa: E402
from polyvisor.common.embedded import EmbeddedPostgres  # noqa: E402
from polyvisor.scheduling.v1 import scheduler_pb2, scheduler_service_pb2_grpc  # noqa: E402
from tests.support.auth import TestKeys, token_channel  # noqa: E402
from tests.support.services import ServiceProcess, free_port  # noqa: E402


async def wait_providers(stub: Any, want: set[str], timeout: float = 120.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen: set[str] = set()
        token = ""
        while True:
            resp = await stub.ListProviders(
                scheduler_pb2.ListProvidersRequest(page_size=1000, page_token=token, state=1)
            )
            seen.update(p.id for p in resp.providers)
            token = resp.next_page_token
            if not token:
                break
        if want <= seen:
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"replica saw {len(seen & want)} of {len(want)} hosts")


def scrape_conflicts(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("polyvisor_scheduler_claims_total{"):
            outcome = line.split('outcome="')[1].split('"')[0]
            out[outcome] = out.get(outcome, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


async def overcommit_check(url: str) -> dict[str, int]:
    """Sum the allocations per provider and compare with its inventories, in plain SQL."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            """
            WITH used AS (
                SELECT provider_id, sum(vcpus) AS v, sum(memory_mb) AS m, sum(disk_gb) AS d,
                       max(vcpus) AS mv, max(memory_mb) AS mm, max(disk_gb) AS md, count(*) AS n
                  FROM scheduler.allocations GROUP BY provider_id)
            SELECT i.provider_id, i.resource_class,
                   floor((i.total - i.reserved) * i.allocation_ratio) AS capacity, i.max_unit,
                   CASE i.resource_class WHEN 1 THEN u.v WHEN 2 THEN u.m ELSE u.d END AS used,
                   CASE i.resource_class WHEN 1 THEN u.mv WHEN 2 THEN u.mm ELSE u.md END AS largest
              FROM scheduler.inventories i JOIN used u ON u.provider_id = i.provider_id
            """
        )
        total = await conn.fetchval("SELECT count(*) FROM scheduler.allocations")
    finally:
        await conn.close()
    over = sum(1 for r in rows if r["used"] > r["capacity"])
    above_unit = sum(1 for r in rows if r["max_unit"] is not None and r["largest"] > r["max_unit"])
    return {
        "allocations": int(total),
        "providers_with_allocations": len({r["provider_id"] for r in rows}),
        "overcommitted_provider_classes": over,
        "allocations_above_max_unit": above_unit,
    }


async def bench_replicas(
    pg: EmbeddedPostgres, nats_url: str, n_hosts: int, n_requests: int, log_dir: Path
) -> dict:
    url = pg.create_database(f"bench_replicas_{int(time.time())}")
    hosts = workload.make_contended_hosts(n_hosts)
    requests = workload.make_requests(n_requests, seed=5, small=True)
    bus = await Bus.connect(nats_url, name="bench")
    await bus.ensure_stream("HOSTS", ["hosts.report.*"])
    for h in hosts:
        await bus.publish(f"hosts.report.{subject_token(h['id'])}", workload.host_report_proto(h))
    replicas, metrics_ports = [], []
    keys = TestKeys(log_dir / "keys")  # the api's identity: the one the scheduler claims for
    try:
        for i in range(2):
            mport = free_port()
            metrics_ports.append(mport)
            replicas.append(
                await ServiceProcess(
                    "scheduler",
                    {
                        **keys.env,
                        "POLYVISOR_DATABASE_URL": url,
                        "POLYVISOR_NATS_URL": nats_url,
                        "POLYVISOR_GRPC_PORT": str(free_port()),
                        "POLYVISOR_METRICS_PORT": str(mport),
                        "POLYVISOR_SERVER_ID": f"bench-scheduler-{i}",
                        "POLYVISOR_HOST_TIMEOUT_S": "600",
                        "POLYVISOR_LOG_LEVEL": "WARNING",
                    },
                    log_path=log_dir / f"scheduler-{i}.log",
                ).start()
            )
        channels = [token_channel(r.address, keys.api_token()) for r in replicas]
        stubs = [scheduler_service_pb2_grpc.SchedulerServiceStub(c) for c in channels]
        want = {h["id"] for h in hosts}
        await asyncio.gather(*(wait_providers(s, want) for s in stubs))
        say(f"  both replicas see {len(want)} hosts; placing {n_requests} requests")
        # Warm-up, untimed: channels, pooled database connections, compiled plpgsql.
        warm = [f"warmup-{k}-{j}" for k in range(2) for j in range(8)]
        await asyncio.gather(
            *(
                stubs[k % 2].SelectDestinations(workload.request_proto(requests[0], c))
                for k, c in enumerate(warm)
            )
        )
        for k, c in enumerate(warm):
            await stubs[k % 2].ReleaseClaim(scheduler_pb2.ReleaseClaimRequest(consumer_id=c))

        latencies: list[float] = []
        placed = refused = 0
        refusal = ""
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(n_requests):
            queue.put_nowait(i)

        async def worker(stub: Any) -> None:
            nonlocal placed, refused, refusal
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                req = workload.request_proto(requests[i], f"server-{i:05d}")
                t0 = time.perf_counter()
                resp = await stub.SelectDestinations(req, timeout=30)
                latencies.append(time.perf_counter() - t0)
                if resp.selections:
                    placed += 1
                else:
                    refused += 1
                    refusal = resp.no_valid_host.summary

        t0 = time.perf_counter()
        # 8 requests in flight per replica, both replicas at once.
        await asyncio.gather(*(worker(stubs[k % 2]) for k in range(16)))
        elapsed = time.perf_counter() - t0
        conflicts = [scrape_conflicts(p) for p in metrics_ports]
        for c in channels:
            await c.close()
    finally:
        for r in replicas:
            await r.stop()
        await bus.close()
    check = await overcommit_check(url)
    out: dict[str, Any] = {
        "hosts": n_hosts,
        "requests": n_requests,
        "placed": placed,
        "refused_no_valid_host": refused,
        "last_refusal_summary": refusal,
        "seconds": round(elapsed, 2),
        "requests_per_s": round(n_requests / elapsed, 1),
        "grpc_latency": stats_ms(latencies),
        "claims_by_outcome_per_replica": conflicts,
        **check,
    }
    out["zero_overcommit"] = (
        check["overcommitted_provider_classes"] == 0
        and check["allocations_above_max_unit"] == 0
        and check["allocations"] == placed
    )
    return out
