"""What the parts of bench/agent_kvm share (see `run`): the agent under test (a real process
with its test servers), qcow2 bytes made with qemu-img, waiting for a line in a serial log,
virsh, and removing the domains a round left."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


from polyvisor.agentkit.bus import command_subject  # noqa: E402
from polyvisor.agentkit.commands import EventKind  # noqa: E402
from polyvisor.agentkit.testing import (  # noqa: E402
    AgentTestServers,
    AssignmentBoard,
    EventTap,
    ImageStore,
    agent_command,
)
from polyvisor.common.bus.client import Bus  # noqa: E402
from tests.agent_kvm.boot_sector import BOOT_LINE  # noqa: E402
from tests.support.services import ServiceProcess, free_port  # noqa: E402

TEST_URI = "test:///default"
SYSTEM_URI = "qemu:///system"
KVM = os.path.exists("/dev/kvm")


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def qcow2_bytes(workdir: Path, raw: bytes, name: str) -> bytes:
    src, dst = workdir / f"{name}.raw", workdir / f"{name}.qcow2"
    src.write_bytes(raw)
    subprocess.run(
        ["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(src), str(dst)], check=True
    )
    return dst.read_bytes()


class AgentUnderTest:
    """The KVM agent process with NATS, a tap on its events and a test image server."""

    def __init__(self, root: Path, nats_url: str, uri: str, images: ImageStore) -> None:
        self.root = root
        self.nats_url = nats_url
        self.uri = uri
        self.images = images
        self.host = f"bench-kvm-{uuid.uuid4().hex[:6]}"
        self.proc: ServiceProcess | None = None
        self.servers: AgentTestServers | None = None
        self.bus: Bus | None = None
        self.tap: EventTap | None = None

    async def start(self, **extra: str) -> None:
        self.servers = await AgentTestServers(self.images, AssignmentBoard()).start()
        virt = "kvm" if self.uri == SYSTEM_URI and KVM else "qemu"
        env = {
            "POLYVISOR_HOST_ID": self.host,
            "POLYVISOR_SERVER_ID": f"agent-{self.host}",
            "POLYVISOR_NATS_URL": self.nats_url,
            "POLYVISOR_API_ADDRESS": self.servers.address,
            "POLYVISOR_IMAGESVC_ADDRESS": self.servers.address,
            "POLYVISOR_LIBVIRT_URI": self.uri,
            "POLYVISOR_VIRT_TYPE": virt,
            "POLYVISOR_INSTANCES_DIR": str(self.root / "instances"),
            "POLYVISOR_CACHE_DIR": str(self.root / "cache"),
            "POLYVISOR_STATE_DIR": str(self.root / "state"),
            "POLYVISOR_GRPC_HOST": "127.0.0.1",
            "POLYVISOR_GRPC_PORT": str(free_port()),
            "POLYVISOR_METRICS_HOST": "127.0.0.1",
            "POLYVISOR_METRICS_PORT": "0",
            "POLYVISOR_RECONCILE_INTERVAL_S": "0",
            "POLYVISOR_LOG_LEVEL": "WARNING",
            **extra,
        }
        self.proc = ServiceProcess("agent_kvm", env, log_path=self.root / "agent.log")
        await self.proc.start(timeout=60)
        self.bus = await Bus.connect(self.nats_url, name=f"bench-{self.host}")
        self.tap = await EventTap.start(self.bus, self.host)

    async def spawn(self, sid: str, image_id: str, sha: str, **kw: object) -> None:
        assert self.bus is not None
        msg = agent_command(self.host, sid, 1, "spawn", image_id=image_id, sha256=sha, **kw)  # type: ignore[arg-type]
        await self.bus.publish(command_subject(self.host), msg, msg_id=msg.command_id)

    async def destroy(self, sid: str) -> None:
        assert self.bus is not None and self.tap is not None
        msg = agent_command(self.host, sid, 2, "destroy")
        await self.bus.publish(command_subject(self.host), msg, msg_id=msg.command_id)
        await self.tap.wait_for(lambda e: e.server_id == sid and e.kind == EventKind.DESTROYED)

    def spawned(self) -> int:
        assert self.tap is not None
        return sum(1 for e in self.tap.events if e.kind == EventKind.SPAWNED)

    async def stop(self) -> None:
        if self.tap is not None:
            await self.tap.close()
        if self.bus is not None:
            await self.bus.close()
        if self.proc is not None:
            await self.proc.stop()
        if self.servers is not None:
            await self.servers.stop()


async def wait_line(path: Path, timeout: float = 120.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if BOOT_LINE in read_log(path):
            return
        await asyncio.sleep(0.005)
    raise TimeoutError(f"no boot line in {path}")


def read_log(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def virsh(*args: str) -> str:
    return subprocess.run(
        ["virsh", "-c", SYSTEM_URI, *args], capture_output=True, text=True, check=True
    ).stdout


def remove_domains_under(root: Path) -> None:
    """After a failure: the domains this run made (their files live under ``root``)."""
    names = subprocess.run(
        ["virsh", "-c", SYSTEM_URI, "list", "--all", "--name"], capture_output=True, text=True
    ).stdout.split()
    for name in names:
        xml = subprocess.run(
            ["virsh", "-c", SYSTEM_URI, "dumpxml", name], capture_output=True, text=True
        ).stdout
        if str(root) in xml:
            subprocess.run(["virsh", "-c", SYSTEM_URI, "destroy", name], capture_output=True)
            subprocess.run(["virsh", "-c", SYSTEM_URI, "undefine", name], capture_output=True)
