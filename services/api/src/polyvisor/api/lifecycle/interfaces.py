"""Adding a NIC to, and taking one off, a server that runs or is off: what the answers and
failures of ATTACHING_PORT and DETACHING_PORT do (the transitions are in `actions`).

The api has made (or taken the user's) port and bound it to the server's host before the
attach leaves; the action's arguments (`Server.action_args`) keep the port, whether the api
made it, and the addresses it gives the server. An attach that the host refuses (no `ports`
capability, a data plane that failed) leaves the server as it was, with the fault, and frees
the port; a detach done frees it too (deleted when the api made it, else unbound and kept).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from polyvisor.api import models as m
from polyvisor.api.lifecycle.model import AgentEvent, Change, Deadlines, Outcome, ignore
from polyvisor.api.lifecycle.work import ReleasePort
from polyvisor.api.models import Task

__all__ = [
    "PORT_TASKS",
    "addresses_arg",
    "on_port_attached",
    "on_port_command_failed",
    "on_port_detached",
]

PORT_TASKS = frozenset({Task.ATTACHING_PORT, Task.DETACHING_PORT})


def addresses_arg(addresses: tuple[m.Address, ...]) -> list[dict[str, Any]]:
    """The addresses a port gives the server, as action arguments (JSON)."""
    return [
        {"network": a.network, "address": a.address, "version": a.version, "mac": a.mac_address}
        for a in addresses
    ]


def _addresses(args: Mapping[str, Any]) -> tuple[m.Address, ...]:
    return tuple(
        m.Address(
            network=str(a.get("network", "")),
            address=str(a.get("address", "")),
            version=int(a.get("version", 4)),
            mac_address=str(a.get("mac", "")),
        )
        for a in args.get("addresses") or ()
    )


def _done() -> Change:
    return Change(task=Task.NONE, task_deadline=None, fault=None)


def _release(server: m.Server) -> ReleasePort:
    args = server.action_args
    return ReleasePort(
        str(args.get("port_id", "")), bool(args.get("made")), int(args.get("nic_index", -1))
    )


def on_port_attached(server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines) -> Outcome:
    if server.task != Task.ATTACHING_PORT:
        return ignore(f"port attached while {server.state}/{server.task}")
    added = tuple(a for a in _addresses(server.action_args) if a not in server.addresses)
    return Outcome(_done().then(Change(addresses=server.addresses + added)))


def on_port_detached(server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines) -> Outcome:
    if server.task != Task.DETACHING_PORT:
        return ignore(f"port detached while {server.state}/{server.task}")
    mac = str(server.action_args.get("mac_address", ""))
    kept = tuple(a for a in server.addresses if not mac or a.mac_address != mac)
    return Outcome(_done().then(Change(addresses=kept)), (_release(server),))


def on_port_command_failed(server: m.Server, ev: AgentEvent, now: datetime) -> Outcome:
    """The host could not plug or unplug the port: the server stays as it was, with the
    fault; a port that was to be attached is freed (a detach keeps it: it is still there)."""
    fault = ev.fault or m.Fault("PORT_FAILED", "the host could not carry out the command")
    attaching = server.task == Task.ATTACHING_PORT
    code = "ATTACH_FAILED" if attaching else "DETACH_FAILED"
    change = Change(
        task=Task.NONE,
        task_deadline=None,
        fault=m.Fault(code, fault.message, server.host, fault.details, now),
        power_state=ev.power_state or server.power_state,
    )
    return Outcome(change, (_release(server),) if attaching else ())
