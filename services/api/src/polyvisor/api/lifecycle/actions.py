"""User actions: the transition table.

Each action is one `Transition`: where it may start (`check`), the task and state while it
runs, the command its host is told, the event that answers it, how long it may take and what
a timeout leaves. `plan` turns an entry into an `Outcome`; `deadlines` retries and fails the
same entries (found by their task) and `events` settles the server when the `answer` comes,
so an action's whole life is in its entry (an answer that needs more than settling the server
has its own handler in `events`). The shortcuts of delete and unshelve are in `shortcuts`.

Every command is issued at a new generation (`generation + 1`): events of older generations
are stale from then on.

One concern: the transition table; it grows by one entry per action (see
docs/how-to-add-an-action.md).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime
from functools import partial
from typing import Any, Final

from polyvisor.api import models as m
from polyvisor.api.lifecycle import resize
from polyvisor.api.lifecycle.commands import (
    AgentCommand,
    AttachPort,
    AttachVolume,
    ConfirmResize,
    Destroy,
    DetachPort,
    DetachVolume,
    Pause,
    PowerOff,
    PowerOn,
    Reboot,
    Rebuild,
    Resize,
    Resume,
    RevertResize,
    Snapshot,
    Suspend,
    Unpause,
)
from polyvisor.api.lifecycle.model import UNSET, Change, Deadlines, EventKind, Outcome
from polyvisor.api.lifecycle.shortcuts import delete_at_once, unshelve_by_scheduling
from polyvisor.api.lifecycle.work import Send
from polyvisor.api.models import Power, State, Task
from polyvisor.common.errors import FailedPrecondition

__all__ = [
    "ACTIONS",
    "BY_TASK",
    "Action",
    "Answer",
    "Transition",
    "allowed_states",
    "command_for",
    "plan",
]


class Action(enum.StrEnum):
    START = "start"
    STOP = "stop"
    REBOOT = "reboot"
    REBOOT_HARD = "reboot_hard"
    DELETE = "delete"
    CREATE_IMAGE = "create_image"
    REBUILD = "rebuild"
    SHELVE = "shelve"
    UNSHELVE = "unshelve"
    PAUSE = "pause"
    UNPAUSE = "unpause"
    SUSPEND = "suspend"
    RESUME = "resume"
    RESIZE = "resize"
    CONFIRM_RESIZE = "confirm_resize"
    REVERT_RESIZE = "revert_resize"
    ADD_PORT = "add_port"
    REMOVE_PORT = "remove_port"
    ATTACH_VOLUME = "attach_volume"
    DETACH_VOLUME = "detach_volume"


# (host, generation, deadline, request_id) -> the command: a command class, or a partial of
# one with its other fields set.
CommandFactory = Callable[[str, int, datetime | None, str], AgentCommand]


@dataclass(frozen=True, slots=True)
class Answer:
    """The agent's event that says the command is done: the server settles as `state`, with
    the power state the event reports (`power` when it reports none)."""

    kind: EventKind
    state: State
    power: Power


@dataclass(frozen=True, slots=True)
class Transition:
    """A user action that tells the server's host one command and waits for its answer."""

    action: Action
    # Raises FailedPrecondition when the server is not where the action may start.
    check: Callable[[m.Server], None]
    # In flight until the host answers (events) or the deadline passes (deadlines).
    task: Task
    command: CommandFactory
    timeout: Callable[[Deadlines], float]
    # The state while in flight (None: unchanged) and the power state asked for (None: same).
    state: State | None = None
    desired_power: Power | None = None
    # The event that ends it (None: `events` has a handler of its own for it).
    answer: Answer | None = None
    # Whether starting it clears the fault of the action before.
    clears_fault: bool = True
    # The state once the last attempt timed out (None: unchanged; the fault says what failed).
    on_timeout: State | None = State.ERROR
    # The command sent again after a timeout (None: `command`).
    retry: CommandFactory | None = None
    # Decides before the command is sent: an Outcome to use instead (None: send it).
    # (Called with the server, now, the request id, the deadlines and the action's args.)
    shortcut: (
        Callable[[m.Server, datetime, str, Deadlines, Mapping[str, Any]], Outcome | None] | None
    ) = None
    # The states it may start in (None: `check` says; for the error's "allowed" list).
    allowed: tuple[State, ...] | None = None
    # The server keeps its power state through it (a rebuild leaves a SHUTOFF server off, as
    # Nova's does): the power asked for is the one it has, and the command (a field
    # `powered_off`, kept in the action's args for a retry) tells the host so.
    keeps_power: bool = False


def command_for(
    factory: CommandFactory,
    host: str,
    generation: int,
    deadline: datetime | None,
    request_id: str,
    args: Mapping[str, Any],
) -> AgentCommand:
    """The command `factory` makes, with the action's arguments (`Server.action_args`) on
    the fields of the same name (the image a snapshot makes)."""
    cmd = factory(host, generation, deadline, request_id)
    own = {f.name for f in fields(cmd)}
    given = {k: v for k, v in args.items() if k in own}
    return replace(cmd, **given) if given else cmd


def plan(
    action: Action,
    server: m.Server,
    now: datetime,
    d: Deadlines,
    request_id: str = "",
    args: Mapping[str, Any] | None = None,
) -> Outcome:
    """What `action` does to `server` (read under its row lock); `args`: what the action was
    asked beyond its verb (kept on the server while it is in flight)."""
    t = ACTIONS[action]
    t.check(server)
    if t.shortcut is not None:
        out = t.shortcut(server, now, request_id, d, args or {})
        if out is not None:
            if args is not None and not out.noop:
                out = replace(out, change=out.change.then(Change(action_args=dict(args))))
            return out
    gen = server.generation + 1
    deadline = d.after(now, t.timeout(d))
    given = dict(args or {})
    desired = t.desired_power
    if t.keeps_power:
        off = server.state == State.SHUTOFF
        desired = Power.SHUTDOWN if off else Power.RUNNING
        given["powered_off"] = off
    change = Change(
        state=t.state or UNSET,
        task=t.task,
        generation=gen,
        task_deadline=deadline,
        desired_power_state=desired or UNSET,
        command_attempts=1,
        last_request_id=request_id,
        fault=None if t.clears_fault else UNSET,
        action_args=given if given or server.action_args else UNSET,
    )
    cmd = command_for(t.command, server.host, gen, deadline, request_id, given)
    return Outcome(change, (Send(cmd),))


def allowed_states(action: Action) -> tuple[State, ...]:
    """The states `action` may start in (from its entry), for error messages and clients."""
    return ACTIONS[action].allowed or ()


# --------------------------------------------------------------------------- checks


def _busy(server: m.Server, what: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"server {server.id} is busy ({server.state}, {server.task}); cannot {what} now",
        {"server_id": server.id, "state": server.state, "task": server.task},
    )


def _settled_in(*states: State, what: str, needs: str = "") -> Callable[[m.Server], None]:
    """Nothing in flight, and one of `states` (the error names them)."""
    allowed = ", ".join(s.value for s in states)
    needs = needs or f"{what} needs {' or '.join(s.value for s in states)}"

    def check(server: m.Server) -> None:
        if server.task != Task.NONE:
            raise _busy(server, what)
        if server.state not in states:
            raise FailedPrecondition(
                f"server {server.id} is {server.state}; {needs}",
                {"server_id": server.id, "state": server.state, "allowed_states": allowed},
            )

    return check


def _hard_rebootable(server: m.Server) -> None:
    """A hard reboot may interrupt a soft one, and recovers SHUTOFF or ERROR servers that
    still have a host."""
    busy = server.task not in (Task.NONE, Task.REBOOTING)
    allowed = server.state in (State.ACTIVE, State.SHUTOFF, State.REBOOTING) or (
        server.state == State.ERROR and bool(server.host)
    )
    if busy or not allowed:
        raise FailedPrecondition(
            f"server {server.id} is {server.state} ({server.task}); a hard reboot needs "
            "ACTIVE, SHUTOFF or a placed ERROR server with nothing in flight",
            {"server_id": server.id, "state": server.state, "task": server.task},
        )


def _anywhere(server: m.Server) -> None:
    """Delete works in every state."""


# --------------------------------------------------------------------------- the table

_SNAPSHOTTABLE = (State.ACTIVE, State.SHUTOFF)
_REBUILDABLE = (*_SNAPSHOTTABLE, State.ERROR)
_settled_to_rebuild = _settled_in(*_REBUILDABLE, what="rebuild")


def _rebuildable(server: m.Server) -> None:
    """ACTIVE, SHUTOFF, or ERROR on a host (a failed rebuild, reboot or delete: its claim and
    its domain are still there), as Nova's rebuild; an ERROR server on no host never got
    built (or was given up) and has nothing to rebuild."""
    _settled_to_rebuild(server)
    if server.state == State.ERROR and not server.host:
        raise FailedPrecondition(
            f"server {server.id} is ERROR on no host (its build failed): nothing to rebuild; "
            "delete it and create it again",
            {"server_id": server.id, "state": server.state},
        )


_PLUGGABLE = (State.ACTIVE, State.SHUTOFF)


ACTIONS: Final[dict[Action, Transition]] = {
    t.action: t
    for t in (
        Transition(
            Action.START,
            _settled_in(State.SHUTOFF, what="start", needs="start needs SHUTOFF"),
            Task.POWERING_ON,
            PowerOn,
            lambda d: d.power_s,
            desired_power=Power.RUNNING,
            answer=Answer(EventKind.POWERED_ON, State.ACTIVE, Power.RUNNING),
            on_timeout=None,
        ),
        Transition(
            Action.STOP,
            _settled_in(State.ACTIVE, what="stop", needs="stop needs ACTIVE"),
            Task.POWERING_OFF,
            PowerOff,
            lambda d: d.power_s,
            desired_power=Power.SHUTDOWN,
            answer=Answer(EventKind.POWERED_OFF, State.SHUTOFF, Power.SHUTDOWN),
            on_timeout=None,
        ),
        Transition(
            Action.REBOOT,
            _settled_in(State.ACTIVE, what="reboot", needs="a soft reboot needs ACTIVE"),
            Task.REBOOTING,
            Reboot,
            lambda d: d.reboot_s,
            state=State.REBOOTING,
            desired_power=Power.RUNNING,
        ),
        Transition(
            Action.REBOOT_HARD,
            _hard_rebootable,
            Task.REBOOTING_HARD,
            partial(Reboot, hard=True),
            lambda d: d.reboot_s,
            state=State.REBOOTING,
            desired_power=Power.RUNNING,
        ),
        Transition(
            Action.DELETE,
            _anywhere,
            Task.DELETING,
            partial(Destroy, reason="deleted by the user"),
            lambda d: d.delete_s,
            state=State.DELETING,
            clears_fault=False,
            retry=partial(Destroy, reason="retry after timeout"),
            shortcut=delete_at_once,
        ),
        Transition(
            Action.CREATE_IMAGE,
            _settled_in(*_SNAPSHOTTABLE, what="create an image"),
            Task.IMAGE_SNAPSHOT,
            Snapshot,
            lambda d: d.snapshot_s,
            # SNAPSHOTTED: `events` settles it where it was (ACTIVE or SHUTOFF).
            on_timeout=None,
            allowed=_SNAPSHOTTABLE,
        ),
        Transition(
            Action.SHELVE,
            _settled_in(*_SNAPSHOTTABLE, what="shelve"),
            Task.SHELVING,
            partial(Snapshot, then_destroy=True),
            lambda d: d.snapshot_s,
            # SNAPSHOTTED: `events` offloads it (no host, claim given back).
            on_timeout=None,
            allowed=_SNAPSHOTTABLE,
        ),
        Transition(
            Action.UNSHELVE,
            _settled_in(State.SHELVED_OFFLOADED, what="unshelve"),
            Task.UNSHELVING,
            Snapshot,  # never sent: the shortcut schedules it
            lambda d: d.scheduling_s,
            shortcut=unshelve_by_scheduling,
            allowed=(State.SHELVED_OFFLOADED,),
        ),
        Transition(
            Action.REBUILD,
            _rebuildable,
            Task.REBUILDING,
            Rebuild,
            lambda d: d.build_s,
            # REBUILT: `events` settles it on the new image, ACTIVE, or SHUTOFF when it was
            # (the host is told to leave it off: it is never left running); an ERROR server
            # comes back ACTIVE, as Nova's.
            keeps_power=True,
            allowed=_REBUILDABLE,
        ),
        # Pause and suspend leave the server on its host with its claim: a command that
        # never answers leaves it where it was (on_timeout None), with the fault.
        Transition(
            Action.PAUSE,
            _settled_in(State.ACTIVE, what="pause", needs="pause needs ACTIVE"),
            Task.PAUSING,
            Pause,
            lambda d: d.power_s,
            answer=Answer(EventKind.PAUSED, State.PAUSED, Power.PAUSED),
            on_timeout=None,
            allowed=(State.ACTIVE,),
        ),
        Transition(
            Action.UNPAUSE,
            _settled_in(State.PAUSED, what="unpause", needs="unpause needs PAUSED"),
            Task.UNPAUSING,
            Unpause,
            lambda d: d.power_s,
            desired_power=Power.RUNNING,
            answer=Answer(EventKind.UNPAUSED, State.ACTIVE, Power.RUNNING),
            on_timeout=None,
            allowed=(State.PAUSED,),
        ),
        Transition(
            Action.SUSPEND,
            _settled_in(State.ACTIVE, what="suspend", needs="suspend needs ACTIVE"),
            Task.SUSPENDING,
            Suspend,
            lambda d: d.power_s,
            answer=Answer(EventKind.SUSPENDED, State.SUSPENDED, Power.SUSPENDED),
            on_timeout=None,
            allowed=(State.ACTIVE,),
        ),
        Transition(
            Action.RESUME,
            _settled_in(State.SUSPENDED, what="resume", needs="resume needs SUSPENDED"),
            Task.RESUMING,
            Resume,
            lambda d: d.power_s,
            desired_power=Power.RUNNING,
            answer=Answer(EventKind.RESUMED, State.ACTIVE, Power.RUNNING),
            on_timeout=None,
            allowed=(State.SUSPENDED,),
        ),
        # Resize: its steps, claims and deadlines are `resize`'s (the commands named here are
        # never sent as they are: the shortcuts build them).
        Transition(
            Action.RESIZE,
            _settled_in(*_SNAPSHOTTABLE, what="resize"),
            Task.RESIZE_PREP,
            Resize,
            lambda d: d.scheduling_s,
            shortcut=resize.start,
            allowed=_SNAPSHOTTABLE,
        ),
        Transition(
            Action.CONFIRM_RESIZE,
            _settled_in(State.VERIFY_RESIZE, what="confirm a resize"),
            Task.RESIZE_CONFIRMING,
            ConfirmResize,
            lambda d: d.power_s,
            shortcut=resize.confirm,
            allowed=(State.VERIFY_RESIZE,),
        ),
        Transition(
            Action.REVERT_RESIZE,
            _settled_in(State.VERIFY_RESIZE, what="revert a resize"),
            Task.RESIZE_REVERTING,
            RevertResize,
            lambda d: d.resize_s,
            shortcut=resize.revert,
            allowed=(State.VERIFY_RESIZE,),
        ),
        # A NIC added or taken off live (or in the definition of a server that is off); the
        # api binds the port before and frees it after (`interfaces`). A host that cannot
        # leaves the server as it was, with the fault.
        Transition(
            Action.ADD_PORT,
            _settled_in(*_PLUGGABLE, what="add a port"),
            Task.ATTACHING_PORT,
            AttachPort,
            lambda d: d.power_s,
            on_timeout=None,
            allowed=_PLUGGABLE,
        ),
        Transition(
            Action.REMOVE_PORT,
            _settled_in(*_PLUGGABLE, what="remove a port"),
            Task.DETACHING_PORT,
            DetachPort,
            lambda d: d.power_s,
            on_timeout=None,
            allowed=_PLUGGABLE,
        ),
        # A volume attached or detached live (or in the definition of a server that is off);
        # the api reserves it in the volume service before and settles it after (`volumes`).
        # A command resent after a timeout is idempotent on the host.
        Transition(
            Action.ATTACH_VOLUME,
            _settled_in(*_PLUGGABLE, what="attach a volume"),
            Task.ATTACHING_VOLUME,
            AttachVolume,
            lambda d: d.power_s,
            on_timeout=None,
            allowed=_PLUGGABLE,
        ),
        Transition(
            Action.DETACH_VOLUME,
            _settled_in(*_PLUGGABLE, what="detach a volume"),
            Task.DETACHING_VOLUME,
            DetachVolume,
            lambda d: d.power_s,
            on_timeout=None,
            allowed=_PLUGGABLE,
        ),
    )
}

# The action each task in flight belongs to (what `deadlines` retries).
BY_TASK: Final[dict[Task, Transition]] = {t.task: t for t in ACTIONS.values()}
