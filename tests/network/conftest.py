"""The network service in this process (real PostgreSQL and NATS), for the data plane tests."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from polyvisor.common.auth import TokenSigner, generate_keypair
from polyvisor.common.lifespan import serve
from polyvisor.network.v1 import network_service_pb2_grpc as svc_grpc
from polyvisor.networksvc.app import lifespan
from polyvisor.networksvc.config import NetworkSettings
from tests.support.services import free_port, wait_serving


@dataclass
class Caller:
    """One identity calling the network service: every stub method with its token."""

    stub: svc_grpc.NetworkServiceStub
    token: str

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.stub, name)

        async def call(request: Any) -> Any:
            metadata = [("authorization", f"Bearer {self.token}")]
            return await method(request, metadata=metadata, timeout=60)

        return call


@dataclass
class NetworkService:
    address: str
    channel: grpc.aio.Channel
    signer: TokenSigner

    def token(self, **claims: Any) -> str:
        claims.setdefault("roles", ())
        claims.setdefault("project_id", "")
        token, _ = self.signer.issue(**claims)
        return token

    def caller(self, **claims: Any) -> Caller:
        return Caller(svc_grpc.NetworkServiceStub(self.channel), self.token(**claims))

    def admin(self) -> Caller:
        return self.caller(user_id="admin", project_id="admin", roles=("admin", "member"))

    def member(self, project: str) -> Caller:
        return self.caller(user_id=f"u-{project}", project_id=project, roles=("member",))

    def api(self) -> Caller:
        return self.caller(user_id="polyvisor-api", kind="service")

    def agent_token(self, host: str) -> str:
        return self.token(user_id=f"agent-{host}", kind="agent", host=host)


@pytest.fixture(scope="module")
async def network_service(
    pg_url: str, nats_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[NetworkService]:
    root: Path = tmp_path_factory.mktemp("networksvc")
    private, public = generate_keypair()
    (root / "token.pub").write_bytes(public)
    port = free_port()
    settings = NetworkSettings(
        database_url=pg_url,
        nats_url=nats_url,
        grpc_host="127.0.0.1",
        grpc_port=port,
        metrics_host="127.0.0.1",
        metrics_port=0,
        server_id=f"network-{os.getpid()}-{uuid.uuid4().hex[:6]}",
        token_public_key=root / "token.pub",
        physical_networks="",
        shutdown_grace_s=1.0,
        outbox_poll_s=0.2,
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
        yield NetworkService(address, channel, TokenSigner(private))
    finally:
        await channel.close()
        stop.set()
        await task
