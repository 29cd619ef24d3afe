"""The real processes a cross-service api test runs: scheduler, image service, api replicas
and fake agents, on one database and one NATS of their own; plus gRPC helpers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc

from polyvisor.common.auth import ensure_keypair
from polyvisor.common.derived_keys import derive_agent_key
from polyvisor.compute.v1 import compute_service_pb2_grpc, servers_pb2
from polyvisor.identity.v1 import identity_pb2, identity_requests_pb2, identity_service_pb2_grpc
from polyvisor.image.v1 import image_service_pb2_grpc, images_pb2
from polyvisor.types.v1 import disk_pb2, server_status_pb2
from tests.support.services import REPO, ServiceProcess, free_port

T = TypeVar("T")

ADMIN = ("admin", "admin-password", "admin")
AGENT_KEY_SECRET = "test-agent-key-secret-0123456789abcdefghijklmnop"


def agent_key(host: str) -> str:
    """The key of the agent of `host` (what `python -m polyvisor.api.agentkey` prints)."""
    return derive_agent_key(AGENT_KEY_SECRET, host)


async def _together(aws: Iterable[Awaitable[Any]]) -> None:
    """Await all of `aws` side by side, each to its end; then raise the first error, if any."""
    results = await asyncio.gather(*aws, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


def _append(path: Path) -> Any:
    return path.open("ab")


@dataclass
class FakeAgentProcess:
    hosts: tuple[str, ...]
    env: dict[str, str]
    log: Path
    proc: asyncio.subprocess.Process | None = None

    async def start(self) -> FakeAgentProcess:
        out = _append(self.log.with_suffix(".stderr"))
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.fake_agent",
            env={**os.environ, "PYTHONPATH": str(REPO), **self.env},
            cwd=str(REPO),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=out,
        )
        out.close()
        return self

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()

    def commands(self) -> list[dict[str, Any]]:
        import json

        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]


@dataclass
class Stack:
    root: Path
    database_url: str
    nats_url: str
    api_env: dict[str, str] = field(default_factory=dict)
    scheduler: ServiceProcess | None = None
    imagesvc: ServiceProcess | None = None
    network: ServiceProcess | None = None
    volume: ServiceProcess | None = None
    apis: list[ServiceProcess] = field(default_factory=list)
    agents: list[FakeAgentProcess] = field(default_factory=list)
    channels: list[grpc.aio.Channel] = field(default_factory=list)
    _starting: list[ServiceProcess] = field(default_factory=list)

    @property
    def private_key(self) -> Path:
        return self.root / "keys" / "token.key"

    @property
    def public_key(self) -> Path:
        return self.root / "keys" / "token.pub"

    def _common(self, name: str) -> dict[str, str]:
        return {
            "POLYVISOR_NATS_URL": self.nats_url,
            "POLYVISOR_DATABASE_URL": self.database_url,
            "POLYVISOR_GRPC_HOST": "127.0.0.1",
            "POLYVISOR_GRPC_PORT": str(free_port()),
            "POLYVISOR_METRICS_PORT": "0",
            "POLYVISOR_SERVER_ID": f"{name}-{uuid.uuid4().hex[:6]}",
            "POLYVISOR_LOG_LEVEL": os.environ.get("POLYVISOR_TEST_LOG_LEVEL", "INFO"),
            "POLYVISOR_TOKEN_PUBLIC_KEY": str(self.public_key),
        }

    async def start_control_plane(
        self,
        api_env: dict[str, str] | None = None,
        with_images: bool = True,
        scheduler_env: dict[str, str] | None = None,
    ) -> None:
        """The scheduler and the image service, side by side with the network and volume
        services a caller started before; once all of them are SERVING, the api (which calls
        them), as `./dev up` orders them."""
        ensure_keypair(self.private_key, self.public_key)
        self.scheduler = await self._spawn(
            "scheduler",
            {
                **self._common("scheduler"),
                "POLYVISOR_HOST_TIMEOUT_S": "30",
                "POLYVISOR_REFRESH_INTERVAL_S": "0.5",
                **(scheduler_env or {}),
            },
            log_path=self.root / "logs" / "scheduler.log",
        )
        if with_images:
            self.imagesvc = await self._spawn(
                "imagesvc",
                {
                    **self._common("imagesvc"),
                    "POLYVISOR_STORE_DIR": str(self.root / "images"),
                    "POLYVISOR_STORE_FSYNC": "false",
                },
                log_path=self.root / "logs" / "imagesvc.log",
            )
        await self._ready()
        self.api_env = {
            "POLYVISOR_SCHEDULER_ADDRESS": self.scheduler.address,
            "POLYVISOR_IMAGESVC_ADDRESS": self.imagesvc.address if self.imagesvc else "127.0.0.1:1",
            "POLYVISOR_TOKEN_PRIVATE_KEY": str(self.private_key),
            "POLYVISOR_BOOTSTRAP_ADMIN_USER": ADMIN[0],
            "POLYVISOR_BOOTSTRAP_ADMIN_PASSWORD": ADMIN[1],
            "POLYVISOR_BOOTSTRAP_ADMIN_PROJECT": ADMIN[2],
            "POLYVISOR_AGENT_KEY_SECRET": AGENT_KEY_SECRET,
            "POLYVISOR_REAPER_INTERVAL_S": "0.5",
            "POLYVISOR_OUTBOX_POLL_S": "0.5",
            **(api_env or {}),
        }
        await self.start_api()

    async def _spawn(self, module: str, env: dict[str, str], log_path: Path) -> ServiceProcess:
        """`module` started, not awaited: `_ready` waits for it."""
        proc = await ServiceProcess(module, env, log_path=log_path).spawn()
        self._starting.append(proc)
        return proc

    async def _ready(self) -> None:
        """Until every service spawned and not yet awaited is SERVING (each stops itself if it
        is not within its budget; `stop` ends the others)."""
        pending, self._starting = self._starting, []
        await _together(proc.ready(60) for proc in pending)

    async def start_network(self, physical_networks: str = "physnet1:100:199") -> str:
        """The network service, spawned before the control plane, which starts beside it, waits
        until it is SERVING, and gives its address to the api."""
        ensure_keypair(self.private_key, self.public_key)
        self.network = await self._spawn(
            "networksvc",
            {
                **self._common("network"),
                "POLYVISOR_PHYSICAL_NETWORKS": physical_networks,
                "POLYVISOR_OUTBOX_POLL_S": "0.2",
            },
            log_path=self.root / "logs" / "network.log",
        )
        return self.network.address

    async def start_volume(self, backends: dict[str, dict[str, str]]) -> str:
        """The volume service with `backends` (POLYVISOR_VOLUME_BACKENDS), spawned before the
        control plane, which starts beside it, waits until it is SERVING, and gives its address
        to the api (POLYVISOR_VOLUME_ADDRESS)."""
        ensure_keypair(self.private_key, self.public_key)
        self.volume = await self._spawn(
            "volumesvc",
            {
                **self._common("volume"),
                "POLYVISOR_VOLUME_BACKENDS": json.dumps(backends),
                "POLYVISOR_OUTBOX_POLL_S": "0.2",
            },
            log_path=self.root / "logs" / "volume.log",
        )
        return self.volume.address

    async def start_api(self, extra: dict[str, str] | None = None) -> ServiceProcess:
        n = len(self.apis)
        proc = await ServiceProcess(
            "api",
            {**self._common(f"api{n}"), **self.api_env, **(extra or {})},
            log_path=self.root / "logs" / f"api{n}.log",
        ).start(60)
        self.apis.append(proc)
        return proc

    async def start_agent(self, *hosts: str, **env: str) -> FakeAgentProcess:
        log = self.root / "agents" / f"{'_'.join(hosts)}.jsonl"
        log.parent.mkdir(parents=True, exist_ok=True)
        agent = FakeAgentProcess(
            hosts,
            {
                "POLYVISOR_NATS_URL": self.nats_url,
                "FAKE_AGENT_HOSTS": ",".join(hosts),
                "FAKE_AGENT_LOG": str(log),
                "FAKE_AGENT_REPORT_INTERVAL_S": "1",
                **{
                    k.upper() if k.startswith("FAKE") else f"FAKE_AGENT_{k.upper()}": v
                    for k, v in env.items()
                },
            },
            log,
        )
        await agent.start()
        self.agents.append(agent)
        return agent

    async def stop(self) -> None:
        """Agents, then the apis, then the services they call: the processes of each step
        side by side."""
        for ch in self.channels:
            await ch.close()
        await _together(agent.stop() for agent in self.agents)
        await _together(proc.stop() for proc in self.apis)
        others = [self.imagesvc, self.scheduler, self.network, self.volume]
        await _together(proc.stop() for proc in others if proc is not None)

    # ------------------------------------------------------------------ clients

    def channel(self, index: int = 0) -> grpc.aio.Channel:
        ch = grpc.aio.insecure_channel(self.apis[index].address)
        self.channels.append(ch)
        return ch

    async def login(self, user: str, password: str, project: str = "") -> str:
        stub = identity_service_pb2_grpc.IdentityServiceStub(self.channel())
        resp = await stub.Authenticate(
            identity_requests_pb2.AuthenticateRequest(
                password=identity_pb2.PasswordCredentials(
                    project=project, username=user, password=password
                )
            )
        )
        return resp.token

    async def admin(self) -> Client:
        return Client(self, await self.login(*ADMIN[:2], project=ADMIN[2]))

    async def new_project_user(self, admin: Client, role: str = "member", name: str = "") -> Client:
        """A new project and a user with `role` on it; the user's client."""
        name = name or f"p-{uuid.uuid4().hex[:8]}"
        project = (
            await admin.identity.CreateProject(
                identity_requests_pb2.CreateProjectRequest(project=identity_pb2.Project(name=name)),
                metadata=admin.md,
            )
        ).project
        user = (
            await admin.identity.CreateUser(
                identity_requests_pb2.CreateUserRequest(
                    user=identity_pb2.User(name=f"u-{name}-{role}", default_project_id=project.id),
                    password="a-good-password",
                ),
                metadata=admin.md,
            )
        ).user
        await admin.identity.GrantRole(
            identity_requests_pb2.GrantRoleRequest(
                user_id=user.id,
                project_id=project.id,
                role=identity_pb2.Role.Value(f"ROLE_{role.upper()}"),
            ),
            metadata=admin.md,
        )
        client = Client(self, await self.login(user.name, "a-good-password", project.id))
        client.project_id = project.id
        client.user_id = user.id
        return client


async def wait_hosts(admin: Client, *hosts: str, within: float = 30.0) -> None:
    """Until the scheduler knows every host in `hosts` as UP (through ListHypervisors)."""
    from polyvisor.compute.v1 import hypervisors_pb2
    from polyvisor.types.v1 import hypervisor_pb2

    async def up() -> set[str]:
        resp = await admin.compute.ListHypervisors(
            hypervisors_pb2.ListHypervisorsRequest(page_size=1000), metadata=admin.md
        )
        return {h.id for h in resp.hypervisors if h.state == hypervisor_pb2.HOST_STATE_UP}

    await eventually(up, lambda found: set(hosts) <= found, within=within, interval=0.2)


class Client:
    """Stubs with a caller's token."""

    def __init__(self, stack: Stack, token: str, index: int = 0) -> None:
        self.stack = stack
        self.token = token
        ch = stack.channel(index)
        self.compute = compute_service_pb2_grpc.ComputeServiceStub(ch)
        self.identity = identity_service_pb2_grpc.IdentityServiceStub(ch)
        self.images = (
            image_service_pb2_grpc.ImageServiceStub(
                grpc.aio.insecure_channel(stack.imagesvc.address)
            )
            if stack.imagesvc
            else None
        )
        self.project_id = ""
        self.user_id = ""

    @property
    def md(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),)

    def on(self, index: int) -> Client:
        other = Client(self.stack, self.token, index)
        other.project_id, other.user_id = self.project_id, self.user_id
        return other

    async def create_server(
        self,
        name: str,
        image_id: str,
        flavor_id: str,
        *,
        request_id: str | None = None,
        metadata: dict[str, str] | None = None,
        **spec: Any,
    ) -> servers_pb2.Server:
        resp = await self.compute.CreateServer(
            servers_pb2.CreateServerRequest(
                request_id=uuid.uuid4().hex if request_id is None else request_id,
                server=servers_pb2.ServerSpec(
                    name=name,
                    image_id=image_id,
                    flavor_id=flavor_id,
                    metadata=metadata or {},
                    **spec,
                ),
            ),
            metadata=self.md,
        )
        return resp.servers[0]

    async def get(self, server_id: str) -> servers_pb2.Server:
        resp = await self.compute.GetServer(
            servers_pb2.GetServerRequest(server_id=server_id), metadata=self.md
        )
        return resp.server

    async def wait(self, server_id: str, *states: int, within: float = 30.0) -> servers_pb2.Server:
        """The server once it is in one of `states` with nothing in flight."""
        return await eventually(
            lambda: self.get(server_id),
            lambda s: s.state in states and s.task == server_status_pb2.SERVER_TASK_NONE,
            within=within,
        )

    async def upload_image(
        self,
        name: str = "img",
        visibility: int = images_pb2.VISIBILITY_PRIVATE,
        *,
        disk_format: int = disk_pb2.DISK_FORMAT_RAW,
        data: bytes | None = None,
        **props: Any,
    ) -> images_pb2.Image:
        """`data` (by default a 1 MiB raw disk: a boot sector), uploaded and ACTIVE."""
        assert self.images is not None
        image = (
            await self.images.CreateImage(
                images_pb2.CreateImageRequest(
                    request_id=uuid.uuid4().hex,
                    image=images_pb2.Image(
                        name=name,
                        visibility=visibility,
                        disk_format=disk_format,
                        container_format=disk_pb2.CONTAINER_FORMAT_BARE,
                        **props,
                    ),
                ),
                metadata=self.md,
            )
        ).image
        if data is None:
            data = bytes(510) + b"\x55\xaa" + bytes(1024 * 1024 - 512)

        async def chunks():  # type: ignore[no-untyped-def]
            yield images_pb2.UploadImageRequest(
                header=images_pb2.UploadImageHeader(image_id=image.id, size=len(data))
            )
            for i in range(0, len(data), 256 * 1024):
                yield images_pb2.UploadImageRequest(chunk=data[i : i + 256 * 1024])

        resp = await self.images.UploadImage(chunks(), metadata=self.md)
        assert resp.image.status == images_pb2.IMAGE_STATUS_ACTIVE, resp.image.status_message
        return resp.image


async def eventually(
    probe: Callable[[], Awaitable[T]],
    until: Callable[[T], bool],
    within: float = 30.0,
    interval: float = 0.1,
) -> T:
    """Poll `probe` until `until(value)`; the last value, or AssertionError on timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    value = await probe()
    while not until(value):
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within}s; last value: {value}")
        await asyncio.sleep(interval)
        value = await probe()
    return value
