from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from polyvisor.common.auth import TokenSigner, generate_keypair
from polyvisor.common.lifespan import serve
from polyvisor.volume.v1 import volume_service_pb2_grpc as svc_grpc
from polyvisor.volumesvc.app import lifespan
from polyvisor.volumesvc.config import VolumeSettings
from tests.support.services import free_port, wait_serving


@dataclass
class Caller:
    """One identity calling the service: every stub method with its token attached."""

    stub: svc_grpc.VolumeServiceStub
    token: str
    project: str
    metadata: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.metadata = [("authorization", f"Bearer {self.token}")]

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.stub, name)

        async def call(request: Any) -> Any:
            return await method(request, metadata=self.metadata, timeout=60)

        return call


@dataclass
class Service:
    address: str
    channel: grpc.aio.Channel
    signer: TokenSigner
    directory: Path

    def caller(
        self,
        project: str | None = None,
        roles: tuple[str, ...] = ("member",),
        kind: str = "user",
        user_id: str = "",
    ) -> Caller:
        project = project or f"p-{uuid.uuid4().hex[:8]}"
        token, _ = self.signer.issue(
            user_id=user_id or f"u-{project}", project_id=project, roles=roles, kind=kind
        )
        return Caller(svc_grpc.VolumeServiceStub(self.channel), token, project)

    def admin(self) -> Caller:
        return self.caller("admin", ("admin", "member"))

    def api(self) -> Caller:
        return self.caller("", (), kind="service", user_id="polyvisor-api")


@pytest.fixture(scope="module")
async def service(
    pg_url: str, nats_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Service]:
    """The volume service in this process on real PostgreSQL and NATS, with a file backend
    (`file`, for KVM) and a second file backend that allows multi-attach (`shared`)."""
    root = tmp_path_factory.mktemp("volume")
    private, public = generate_keypair()
    (root / "token.pub").write_bytes(public)
    port = free_port()
    backends = {
        "file": {"kind": "file", "directory": str(root / "file")},
        "shared": {"kind": "file", "directory": str(root / "shared"), "multiattach": "true"},
    }
    settings = VolumeSettings(
        database_url=pg_url,
        nats_url=nats_url,
        grpc_host="127.0.0.1",
        grpc_port=port,
        metrics_host="127.0.0.1",
        metrics_port=0,
        server_id=f"volume-test-{os.getpid()}",
        token_public_key=root / "token.pub",
        volume_backends=json.dumps(backends),
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
        yield Service(address, channel, TokenSigner(private), root)
    finally:
        await channel.close()
        stop.set()
        assert await task == 0
