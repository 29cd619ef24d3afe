"""What the KVM agent's cross-service tests drive: the agent and the image service as
processes, tokens, and virsh. The fixtures that build them are in conftest.py."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from polyvisor.agentkit.bus import command_subject
from polyvisor.agentkit.testing import AssignmentBoard, EventTap, agent_command
from polyvisor.common.auth import TokenSigner
from polyvisor.common.bus.client import Bus
from polyvisor.image.v1 import image_service_pb2_grpc, images_pb2
from polyvisor.types.v1 import disk_pb2
from tests.support.auth import grant_image
from tests.support.services import ServiceProcess, free_port

__all__ = ["SYSTEM_URI", "ImageService", "Keys", "KvmAgent", "domains", "virsh", "virt_type"]

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


@dataclass
class Keys:
    signer: TokenSigner
    public_path: Path

    def service_token(self, host: str) -> str:
        """The token of the agent of `host`."""
        token, _ = self.signer.issue(
            user_id=f"agent:{host}", project_id="", roles=(), kind="agent", host=host
        )
        return token

    def user_token(self, project: str = "proj-1") -> str:
        token, _ = self.signer.issue(user_id="u1", project_id=project, roles=("member",))
        return token


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

    async def snapshot_image(self, host: str, disk_format: int = disk_pb2.DISK_FORMAT_QCOW2) -> str:
        """A QUEUED snapshot image naming the agent ``host`` may upload it, as the api makes."""
        md = [("authorization", f"Bearer {self.token}")]
        async with grpc.aio.insecure_channel(self.address) as channel:
            stub = image_service_pb2_grpc.ImageServiceStub(channel)
            created = await stub.CreateImage(
                images_pb2.CreateImageRequest(
                    image=images_pb2.Image(
                        name="snap",
                        disk_format=disk_format,
                        container_format=disk_pb2.CONTAINER_FORMAT_BARE,
                        architecture="x86_64",
                        properties={"image_type": "snapshot", "snapshot_host": host},
                    )
                ),
                metadata=md,
            )
            return str(created.image.id)

    async def get(self, image_id: str) -> images_pb2.Image:
        md = [("authorization", f"Bearer {self.token}")]
        async with grpc.aio.insecure_channel(self.address) as channel:
            stub = image_service_pb2_grpc.ImageServiceStub(channel)
            resp = await stub.GetImage(images_pb2.GetImageRequest(image_id=image_id), metadata=md)
            return resp.image


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
        if verb in ("spawn", "snapshot", "rebuild") and kw.get("image_id"):
            await grant_image(self.bus, self.host, str(kw["image_id"]))  # as the api does
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
