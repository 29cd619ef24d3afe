"""Commands and events as the runtime sees them: plain dataclasses, no protobuf.

``convert`` turns the wire messages (polyvisor.agent.v1.AgentCommand,
polyvisor.events.v1.ServerEvent) into these and back.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from polyvisor.agentkit.driver import Console, ImageRef, PowerState, RenditionWanted
from polyvisor.agentkit.volume_capabilities import VolumeConnection
from polyvisor.common.server_enums import EventKind, Task, Verb

__all__ = [
    "Command",
    "EventKind",
    "Fault",
    "FaultCode",
    "MigrateRequest",
    "RebuildRequest",
    "ResizeRequest",
    "ServerEventOut",
    "SnapshotRequest",
    "SpawnRequest",
    "Task",
    "Verb",
]


class FaultCode(enum.StrEnum):
    SPAWN_FAILED = "SPAWN_FAILED"
    IMAGE_UNAVAILABLE = "IMAGE_UNAVAILABLE"
    HOST_UNREACHABLE = "HOST_UNREACHABLE"
    POWER_FAILED = "POWER_FAILED"
    DESTROY_FAILED = "DESTROY_FAILED"
    VANISHED = "VANISHED"
    INTERNAL = "INTERNAL"
    SNAPSHOT_FAILED = "SNAPSHOT_FAILED"
    REBUILD_FAILED = "REBUILD_FAILED"
    RESIZE_FAILED = "RESIZE_FAILED"
    MIGRATION_FAILED = "MIGRATION_FAILED"
    ATTACH_FAILED = "ATTACH_FAILED"
    DETACH_FAILED = "DETACH_FAILED"


@dataclass(frozen=True, slots=True)
class Fault:
    code: FaultCode
    message: str
    host: str = ""
    details: str = ""


@dataclass(frozen=True, slots=True)
class SpawnRequest:
    name: str
    hostname: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    # The image to boot (None: the server boots from `root_volume`).
    image: ImageRef | None
    # The rendition to fetch and boot: the scheduler chose it from the host's reported
    # disk_formats, the spawn command names it (None with `root_volume`).
    rendition: RenditionWanted | None
    expected_sha256: str = ""
    public_keys: tuple[str, ...] = ()
    user_data: bytes = b""
    metadata: Mapping[str, str] = field(default_factory=dict)
    attempt: int = 1
    # The volume the server boots from, attached as it is (the boot_volume capability).
    root_volume: VolumeConnection | None = None
    # Made but left powered off (an evacuation of a stopped server): never started.
    powered_off: bool = False

    def guest(self, server_id: str) -> dict[str, Any]:
        """The guest's fields (GuestSpec's), whatever its root disk comes from."""
        return {
            "server_id": server_id,
            "name": self.name,
            "hostname": self.hostname,
            "vcpus": self.vcpus,
            "memory_mb": self.memory_mb,
            "disk_gb": self.disk_gb,
            "ssh_public_keys": self.public_keys,
            "user_data": self.user_data,
            "metadata": dict(self.metadata),
            "powered_off": self.powered_off,
        }


@dataclass(frozen=True, slots=True)
class SnapshotRequest:
    """Upload the disk to the (QUEUED) image `image_id`; `then_destroy`: shelve."""

    image_id: str
    then_destroy: bool = False


@dataclass(frozen=True, slots=True)
class RebuildRequest:
    image: ImageRef
    disk_gb: int
    expected_sha256: str = ""
    # The rebuilt server is left powered off (it was stopped): never started.
    powered_off: bool = False


@dataclass(frozen=True, slots=True)
class ResizeRequest:
    """The size to resize (or revert) to; `dest_host`: the host the server moves to."""

    vcpus: int
    memory_mb: int
    disk_gb: int
    dest_host: str = ""


@dataclass(frozen=True, slots=True)
class MigrateRequest:
    """A live migration to `dest_host`; `dest_uri`: how to reach it ("": the agent's own
    configuration says); `block`: copy the disks too."""

    dest_host: str
    dest_uri: str = ""
    block: bool = True


@dataclass(frozen=True, slots=True)
class Command:
    command_id: str
    server_id: str
    generation: int
    verb: Verb
    request_id: str = ""
    host: str = ""
    deadline: float | None = None  # epoch seconds
    spawn: SpawnRequest | None = None
    hard: bool = False  # reboot
    clean_shutdown_timeout_s: float = 0.0  # power off
    snapshot: SnapshotRequest | None = None
    rebuild: RebuildRequest | None = None
    resize: ResizeRequest | None = None  # resize, revert_resize
    migrate: MigrateRequest | None = None  # live_migrate
    console_password: str = field(default="", repr=False)  # open console
    console_valid_for_s: float = 0.0  # open console
    port_id: str = ""  # attach_port, detach_port
    volume: VolumeConnection | None = None  # attach_volume, detach_volume

    def expired(self, now: float | None = None) -> bool:
        return self.deadline is not None and (now or time.time()) > self.deadline


@dataclass(frozen=True, slots=True)
class ServerEventOut:
    """One event for events.server.<id>; ``event_id`` doubles as the Nats-Msg-Id."""

    event_id: str
    server_id: str
    generation: int
    kind: EventKind
    host: str
    power_state: PowerState | None = None
    fault: Fault | None = None
    console: Console | None = None
    command_id: str = ""
    request_id: str = ""
    task: Task | None = None
    instance_name: str = ""
    esxi_host: str = ""
    agent_id: str = ""
    occurred_at: float = field(default_factory=time.time)
    progress: int = 0  # PROGRESS of a counted step: percent done
    dest_host: str = ""  # MIGRATED by a live migration: where the server runs now
