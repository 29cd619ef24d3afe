"""Agent commands: a typed `lifecycle.AgentCommand` to polyvisor.agent.v1.AgentCommand.

`build_command` sets what every command has; `fill` sets the verb's own part of the message:
by default the member of the `command` oneof named like the verb, with the command's own
fields copied onto the fields of the same name (Destroy.reason -> destroy.reason). A command
whose message needs more (Spawn) registers its own `fill`.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from functools import singledispatch

from polyvisor.agent.v1 import commands_pb2
from polyvisor.api import models as m
from polyvisor.api import spawnspec
from polyvisor.api.convert.enums import (
    CONSOLE_TYPE,
    DISK_BUS,
    DISK_FORMAT,
    VMWARE_ADAPTER_TYPE,
    VMWARE_DISK_TYPE,
)
from polyvisor.api.lifecycle.commands import (
    AgentCommand,
    AttachVolume,
    DetachVolume,
    OpenConsole,
    Rebuild,
    Spawn,
)
from polyvisor.api.spawnspec import Target
from polyvisor.common.convert import set_ts
from polyvisor.types.v1 import resources_pb2


def command_id(server_id: str, generation: int, verb: str) -> str:
    """Also the Nats-Msg-Id: one command per (server, generation, verb)."""
    return f"{server_id}:{generation}:{verb}"


def build_command(cmd: AgentCommand, target: Target) -> commands_pb2.AgentCommand:
    verb = cmd.verb.value
    if isinstance(cmd, OpenConsole):
        verb = f"{verb}:{cmd.session}"
    out = commands_pb2.AgentCommand(
        command_id=command_id(target.server.id, cmd.generation, verb),
        server_id=target.server.id,
        generation=cmd.generation,
        request_id=cmd.request_id,
        host=cmd.host,
    )
    set_ts(out.issued_at, datetime.now(UTC))
    if cmd.deadline is not None:
        set_ts(out.deadline, cmd.deadline)
    fill(cmd, out, target)
    return out


_COMMON = frozenset(f.name for f in fields(AgentCommand))


@singledispatch
def fill(cmd: AgentCommand, out: commands_pb2.AgentCommand, target: Target) -> None:
    sub = getattr(out, cmd.verb.value)
    sub.SetInParent()
    for f in fields(cmd):
        if f.name not in _COMMON:
            setattr(sub, f.name, getattr(cmd, f.name))


@fill.register(AttachVolume)
@fill.register(DetachVolume)
def _(cmd: AttachVolume | DetachVolume, out: commands_pb2.AgentCommand, target: Target) -> None:
    vol = getattr(out, cmd.verb.value).volume
    vol.volume_id = cmd.volume_id
    vol.kind = cmd.connection_kind
    vol.attrs.update(cmd.connection_attrs)


@fill.register
def _(cmd: OpenConsole, out: commands_pb2.AgentCommand, target: Target) -> None:
    out.open_console.password = cmd.password
    out.open_console.valid_for_s = cmd.valid_for_s


@fill.register
def _(cmd: Spawn, out: commands_pb2.AgentCommand, target: Target) -> None:
    if target.spec is None:
        raise ValueError(f"server {target.server.id} has no spawn spec")
    out.spawn.CopyFrom(_spawn(target.server, target.spec, target.user_data, cmd))
    # The ports bound to this host, as the network service resolved them.
    out.spawn.ports.extend(target.ports)


def _spawn(
    server: m.Server, spec: spawnspec.SpawnSpec, user_data: bytes | None, cmd: Spawn
) -> commands_pb2.SpawnServer:
    """The spawn message. The rendition is the one the scheduler named for the chosen host
    (from its agent's report): the agent fetches exactly that, checked against the sha256 of
    that rendition when the image service has it already. A command that names none (a
    placement by a scheduler that did not say) sends the image as it is: a host that cannot
    boot it refuses the spawn and the server is rescheduled."""
    image = spec.image
    if cmd.disk_format:
        fmt, disktype = cmd.disk_format, cmd.vmware_disktype
    else:
        fmt, disktype = image.disk_format, image.vmware_disktype
    sha, size = "", 0
    for r_fmt, r_type, r_sha, r_size in image.renditions:
        if r_fmt == fmt and (fmt != "VMDK" or r_type == disktype):
            sha, size = r_sha, r_size
    image_id, virtual_size = image.id, image.virtual_size
    if cmd.image_id and cmd.image_id != image.id:
        # The image carrying a moved server's disk: the boot facts are the spec's image's,
        # its bytes (and their sizes) the agent learns from the image service.
        image_id, virtual_size, sha, size = cmd.image_id, 0, "", 0
    out = commands_pb2.SpawnServer(
        name=server.name,
        hostname=spec.hostname or spawnspec.hostname_for(server.name),
        resources=resources_pb2.Resources(
            vcpus=server.flavor.vcpus,
            memory_mb=server.flavor.ram_mb,
            disk_gb=server.flavor.disk_gb,
        ),
        flavor_id=server.flavor.id,
        extra_specs=server.flavor.extra_specs,
        image=commands_pb2.SpawnImage(
            image_id=image_id,
            disk_format=DISK_FORMAT.value(fmt),
            vmware_disktype=VMWARE_DISK_TYPE.value(disktype),
            vmware_adaptertype=VMWARE_ADAPTER_TYPE.value(image.vmware_adaptertype),
            hw_disk_bus=DISK_BUS.value(image.hw_disk_bus),
            hw_vif_model=image.hw_vif_model,
            architecture=image.architecture,
            vm_mode=image.vm_mode,
            os_type=image.os_type,
            vmware_ostype=image.vmware_ostype,
            sha256=sha,
            size=size,
            virtual_size=virtual_size,
        ),
        public_keys=list(spec.public_keys),
        user_data=user_data or b"",
        metadata=server.metadata,
        project_id=server.project_id,
        user_id=server.user_id,
        availability_zone=server.availability_zone,
        console_type=CONSOLE_TYPE.value(spec.console_type or "VNC"),
        attempt=cmd.attempt,
        powered_off=cmd.powered_off,
    )
    if spec.root_volume is not None:  # boots from the volume: no image to fetch
        out.ClearField("image")
        root = out.root_volume
        root.volume_id = spec.root_volume.volume_id
        root.kind = spec.root_volume.kind
        root.attrs.update(spec.root_volume.attrs)
    return out


@fill.register
def _(cmd: Rebuild, out: commands_pb2.AgentCommand, target: Target) -> None:
    """The image to rebuild from, as the image service described it (kept in the server's
    `action_args`), in its own format: the host takes the rendition it boots (see
    agentkit's `command_handler`), checked against that rendition's own checksum."""
    raw = dict(target.server.action_args.get("image") or {})
    if not raw:
        raise ValueError(f"server {target.server.id} has no image to rebuild from")
    raw["renditions"] = tuple(tuple(r) for r in raw.get("renditions") or ())
    image = m.ImageInfo(**raw)
    out.rebuild.image.CopyFrom(
        commands_pb2.SpawnImage(
            image_id=image.id,
            disk_format=DISK_FORMAT.value(image.disk_format),
            vmware_disktype=VMWARE_DISK_TYPE.value(image.vmware_disktype),
            vmware_adaptertype=VMWARE_ADAPTER_TYPE.value(image.vmware_adaptertype),
            hw_disk_bus=DISK_BUS.value(image.hw_disk_bus),
            architecture=image.architecture,
            vm_mode=image.vm_mode,
            os_type=image.os_type,
            vmware_ostype=image.vmware_ostype,
            virtual_size=image.virtual_size,
        )
    )
    out.rebuild.disk_gb = target.server.flavor.disk_gb
    out.rebuild.powered_off = cmd.powered_off
