"""What the api asks the scheduler, and what it gets back (domain view)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from polyvisor.api import models as m
from polyvisor.api.spawnspec import SpawnSpec


@dataclass(frozen=True, slots=True)
class GroupHint:
    id: str
    policy: str  # AFFINITY, ANTI_AFFINITY
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PlacementRequest:
    request_id: str
    server_id: str
    project_id: str
    user_id: str
    flavor: m.ServerFlavor
    image: m.ImageInfo
    availability_zone: str = ""
    force_host: str = ""
    same_host: tuple[str, ...] = ()
    different_host: tuple[str, ...] = ()
    hypervisor_type: str = ""
    group: GroupHint | None = None
    ignore_hosts: tuple[str, ...] = ()
    max_alternates: int = 0
    # What the host's driver must do for this server (the scheduler filters on it).
    key_injection: bool = False
    user_data: bool = False
    console_type: str = ""  # VNC, SPICE, ... ("" = any)
    # (name, physical network) of each network the server's ports are on: the host must
    # reach every one.
    networks: tuple[tuple[str, str], ...] = ()
    # The host must enforce the security groups of the server's ports.
    security_groups: bool = False
    # Optional driver verbs the host must report (a boot volume's kind, booting from it).
    capabilities: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Placement:
    """The claimed host, the rendition of the image it boots, and alternates for
    reschedules (each with its own rendition)."""

    host: str
    hostname: str = ""
    hypervisor_type: str = ""
    availability_zone: str = ""
    alternates: tuple[m.Alternate, ...] = ()
    disk_format: str = ""  # RAW, QCOW2, VMDK ("" = the scheduler did not say)
    vmware_disktype: str = ""


@dataclass(frozen=True, slots=True)
class NoValidHost:
    """No host fits; `explanation` is the scheduler's per-filter account (JSON-able)."""

    summary: str
    explanation: dict[str, Any] = field(default_factory=dict)


def request_from_spawn(
    server: m.Server,
    spec: SpawnSpec,
    request_id: str,
    members: tuple[str, ...],
    max_alternates: int,
) -> PlacementRequest:
    hints = spec.hints
    group = GroupHint(hints.group, hints.group_policy, members) if hints.group else None
    return PlacementRequest(
        request_id=request_id,
        server_id=server.id,
        project_id=server.project_id,
        user_id=server.user_id,
        flavor=server.flavor,
        image=spec.image,
        availability_zone=server.availability_zone,
        force_host=hints.force_host,
        same_host=hints.same_host,
        different_host=hints.different_host,
        hypervisor_type=hints.hypervisor_type,
        group=group,
        ignore_hosts=tuple(server.tried_hosts),
        max_alternates=max_alternates,
        key_injection=bool(spec.public_keys),
        user_data=server.has_user_data,
        console_type=spec.console_type,
        networks=tuple(
            dict.fromkeys(
                (n.network_name or n.network_id, n.physical_network)
                for n in spec.plugged()
                if n.physical_network
            )
        ),
        security_groups=spec.require_security_groups,
        capabilities=spec.root_volume.capabilities() if spec.root_volume else (),
    )
