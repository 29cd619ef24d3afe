from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from imagesvc_client import Service
from imagesvc_forge import Forge

from polyvisor.common.auth import TokenSigner, generate_keypair
from polyvisor.common.lifespan import serve
from polyvisor.imagesvc.app import lifespan
from polyvisor.imagesvc.config import ImageSettings
from tests.support.services import free_port, wait_serving

GiB = 1 << 30


@pytest.fixture
def forge(tmp_path: Path) -> Forge:
    return Forge(tmp_path / "forge")


def write_counting_qemu_img(path: Path, log: Path) -> None:
    """A qemu-img that records each invocation (one line: its arguments) and runs the real one."""
    real = shutil.which("qemu-img")
    assert real, "qemu-img (Debian qemu-utils) is required"
    path.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{real}" "$@"\n')
    path.chmod(0o755)


@pytest.fixture(scope="module")
async def service(
    pg_url: str, nats_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Service]:
    """The image service running in this process on an ephemeral port, on real PostgreSQL,
    NATS, qemu-img and a filesystem store."""
    root = tmp_path_factory.mktemp("imagesvc")
    private, public = generate_keypair()
    (root / "token.pub").write_bytes(public)
    calls = root / "qemu-img.calls"
    write_counting_qemu_img(root / "qemu-img", calls)
    port = free_port()
    settings = ImageSettings(
        database_url=pg_url,
        nats_url=nats_url,
        grpc_host="127.0.0.1",
        grpc_port=port,
        metrics_host="127.0.0.1",
        metrics_port=0,
        server_id=f"imagesvc-test-{os.getpid()}",
        store_dir=root / "store",
        store_fsync=False,
        token_public_key=root / "token.pub",
        max_virtual_size=1 * GiB,
        qemu_img=str(root / "qemu-img"),
        heartbeat_s=0.5,
        shutdown_grace_s=1.0,
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
    channel = grpc.aio.insecure_channel(
        address,
        options=[
            ("grpc.max_receive_message_length", 16 << 20),
            ("grpc.max_send_message_length", 16 << 20),
        ],
    )
    try:
        yield Service(
            address=address,
            root=root,
            store_dir=root / "store",
            signer=TokenSigner(private),
            qemu_calls=calls,
            channel=channel,
            settings=settings,
        )
    finally:
        await channel.close()
        stop.set()
        assert await task == 0
