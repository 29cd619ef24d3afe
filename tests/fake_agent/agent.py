"""The fake agent's behaviour (see the package docstring)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from polyvisor.agent.v1 import commands_pb2, host_report_pb2, queries_pb2
from polyvisor.common.bus.client import Bus
from polyvisor.common.bus.core import Subscription
from polyvisor.common.bus.messages import BusMessage
from polyvisor.common.bus.subjects import subject_token
from polyvisor.common.lifespan import BackgroundTasks
from polyvisor.common.streams import (
    AGENT_CMD,
    EVENTS,
    HOSTS,
    ensure_streams,
    server_event_subject,
)
from polyvisor.events.v1 import server_events_pb2 as ev_pb
from polyvisor.types.v1 import disk_pb2, fault_pb2, hypervisor_pb2, resources_pb2
from polyvisor.types.v1 import server_status_pb2 as st

CMD_STREAM = AGENT_CMD.name
EVENTS_STREAM = EVENTS.name
HOSTS_STREAM = HOSTS.name

_HV = {
    "kvm": hypervisor_pb2.HYPERVISOR_TYPE_KVM,
    "qemu": hypervisor_pb2.HYPERVISOR_TYPE_QEMU,
    "vmware": hypervisor_pb2.HYPERVISOR_TYPE_VMWARE,
}


@dataclass(frozen=True)
class FakeAgentConfig:
    nats_url: str
    hosts: tuple[str, ...]
    hypervisor_type: str = "kvm"
    spawn: str = "ok"
    power: str = "ok"
    # "silent": a snapshot is never answered (a host that died in its middle); "ok":
    # answered SNAPSHOTTED at once (nothing is uploaded: the image stays QUEUED).
    snapshot: str = "silent"
    slow_s: float = 5.0
    report_interval_s: float = 2.0
    vcpus: int = 64
    memory_mb: int = 256 * 1024
    disk_gb: int = 4096
    key_injection: bool = True
    user_data: bool = True
    # Like the KVM agent's POLYVISOR_DISK_MODE: "copy" boots raw renditions only.
    disk_mode: str = "overlay"
    log_path: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)
    # The physical networks every host reports it reaches.
    physical_networks: tuple[str, ...] = ()
    # The optional driver verbs every host reports ("ports": it plugs ports live).
    capabilities: tuple[str, ...] = ()
    # Whether every host enforces its ports' security groups (a KVM host's data plane).
    security_groups: bool = False

    @classmethod
    def from_env(cls) -> FakeAgentConfig:
        env = os.environ
        log = env.get("FAKE_AGENT_LOG", "")
        hv = env.get("FAKE_AGENT_HYPERVISOR_TYPE", "kvm")
        return cls(
            nats_url=env.get("POLYVISOR_NATS_URL", "nats://127.0.0.1:4222"),
            hosts=tuple(h for h in env.get("FAKE_AGENT_HOSTS", "fake-1").split(",") if h),
            hypervisor_type=hv,
            spawn=env.get("FAKE_AGENT_SPAWN", "ok"),
            power=env.get("FAKE_AGENT_POWER", "ok"),
            snapshot=env.get("FAKE_AGENT_SNAPSHOT", "silent"),
            slow_s=float(env.get("FAKE_AGENT_SLOW_S", "5")),
            report_interval_s=float(env.get("FAKE_AGENT_REPORT_INTERVAL_S", "2")),
            vcpus=int(env.get("FAKE_AGENT_VCPUS", "64")),
            memory_mb=int(env.get("FAKE_AGENT_MEMORY_MB", str(256 * 1024))),
            disk_gb=int(env.get("FAKE_AGENT_DISK_GB", "4096")),
            key_injection=env.get("FAKE_AGENT_KEY_INJECTION", "1") == "1",
            user_data=env.get("FAKE_AGENT_USER_DATA", "1") == "1",
            disk_mode=env.get("FAKE_AGENT_DISK_MODE", "overlay"),
            log_path=Path(log) if log else None,
            physical_networks=tuple(
                n for n in env.get("FAKE_AGENT_PHYSICAL_NETWORKS", "").split(",") if n
            ),
            capabilities=tuple(n for n in env.get("FAKE_AGENT_CAPABILITIES", "").split(",") if n),
            security_groups=env.get("FAKE_AGENT_SECURITY_GROUPS", "0") == "1",
        )


def _disk_formats(c: FakeAgentConfig) -> list[disk_pb2.Rendition]:
    """What the real agents report: a cluster boots VMDKs, a KVM host qcow2 and raw (raw only
    in copy mode)."""
    if c.hypervisor_type == "vmware":
        return [
            disk_pb2.Rendition(disk_format=disk_pb2.DISK_FORMAT_VMDK, vmware_disktype=t)
            for t in (
                disk_pb2.VMWARE_DISK_TYPE_STREAM_OPTIMIZED,
                disk_pb2.VMWARE_DISK_TYPE_SPARSE,
                disk_pb2.VMWARE_DISK_TYPE_PREALLOCATED,
            )
        ]
    if c.disk_mode == "copy":
        return [disk_pb2.Rendition(disk_format=disk_pb2.DISK_FORMAT_RAW)]
    return [
        disk_pb2.Rendition(disk_format=disk_pb2.DISK_FORMAT_QCOW2),
        disk_pb2.Rendition(disk_format=disk_pb2.DISK_FORMAT_RAW),
    ]


# Each verb's answer and the power state it reports.
_ANSWERS = {
    "destroy": (ev_pb.SERVER_EVENT_KIND_DESTROYED, hypervisor_pb2.POWER_STATE_NOSTATE),
    "power_on": (ev_pb.SERVER_EVENT_KIND_POWERED_ON, hypervisor_pb2.POWER_STATE_RUNNING),
    "power_off": (ev_pb.SERVER_EVENT_KIND_POWERED_OFF, hypervisor_pb2.POWER_STATE_SHUTDOWN),
    "reboot": (ev_pb.SERVER_EVENT_KIND_REBOOTED, hypervisor_pb2.POWER_STATE_RUNNING),
    "pause": (ev_pb.SERVER_EVENT_KIND_PAUSED, hypervisor_pb2.POWER_STATE_PAUSED),
    "unpause": (ev_pb.SERVER_EVENT_KIND_UNPAUSED, hypervisor_pb2.POWER_STATE_RUNNING),
    "suspend": (ev_pb.SERVER_EVENT_KIND_SUSPENDED, hypervisor_pb2.POWER_STATE_SUSPENDED),
    "resume": (ev_pb.SERVER_EVENT_KIND_RESUMED, hypervisor_pb2.POWER_STATE_RUNNING),
    # A resize (on this host or handed over to `dest_host`), its confirm and its revert.
    "resize": (ev_pb.SERVER_EVENT_KIND_RESIZED, hypervisor_pb2.POWER_STATE_RUNNING),
    "confirm_resize": (
        ev_pb.SERVER_EVENT_KIND_RESIZE_CONFIRMED,
        hypervisor_pb2.POWER_STATE_RUNNING,
    ),
    "revert_resize": (ev_pb.SERVER_EVENT_KIND_RESIZE_REVERTED, hypervisor_pb2.POWER_STATE_RUNNING),
    # A live migration is over at once (MIGRATED, still running); an abort answers nothing.
    "live_migrate": (ev_pb.SERVER_EVENT_KIND_MIGRATED, hypervisor_pb2.POWER_STATE_RUNNING),
    # Plugging a port leaves the power state as it is (none reported).
    "attach_port": (ev_pb.SERVER_EVENT_KIND_PORT_ATTACHED, 0),
    "detach_port": (ev_pb.SERVER_EVENT_KIND_PORT_DETACHED, 0),
    "attach_volume": (ev_pb.SERVER_EVENT_KIND_VOLUME_ATTACHED, 0),
    "detach_volume": (ev_pb.SERVER_EVENT_KIND_VOLUME_DETACHED, 0),
}

# A cold resize or move leaves the server as it was: running if it ran, off if it was off
# (what the real drivers do); the power state last reported for it is answered again.
_KEEP_POWER = frozenset({"resize", "confirm_resize", "revert_resize"})


def _power_left(powered_off: bool) -> int:
    """The power state a spawn or rebuild leaves: off when the command said so."""
    return (
        hypervisor_pb2.POWER_STATE_SHUTDOWN if powered_off else hypervisor_pb2.POWER_STATE_RUNNING
    )


def _now() -> Timestamp:
    ts = Timestamp()
    ts.GetCurrentTime()
    return ts


class FakeAgent:
    def __init__(self, config: FakeAgentConfig) -> None:
        self.config = config
        self.bus: Bus | None = None
        self.tasks = BackgroundTasks("fake-agent")
        self.agent_id = f"fake-agent-{os.getpid()}"
        self.sequence = int(time.time() * 1000)
        self.newest: dict[str, int] = {}
        self.consoles = 5900
        self.power_modes: dict[str, str] = {}
        self.failed_rebuilds: set[str] = set()
        self.powers: dict[str, int] = {}  # server id -> the power state last reported
        self.reboot_modes: dict[str, str] = {}

    async def start(self) -> None:
        self.bus = await Bus.connect(self.config.nats_url, name=self.agent_id)
        await ensure_streams(self.bus, AGENT_CMD, EVENTS, HOSTS)
        for host in self.config.hosts:
            token = subject_token(host)
            consumer = await self.bus.pull_consumer(
                CMD_STREAM,
                durable=f"agent-{token}",
                filter_subject=f"agent.{token}.cmd",
                max_deliver=5,
                ack_wait=30,
            )
            self.tasks.start(
                f"cmd-{host}", consumer.consume(self._handle, concurrency=16, fetch_timeout=1.0)
            )
            self.tasks.start(f"report-{host}", self._report_loop(host))
            queries = await self.bus.subscribe(f"agent.{token}.query.console_output")
            self.tasks.start(f"queries-{host}", self._answer_queries(queries))
        await self.bus.flush()  # the query subscriptions are on the server
        print(f"fake agent up: {','.join(self.config.hosts)}", file=sys.stderr, flush=True)

    async def close(self) -> None:
        await self.tasks.close()
        if self.bus is not None:
            await self.bus.close()

    async def _answer_queries(self, sub: Subscription) -> None:
        """The console output of a server it spawned: a fake boot log of 30 numbered lines."""
        async for msg in sub:
            req = queries_pb2.ConsoleOutputRequest.FromString(msg.data)
            if req.server_id not in self.newest:
                reply = queries_pb2.ConsoleOutputReply(
                    error="no such server", error_kind="not_found"
                )
            else:
                text = "".join(f"boot {req.server_id[:8]} line {i}\n" for i in range(1, 31))
                reply = queries_pb2.ConsoleOutputReply(
                    output="".join(text.splitlines(keepends=True)[-(req.lines or 30) :])
                )
            await sub.respond(msg, reply.SerializeToString())

    # ------------------------------------------------------------------ host reports

    def report(self, host: str) -> host_report_pb2.HostReport:
        c = self.config
        hv = _HV[c.hypervisor_type]
        self.sequence += 1

        def inv(cls: int, total: int, ratio: float) -> resources_pb2.Inventory:
            return resources_pb2.Inventory(resource_class=cls, total=total, allocation_ratio=ratio)

        consoles = [hypervisor_pb2.CONSOLE_TYPE_VNC]
        return host_report_pb2.HostReport(
            host_id=host,
            hostname=host,
            hypervisor_type=hv,
            hypervisor_version="8.0.0",
            state=host_report_pb2.CONNECTION_STATE_CONNECTED,
            inventories=[
                inv(resources_pb2.RESOURCE_CLASS_VCPU, c.vcpus, 1.0),
                inv(resources_pb2.RESOURCE_CLASS_MEMORY_MB, c.memory_mb, 1.0),
                inv(resources_pb2.RESOURCE_CLASS_DISK_GB, c.disk_gb, 1.0),
            ],
            supported_instances=[
                hypervisor_pb2.SupportedInstance(
                    architecture="x86_64", hypervisor_type=hv, vm_mode="hvm"
                )
            ],
            disk_formats=_disk_formats(c),
            features=hypervisor_pb2.HypervisorFeatures(
                console_types=consoles,
                key_injection=c.key_injection,
                user_data=c.user_data,
                power_on=True,
                power_off=True,
                reboot_soft=True,
                reboot_hard=True,
                vnc_port_range=hypervisor_pb2.PortRange(min=5900, max=6000),
                security_groups=c.security_groups,
            ),
            host_ip="127.0.0.1",
            physical_networks=list(c.physical_networks),
            capabilities=list(c.capabilities),
            reported_at=_now(),
            sequence=self.sequence,
            agent_id=self.agent_id,
            report_interval=Duration(seconds=max(1, int(c.report_interval_s))),
        )

    async def _report_loop(self, host: str) -> None:
        assert self.bus is not None
        while True:
            try:
                await self.bus.publish(f"hosts.report.{subject_token(host)}", self.report(host))
            except Exception as e:
                print(f"fake agent: report failed: {e!r}", file=sys.stderr, flush=True)
            await asyncio.sleep(self.config.report_interval_s)

    # ------------------------------------------------------------------ commands

    async def _handle(self, msg: BusMessage) -> None:
        cmd = msg.parse(commands_pb2.AgentCommand)
        verb = cmd.WhichOneof("command") or ""
        self._log(cmd, verb)
        newest = self.newest.get(cmd.server_id, 0)
        if cmd.generation < newest:
            return  # an older command than one already seen: ignored, as a real agent does
        self.newest[cmd.server_id] = cmd.generation
        if verb == "spawn":
            await self._spawn(cmd)
        elif verb == "rebuild":
            await self._rebuild(cmd)
        elif verb in _ANSWERS:
            await self._power(cmd, verb)
        elif verb == "snapshot" and self.config.snapshot == "ok":
            await self._emit(
                cmd, ev_pb.SERVER_EVENT_KIND_SNAPSHOTTED, power=hypervisor_pb2.POWER_STATE_SHUTDOWN
            )

    def _log(self, cmd: commands_pb2.AgentCommand, verb: str) -> None:
        if self.config.log_path is None:
            return
        record = {
            "verb": verb,
            "server_id": cmd.server_id,
            "generation": cmd.generation,
            "host": cmd.host,
            "command_id": cmd.command_id,
        }
        if verb == "open_console":
            record.update(
                password=cmd.open_console.password, valid_for_s=cmd.open_console.valid_for_s
            )
        if verb in ("resize", "revert_resize"):
            r = getattr(cmd, verb)
            record.update(
                vcpus=r.vcpus, memory_mb=r.memory_mb, disk_gb=r.disk_gb, dest_host=r.dest_host
            )
        if verb in ("attach_port", "detach_port"):
            record.update(port_id=getattr(cmd, verb).port_id)
        if verb == "live_migrate":
            record.update(dest_host=cmd.live_migrate.dest_host)
        if verb == "rebuild":
            record.update(image_id=cmd.rebuild.image.image_id, powered_off=cmd.rebuild.powered_off)
        if verb in ("attach_volume", "detach_volume"):
            v = getattr(cmd, verb).volume
            record.update(volume_id=v.volume_id, volume_kind=v.kind, volume_attrs=dict(v.attrs))
        if verb == "spawn":
            s = cmd.spawn
            record.update(
                name=s.name,
                hostname=s.hostname,
                vcpus=s.resources.vcpus,
                memory_mb=s.resources.memory_mb,
                disk_gb=s.resources.disk_gb,
                image_id=s.image.image_id,
                disk_format=disk_pb2.DiskFormat.Name(s.image.disk_format),
                vmware_disktype=disk_pb2.VmwareDiskType.Name(s.image.vmware_disktype),
                sha256=s.image.sha256,
                public_keys=list(s.public_keys),
                user_data=s.user_data.decode(errors="replace"),
                metadata=dict(s.metadata),
                attempt=s.attempt,
                powered_off=s.powered_off,
                project_id=s.project_id,
                ports=[
                    {"port_id": b.port_id, "host": b.host, "mac_address": b.mac_address}
                    for b in s.ports
                ],
            )
            if s.HasField("root_volume"):
                record.update(root_volume_id=s.root_volume.volume_id, root_kind=s.root_volume.kind)
        with self.config.log_path.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def _behaviour(self, cmd: commands_pb2.AgentCommand, key: str, default: str) -> str:
        if cmd.HasField("spawn"):
            return cmd.spawn.metadata.get(key, default)
        return default

    async def _spawn(self, cmd: commands_pb2.AgentCommand) -> None:
        mode = self._behaviour(cmd, "fake.spawn", self.config.spawn)
        self.power_modes[cmd.server_id] = cmd.spawn.metadata.get("fake.power", self.config.power)
        self.reboot_modes[cmd.server_id] = cmd.spawn.metadata.get("fake.reboot", "")
        if mode == "silent":
            return
        await self._emit(cmd, ev_pb.SERVER_EVENT_KIND_PROGRESS, task=st.SERVER_TASK_FETCHING_IMAGE)
        if mode == "slow":
            await asyncio.sleep(self.config.slow_s)
        await self._emit(cmd, ev_pb.SERVER_EVENT_KIND_PROGRESS, task=st.SERVER_TASK_SPAWNING)
        if mode == "fail" or (mode == "fail_first" and cmd.spawn.attempt <= 1):
            await self._emit(
                cmd,
                ev_pb.SERVER_EVENT_KIND_SPAWN_FAILED,
                fault=fault_pb2.Fault(
                    code=fault_pb2.FAULT_CODE_SPAWN_FAILED,
                    message=f"fake agent: spawn failed on {cmd.host}",
                    host=cmd.host,
                ),
            )
            return
        self.consoles += 1
        await self._emit(
            cmd,
            ev_pb.SERVER_EVENT_KIND_SPAWNED,
            power=_power_left(cmd.spawn.powered_off),
            console=hypervisor_pb2.ConsoleInfo(
                type=hypervisor_pb2.CONSOLE_TYPE_VNC, host="127.0.0.1", port=self.consoles
            ),
            instance_name=f"fake-{cmd.server_id[:8]}",
        )

    async def _rebuild(self, cmd: commands_pb2.AgentCommand) -> None:
        """REBUILT at once (nothing fetched): running, or off when the command says so.
        `fake.power` "fail_first": the server's first rebuild fails (its old disk gone)."""
        mode = self.power_modes.get(cmd.server_id, self.config.power)
        if mode == "silent":
            return
        if mode == "fail_first" and cmd.server_id not in self.failed_rebuilds:
            self.failed_rebuilds.add(cmd.server_id)
            fault = fault_pb2.Fault(
                code=fault_pb2.FAULT_CODE_REBUILD_FAILED, message="fake agent: rebuild failed"
            )
            await self._emit(cmd, ev_pb.SERVER_EVENT_KIND_COMMAND_FAILED, fault=fault)
            return
        power = _power_left(cmd.rebuild.powered_off)
        await self._emit(cmd, ev_pb.SERVER_EVENT_KIND_REBUILT, power=power)

    power_modes: dict[str, str] = {}

    async def _power(self, cmd: commands_pb2.AgentCommand, verb: str) -> None:
        mode = self.power_modes.get(cmd.server_id, self.config.power)
        if mode == "silent":
            return
        if mode == "fail" and verb != "destroy":
            await self._emit(
                cmd,
                ev_pb.SERVER_EVENT_KIND_COMMAND_FAILED,
                fault=fault_pb2.Fault(
                    code=fault_pb2.FAULT_CODE_POWER_FAILED, message=f"fake agent: {verb} failed"
                ),
            )
            return
        kind, power = _ANSWERS[verb]
        if verb in _KEEP_POWER:
            power = self.powers.get(cmd.server_id, power)
        await self._emit(cmd, kind, power=power)
        if verb == "reboot" and self.reboot_modes.get(cmd.server_id) == "flicker":
            # What vCenter's property collector does after a reset: the brief power-off is
            # reported late, then the power-on, both unsolicited at the reboot's generation,
            # published back to back in that order.
            for seen in (hypervisor_pb2.POWER_STATE_SHUTDOWN, hypervisor_pb2.POWER_STATE_RUNNING):
                await self._emit(
                    cmd, ev_pb.SERVER_EVENT_KIND_POWER_STATE_CHANGED, power=seen, unsolicited=True
                )

    async def _emit(
        self,
        cmd: commands_pb2.AgentCommand,
        kind: int,
        *,
        power: int = 0,
        task: int = 0,
        fault: fault_pb2.Fault | None = None,
        console: hypervisor_pb2.ConsoleInfo | None = None,
        instance_name: str = "",
        unsolicited: bool = False,
    ) -> None:
        assert self.bus is not None
        if power:
            self.powers[cmd.server_id] = power
        event = ev_pb.ServerEvent(
            event_id=uuid.uuid4().hex,
            server_id=cmd.server_id,
            generation=cmd.generation,
            host=cmd.host,
            kind=kind,
            power_state=power,
            occurred_at=_now(),
            command_id="" if unsolicited else cmd.command_id,
            request_id="" if unsolicited else cmd.request_id,
            task=task,
            instance_name=instance_name,
            agent_id=self.agent_id,
        )
        if fault is not None:
            event.fault.CopyFrom(fault)
        if console is not None:
            event.console.CopyFrom(console)
        await self.bus.publish(
            server_event_subject(cmd.host, cmd.server_id), event, msg_id=event.event_id
        )
