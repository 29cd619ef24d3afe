"""Small real gRPC servers that agent tests run beside an agent (no api, no imagesvc needed).

    images = ImageStore()
    images.put("img-1", "qcow2", data)                  # a rendition, served with its sha256
    assignments = AssignmentBoard()
    assignments.assign("host-1", Assigned("srv-1", 1, PowerState.RUNNING, "ACTIVE"))
    async with AgentTestServers(images, assignments) as servers:
        servers.address                                  # "127.0.0.1:<port>"

The image servicer implements DownloadImage (metadata, then 1 MiB chunks, from the offset
asked for) and can cut a stream short or corrupt it, to test resume and checksum checks; it
counts the bytes it sent. The callback servicer answers ListAssignedServers from the board,
page by page. Both are real grpc.aio services on an ephemeral port.

``agent_command`` builds the AgentCommand the api would publish; ``EventTap`` collects the
server events a host publishes, for assertions.

One concern: the small real servers and builders agent tests share; one per contract the
agent talks to.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc

from polyvisor.agent.v1 import agent_callback_service_pb2_grpc, callback_pb2, commands_pb2
from polyvisor.agentkit.commands import EventKind
from polyvisor.agentkit.convert import (
    disk_format_name,
    disk_format_to_proto,
    event_kind_from_proto,
    power_state_to_proto,
    vmware_disktype_to_proto,
)
from polyvisor.agentkit.reconcile_plan import Assigned
from polyvisor.common.bus.client import Bus
from polyvisor.common.bus.core import Subscription
from polyvisor.events.v1 import server_events_pb2
from polyvisor.image.v1 import image_service_pb2_grpc, images_pb2
from polyvisor.types.v1 import fault_pb2, hypervisor_pb2, resources_pb2, server_status_pb2

__all__ = [
    "AgentTestServers",
    "AssignmentBoard",
    "EventTap",
    "ImageStore",
    "SeenEvent",
    "agent_command",
]

_CHUNK = 1 << 20


@dataclass(slots=True)
class _Rendition:
    data: bytes
    sha256: str


@dataclass(slots=True)
class ImageStore:
    renditions: dict[tuple[str, str], _Rendition] = field(default_factory=dict)
    #: Cut the next N streams after this many bytes (then UNAVAILABLE).
    cut_after: int | None = None
    cut_times: int = 0
    #: Announce a wrong checksum for the next N downloads.
    lie_times: int = 0
    bytes_sent: int = 0
    requests: list[tuple[str, str, int]] = field(default_factory=list)
    #: Snapshot images waiting for their upload (id -> disk format), and those uploaded
    #: (id -> bytes, properties) or killed (id -> reason).
    queued: dict[str, str] = field(default_factory=dict)
    uploaded: dict[str, tuple[bytes, dict[str, str]]] = field(default_factory=dict)
    killed: dict[str, str] = field(default_factory=dict)

    def put(self, image_id: str, disk_format: str, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self.renditions[(image_id, disk_format)] = _Rendition(data, digest)
        return digest

    def expect_snapshot(self, image_id: str, disk_format: str = "qcow2") -> None:
        """A QUEUED image an agent may upload a snapshot to."""
        self.queued[image_id] = disk_format


@dataclass(slots=True)
class AssignmentBoard:
    hosts: dict[str, dict[str, Assigned]] = field(default_factory=lambda: defaultdict(dict))
    calls: int = 0
    fail_next: int = 0
    # Per host, the servers the api says were evacuated from it (ListEvacuatedServers).
    evacuated: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def assign(self, host: str, server: Assigned) -> None:
        self.hosts[host][server.server_id] = server

    def unassign(self, host: str, server_id: str) -> None:
        self.hosts[host].pop(server_id, None)


class _ImageServicer(image_service_pb2_grpc.ImageServiceServicer):
    def __init__(self, store: ImageStore) -> None:
        self.store = store

    async def GetImage(self, request, context):  # type: ignore[no-untyped-def]
        s, i = self.store, request.image_id
        if i in s.uploaded:
            status = images_pb2.IMAGE_STATUS_ACTIVE
        elif i in s.killed:
            status = images_pb2.IMAGE_STATUS_KILLED
        elif i in s.queued or any(k == i for k, _ in s.renditions):
            status = (
                images_pb2.IMAGE_STATUS_QUEUED if i in s.queued else images_pb2.IMAGE_STATUS_ACTIVE
            )
        else:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"image {i}")
        return images_pb2.GetImageResponse(image=images_pb2.Image(id=i, status=status))

    async def UploadImage(self, request_iterator, context):  # type: ignore[no-untyped-def]
        first = await anext(aiter(request_iterator))
        header = first.header
        if header.image_id not in self.store.queued:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "not queued")
        fmt = self.store.queued.pop(header.image_id)
        if header.failure:
            self.store.killed[header.image_id] = header.failure
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, header.failure)
        data = b"".join([m.chunk async for m in request_iterator])
        self.store.uploaded[header.image_id] = (data, dict(header.properties))
        self.store.put(header.image_id, fmt, data)
        return images_pb2.UploadImageResponse(
            image=images_pb2.Image(id=header.image_id, status=images_pb2.IMAGE_STATUS_ACTIVE)
        )

    async def DownloadImage(self, request, context):  # type: ignore[no-untyped-def]
        fmt = disk_format_name(request.disk_format) or "raw"
        self.store.requests.append((request.image_id, fmt, request.offset))
        r = self.store.renditions.get((request.image_id, fmt))
        if r is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"image {request.image_id} ({fmt})")
        assert r is not None
        offset = min(max(0, request.offset), len(r.data))
        sha = r.sha256
        if self.store.lie_times > 0:
            self.store.lie_times -= 1
            sha = hashlib.sha256(b"not the data").hexdigest()
        rendition = images_pb2.Rendition(
            disk_format=disk_format_to_proto(fmt), size=len(r.data), sha256=sha
        )
        yield images_pb2.DownloadImageResponse(
            metadata=images_pb2.DownloadImageMetadata(
                image_id=request.image_id,
                rendition=rendition,
                size=len(r.data),
                sha256=sha,
                offset=offset,
            )
        )
        cut = None
        if self.store.cut_times > 0 and self.store.cut_after is not None:
            self.store.cut_times -= 1
            cut = offset + self.store.cut_after
        pos = offset
        while pos < len(r.data):
            end = min(pos + _CHUNK, len(r.data))
            if cut is not None and end > cut:
                end = cut
                if end > pos:
                    self.store.bytes_sent += end - pos
                    yield images_pb2.DownloadImageResponse(chunk=r.data[pos:end])
                await context.abort(grpc.StatusCode.UNAVAILABLE, "stream cut (test)")
            self.store.bytes_sent += end - pos
            yield images_pb2.DownloadImageResponse(chunk=r.data[pos:end])
            pos = end


class _CallbackServicer(agent_callback_service_pb2_grpc.AgentCallbackServiceServicer):
    def __init__(self, board: AssignmentBoard) -> None:
        self.board = board

    async def ListAssignedServers(self, request, context):  # type: ignore[no-untyped-def]
        self.board.calls += 1
        if self.board.fail_next > 0:
            self.board.fail_next -= 1
            await context.abort(grpc.StatusCode.UNAVAILABLE, "api down (test)")
        servers = sorted(self.board.hosts.get(request.host, {}).values(), key=lambda a: a.server_id)
        start = int(request.page_token or 0)
        size = request.page_size or 100
        page = servers[start : start + size]
        nxt = str(start + size) if start + size < len(servers) else ""
        return callback_pb2.ListAssignedServersResponse(
            servers=[
                callback_pb2.AssignedServer(
                    server_id=a.server_id,
                    generation=a.generation,
                    desired_power_state=power_state_to_proto(a.desired_power_state),
                    state=server_status_pb2.ServerState.Value(f"SERVER_STATE_{a.state}"),
                    task=server_status_pb2.ServerTask.Value(f"SERVER_TASK_{a.task}"),
                    instance_name=a.instance_name,
                    metadata=dict(a.metadata),
                )
                for a in page
            ],
            next_page_token=nxt,
        )

    async def ListEvacuatedServers(self, request, context):  # type: ignore[no-untyped-def]
        ids = sorted(self.board.evacuated.get(request.host, set()))
        return callback_pb2.ListEvacuatedServersResponse(server_ids=ids)


class AgentTestServers:
    """Both servicers on one grpc.aio server, on an ephemeral loopback port."""

    def __init__(self, images: ImageStore, board: AssignmentBoard) -> None:
        self.images = images
        self.board = board
        self._server: grpc.aio.Server | None = None
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> AgentTestServers:
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        image_service_pb2_grpc.add_ImageServiceServicer_to_server(
            _ImageServicer(self.images), server
        )
        agent_callback_service_pb2_grpc.add_AgentCallbackServiceServicer_to_server(
            _CallbackServicer(self.board), server
        )
        self.port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        self._server = server
        return self

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.stop(0)

    async def __aenter__(self) -> AgentTestServers:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


# ---------------------------------------------------------------------- commands and events


def agent_command(
    host: str,
    server_id: str,
    generation: int,
    verb: str,
    *,
    command_id: str = "",
    image_id: str = "",
    disk_format: str = "qcow2",
    vmware_disktype: str = "",
    sha256: str = "",
    vcpus: int = 1,
    memory_mb: int = 128,
    disk_gb: int = 1,
    name: str = "",
    hard: bool = False,
    public_keys: tuple[str, ...] = (),
    user_data: bytes = b"",
    hw_disk_bus: int = 0,
    architecture: str = "",
    deadline: float | None = None,
    then_destroy: bool = False,
    password: str = "",
    valid_for_s: float = 0.0,
    dest_host: str = "",
    port_id: str = "",
    volume_id: str = "",
    volume_kind: str = "",
    volume_attrs: dict[str, str] | None = None,
    powered_off: bool = False,
) -> commands_pb2.AgentCommand:
    """An AgentCommand as the api would publish it (verb: spawn, destroy, power_on, ...).

    ``disk_format`` and ``vmware_disktype`` name the rendition to boot: one the host reports
    in its ``disk_formats`` (the scheduler's choice in the real flow)."""
    msg = commands_pb2.AgentCommand(
        command_id=command_id or f"{server_id}-{generation}-{verb}-{uuid.uuid4().hex[:6]}",
        server_id=server_id,
        generation=generation,
        host=host,
        request_id=f"req-{uuid.uuid4().hex[:8]}",
    )
    msg.issued_at.FromNanoseconds(time.time_ns())
    if deadline is not None:
        msg.deadline.FromNanoseconds(int(deadline * 1e9))
    if verb == "spawn":
        msg.spawn.CopyFrom(
            commands_pb2.SpawnServer(
                name=name or server_id,
                hostname=name or server_id,
                resources=resources_pb2.Resources(
                    vcpus=vcpus, memory_mb=memory_mb, disk_gb=disk_gb
                ),
                image=commands_pb2.SpawnImage(
                    image_id=image_id,
                    disk_format=disk_format_to_proto(disk_format),
                    vmware_disktype=vmware_disktype_to_proto(vmware_disktype),
                    sha256=sha256,
                    hw_disk_bus=hw_disk_bus,
                    architecture=architecture,
                ),
                public_keys=list(public_keys),
                user_data=user_data,
                attempt=1,
                powered_off=powered_off,
            )
        )
        if volume_id:  # boots from the volume: no image
            msg.spawn.ClearField("image")
            root = msg.spawn.root_volume
            root.volume_id, root.kind = volume_id, volume_kind
            root.attrs.update(volume_attrs or {})
    elif verb == "destroy":
        msg.destroy.SetInParent()
    elif verb == "power_on":
        msg.power_on.SetInParent()
    elif verb == "power_off":
        msg.power_off.SetInParent()
    elif verb == "reboot":
        msg.reboot.CopyFrom(commands_pb2.RebootServer(hard=hard))
    elif verb == "refresh_console":
        msg.refresh_console.SetInParent()
    elif verb == "snapshot":
        msg.snapshot.CopyFrom(
            commands_pb2.SnapshotServer(image_id=image_id, then_destroy=then_destroy)
        )
    elif verb == "rebuild":
        msg.rebuild.CopyFrom(
            commands_pb2.RebuildServer(
                image=commands_pb2.SpawnImage(
                    image_id=image_id, disk_format=disk_format_to_proto(disk_format), sha256=sha256
                ),
                disk_gb=disk_gb,
                powered_off=powered_off,
            )
        )
    elif verb == "open_console":
        msg.open_console.CopyFrom(
            commands_pb2.OpenConsole(password=password, valid_for_s=valid_for_s)
        )
    elif verb in ("pause", "unpause", "suspend", "resume", "confirm_resize"):
        getattr(msg, verb).SetInParent()
    elif verb in ("resize", "revert_resize"):
        sub = getattr(msg, verb)
        sub.vcpus, sub.memory_mb, sub.disk_gb, sub.dest_host = vcpus, memory_mb, disk_gb, dest_host
    elif verb in ("attach_port", "detach_port"):
        getattr(msg, verb).port_id = port_id
    elif verb == "live_migrate":
        msg.live_migrate.CopyFrom(
            commands_pb2.LiveMigrateServer(dest_host=dest_host, block_migration=True)
        )
    elif verb == "abort_migration":
        msg.abort_migration.SetInParent()
    elif verb in ("attach_volume", "detach_volume"):
        vol = getattr(msg, verb).volume
        vol.volume_id, vol.kind = volume_id, volume_kind
        vol.attrs.update(volume_attrs or {})
    else:
        raise ValueError(f"unknown verb {verb}")
    return msg


@dataclass(frozen=True, slots=True)
class SeenEvent:
    kind: EventKind
    server_id: str
    generation: int
    power_state: str
    command_id: str
    task: str
    fault_code: str
    fault_message: str
    console_port: int
    instance_name: str
    event_id: str
    agent_id: str = ""  # which agent process (replica) published it
    esxi_host: str = ""
    progress: int = 0
    dest_host: str = ""


class EventTap:
    """Collects the server events one host publishes (core NATS subscription on EVENTS).

    tap = await EventTap.start(bus, host)
    ev = await tap.wait_for(lambda e: e.kind == EventKind.SPAWNED and e.server_id == s)
    """

    def __init__(self, host: str) -> None:
        self.host = host
        self.events: list[SeenEvent] = []
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._sub: Subscription | None = None

    @classmethod
    async def start(cls, bus: Bus, host: str) -> EventTap:
        tap = cls(host)
        tap._sub = await bus.subscribe("events.server.>")
        tap._task = asyncio.get_running_loop().create_task(tap._collect())
        await bus.flush()
        return tap

    async def _collect(self) -> None:
        assert self._sub is not None
        async for m in self._sub:
            ev = server_events_pb2.ServerEvent()
            ev.ParseFromString(m.data)
            if ev.host != self.host:
                continue
            seen = SeenEvent(
                kind=event_kind_from_proto(ev.kind),
                server_id=ev.server_id,
                generation=ev.generation,
                power_state=hypervisor_pb2.PowerState.Name(ev.power_state).removeprefix(
                    "POWER_STATE_"
                ),
                command_id=ev.command_id,
                task=server_status_pb2.ServerTask.Name(ev.task).removeprefix("SERVER_TASK_"),
                fault_code=fault_pb2.FaultCode.Name(ev.fault.code).removeprefix("FAULT_CODE_"),
                fault_message=ev.fault.message,
                console_port=ev.console.port,
                instance_name=ev.instance_name,
                event_id=ev.event_id,
                agent_id=ev.agent_id,
                esxi_host=ev.esxi_host,
                progress=ev.progress,
                dest_host=ev.dest_host,
            )
            async with self._changed:
                self.events.append(seen)
                self._changed.notify_all()

    def of(self, server_id: str) -> list[SeenEvent]:
        return [e for e in self.events if e.server_id == server_id]

    def kinds(self, server_id: str) -> list[str]:
        return [e.kind.value for e in self.of(server_id)]

    def of_kind(self, kind: str, server_id: str) -> list[SeenEvent]:
        return [e for e in self.of(server_id) if e.kind == kind]

    async def first(
        self,
        kind: str,
        server_id: str,
        timeout: float = 60.0,  # noqa: ASYNC109 - a bound on the wait, not a timing
    ) -> SeenEvent:
        """The first ``kind`` event of ``server_id``, waiting for it if need be."""
        return await self.wait_for(lambda e: e.kind == kind and e.server_id == server_id, timeout)

    async def wait_for(
        self,
        predicate: Callable[[SeenEvent], bool],
        timeout: float = 15.0,  # noqa: ASYNC109
    ) -> SeenEvent:
        async def find() -> SeenEvent:
            async with self._changed:
                while True:
                    for e in self.events:
                        if predicate(e):
                            return e
                    await self._changed.wait()

        return await asyncio.wait_for(find(), timeout)

    async def close(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
