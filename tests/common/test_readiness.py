"""Health under "readiness": SERVING only while every PostgreSQL pool and NATS connection of
the process answers; "" (liveness) stays SERVING through a dependency's outage. Real
servers: their own PostgreSQL and NATS, stopped and started again on the same port."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from polyvisor.common import readiness
from polyvisor.common.bus.client import Bus
from polyvisor.common.config import ServiceSettings
from polyvisor.common.db import close_pool, create_pool
from polyvisor.common.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from polyvisor.common.grpcserver import READINESS_SERVICE, GrpcServer

SETTINGS = ServiceSettings(service_name="ready-test", grpc_host="127.0.0.1", grpc_port=0)
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture
def root() -> AsyncIterator[Path]:
    # Not pytest's tmp_path: PostgreSQL runs as an unprivileged user and must traverse it.
    d = Path(tempfile.mkdtemp(prefix="polyvisor-ready-"))
    d.chmod(0o755)
    yield d  # type: ignore[misc]
    shutil.rmtree(d, ignore_errors=True)


async def _status(channel: grpc.aio.Channel, service: str) -> int:
    resp = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=service), timeout=10
    )
    return int(resp.status)


async def _until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    """Poll `check` (with a deadline, so a broken reconnect fails instead of hanging)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        await asyncio.sleep(0.1)


async def test_readiness_follows_nats_and_postgres(root: Path) -> None:
    nats = EmbeddedNats(root / "nats", port=free_port(), die_with_parent=True)
    pg = EmbeddedPostgres(root / "pg", port=free_port(), durable=False, die_with_parent=True)
    nats_url = await asyncio.to_thread(nats.start)
    pg_url = await asyncio.to_thread(pg.start)
    server = GrpcServer(SETTINGS)
    others = readiness.dependencies()  # what other tests' fixtures hold on this loop
    bus = await Bus.connect(nats_url, "ready-test", connect_timeout=10)
    pool = await create_pool(pg_url, "public", max_size=2)
    try:
        assert sorted(readiness.dependencies()) == sorted([*others, "nats", "postgres"])
        await server.start()
        async with grpc.aio.insecure_channel(server.address) as channel:
            # not serving yet: not ready either
            assert await _status(channel, READINESS_SERVICE) == NOT_SERVING
            await server.set_serving()
            assert await _status(channel, READINESS_SERVICE) == SERVING

            for dep, name in ((nats, "nats"), (pg, "postgres")):
                await asyncio.to_thread(dep.stop)
                assert await _status(channel, READINESS_SERVICE) == NOT_SERVING, name
                assert name in await readiness.failures()
                assert await _status(channel, "") == SERVING  # liveness: not a restart reason
                await asyncio.to_thread(dep.start)  # the same port: clients reconnect

                async def ready() -> bool:
                    return await _status(channel, READINESS_SERVICE) == SERVING

                await _until(ready, f"ready again after {name} came back")

            # a closed pool or connection is no dependency any more
            await close_pool(pool)
            await bus.close()
            await asyncio.to_thread(nats.stop)
            assert readiness.dependencies() == others
            assert await _status(channel, READINESS_SERVICE) == SERVING
    finally:
        await server.stop(0)
        await close_pool(pool)
        await bus.close()
        await asyncio.to_thread(nats.stop)
        await asyncio.to_thread(pg.stop)
