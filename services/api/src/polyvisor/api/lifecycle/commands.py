"""The commands the api sends to a host's agent (polyvisor.agent.v1.AgentCommand), typed.

One class per verb. The state machine builds them; the outbox keeps them (`store.outbox`
encodes each by its fields); `convert.commands` turns them into the protobuf message. A new
verb is a new subclass here and its `convert.commands.fill` registration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from polyvisor.common.server_enums import Verb

__all__ = [
    "COMMANDS",
    "AbortMigration",
    "AgentCommand",
    "AttachPort",
    "AttachVolume",
    "ConfirmResize",
    "Destroy",
    "DetachPort",
    "DetachVolume",
    "LiveMigrate",
    "OpenConsole",
    "Pause",
    "PowerOff",
    "PowerOn",
    "Reboot",
    "Rebuild",
    "Resize",
    "Resume",
    "RevertResize",
    "Snapshot",
    "Spawn",
    "Suspend",
    "Unpause",
    "Verb",
]


@dataclass(frozen=True, slots=True)
class AgentCommand:
    """A command to the agent of `host`, issued at `generation` (every command is)."""

    verb: ClassVar[Verb]

    host: str
    generation: int
    deadline: datetime | None = None
    request_id: str = ""

    def __init_subclass__(cls) -> None:
        # No super(): dataclass(slots=True) replaces the class, and object's does nothing.
        verb = cls.__dict__.get("verb")
        if verb is not None:
            # dataclass(slots=True) defines each class twice: the second one is kept.
            known = COMMANDS.get(verb)
            if known is not None and known.__qualname__ != cls.__qualname__:
                raise TypeError(f"two commands for verb {verb!r}")
            COMMANDS[verb] = cls


# Every command class by its verb (filled as they are defined).
COMMANDS: dict[Verb, type[AgentCommand]] = {}


@dataclass(frozen=True, slots=True)
class Spawn(AgentCommand):
    verb: ClassVar[Verb] = Verb.SPAWN
    # Which build attempt this is (1 + reschedules so far).
    attempt: int = 1
    # The rendition of the image the host boots, as the scheduler named it from the host's
    # report: RAW, QCOW2, VMDK and, for a VMDK, its sub-format ("" = not named).
    disk_format: str = ""
    vmware_disktype: str = ""
    # Boot this image instead of the spawn spec's (a move across hypervisor types: the image
    # that carries the server's disk); "" = the spec's.
    image_id: str = ""
    # Make it but leave it powered off (the build of a server asked to be off: an evacuation
    # of a stopped one); SPAWNED then reports it off.
    powered_off: bool = False


@dataclass(frozen=True, slots=True)
class Destroy(AgentCommand):
    verb: ClassVar[Verb] = Verb.DESTROY
    reason: str = ""


@dataclass(frozen=True, slots=True)
class PowerOn(AgentCommand):
    verb: ClassVar[Verb] = Verb.POWER_ON


@dataclass(frozen=True, slots=True)
class PowerOff(AgentCommand):
    verb: ClassVar[Verb] = Verb.POWER_OFF


@dataclass(frozen=True, slots=True)
class Reboot(AgentCommand):
    verb: ClassVar[Verb] = Verb.REBOOT
    hard: bool = False


@dataclass(frozen=True, slots=True)
class Snapshot(AgentCommand):
    """Upload the server's disk to the image `image_id` (made QUEUED by the api); with
    `then_destroy` (shelve), remove the VM once the image holds the disk."""

    verb: ClassVar[Verb] = Verb.SNAPSHOT
    image_id: str = ""
    then_destroy: bool = False


@dataclass(frozen=True, slots=True)
class Rebuild(AgentCommand):
    """Replace the server's disk with a new one made from the image `image_id` (its
    description, as the image service gave it, is in the server's `action_args`); then start
    it unless `powered_off`."""

    verb: ClassVar[Verb] = Verb.REBUILD
    image_id: str = ""
    # Leave it powered off once rebuilt (it was SHUTOFF: a rebuild keeps a stopped server
    # stopped, as Nova's does); REBUILT then reports it off.
    powered_off: bool = False


@dataclass(frozen=True, slots=True)
class OpenConsole(AgentCommand):
    """A console session: the server's VNC server takes `password` for `valid_for_s`
    seconds. Not a transition (the server's state does not change) and not kept in the
    outbox (the password is never stored): published as the token is redeemed. `session`
    tells two sessions at one generation apart."""

    verb: ClassVar[Verb] = Verb.OPEN_CONSOLE
    password: str = field(default="", repr=False)
    valid_for_s: float = 0.0
    session: str = ""


@dataclass(frozen=True, slots=True)
class Pause(AgentCommand):
    verb: ClassVar[Verb] = Verb.PAUSE


@dataclass(frozen=True, slots=True)
class Unpause(AgentCommand):
    verb: ClassVar[Verb] = Verb.UNPAUSE


@dataclass(frozen=True, slots=True)
class Suspend(AgentCommand):
    verb: ClassVar[Verb] = Verb.SUSPEND


@dataclass(frozen=True, slots=True)
class Resume(AgentCommand):
    verb: ClassVar[Verb] = Verb.RESUME


@dataclass(frozen=True, slots=True)
class Resize(AgentCommand):
    """Cold resize on the server's host: the new size; the host keeps what a revert needs."""

    verb: ClassVar[Verb] = Verb.RESIZE
    vcpus: int = 0
    memory_mb: int = 0
    disk_gb: int = 0
    # Another host the server moves to ("": it stays on this one).
    dest_host: str = ""


@dataclass(frozen=True, slots=True)
class ConfirmResize(AgentCommand):
    verb: ClassVar[Verb] = Verb.CONFIRM_RESIZE


@dataclass(frozen=True, slots=True)
class RevertResize(AgentCommand):
    """Back to the old size (what `Resize` kept)."""

    verb: ClassVar[Verb] = Verb.REVERT_RESIZE
    vcpus: int = 0
    memory_mb: int = 0
    disk_gb: int = 0
    # The host it returns to when the resize moved it ("": it stays on this one).
    dest_host: str = ""


@dataclass(frozen=True, slots=True)
class LiveMigrate(AgentCommand):
    """Move the running server to `dest_host` (claimed by the scheduler) without stopping it;
    the disks are copied with it unless they are on shared storage."""

    verb: ClassVar[Verb] = Verb.LIVE_MIGRATE
    dest_host: str = ""
    block_migration: bool = True


@dataclass(frozen=True, slots=True)
class AbortMigration(AgentCommand):
    """Cancel the live migration under way (its LiveMigrate then fails)."""

    verb: ClassVar[Verb] = Verb.ABORT_MIGRATION


@dataclass(frozen=True, slots=True)
class AttachPort(AgentCommand):
    """Plug the port `port_id` (bound to the server's host by the api) into the server."""

    verb: ClassVar[Verb] = Verb.ATTACH_PORT
    port_id: str = ""


@dataclass(frozen=True, slots=True)
class DetachPort(AgentCommand):
    """Unplug the port `port_id` from the server."""

    verb: ClassVar[Verb] = Verb.DETACH_PORT
    port_id: str = ""


@dataclass(frozen=True, slots=True)
class AttachVolume(AgentCommand):
    """Attach the volume `volume_id` (reserved for the server by the volume service, which
    answered `connection_kind` and `connection_attrs`) to the server."""

    verb: ClassVar[Verb] = Verb.ATTACH_VOLUME
    volume_id: str = ""
    connection_kind: str = ""
    connection_attrs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DetachVolume(AgentCommand):
    """Detach the volume `volume_id` from the server, keeping its bytes."""

    verb: ClassVar[Verb] = Verb.DETACH_VOLUME
    volume_id: str = ""
    connection_kind: str = ""
    connection_attrs: dict[str, str] = field(default_factory=dict)
