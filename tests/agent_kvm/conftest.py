"""Fixtures for the KVM agent's cross-service tests: real libvirtd, the real image service as a
process, the KVM agent as a process, commands and events on the session's NATS.

Directories live under /var/tmp (made 0755): QEMU runs as libvirt-qemu and must traverse
down to the disks, which pytest's private tmp directories (0700) forbid.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from polyvisor.agentkit.bus import command_subject
from polyvisor.agentkit.testing import (
    AgentTestServers,
    AssignmentBoard,
    EventTap,
    ImageStore,
    agent_command,
)
from polyvisor.common.auth import TokenSigner, generate_keypair
from polyvisor.common.bus import Bus
from polyvisor.image.v1 import image_service_pb2_grpc, images_pb2
from polyvisor.types.v1 import disk_pb2
from tests.agent_kvm.boot_sector import boot_sector
from tests.fixtures.libvirt import LibvirtUnavailable, ensure_libvirtd
from tests.support.services import ServiceProcess, free_port, wait_serving

SYSTEM_URI = "qemu:///system"


def virt_type() -> str:
    return "kvm" if os.path.exists("/dev/kvm") else "qemu"


def virsh(*args: str) -> str:
    r = subprocess.run(
        ["virsh", "-c", SYSTEM_URI, *args], capture_output=True, text=True, check=False
    )
    return r.stdout


def domains() -> set[str]:
    return {line.strip() for line in virsh("list", "--all", "--name").splitlines() if line.strip()}


@pytest.fixture(scope="module")
def libvirtd() -> str:
    try:
        return ensure_libvirtd(SYSTEM_URI)
    except LibvirtUnavailable as exc:
        pytest.skip(f"no libvirtd for real VMs here: {exc}")


@pytest.fixture(scope="module")
def world_dir() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="polyvisor-kvm-", dir="/var/tmp"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@dataclass
class Keys:
    signer: TokenSigner
    public_path: Path

    def service_token(self) -> str:
        token, _ = self.signer.issue(
            user_id="agent-kvm", project_id="service", roles=(), kind="service"
        )
        return token

    def user_token(self, project: str = "proj-1") -> str:
        token, _ = self.signer.issue(user_id="u1", project_id=project, roles=("member",))
        return token


@pytest.fixture(scope="module")
def keys(world_dir: Path) -> Keys:
    private, public = generate_keypair()
    path = world_dir / "token.pub"
    path.write_bytes(public)
    return Keys(TokenSigner(private), path)


@dataclass
class ImageService:
    address: str
    proc: ServiceProcess
    token: str

    async def upload_qcow2(self, data_raw: bytes, workdir: Path, name: str) -> tuple[str, str]:
        """Upload ``data_raw`` converted to qcow2; (image id, sha256 of the qcow2 rendition)."""
        raw = workdir / f"{name}.raw"
        qcow2 = workdir / f"{name}.qcow2"
        raw.write_bytes(data_raw)
        await asyncio.to_thread(
            subprocess.run,
            ["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2)],
            check=True,
        )
        payload = qcow2.read_bytes()
        md = [("authorization", f"Bearer {self.token}")]
        async with grpc.aio.insecure_channel(self.address) as channel:
            stub = image_service_pb2_grpc.ImageServiceStub(channel)
            created = await stub.CreateImage(
                images_pb2.CreateImageRequest(
                    image=images_pb2.Image(
                        name=name,
                        disk_format=disk_pb2.DISK_FORMAT_QCOW2,
                        container_format=disk_pb2.CONTAINER_FORMAT_BARE,
                        architecture="x86_64",
                    )
                ),
                metadata=md,
            )
            image_id = created.image.id

            async def chunks() -> AsyncIterator[images_pb2.UploadImageRequest]:
                yield images_pb2.UploadImageRequest(
                    header=images_pb2.UploadImageHeader(image_id=image_id, size=len(payload))
                )
                yield images_pb2.UploadImageRequest(chunk=payload)

            done = await stub.UploadImage(chunks(), metadata=md)
            assert done.image.status == images_pb2.IMAGE_STATUS_ACTIVE, done.image.status_message
            return image_id, hashlib.sha256(payload).hexdigest()


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


@dataclass
class KvmAgent:
    """The KVM agent as a process, restartable and killable, plus what a test drives it with."""

    host: str
    root: Path
    env: dict[str, str]
    bus: Bus
    tap: EventTap
    board: AssignmentBoard
    proc: ServiceProcess | None = None
    logs: list[Path] = field(default_factory=list)

    @property
    def instances_dir(self) -> Path:
        return self.root / "instances"

    def console_log(self, server_id: str) -> Path:
        return self.instances_dir / server_id / "console.log"

    async def start(self, **env: str) -> None:
        port = free_port()
        log = self.root / f"agent-{len(self.logs)}.log"
        self.logs.append(log)
        self.proc = ServiceProcess(
            "agent_kvm", {**self.env, **env, "POLYVISOR_GRPC_PORT": str(port)}, log_path=log
        )
        await self.proc.start(timeout=60)

    async def stop(self) -> None:
        if self.proc is not None:
            code = await self.proc.stop(timeout=10)
            self.proc = None
            assert code == 0, f"agent exited with {code}"

    async def kill(self) -> None:
        if self.proc is not None:
            await self.proc.kill()
            self.proc = None

    async def send(self, server_id: str, generation: int, verb: str, **kw: Any) -> str:
        msg = agent_command(self.host, server_id, generation, verb, **kw)
        await self.bus.publish(command_subject(self.host), msg, msg_id=msg.command_id)
        return msg.command_id

    async def serial_line(
        self,
        server_id: str,
        line: bytes,
        count: int = 1,
        timeout: float = 90,  # noqa: ASYNC109
    ) -> None:
        path = self.console_log(server_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if path.exists() and path.read_bytes().count(line) >= count:
                return
            await asyncio.sleep(0.1)
        text = path.read_bytes()[-500:] if path.exists() else b"(no log)"
        raise AssertionError(f"{line!r} x{count} not in the serial log: {text!r}")


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
        "POLYVISOR_AGENT_TOKEN": keys.service_token(),
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


__all__ = [
    "ImageService",
    "Keys",
    "KvmAgent",
    "domains",
    "virsh",
    "virt_type",
    "wait_serving",
]
