"""Agent commands (polyvisor.agent.v1.AgentCommand) from an outbox entry and the server."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf.duration_pb2 import Duration

from polyvisor.agent.v1 import commands_pb2
from polyvisor.api import image_checks, spawnspec
from polyvisor.api import models as m
from polyvisor.api.convert.enums import (
    CONSOLE_TYPE,
    DISK_BUS,
    DISK_FORMAT,
    VMWARE_ADAPTER_TYPE,
    VMWARE_DISK_TYPE,
)
from polyvisor.api.convert.times import set_ts
from polyvisor.types.v1 import resources_pb2


def command_id(server_id: str, generation: int, verb: str) -> str:
    """Also the Nats-Msg-Id: one command per (server, generation, verb)."""
    return f"{server_id}:{generation}:{verb}"


def build_command(
    payload: dict[str, Any],
    server: m.Server,
    spawn: dict[str, Any] | None = None,
    user_data: bytes | None = None,
    clean_shutdown_s: float = 0.0,
) -> commands_pb2.AgentCommand:
    verb = payload["verb"]
    generation = int(payload["generation"])
    cmd = commands_pb2.AgentCommand(
        command_id=command_id(server.id, generation, verb),
        server_id=server.id,
        generation=generation,
        request_id=payload.get("request_id") or "",
        host=payload["host"],
    )
    set_ts(cmd.issued_at, datetime.now(UTC))
    if payload.get("deadline"):
        set_ts(cmd.deadline, datetime.fromisoformat(payload["deadline"]))
    if verb == "spawn":
        cmd.spawn.CopyFrom(_spawn(server, spawn or {}, user_data, int(payload.get("attempt") or 1)))
    elif verb == "destroy":
        cmd.destroy.reason = payload.get("reason") or ""
    elif verb == "power_on":
        cmd.power_on.SetInParent()
    elif verb == "power_off":
        cmd.power_off.SetInParent()
        if clean_shutdown_s > 0:
            cmd.power_off.clean_shutdown_timeout.CopyFrom(Duration(seconds=int(clean_shutdown_s)))
    elif verb == "reboot":
        cmd.reboot.hard = bool(payload.get("hard"))
    elif verb == "refresh_console":
        cmd.refresh_console.type = CONSOLE_TYPE.value("VNC")
    else:
        raise ValueError(f"unknown command verb {verb!r}")
    return cmd


def _spawn(
    server: m.Server, spawn: dict[str, Any], user_data: bytes | None, attempt: int
) -> commands_pb2.SpawnServer:
    image = spawnspec.image_of(spawn)
    fmt, disktype = image_checks.rendition_for(image, server.hypervisor_type)
    sha, size = "", 0
    for r_fmt, r_type, r_sha, r_size in image.renditions:
        if r_fmt == fmt and (fmt != "VMDK" or r_type == disktype):
            sha, size = r_sha, r_size
    out = commands_pb2.SpawnServer(
        name=server.name,
        hostname=spawn.get("hostname") or spawnspec.hostname_for(server.name),
        resources=resources_pb2.Resources(
            vcpus=server.flavor.vcpus,
            memory_mb=server.flavor.ram_mb,
            disk_gb=server.flavor.disk_gb,
        ),
        flavor_id=server.flavor.id,
        extra_specs=server.flavor.extra_specs,
        image=commands_pb2.SpawnImage(
            image_id=image.id,
            disk_format=DISK_FORMAT.value(fmt),
            vmware_disktype=VMWARE_DISK_TYPE.value(disktype),
            vmware_adaptertype=VMWARE_ADAPTER_TYPE.value(image.vmware_adaptertype),
            hw_disk_bus=DISK_BUS.value(image.hw_disk_bus),
            architecture=image.architecture,
            vm_mode=image.vm_mode,
            os_type=image.os_type,
            vmware_ostype=image.vmware_ostype,
            sha256=sha,
            size=size,
            virtual_size=image.virtual_size,
        ),
        public_keys=list(spawn.get("public_keys") or []),
        user_data=user_data or b"",
        metadata=server.metadata,
        project_id=server.project_id,
        user_id=server.user_id,
        availability_zone=server.availability_zone,
        console_type=CONSOLE_TYPE.value(spawn.get("console_type") or "VNC"),
        attempt=attempt,
    )
    return out
