"""Resize: a server moved to another flavor, on its host when the new flavor fits there, else
on another host of the same hypervisor type; held until it is confirmed or reverted.

    ACTIVE|SHUTOFF --resize--> RESIZE_PREP --(scheduler)--> RESIZE_MIGRATING --RESIZED-->
    VERIFY_RESIZE --confirm--> RESIZE_CONFIRMING --RESIZE_CONFIRMED--> ACTIVE|SHUTOFF
                  --revert---> RESIZE_REVERTING --RESIZE_REVERTED---> ACTIVE|SHUTOFF (old)
                  --the confirm window passes: confirmed on its own

Claims (exact at every step):
- the server's own claim (consumer `<server>`) stays on the old host with the old flavor
  until the resize is confirmed;
- the new flavor is claimed as the move's consumer (`<server>/move`, `work.move_consumer`) by
  a real scheduling request (`ScheduleMove`): the source host forced first, then any host of
  the server's hypervisor type; when none fits the server stays where it was, with the
  scheduler's explanation in its fault;
- confirm: the server's claim is replaced by the move's (`ReplaceClaim`, one transaction in
  the scheduler); revert or failure: the move's claim is released (`ReleaseClaim(move=True)`).

The server's flavor is the new one from the start (quota follows it); `ResizeState` keeps the old
one, the hosts and what a revert restores.

A move to another host is one command to the host the server is on (`Resize` with
`dest_host`: the source agent hands the server over to the destination itself, e.g. vSphere's
RelocateVM to another cluster of the same vCenter); its revert is one command to the host it is
on then (`RevertResize` with `dest_host` the source). A cold migration is this move with the
same flavor and the source host excluded (`MoveKind.MIGRATE`).

Deadlines: every step is retried at a new generation (agents apply a repeated resize once and
answer it again), then fails visibly: a resize or a revert that never answered leaves the
server in ERROR on its old flavor and host, the move's claim released; a confirm that never
answered leaves it in VERIFY_RESIZE with the fault (confirming again is safe).

One concern: the resize's transitions (start, the scheduler's answer, the host's answers,
confirm, revert, their deadlines and the confirm window) kept together, since each step's
claim work depends on the others.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, Final

from polyvisor.api import models as m
from polyvisor.api.lifecycle import cross_move
from polyvisor.api.lifecycle.commands import AbortMigration, AgentCommand, ConfirmResize
from polyvisor.api.lifecycle.model import (
    UNSET,
    AgentEvent,
    Change,
    Deadlines,
    EventKind,
    Outcome,
    ignore,
)
from polyvisor.api.lifecycle.resize_commands import (
    flavor_from_args,
    live_command,
    resize_command,
    revert_command,
)
from polyvisor.api.lifecycle.work import (
    DeleteTransferImage,
    FailImage,
    OutboxWork,
    ReleaseClaim,
    ReplaceClaim,
    ScheduleMove,
    Send,
)
from polyvisor.api.models import Power, State, Task
from polyvisor.api.placement import NoValidHost, Placement
from polyvisor.api.resize_state import Resize as ResizeState
from polyvisor.common.errors import FailedPrecondition

__all__ = [
    "TASKS",
    "MoveKind",
    "abort_live",
    "auto_confirm",
    "awaits_move",
    "confirm",
    "flavor_from_args",
    "on_deleted",
    "on_event",
    "on_move_placement",
    "plan_timeout",
    "revert",
    "start",
]

# The tasks of a resize in flight (their deadlines and events are this module's).
TASKS: Final = frozenset(
    {
        Task.RESIZE_PREP,
        Task.RESIZE_MIGRATING,
        Task.RESIZE_FINISH,
        Task.RESIZE_CONFIRMING,
        Task.RESIZE_REVERTING,
        Task.MIGRATING,
    }
)


class MoveKind(enum.StrEnum):
    """What a move asks of the scheduler: a resize prefers the host it is on; a cold
    migration (the same flavor) must leave it."""

    RESIZE = "resize"
    MIGRATE = "migrate"
    # A live migration: like MIGRATE for the scheduler, then one LiveMigrate to the source;
    # MIGRATED ends it (no confirm: the move's claim replaces the server's at once).
    LIVE = "live"
    # A cold move to a host of another hypervisor type, through an image
    # (`lifecycle.cross_move`); nothing to confirm.
    CROSS = "cross"


def _quota_back(server: m.Server, r: ResizeState) -> tuple[int, int]:
    """What going back to the old flavor gives back to the quota (negative: takes)."""
    return (server.flavor.vcpus - r.old_flavor.vcpus, server.flavor.ram_mb - r.old_flavor.ram_mb)


def _state_for(power: Power, was_running: bool) -> State:
    if power == Power.RUNNING:
        return State.ACTIVE
    if power in (Power.SHUTDOWN, Power.CRASHED):
        return State.SHUTOFF
    return State.ACTIVE if was_running else State.SHUTOFF


# --------------------------------------------------------------------------- start


def start(
    server: m.Server, now: datetime, request_id: str, d: Deadlines, args: Mapping[str, Any]
) -> Outcome:
    """The RESIZE action (its `Transition.shortcut`): the server takes the new flavor and
    waits for the scheduler to claim it somewhere."""
    new = flavor_from_args(args)
    gen = server.generation + 1
    r = ResizeState(
        old_flavor=server.flavor,
        source_host=server.host,
        was_running=server.state == State.ACTIVE,
        old_hypervisor_type=server.hypervisor_type,
        kind=MoveKind(str(args.get("kind") or MoveKind.RESIZE)).value,
        requested_host=str(args.get("host") or ""),
        new_hypervisor_type=str(args.get("hypervisor_type") or ""),
        transfer_image_id=str(args.get("image_id") or ""),
    )
    change = Change(
        task=Task.RESIZE_PREP,
        generation=gen,
        task_deadline=d.after(now, d.scheduling_s),
        command_attempts=1,
        last_request_id=request_id,
        fault=None,
        flavor=new,
        resize=r,
    )
    return Outcome(change, (ScheduleMove(gen),))


def awaits_move(server: m.Server | None, generation: int) -> bool:
    """The resize at `generation` still waits for its destination."""
    return (
        server is not None
        and server.task == Task.RESIZE_PREP
        and server.generation == generation
        and server.resize is not None
    )


def on_move_placement(
    server: m.Server | None,
    generation: int,
    result: Placement | NoValidHost,
    now: datetime,
    d: Deadlines,
) -> Outcome:
    """The scheduler's answer for the resize at `generation`."""
    if not awaits_move(server, generation):
        if isinstance(result, Placement):
            return Outcome(work=(ReleaseClaim(move=True),), ignored="no longer waits for a host")
        return ignore("no longer waits for a host")
    assert server is not None and server.resize is not None
    r = server.resize
    if isinstance(result, NoValidHost):
        fault = m.Fault(
            "NO_VALID_HOST",
            f"no host fits flavor {server.flavor.name or server.flavor.id}: {result.summary}",
            "",
            "",
            now,
            no_valid_host=result.explanation or None,
        )
        return _back(server, r, fault, State.ACTIVE if r.was_running else State.SHUTOFF)
    if r.kind == MoveKind.CROSS:
        return cross_move.on_placement(server, r, result, now, d)
    dest = replace(r, dest_host=result.host)
    deadline = d.after(now, d.resize_s)
    if r.kind == MoveKind.LIVE:
        change = Change(
            task=Task.MIGRATING, task_deadline=deadline, command_attempts=1, resize=dest
        )
        live = live_command(dest, generation, deadline, server.last_request_id)
        return Outcome(change, (Send(live),))
    change = Change(
        task=Task.RESIZE_MIGRATING,
        task_deadline=deadline,
        command_attempts=1,
        resize=dest,
    )
    cmd = resize_command(server, dest, generation, deadline, server.last_request_id)
    return Outcome(change, (Send(cmd),))


def abort_live(server: m.Server) -> Outcome:
    """Ask the source to cancel the live migration in flight (its failure then brings the
    server back as it was); nothing changes until it answers."""
    r = server.resize
    if r is None or server.task != Task.MIGRATING or r.kind != MoveKind.LIVE:
        raise FailedPrecondition(
            f"server {server.id} has no live migration in flight",
            {"server_id": server.id, "task": server.task},
        )
    cmd = AbortMigration(r.source_host, server.generation, None, server.last_request_id)
    return Outcome(Change(), (Send(cmd),))


def _back(server: m.Server, r: ResizeState, fault: m.Fault | None, state: State) -> Outcome:
    """The server is (again) on its old flavor and host: the move's claim goes back."""
    change = Change(
        state=state,
        task=Task.NONE,
        task_deadline=None,
        flavor=r.old_flavor,
        host=r.source_host,
        hypervisor_type=r.old_hypervisor_type or UNSET,
        resize=None,
        fault=fault,
    )
    work: tuple[OutboxWork, ...] = (ReleaseClaim(move=True, detail="resize reverted"),)
    if r.transfer_image_id:  # a move across types given up before any host took part
        reason = fault.message if fault else "move given up"
        work += (FailImage(r.transfer_image_id, reason), DeleteTransferImage(r.transfer_image_id))
    return Outcome(change, work, quota_back=_quota_back(server, r))


# --------------------------------------------------------------------------- confirm, revert


def _verifying(server: m.Server) -> ResizeState:
    if server.resize is None or server.task != Task.NONE:
        raise FailedPrecondition(
            f"server {server.id} has no resize to confirm or revert",
            {"server_id": server.id, "state": server.state, "task": server.task},
        )
    return server.resize


def confirm(
    server: m.Server, now: datetime, request_id: str, d: Deadlines, args: Mapping[str, Any]
) -> Outcome:
    """CONFIRM_RESIZE: the host that kept the old server drops it."""
    r = _verifying(server)
    gen = server.generation + 1
    deadline = d.after(now, d.power_s)
    change = Change(
        task=Task.RESIZE_CONFIRMING,
        generation=gen,
        task_deadline=deadline,
        command_attempts=1,
        last_request_id=request_id,
        fault=None,
    )
    return Outcome(change, (Send(ConfirmResize(r.source_host, gen, deadline, request_id)),))


def auto_confirm(server: m.Server, now: datetime, d: Deadlines) -> Outcome:
    """The confirm window passed: confirmed as if the owner had asked."""
    return confirm(server, now, f"auto-confirm-{server.id}-{server.generation}", d, {})


def revert(
    server: m.Server, now: datetime, request_id: str, d: Deadlines, args: Mapping[str, Any]
) -> Outcome:
    """REVERT_RESIZE: back to the old flavor (and host), as the server was before."""
    r = _verifying(server)
    gen = server.generation + 1
    deadline = d.after(now, d.resize_s)
    change = Change(
        task=Task.RESIZE_REVERTING,
        generation=gen,
        task_deadline=deadline,
        command_attempts=1,
        last_request_id=request_id,
        fault=None,
    )
    return Outcome(change, (Send(revert_command(server, r, gen, deadline, request_id)),))


# --------------------------------------------------------------------------- events


def on_event(server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines) -> Outcome | None:
    """What an agent's event does to a server with a resize in flight (None: not a resize
    matter, the usual handler decides)."""
    r = server.resize
    if r is None or server.task not in TASKS:
        return None
    if r.kind == MoveKind.CROSS:
        return cross_move.on_event(server, ev, now, d)
    if server.task == Task.RESIZE_MIGRATING:
        if ev.kind == EventKind.RESIZED and ev.host in ("", r.source_host):
            return _resized(server, r, ev, now, d)
        if ev.kind == EventKind.COMMAND_FAILED and ev.host in ("", r.source_host):
            fault = _fault("RESIZE_FAILED", ev, r.source_host, now)
            power = ev.power_state or server.power_state
            return _back(server, r, fault, _state_for(power, r.was_running))
    if server.task == Task.MIGRATING and ev.host in ("", r.source_host):
        if ev.kind == EventKind.MIGRATED:
            # Running on the destination: the move's claim becomes the server's.
            change = Change(
                state=State.ACTIVE,
                task=Task.NONE,
                task_deadline=None,
                host=r.dest_host,
                resize=None,
                fault=None,
                power_state=ev.power_state or server.power_state,
            )
            return Outcome(change.then(_console(ev)), (ReplaceClaim(),))
        if ev.kind == EventKind.COMMAND_FAILED:
            fault = _fault("MIGRATION_FAILED", ev, r.source_host, now)
            return _back(server, r, fault, State.ACTIVE)
    if server.task == Task.RESIZE_CONFIRMING and ev.host in ("", r.source_host):
        if ev.kind == EventKind.RESIZE_CONFIRMED:
            power = server.power_state
            change = Change(
                state=_state_for(power, r.was_running),
                task=Task.NONE,
                task_deadline=None,
                resize=None,
                fault=None,
            )
            return Outcome(change, (ReplaceClaim(),))
        if ev.kind == EventKind.COMMAND_FAILED:
            fault = _fault("RESIZE_FAILED", ev, r.source_host, now)
            return Outcome(Change(task=Task.NONE, task_deadline=_window(now, d), fault=fault))
    if server.task == Task.RESIZE_REVERTING and ev.host in ("", server.host):
        if ev.kind == EventKind.RESIZE_REVERTED:
            power = ev.power_state or server.power_state
            out = _back(server, r, None, _state_for(power, r.was_running))
            change = out.change.then(Change(power_state=power))
            return replace(out, change=change.then(_console(ev)))
        if ev.kind == EventKind.COMMAND_FAILED:
            # Neither flavor is known to be in place: the server needs a look (hard reboot,
            # delete); the resize stays recorded so a second revert may be asked for.
            fault = _fault("RESIZE_FAILED", ev, server.host, now)
            return Outcome(Change(task=Task.NONE, task_deadline=_window(now, d), fault=fault))
    if ev.kind in (EventKind.POWER_STATE_CHANGED, EventKind.VANISHED, EventKind.PROGRESS):
        return None
    if ev.kind in _RESIZE_ANSWERS:
        return ignore(f"{ev.kind} while {server.task} from {ev.host}")
    return None


_RESIZE_ANSWERS: Final = frozenset(
    {
        EventKind.RESIZED,
        EventKind.RESIZE_CONFIRMED,
        EventKind.RESIZE_REVERTED,
        EventKind.COMMAND_FAILED,
    }
)


def _window(now: datetime, d: Deadlines) -> datetime | None:
    """When a resize waiting for confirmation is confirmed on its own (None: never)."""
    return d.after(now, d.resize_confirm_s) if d.resize_confirm_s > 0 else None


def _console(ev: AgentEvent) -> Change:
    return Change(
        console=ev.console if ev.console is not None else UNSET,
        instance_name=ev.instance_name or UNSET,
        esxi_host=ev.esxi_host or UNSET,
    )


def _resized(
    server: m.Server, r: ResizeState, ev: AgentEvent, now: datetime, d: Deadlines
) -> Outcome:
    confirm_at = _window(now, d)
    power = ev.power_state or (Power.RUNNING if r.was_running else Power.SHUTDOWN)
    change = Change(
        state=State.VERIFY_RESIZE,
        task=Task.NONE,
        task_deadline=confirm_at,
        power_state=power,
        host=r.dest_host or r.source_host,
        resize=replace(r, auto_confirm_time=confirm_at),
        fault=None,
    )
    return Outcome(change.then(_console(ev)))


def _fault(code: str, ev: AgentEvent, host: str, now: datetime) -> m.Fault:
    f = ev.fault or m.Fault(code, "the host could not carry out the resize")
    return m.Fault(code, f.message, host, f.details, now)


# --------------------------------------------------------------------------- deadlines


def plan_timeout(server: m.Server, now: datetime, d: Deadlines) -> Outcome | None:
    """An overdue resize step (None: not a resize matter): retry it at a new generation, then
    fail visibly; a resize waiting for confirmation past its window is confirmed."""
    r = server.resize
    if r is None or server.task_deadline is None or server.task_deadline > now:
        return None  # not a resize, or not overdue
    if server.state == State.VERIFY_RESIZE and server.task == Task.NONE:
        return auto_confirm(server, now, d)
    if server.task not in TASKS:
        return None
    if server.task == Task.RESIZE_PREP:
        # The scheduler never answered: whatever it may have claimed goes back.
        message = f"scheduling the resize did not finish within {d.scheduling_s:g}s"
        fault = m.Fault("TIMEOUT", message, "", "", now)
        state = State.ACTIVE if r.was_running else State.SHUTOFF
        out = _back(server, r, fault, state)
        return replace(out, change=out.change.then(Change(generation=server.generation + 1)))
    if r.kind == MoveKind.CROSS:
        return cross_move.plan_timeout(server, now, d)
    gen = server.generation + 1
    if server.task == Task.RESIZE_CONFIRMING:
        timeout_s = d.power_s
        cmd: AgentCommand = ConfirmResize(r.source_host, gen, None, server.last_request_id)
    elif server.task == Task.RESIZE_REVERTING:
        timeout_s = d.resize_s
        cmd = revert_command(server, r, gen, None, server.last_request_id)
    elif server.task == Task.MIGRATING:
        timeout_s = d.resize_s
        cmd = live_command(r, gen, None, server.last_request_id)
    else:
        timeout_s = d.resize_s
        cmd = resize_command(server, r, gen, None, server.last_request_id)
    deadline = d.after(now, timeout_s)
    cmd = replace(cmd, deadline=deadline)
    if server.command_attempts < d.max_command_attempts:
        change = Change(
            generation=gen, task_deadline=deadline, command_attempts=server.command_attempts + 1
        )
        return Outcome(change, (Send(cmd),))
    message = (
        f"{cmd.verb.replace('_', ' ')} did not complete after {server.command_attempts} "
        f"attempt(s) of {timeout_s:g}s"
    )
    fault = m.Fault("TIMEOUT", message, cmd.host, "", now)
    if server.task == Task.RESIZE_CONFIRMING:
        # Confirming again is safe: the server stays resized, with the fault.
        change = Change(task=Task.NONE, task_deadline=_window(now, d), fault=fault)
        return Outcome(change.then(Change(generation=gen)))
    # Which flavor the host left it on is not known: ERROR on the old flavor and host (where
    # its own claim is), the move's claim given back; a hard reboot or a delete follows.
    out = _back(server, r, fault, State.ERROR)
    return replace(out, change=out.change.then(Change(generation=gen, power_state=Power.UNKNOWN)))


# --------------------------------------------------------------------------- delete


def on_deleted(server: m.Server) -> tuple[OutboxWork, ...]:
    """A server deleted with a resize in flight or unconfirmed: the move's claim goes back
    with its own (and a move across types' copy left on the source goes)."""
    if server.resize is None:
        return ()
    out: tuple[OutboxWork, ...] = (
        ReleaseClaim(move=True, detail="server deleted during a resize"),
    )
    if server.resize.transfer_image_id:
        out += (DeleteTransferImage(server.resize.transfer_image_id),)
    out += cross_move.left_on_source(server)
    return out
