"""Attaching a volume to, and detaching it from, a server that runs or is off: what the
answers and failures of ATTACHING_VOLUME and DETACHING_VOLUME do (the transitions are in
`actions`).

The api has reserved the volume for the server in the volume service (which checked its
project, its state, multi-attach and the host's hypervisor type) before the attach leaves;
the action's arguments keep the volume and its connection. Whatever the host answers, the
volume service is told (`SettleVolume`): attached, or the attachment goes. A detach that the
host refuses leaves the volume attached (the attachment is confirmed again).
"""

from __future__ import annotations

from datetime import datetime

from polyvisor.api import models as m
from polyvisor.api.lifecycle.model import AgentEvent, Change, Deadlines, Outcome, ignore
from polyvisor.api.lifecycle.work import SettleVolume
from polyvisor.api.models import Task

__all__ = [
    "VOLUME_TASKS",
    "on_volume_attached",
    "on_volume_command_failed",
    "on_volume_detached",
]

VOLUME_TASKS = frozenset({Task.ATTACHING_VOLUME, Task.DETACHING_VOLUME})


def _done() -> Change:
    return Change(task=Task.NONE, task_deadline=None, fault=None)


def _volume(server: m.Server) -> str:
    return str(server.action_args.get("volume_id", ""))


def on_volume_attached(server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines) -> Outcome:
    if server.task != Task.ATTACHING_VOLUME:
        return ignore(f"volume attached while {server.state}/{server.task}")
    return Outcome(_done(), (SettleVolume(_volume(server), attached=True),))


def on_volume_detached(server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines) -> Outcome:
    if server.task != Task.DETACHING_VOLUME:
        return ignore(f"volume detached while {server.state}/{server.task}")
    return Outcome(_done(), (SettleVolume(_volume(server), attached=False),))


def on_volume_command_failed(server: m.Server, ev: AgentEvent, now: datetime) -> Outcome:
    """The host could not attach or detach the volume: the server stays as it was, with the
    fault; the volume is as the host left it (an attach failed: not attached; a detach
    failed: still attached)."""
    fault = ev.fault or m.Fault("VOLUME_FAILED", "the host could not carry out the command")
    attaching = server.task == Task.ATTACHING_VOLUME
    code = "ATTACH_FAILED" if attaching else "DETACH_FAILED"
    change = Change(
        task=Task.NONE,
        task_deadline=None,
        fault=m.Fault(code, fault.message, server.host, fault.details, now),
        power_state=ev.power_state or server.power_state,
    )
    return Outcome(change, (SettleVolume(_volume(server), attached=not attaching),))
