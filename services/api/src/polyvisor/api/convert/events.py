"""Agents' events (polyvisor.events.v1.ServerEvent) to the domain's AgentEvent."""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

from polyvisor.api import models as m
from polyvisor.api.convert.enums import (
    ADDRESS_TYPE,
    CONSOLE_TYPE,
    EVENT_KIND,
    FAULT_CODE,
    POWER_STATE,
    SERVER_TASK,
)
from polyvisor.api.lifecycle import AgentEvent, EventKind
from polyvisor.common.convert import from_ts
from polyvisor.events.v1 import server_events_pb2

E = TypeVar("E", bound=Enum)


def _safe(enum_map, value: int) -> str:  # type: ignore[no-untyped-def]
    return enum_map.to_name.get(value, "")


def _kind(value: int) -> EventKind:
    """A kind this api does not know (a newer agent's) is UNSPECIFIED: ignored."""
    try:
        return EventKind(_safe(EVENT_KIND, value))
    except ValueError:
        return EventKind.UNSPECIFIED


def _enum(cls: type[E], name: str) -> E | None:
    """The member named `name`, None for unset or one this api does not know."""
    try:
        return cls(name) if name else None
    except ValueError:
        return None


def event_from_proto(ev: server_events_pb2.ServerEvent) -> AgentEvent:
    fault = None
    if ev.HasField("fault"):
        fault = m.Fault(
            code=_safe(FAULT_CODE, ev.fault.code) or "INTERNAL",
            message=ev.fault.message,
            host=ev.fault.host,
            details=ev.fault.details,
            time=from_ts(ev.fault.time, ev.fault.HasField("time")),
        )
    console = None
    if ev.HasField("console") and ev.console.port:
        console = m.Console(
            type=_safe(CONSOLE_TYPE, ev.console.type) or "VNC",
            host=ev.console.host,
            port=ev.console.port,
        )
    kind = _kind(ev.kind)
    addresses = None
    if ev.addresses or kind == EventKind.ADDRESSES_CHANGED:
        addresses = tuple(
            m.Address(
                network=a.network,
                address=a.address,
                version=a.version or 4,
                mac_address=a.mac_address,
                type=_safe(ADDRESS_TYPE, a.type) or "FIXED",
            )
            for a in ev.addresses
        )
    return AgentEvent(
        event_id=ev.event_id,
        server_id=ev.server_id,
        generation=ev.generation,
        host=ev.host,
        kind=kind,
        power_state=_enum(m.Power, _safe(POWER_STATE, ev.power_state)),
        fault=fault,
        esxi_host=ev.esxi_host,
        console=console,
        task=_enum(m.Task, _safe(SERVER_TASK, ev.task)),
        instance_name=ev.instance_name,
        addresses=addresses,
        command_id=ev.command_id,
        occurred_at=from_ts(ev.occurred_at, ev.HasField("occurred_at")),
        agent_id=ev.agent_id,
    )
