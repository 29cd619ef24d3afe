from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from netsvc_client import Service

from polyvisor.common.auth import TokenSigner, generate_keypair
from polyvisor.common.lifespan import serve
from polyvisor.networksvc.app import lifespan
from polyvisor.networksvc.config import NetworkSettings
from tests.support.services import free_port, wait_serving


@asynccontextmanager
async def running_service(
    pg_url: str, nats_url: str, root: Path, **overrides: Any
) -> AsyncIterator[Service]:
    """The network service in this process on an ephemeral port, on real PostgreSQL and NATS."""
    private, public = generate_keypair()
    (root / "token.pub").write_bytes(public)
    port = free_port()
    settings = NetworkSettings(
        **{
            "database_url": pg_url,
            "nats_url": nats_url,
            "grpc_host": "127.0.0.1",
            "grpc_port": port,
            "metrics_host": "127.0.0.1",
            "metrics_port": 0,
            "server_id": f"network-test-{os.getpid()}",
            "token_public_key": root / "token.pub",
            "physical_networks": "",
            "shutdown_grace_s": 1.0,
            "outbox_poll_s": 0.2,
            **overrides,
        }
    )
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, lifespan, stop, handle_signals=False))
    address = f"127.0.0.1:{port}"
    try:
        await wait_serving(address, timeout=30)
    except BaseException:
        stop.set()
        await task
        raise
    channel = grpc.aio.insecure_channel(address)
    try:
        yield Service(address, channel, TokenSigner(private), settings)
    finally:
        await channel.close()
        stop.set()
        assert await task == 0


@pytest.fixture(scope="module")
async def service(
    pg_url: str, nats_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Service]:
    """The network service (any physical network; VLAN ids given explicitly)."""
    async with running_service(pg_url, nats_url, tmp_path_factory.mktemp("network")) as svc:
        yield svc
