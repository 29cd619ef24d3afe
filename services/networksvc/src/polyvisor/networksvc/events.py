"""The network service's events as plain data. The store writes them to the outbox in the
transaction of the change (encoded by bus.py); agents apply them to plumb ports live."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from polyvisor.networksvc.model import Port, SecurityGroupRule

__all__ = [
    "GroupEventKind",
    "GroupMember",
    "NetworkEvent",
    "PortEvent",
    "PortEventKind",
    "SecurityGroupEvent",
]


class PortEventKind(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    BOUND = "bound"
    UNBOUND = "unbound"
    BINDING_STATE = "binding_state"
    DELETED = "deleted"


class GroupEventKind(StrEnum):
    CREATED = "created"
    RULES_CHANGED = "rules_changed"
    MEMBERS_CHANGED = "members_changed"
    DELETED = "deleted"


def _id() -> str:
    return str(uuid.uuid4())


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class PortEvent:
    kind: PortEventKind
    port: Port
    #: The host whose agent must act ("" for a port never bound).
    host: str
    event_id: str = field(default_factory=_id)
    occurred_at: datetime = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class GroupMember:
    """One port's share of a group's member set (empty addresses: the port left)."""

    port_id: str
    port_revision: int
    addresses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SecurityGroupEvent:
    """The group's whole rule and member sets at `revision` (DELETED: nothing); a
    MEMBERS_CHANGED event also names the port whose share changed (`member`)."""

    kind: GroupEventKind
    security_group_id: str
    project_id: str
    revision: int
    rules: tuple[SecurityGroupRule, ...] = ()
    members: tuple[str, ...] | None = None
    member: GroupMember | None = None
    event_id: str = field(default_factory=_id)
    occurred_at: datetime = field(default_factory=_now)


NetworkEvent = PortEvent | SecurityGroupEvent
