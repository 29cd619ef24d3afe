"""Fixtures for the KVM agent's cross-service tests: real libvirtd, the real image service as a
process, the KVM agent as a process, commands and events on the session's NATS.

Directories live under /var/tmp (made 0755): QEMU runs as libvirt-qemu and must traverse
down to the disks, which pytest's private tmp directories (0700) forbid.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from polyvisor.agentkit.testing import AgentTestServers, AssignmentBoard, EventTap, ImageStore
from polyvisor.common.auth import TokenSigner, generate_keypair
from polyvisor.common.bus.client import Bus
from tests.agent_kvm.boot_sector import boot_sector
from tests.agent_kvm.kvm_support import (
    SYSTEM_URI,
    ImageService,
    Keys,
    KvmAgent,
    domains,
    virsh,
    virt_type,
)
from tests.fixtures.libvirt import LibvirtUnavailable, ensure_libvirtd
from tests.support.services import ServiceProcess, free_port


@pytest.fixture(scope="module")
def libvirtd() -> str:
    try:
        return ensure_libvirtd(SYSTEM_URI)
    except LibvirtUnavailable as exc:
        if os.geteuid() != 0:
            pytest.skip(f"real VMs need root or a running libvirtd: {exc}")
        raise  # as root the project's scripts start libvirtd: its absence is a failure


@pytest.fixture(scope="module")
def world_dir() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="polyvisor-kvm-", dir="/var/tmp"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def keys(world_dir: Path) -> Keys:
    private, public = generate_keypair()
    path = world_dir / "token.pub"
    path.write_bytes(public)
    return Keys(TokenSigner(private), path)


@pytest.fixture(scope="module")
async def imagesvc(
    pg_url: str, nats_url: str, world_dir: Path, keys: Keys
) -> AsyncIterator[ImageService]:
    port = free_port()
    proc = ServiceProcess(
        "imagesvc",
        {
            "POLYVISOR_DATABASE_URL": pg_url,
            "POLYVISOR_NATS_URL": nats_url,
            "POLYVISOR_GRPC_HOST": "127.0.0.1",
            "POLYVISOR_GRPC_PORT": str(port),
            "POLYVISOR_METRICS_HOST": "127.0.0.1",
            "POLYVISOR_METRICS_PORT": "0",
            "POLYVISOR_STORE_DIR": str(world_dir / "imagesvc-store"),
            "POLYVISOR_TOKEN_PUBLIC_KEY": str(keys.public_path),
        },
        log_path=world_dir / "imagesvc.log",
    )
    await proc.start(timeout=60)
    try:
        yield ImageService(proc.address, proc, keys.user_token())
    finally:
        await proc.stop()


@pytest.fixture(scope="module")
async def boot_image(imagesvc: ImageService, world_dir: Path) -> tuple[str, str]:
    """The boot sector, uploaded as qcow2: (image id, sha256)."""
    return await imagesvc.upload_qcow2(boot_sector(), world_dir, "boot-sector")


@pytest.fixture
async def kvm_agent(
    libvirtd: str,
    nats_url: str,
    world_dir: Path,
    keys: Keys,
    imagesvc: ImageService,
) -> AsyncIterator[KvmAgent]:
    host = f"kvm-{uuid.uuid4().hex[:8]}"
    root = world_dir / host
    root.mkdir()
    root.chmod(0o755)
    board = AssignmentBoard()
    callback = await AgentTestServers(ImageStore(), board).start()
    env = {
        "POLYVISOR_HOST_ID": host,
        "POLYVISOR_SERVER_ID": f"agent-{host}",
        "POLYVISOR_NATS_URL": nats_url,
        "POLYVISOR_API_ADDRESS": callback.address,
        "POLYVISOR_IMAGESVC_ADDRESS": imagesvc.address,
        "POLYVISOR_AGENT_TOKEN": keys.service_token(host),
        "POLYVISOR_LIBVIRT_URI": libvirtd,
        "POLYVISOR_VIRT_TYPE": virt_type(),
        "POLYVISOR_INSTANCES_DIR": str(root / "instances"),
        "POLYVISOR_CACHE_DIR": str(root / "cache"),
        "POLYVISOR_STATE_DIR": str(root / "state"),
        "POLYVISOR_VNC_LISTEN": "127.0.0.1",
        "POLYVISOR_GRPC_HOST": "127.0.0.1",
        "POLYVISOR_METRICS_HOST": "127.0.0.1",
        "POLYVISOR_METRICS_PORT": "0",
        "POLYVISOR_ACK_WAIT_S": "3",
        "POLYVISOR_RECONCILE_INTERVAL_S": "3600",
        "POLYVISOR_LOG_LEVEL": "DEBUG",
    }
    bus = await Bus.connect(nats_url, name=f"test-{host}")
    tap = await EventTap.start(bus, host)
    agent = KvmAgent(host, root, env, bus, tap, board)
    try:
        yield agent
    finally:
        if agent.proc is not None:
            await agent.proc.stop(timeout=10)
        for name in domains():
            if name.startswith("polyvisor-") and host in virsh("dumpxml", name):
                virsh("destroy", name)
                virsh("undefine", name, "--nvram")
        await tap.close()
        await bus.close()
        await callback.stop()
