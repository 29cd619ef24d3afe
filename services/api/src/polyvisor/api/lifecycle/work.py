"""What the outbox carries (`store.outbox` keeps one per row, the `orchestrator` carries it
out after the commit), typed: each kind of entry is one class."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypeAlias

from polyvisor.api.lifecycle.commands import AgentCommand

__all__ = [
    "MOVE_CONSUMER_SUFFIX",
    "BindPorts",
    "DeleteTransferImage",
    "FailImage",
    "OutboxWork",
    "ReleaseClaim",
    "ReleasePort",
    "ReleasePorts",
    "ReleaseReason",
    "ReleaseVolumes",
    "ReplaceClaim",
    "Reschedule",
    "Schedule",
    "ScheduleMove",
    "Send",
    "SettleVolume",
    "move_consumer",
]


@dataclass(frozen=True, slots=True)
class Schedule:
    """Ask the scheduler for a host for the build at `generation`."""

    generation: int


@dataclass(frozen=True, slots=True)
class Reschedule:
    """The build at `generation` failed on its host: move the claim to an alternate."""

    generation: int


@dataclass(frozen=True, slots=True)
class ScheduleMove:
    """Ask the scheduler for the destination of the move (resize) at `generation`, claimed
    as the consumer `<server>/move` (the server's own claim stays where it is)."""

    generation: int


@dataclass(frozen=True, slots=True)
class ReplaceClaim:
    """A move is confirmed: the server's claim is replaced by the move's (`<server>/move`)."""


@dataclass(frozen=True, slots=True)
class Send:
    """Publish a command to its host's agent."""

    command: AgentCommand


class ReleaseReason(enum.StrEnum):
    DELETED = "DELETED"
    # Counted against the host by the scheduler.
    BUILD_FAILED = "BUILD_FAILED"


@dataclass(frozen=True, slots=True)
class ReleaseClaim:
    """Give the scheduler's claim on the server's host back."""

    reason: ReleaseReason = ReleaseReason.DELETED
    detail: str = ""
    # The move's claim (`<server>/move`) instead of the server's own.
    move: bool = False


@dataclass(frozen=True, slots=True)
class ReleasePorts:
    """Free the server's ports (its build failed for good, or it is deleted): the ones the
    api made are deleted, the ones the user passed in unbound and kept."""


@dataclass(frozen=True, slots=True)
class FailImage:
    """The image a snapshot was filling will never be filled (the action failed or timed
    out): the image service kills it with `reason`, so no QUEUED or half image is left. A no-op
    for an image that is already ACTIVE, KILLED or gone."""

    image_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class BindPorts:
    """Bind the server's ports (same ids, MACs and addresses) to `host` again: a move across
    hypervisor types that failed after its ports were bound to the destination."""

    host: str


@dataclass(frozen=True, slots=True)
class DeleteTransferImage:
    """Delete the image that carried a server's disk across hypervisor types (the move is
    over: done, or given up); a no-op for an image already gone."""

    image_id: str


@dataclass(frozen=True, slots=True)
class ReleasePort:
    """Free one port the server no longer has (detached, or its attach failed): deleted when
    the api made it, else unbound and kept."""

    port_id: str
    delete: bool
    # Its NIC in the server's list, marked removed (-1: none found).
    nic_index: int = -1


@dataclass(frozen=True, slots=True)
class SettleVolume:
    """Tell the volume service how an attach or detach of `volume_id` ended: `attached`
    (the host has it: the attachment is confirmed) or not (the attachment goes)."""

    volume_id: str
    attached: bool


@dataclass(frozen=True, slots=True)
class ReleaseVolumes:
    """The server is deleted: its attachments go, and the volumes marked
    delete_on_termination with them (the others are kept, available)."""


OutboxWork: TypeAlias = (
    Schedule
    | Reschedule
    | Send
    | ReleaseClaim
    | ReleasePorts
    | ReleasePort
    | FailImage
    | ScheduleMove
    | ReplaceClaim
    | SettleVolume
    | ReleaseVolumes
    | BindPorts
    | DeleteTransferImage
)

# The scheduler consumer that holds a move's destination until it is confirmed.
MOVE_CONSUMER_SUFFIX = "/move"


def move_consumer(server_id: str) -> str:
    return f"{server_id}{MOVE_CONSUMER_SUFFIX}"
