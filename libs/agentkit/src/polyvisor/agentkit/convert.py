"""Wire messages (polyvisor.agent.v1, polyvisor.events.v1) to the runtime's dataclasses and back.

Protobuf types stop here: the runtime and the drivers see only dataclasses.

One concern: the wire format of the agent's contracts (commands, events, host reports,
queries) to dataclasses and back; each message is a short mapping.
"""

from __future__ import annotations

import time
from dataclasses import replace

from google.protobuf.timestamp_pb2 import Timestamp

from polyvisor.agent.v1 import callback_pb2, commands_pb2, host_report_pb2, queries_pb2
from polyvisor.agentkit.commands import (
    Command,
    EventKind,
    Fault,
    MigrateRequest,
    RebuildRequest,
    ResizeRequest,
    ServerEventOut,
    SnapshotRequest,
    SpawnRequest,
    Verb,
)
from polyvisor.agentkit.driver import (
    ClusterReport,
    HostInfo,
    ImageRef,
    Inventory,
    MemberHost,
    PowerState,
    RenditionWanted,
)
from polyvisor.agentkit.reconcile_plan import Assigned
from polyvisor.agentkit.volume_capabilities import VolumeConnection
from polyvisor.common.convert import esxi_host
from polyvisor.events.v1 import server_events_pb2
from polyvisor.types.v1 import (
    disk_pb2,
    fault_pb2,
    hypervisor_pb2,
    resources_pb2,
    server_status_pb2,
)

__all__ = [
    "InvalidCommand",
    "assigned_from_proto",
    "command_from_proto",
    "disk_format_name",
    "disk_format_to_proto",
    "event_kind_from_proto",
    "event_to_proto",
    "host_report_to_proto",
    "power_state_from_proto",
    "power_state_to_proto",
    "vmware_disktype_to_proto",
]

_DISK_FORMATS = {
    disk_pb2.DISK_FORMAT_RAW: "raw",
    disk_pb2.DISK_FORMAT_QCOW2: "qcow2",
    disk_pb2.DISK_FORMAT_VMDK: "vmdk",
    disk_pb2.DISK_FORMAT_ISO: "iso",
}
_DISK_FORMATS_BACK = {v: k for k, v in _DISK_FORMATS.items()}
_VMWARE_DISKTYPES = {
    disk_pb2.VMWARE_DISK_TYPE_SPARSE: "sparse",
    disk_pb2.VMWARE_DISK_TYPE_STREAM_OPTIMIZED: "streamOptimized",
    disk_pb2.VMWARE_DISK_TYPE_PREALLOCATED: "preallocated",
}
_VMWARE_DISKTYPES_BACK = {v: k for k, v in _VMWARE_DISKTYPES.items()}
_VMWARE_ADAPTERS = {
    disk_pb2.VMWARE_ADAPTER_TYPE_LSI_LOGIC: "lsiLogic",
    disk_pb2.VMWARE_ADAPTER_TYPE_BUS_LOGIC: "busLogic",
    disk_pb2.VMWARE_ADAPTER_TYPE_IDE: "ide",
    disk_pb2.VMWARE_ADAPTER_TYPE_PARA_VIRTUAL: "paraVirtual",
    disk_pb2.VMWARE_ADAPTER_TYPE_LSI_LOGIC_SAS: "lsiLogicsas",
}
_DISK_BUSES = {
    disk_pb2.DISK_BUS_VIRTIO: "virtio",
    disk_pb2.DISK_BUS_SCSI: "scsi",
    disk_pb2.DISK_BUS_IDE: "ide",
    disk_pb2.DISK_BUS_SATA: "sata",
    disk_pb2.DISK_BUS_USB: "usb",
}
_HYPERVISOR_TYPES = {
    "kvm": hypervisor_pb2.HYPERVISOR_TYPE_KVM,
    "qemu": hypervisor_pb2.HYPERVISOR_TYPE_QEMU,
    "vmware": hypervisor_pb2.HYPERVISOR_TYPE_VMWARE,
    "xen": hypervisor_pb2.HYPERVISOR_TYPE_XEN,
    "lxc": hypervisor_pb2.HYPERVISOR_TYPE_LXC,
    "hyperv": hypervisor_pb2.HYPERVISOR_TYPE_HYPERV,
    "baremetal": hypervisor_pb2.HYPERVISOR_TYPE_BAREMETAL,
}
_POWER = {
    PowerState.RUNNING: hypervisor_pb2.POWER_STATE_RUNNING,
    PowerState.SHUTDOWN: hypervisor_pb2.POWER_STATE_SHUTDOWN,
    PowerState.PAUSED: hypervisor_pb2.POWER_STATE_PAUSED,
    PowerState.SUSPENDED: hypervisor_pb2.POWER_STATE_SUSPENDED,
    PowerState.CRASHED: hypervisor_pb2.POWER_STATE_CRASHED,
    PowerState.NOSTATE: hypervisor_pb2.POWER_STATE_NOSTATE,
    PowerState.UNKNOWN: hypervisor_pb2.POWER_STATE_UNKNOWN,
}
_POWER_BACK = {v: k for k, v in _POWER.items()}
_CONSOLES = {
    "vnc": hypervisor_pb2.CONSOLE_TYPE_VNC,
    "spice": hypervisor_pb2.CONSOLE_TYPE_SPICE,
    "serial": hypervisor_pb2.CONSOLE_TYPE_SERIAL,
    "webmks": hypervisor_pb2.CONSOLE_TYPE_WEBMKS,
}
_ESXI_STATES = {
    "connected": hypervisor_pb2.ESXI_CONNECTION_STATE_CONNECTED,
    "disconnected": hypervisor_pb2.ESXI_CONNECTION_STATE_DISCONNECTED,
    "notResponding": hypervisor_pb2.ESXI_CONNECTION_STATE_NOT_RESPONDING,
}


# Commands with no fields of their own: the oneof member is named like the verb.
_SIMPLE_VERBS = {v.value: v for v in (Verb.PAUSE, Verb.UNPAUSE, Verb.SUSPEND, Verb.RESUME)}


class InvalidCommand(ValueError):
    """The command message cannot be acted on (no verb, no server id, bad values)."""


def disk_format_name(value: int) -> str:
    return _DISK_FORMATS.get(value, "")


def disk_format_to_proto(name: str) -> int:
    return int(_DISK_FORMATS_BACK.get(name, disk_pb2.DISK_FORMAT_UNSPECIFIED))


def vmware_disktype_to_proto(name: str) -> int:
    return int(_VMWARE_DISKTYPES_BACK.get(name, disk_pb2.VMWARE_DISK_TYPE_UNSPECIFIED))


def power_state_to_proto(state: PowerState | None) -> int:
    return int(hypervisor_pb2.POWER_STATE_UNSPECIFIED if state is None else _POWER[state])


def power_state_from_proto(value: int) -> PowerState | None:
    return _POWER_BACK.get(value)


def _ts(t: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(t * 1e9))
    return ts


# ---------------------------------------------------------------------- commands


def command_from_proto(msg: commands_pb2.AgentCommand) -> Command:
    if not msg.server_id:
        raise InvalidCommand("command without server_id")
    which = msg.WhichOneof("command")
    if which is None:
        raise InvalidCommand("command without a verb")
    deadline = msg.deadline.ToNanoseconds() / 1e9 if msg.HasField("deadline") else None
    base = {
        "command_id": msg.command_id,
        "server_id": msg.server_id,
        "generation": msg.generation,
        "request_id": msg.request_id,
        "host": msg.host,
        "deadline": deadline,
    }
    if which == "spawn":
        return Command(verb=Verb.SPAWN, spawn=_spawn_from_proto(msg.spawn), **base)
    if which == "destroy":
        return Command(verb=Verb.DESTROY, **base)
    if which == "power_on":
        return Command(verb=Verb.POWER_ON, **base)
    if which == "power_off":
        timeout = msg.power_off.clean_shutdown_timeout.ToNanoseconds() / 1e9
        return Command(verb=Verb.POWER_OFF, clean_shutdown_timeout_s=max(0.0, timeout), **base)
    if which == "reboot":
        return Command(verb=Verb.REBOOT, hard=msg.reboot.hard, **base)
    if which == "refresh_console":
        return Command(verb=Verb.REFRESH_CONSOLE, **base)
    if which == "snapshot":
        if not msg.snapshot.image_id:
            raise InvalidCommand("snapshot without an image id")
        req = SnapshotRequest(msg.snapshot.image_id, msg.snapshot.then_destroy)
        return Command(verb=Verb.SNAPSHOT, snapshot=req, **base)
    if which == "rebuild":
        if msg.rebuild.disk_gb < 0:
            raise InvalidCommand("rebuild with a negative disk_gb")
        ref = _image_ref(msg.rebuild.image)
        rebuild = RebuildRequest(
            ref,
            msg.rebuild.disk_gb,
            expected_sha256=msg.rebuild.image.sha256.lower(),
            powered_off=msg.rebuild.powered_off,
        )
        return Command(verb=Verb.REBUILD, rebuild=rebuild, **base)
    if which == "open_console":
        oc = msg.open_console
        if not 1 <= len(oc.password) <= 8:
            raise InvalidCommand("a console session's password is 1 to 8 characters")
        return Command(
            verb=Verb.OPEN_CONSOLE,
            console_password=oc.password,
            console_valid_for_s=oc.valid_for_s,
            **base,
        )
    if which in _SIMPLE_VERBS:
        return Command(verb=_SIMPLE_VERBS[which], **base)
    if which in ("resize", "revert_resize"):
        r = getattr(msg, which)
        if r.vcpus <= 0 or r.memory_mb <= 0 or r.disk_gb < 0:
            raise InvalidCommand(f"{which} needs positive vcpus and memory_mb")
        size = ResizeRequest(r.vcpus, r.memory_mb, r.disk_gb, r.dest_host)
        verb = Verb.RESIZE if which == "resize" else Verb.REVERT_RESIZE
        return Command(verb=verb, resize=size, **base)
    if which == "confirm_resize":
        return Command(verb=Verb.CONFIRM_RESIZE, **base)
    if which == "live_migrate":
        m = msg.live_migrate
        if not m.dest_host:
            raise InvalidCommand("live_migrate without a destination host")
        move = MigrateRequest(m.dest_host, m.dest_uri, m.block_migration)
        return Command(verb=Verb.LIVE_MIGRATE, migrate=move, **base)
    if which == "abort_migration":
        return Command(verb=Verb.ABORT_MIGRATION, **base)
    if which in ("attach_port", "detach_port"):
        port_id = getattr(msg, which).port_id
        if not port_id:
            raise InvalidCommand(f"{which} without a port id")
        return Command(verb=Verb(which), port_id=port_id, **base)
    if which in ("attach_volume", "detach_volume"):
        conn = _volume(getattr(msg, which).volume, which)
        return Command(verb=Verb(which), volume=conn, **base)
    raise InvalidCommand(f"unknown verb {which}")


def _volume(v: commands_pb2.VolumeConnection, what: str) -> VolumeConnection:
    if not v.volume_id or not v.kind:
        raise InvalidCommand(f"{what} without a volume id and kind")
    return VolumeConnection(v.volume_id, v.kind, dict(v.attrs))


def _image_ref(img: commands_pb2.SpawnImage) -> ImageRef:
    if not img.image_id:
        raise InvalidCommand("a command names no image")
    return ImageRef(
        image_id=img.image_id,
        disk_format=_DISK_FORMATS.get(img.disk_format, ""),
        vmware_disktype=_VMWARE_DISKTYPES.get(img.vmware_disktype, ""),
        vmware_adaptertype=_VMWARE_ADAPTERS.get(img.vmware_adaptertype, ""),
        hw_disk_bus=_DISK_BUSES.get(img.hw_disk_bus, ""),
        hw_vif_model=img.hw_vif_model,
        architecture=img.architecture,
        os_type=img.os_type,
        min_disk_gb=0,
        virtual_size=img.virtual_size,
    )


def _spawn_from_proto(s: commands_pb2.SpawnServer) -> SpawnRequest:
    img = s.image
    if s.resources.vcpus <= 0 or s.resources.memory_mb <= 0:
        raise InvalidCommand("spawn needs vcpus and memory_mb above zero")
    if s.resources.disk_gb < 0:
        raise InvalidCommand("spawn with a negative disk_gb")
    if s.HasField("root_volume"):  # boots from the volume: no image
        if img.image_id:
            raise InvalidCommand("spawn names both an image and a root volume")
        root = _volume(s.root_volume, "spawn from a volume")
        return replace(_spawn_request(s, None, None), root_volume=root)
    if not img.image_id:
        raise InvalidCommand("spawn without an image")
    if img.disk_format not in _DISK_FORMATS:
        raise InvalidCommand("spawn names no rendition of its image (disk_format unset)")
    ref = _image_ref(img)
    return _spawn_request(s, ref, RenditionWanted(ref.disk_format, ref.vmware_disktype))


def _spawn_request(
    s: commands_pb2.SpawnServer, ref: ImageRef | None, rendition: RenditionWanted | None
) -> SpawnRequest:
    return SpawnRequest(
        name=s.name,
        hostname=s.hostname or s.name,
        vcpus=s.resources.vcpus,
        memory_mb=s.resources.memory_mb,
        disk_gb=s.resources.disk_gb,
        image=ref,
        rendition=rendition,
        expected_sha256=s.image.sha256.lower(),
        public_keys=tuple(s.public_keys),
        user_data=bytes(s.user_data),
        metadata=dict(s.metadata),
        attempt=s.attempt or 1,
        powered_off=s.powered_off,
    )


# ---------------------------------------------------------------------- events


def event_to_proto(ev: ServerEventOut) -> server_events_pb2.ServerEvent:
    msg = server_events_pb2.ServerEvent(
        event_id=ev.event_id,
        server_id=ev.server_id,
        generation=ev.generation,
        host=ev.host,
        kind=server_events_pb2.ServerEventKind.Value(f"SERVER_EVENT_KIND_{ev.kind.value}"),
        power_state=power_state_to_proto(ev.power_state),
        esxi_host=ev.esxi_host,
        command_id=ev.command_id,
        request_id=ev.request_id,
        instance_name=ev.instance_name,
        agent_id=ev.agent_id,
        progress=ev.progress,
        dest_host=ev.dest_host,
    )
    msg.occurred_at.CopyFrom(_ts(ev.occurred_at))
    if ev.task is not None:
        msg.task = server_status_pb2.ServerTask.Value(f"SERVER_TASK_{ev.task.value}")
    if ev.fault is not None:
        msg.fault.CopyFrom(_fault_to_proto(ev.fault, ev.occurred_at))
    if ev.console is not None:
        msg.console.CopyFrom(
            hypervisor_pb2.ConsoleInfo(
                type=_CONSOLES.get(ev.console.type, hypervisor_pb2.CONSOLE_TYPE_UNSPECIFIED),
                host=ev.console.host,
                port=ev.console.port,
            )
        )
    return msg


def _fault_to_proto(f: Fault, when: float) -> fault_pb2.Fault:
    out = fault_pb2.Fault(
        code=fault_pb2.FaultCode.Value(f"FAULT_CODE_{f.code.value}"),
        message=f.message,
        host=f.host,
        details=f.details,
    )
    out.time.CopyFrom(_ts(when))
    return out


def event_kind_from_proto(value: int) -> EventKind:
    """The dataclass kind of a wire event kind (tests and tools read events back)."""
    name = server_events_pb2.ServerEventKind.Name(value).removeprefix("SERVER_EVENT_KIND_")
    return EventKind(name)


# ---------------------------------------------------------------------- host report


def host_report_to_proto(
    info: HostInfo,
    *,
    host_id: str,
    agent_id: str,
    sequence: int,
    interval_s: float,
    server_count: int,
    host_ip: str = "",
    availability_zone: str = "",
    incarnation: str = "",
) -> host_report_pb2.HostReport:
    report = host_report_pb2.HostReport(
        host_id=host_id,
        hostname=info.hostname,
        hypervisor_type=_HYPERVISOR_TYPES.get(
            info.hypervisor_type, hypervisor_pb2.HYPERVISOR_TYPE_UNSPECIFIED
        ),
        hypervisor_version=info.hypervisor_version,
        state=(
            host_report_pb2.CONNECTION_STATE_CONNECTED
            if info.connected
            else host_report_pb2.CONNECTION_STATE_DISCONNECTED
        ),
        inventories=[
            _inventory(resources_pb2.RESOURCE_CLASS_VCPU, info.vcpus, info.used_vcpus),
            _inventory(resources_pb2.RESOURCE_CLASS_MEMORY_MB, info.memory_mb, info.used_memory_mb),
            _inventory(resources_pb2.RESOURCE_CLASS_DISK_GB, info.disk_gb, info.used_disk_gb),
        ],
        supported_instances=[
            hypervisor_pb2.SupportedInstance(
                architecture=s.architecture,
                hypervisor_type=_HYPERVISOR_TYPES.get(
                    s.hypervisor_type, hypervisor_pb2.HYPERVISOR_TYPE_UNSPECIFIED
                ),
                vm_mode=s.vm_mode,
            )
            for s in info.supported_instances
        ],
        disk_formats=[
            disk_pb2.Rendition(
                disk_format=_DISK_FORMATS_BACK[r.disk_format],
                vmware_disktype=_VMWARE_DISKTYPES_BACK.get(r.vmware_disktype, 0),
            )
            for r in info.disk_formats
            if r.disk_format in _DISK_FORMATS_BACK
        ],
        capabilities=list(info.capabilities),
        physical_networks=list(info.physical_networks),
        resource_class=info.resource_class,
        features=hypervisor_pb2.HypervisorFeatures(
            console_types=[_CONSOLES[c] for c in info.features.console_types if c in _CONSOLES],
            key_injection=info.features.key_injection,
            user_data=info.features.user_data,
            power_on=info.features.power_on_off,
            power_off=info.features.power_on_off,
            reboot_soft=info.features.reboot_soft,
            reboot_hard=info.features.reboot_hard,
            security_groups=info.features.security_groups,
            vnc_port_range=hypervisor_pb2.PortRange(
                min=info.vnc_port_range[0], max=info.vnc_port_range[1]
            ),
        ),
        availability_zone=availability_zone,
        host_ip=host_ip,
        sequence=sequence,
        agent_id=agent_id,
        server_count=server_count,
        incarnation=incarnation,
    )
    if info.cluster is not None:
        report.cluster.CopyFrom(_cluster(info.cluster))
    report.reported_at.CopyFrom(_ts(time.time()))
    report.report_interval.FromNanoseconds(int(interval_s * 1e9))
    return report


def _inventory(rc: int, inv: Inventory, used: int) -> resources_pb2.Inventory:
    return resources_pb2.Inventory(
        resource_class=rc,
        total=inv.total,
        reserved=inv.reserved,
        allocation_ratio=inv.allocation_ratio,
        min_unit=inv.min_unit,
        max_unit=inv.max_unit,
        step_size=inv.step_size,
        used=used,
    )


def _cluster(c: ClusterReport) -> hypervisor_pb2.ClusterReport:
    return hypervisor_pb2.ClusterReport(
        name=c.name, drs_enabled=bool(c.drs_enabled), hosts=[_member(h) for h in c.hosts]
    )


def _member(h: MemberHost) -> hypervisor_pb2.EsxiHost:
    state = _ESXI_STATES.get(h.connection_state, hypervisor_pb2.ESXI_CONNECTION_STATE_UNSPECIFIED)
    return esxi_host(h, state)


# ---------------------------------------------------------------------- callback


def assigned_from_proto(s: callback_pb2.AssignedServer) -> Assigned:
    return Assigned(
        server_id=s.server_id,
        generation=s.generation,
        desired_power_state=_POWER_BACK.get(s.desired_power_state),
        state=server_status_pb2.ServerState.Name(s.state).removeprefix("SERVER_STATE_"),
        task=server_status_pb2.ServerTask.Name(s.task).removeprefix("SERVER_TASK_"),
        instance_name=s.instance_name,
        metadata=dict(s.metadata),
    )


# ---------------------------------------------------------------------- queries


def console_request_from_bytes(data: bytes) -> tuple[str, int]:
    """(server id, lines) of an agent.v1.ConsoleOutputRequest; InvalidCommand if it is not one."""
    try:
        req = queries_pb2.ConsoleOutputRequest.FromString(data)
    except Exception as exc:
        raise InvalidCommand("not a console output request") from exc
    if not req.server_id:
        raise InvalidCommand("console output request without server_id")
    return req.server_id, max(0, req.lines)


def console_reply_to_bytes(output: str = "", error: str = "", error_kind: str = "") -> bytes:
    reply = queries_pb2.ConsoleOutputReply(output=output, error=error, error_kind=error_kind)
    return bytes(reply.SerializeToString())
