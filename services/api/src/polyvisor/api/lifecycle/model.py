"""The state machine's vocabulary: what it reads (an agent's event, the deadlines) and what it
decides (an `Outcome`: one typed `Change` to the server row, and typed outbox work).

A `Change` names the columns it sets; a field left `UNSET` is not touched. `None` is a value
(it clears a nullable column: `task_deadline=None`), so it cannot mean "unchanged".
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any, Final, Literal, TypeAlias

from polyvisor.api import models as m
from polyvisor.api.lifecycle.commands import AgentCommand
from polyvisor.api.lifecycle.work import OutboxWork, ReleaseClaim, Reschedule, Send
from polyvisor.api.models import Power, State, Task
from polyvisor.api.resize_state import Resize
from polyvisor.common.server_enums import EventKind

__all__ = [
    "UNSET",
    "AgentEvent",
    "Change",
    "Deadlines",
    "EventKind",
    "Outcome",
    "Power",
    "State",
    "Task",
    "Unset",
    "frees_ports",
]


class _Unset(enum.Enum):
    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset.UNSET
Unset: TypeAlias = Literal[_Unset.UNSET]


@dataclass(frozen=True, slots=True)
class Deadlines:
    """How long each transitional state may last, and how often commands are retried."""

    scheduling_s: float = 120.0
    build_s: float = 900.0
    power_s: float = 180.0
    reboot_s: float = 300.0
    delete_s: float = 180.0
    # A snapshot copies and uploads a whole disk.
    snapshot_s: float = 1800.0
    # Each step of a resize on its host(s) (a move copies the disk).
    resize_s: float = 1800.0
    # A resize left in VERIFY_RESIZE this long is confirmed on its own (0: never).
    resize_confirm_s: float = 86400.0
    # Tries of a power, reboot or destroy command before failing visibly.
    max_command_attempts: int = 3
    # Hosts tried for one build (1 + reschedules).
    max_build_attempts: int = 3

    def after(self, now: datetime, seconds: float) -> datetime:
        return now + timedelta(seconds=seconds)


@dataclass(frozen=True, slots=True)
class AgentEvent:
    """An agent's event about one server (the domain view of events.v1.ServerEvent)."""

    event_id: str
    server_id: str
    generation: int
    host: str
    kind: EventKind
    power_state: Power | None = None
    fault: m.Fault | None = None
    esxi_host: str = ""
    console: m.Console | None = None
    task: Task | None = None
    instance_name: str = ""
    addresses: tuple[m.Address, ...] | None = None
    command_id: str = ""
    # Stamped by the agent (its own clock) when it made the event, and which agent process.
    occurred_at: datetime | None = None
    agent_id: str = ""


@dataclass(frozen=True, slots=True)
class Change:
    """The columns of one server row a decision sets (see the module docstring for UNSET)."""

    name: str | Unset = UNSET
    state: State | Unset = UNSET
    task: Task | Unset = UNSET
    task_deadline: datetime | Unset | None = UNSET
    power_state: Power | Unset = UNSET
    desired_power_state: Power | Unset = UNSET
    fault: m.Fault | Unset | None = UNSET
    generation: int | Unset = UNSET
    command_attempts: int | Unset = UNSET
    last_request_id: str | Unset = UNSET
    host: str | Unset = UNSET
    hypervisor_type: str | Unset = UNSET
    availability_zone: str | Unset = UNSET
    alternates: tuple[m.Alternate, ...] | Unset = UNSET
    attempts: int | Unset = UNSET
    tried_hosts: tuple[str, ...] | Unset = UNSET
    esxi_host: str | Unset = UNSET
    instance_name: str | Unset = UNSET
    console: m.Console | Unset | None = UNSET
    addresses: tuple[m.Address, ...] | Unset = UNSET
    metadata: dict[str, str] | Unset = UNSET
    tags: tuple[str, ...] | Unset = UNSET
    launch_time: datetime | Unset | None = UNSET
    delete_time: datetime | Unset | None = UNSET
    image_id: str | Unset = UNSET
    action_args: dict[str, Any] | Unset = UNSET
    flavor: m.ServerFlavor | Unset = UNSET
    resize: Resize | Unset | None = UNSET

    def items(self) -> Iterator[tuple[str, Any]]:
        """(column, value) of each field set, in declaration order."""
        for name in _CHANGE_FIELDS:
            value = getattr(self, name)
            if value is not UNSET:
                yield name, value

    def __bool__(self) -> bool:
        return any(getattr(self, name) is not UNSET for name in _CHANGE_FIELDS)

    def then(self, other: Change) -> Change:
        """This change followed by `other` (its set fields win)."""
        return replace(self, **{name: value for name, value in other.items()})

    def applied_to(self, server: m.Server) -> m.Server:
        """The server as it is once the change is saved (revision and times aside)."""
        return replace(server, **{name: value for name, value in self.items()})


_CHANGE_FIELDS: Final = tuple(f.name for f in fields(Change))


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to do to one server: the row change, the outbox work, the quota to give back.
    Nothing of those: nothing happens (`ignored` says why)."""

    change: Change = Change()
    work: tuple[OutboxWork, ...] = ()
    release_quota: bool = False
    ignored: str = ""
    # The agent's observation to record on the server (recorded even when nothing else
    # changes: a power state confirmed is what makes an older contrary report stale).
    observed: m.Observation | None = None
    # vCPUs and RAM (MiB) given back to the project's quota beyond `release_quota` (a revert
    # gives back what its resize took; negative: taken).
    quota_back: tuple[int, int] = (0, 0)

    @property
    def noop(self) -> bool:
        return not (self.change or self.work or self.release_quota or any(self.quota_back))

    @property
    def change_type(self) -> str:
        return "DELETED" if self.change.state == State.DELETED else "UPDATED"

    @property
    def commands(self) -> tuple[AgentCommand, ...]:
        return tuple(w.command for w in self.work if isinstance(w, Send))

    @property
    def reschedule(self) -> bool:
        return any(isinstance(w, Reschedule) for w in self.work)

    @property
    def release_claim(self) -> ReleaseClaim | None:
        return next((w for w in self.work if isinstance(w, ReleaseClaim)), None)


def frees_ports(server: m.Server, out: Outcome) -> bool:
    """Whether `out` ends the server's use of its ports: it is deleted, or its build failed
    for good (a reschedule keeps them: the next host's spawn rebinds them)."""
    new = out.change.state
    if new is UNSET or new == server.state:
        return False
    return new == State.DELETED or (new == State.ERROR and server.state == State.BUILDING)


def ignore(reason: str) -> Outcome:
    return Outcome(ignored=reason)
