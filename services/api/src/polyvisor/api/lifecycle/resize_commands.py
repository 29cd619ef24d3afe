"""The commands a resize or a move sends to a host, built from the server and its
`ResizeState` (`resize`), and the new flavor as a resize's arguments carry it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from polyvisor.api import models as m
from polyvisor.api.lifecycle.commands import AgentCommand, LiveMigrate, Resize, RevertResize
from polyvisor.api.resize_state import Resize as ResizeState

__all__ = ["flavor_from_args", "live_command", "resize_command", "revert_command"]


def flavor_from_args(args: Mapping[str, Any]) -> m.ServerFlavor:
    f = dict(args.get("flavor") or {})
    return m.ServerFlavor(
        id=str(f.get("id", "")),
        name=str(f.get("name", "")),
        vcpus=int(f.get("vcpus", 0)),
        ram_mb=int(f.get("ram_mb", 0)),
        disk_gb=int(f.get("disk_gb", 0)),
        extra_specs=dict(f.get("extra_specs") or {}),
    )


def resize_command(
    server: m.Server, r: ResizeState, generation: int, deadline: datetime | None, request_id: str
) -> AgentCommand:
    f = server.flavor
    return Resize(
        r.source_host,
        generation,
        deadline,
        request_id,
        vcpus=f.vcpus,
        memory_mb=f.ram_mb,
        disk_gb=f.disk_gb,
        dest_host=r.dest_host if r.moves else "",
    )


def live_command(
    r: ResizeState, generation: int, deadline: datetime | None, request_id: str
) -> AgentCommand:
    return LiveMigrate(r.source_host, generation, deadline, request_id, dest_host=r.dest_host)


def revert_command(
    server: m.Server, r: ResizeState, generation: int, deadline: datetime | None, request_id: str
) -> AgentCommand:
    f = r.old_flavor
    return RevertResize(
        server.host,
        generation,
        deadline,
        request_id,
        vcpus=f.vcpus,
        memory_mb=f.ram_mb,
        disk_gb=f.disk_gb,
        dest_host=r.source_host if r.moves else "",
    )
