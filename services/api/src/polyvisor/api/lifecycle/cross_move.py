"""A cold move to a host of another hypervisor type (KVM <-> vSphere): the server keeps its id,
ports and addresses; its root disk travels as an image through the image service, which
makes the rendition the destination boots (qcow2 <-> vmdk).

It is a resize of kind "cross" (`resize.MoveKind.CROSS`): the same claims (the destination
claimed as `<server>/move`, the server's own claim on the source until the end), the same
`ResizeState` (`transfer_image_id`, `step`), but three hosts' steps instead of one command:

    RESIZE_PREP --(scheduler: a host of the new type)-->
    RESIZE_MIGRATING, step "snapshot": the source stops the server (PowerOff, when it ran)
        and uploads its root disk to the transfer image (Snapshot) --SNAPSHOTTED-->
    RESIZE_FINISH, step "spawn": the server's host is the destination; its ports are bound
        there (same port ids, MACs and IPs, by the spawn command's sending) and the
        destination spawns the same server id from the transfer image --SPAWNED-->
    RESIZE_CONFIRMING, step "cleanup": the source destroys its copy (Destroy) --DESTROYED-->
    ACTIVE (or SHUTOFF when it was off: the destination spawns it powered off), the move's
        claim replaces the server's (`ReplaceClaim`), the transfer image is deleted.

There is nothing to confirm or revert: the source's copy goes as soon as the destination
runs the server (to go back, move it back).

Failures: before the spawn the server stays on the source, as it was, with the fault (a
server that was running and was stopped for the snapshot is started again: SHUTOFF until its
host says it runs, then ACTIVE); a failed spawn brings it back to the source (its ports bound
there again, started again if it ran); a
cleanup that fails leaves the server on the destination with a fault naming the copy left
on the source. Every step that does not answer in time is sent again at a new generation,
then fails the same way. The transfer image is deleted whatever the end (killed when it was
never filled).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Final

from polyvisor.api import models as m
from polyvisor.api.lifecycle.commands import Destroy, PowerOff, PowerOn, Snapshot
from polyvisor.api.lifecycle.commands import Spawn as SpawnCommand
from polyvisor.api.lifecycle.model import (
    UNSET,
    AgentEvent,
    Change,
    Deadlines,
    EventKind,
    Outcome,
    ignore,
)
from polyvisor.api.lifecycle.work import (
    BindPorts,
    DeleteTransferImage,
    FailImage,
    OutboxWork,
    ReleaseClaim,
    ReplaceClaim,
    Send,
)
from polyvisor.api.models import Power, State, Task
from polyvisor.api.placement import Placement
from polyvisor.api.resize_state import Resize as ResizeState

__all__ = ["SNAPSHOT", "left_on_source", "on_event", "on_placement", "plan_timeout"]

SNAPSHOT: Final = "snapshot"
SPAWN: Final = "spawn"
CLEANUP: Final = "cleanup"

_TASK_OF: Final = {
    SNAPSHOT: Task.RESIZE_MIGRATING,
    SPAWN: Task.RESIZE_FINISH,
    CLEANUP: Task.RESIZE_CONFIRMING,
}


def _state(was_running: bool) -> State:
    return State.ACTIVE if was_running else State.SHUTOFF


# --------------------------------------------------------------------------- the steps


def on_placement(
    server: m.Server, r: ResizeState, result: Placement, now: datetime, d: Deadlines
) -> Outcome:
    """The destination is claimed: the source stops the server and fills the image."""
    dest = replace(
        r,
        dest_host=result.host,
        step=SNAPSHOT,
        dest_disk_format=result.disk_format,
        dest_vmware_disktype=result.vmware_disktype,
    )
    deadline = d.after(now, d.snapshot_s)
    change = Change(
        task=Task.RESIZE_MIGRATING, task_deadline=deadline, command_attempts=1, resize=dest
    )
    return Outcome(change, _snapshot_work(server, dest, server.generation, deadline))


def _snapshot_work(
    server: m.Server, r: ResizeState, gen: int, deadline: datetime | None
) -> tuple[OutboxWork, ...]:
    rid = server.last_request_id
    snap = Snapshot(r.source_host, gen, deadline, rid, image_id=r.transfer_image_id)
    if not r.was_running:
        return (Send(snap),)
    # Commands to one host run in order: the snapshot copies a disk nobody writes.
    return (Send(PowerOff(r.source_host, gen, deadline, rid)), Send(snap))


def _spawn(server: m.Server, r: ResizeState, gen: int, deadline: datetime | None) -> Send:
    return Send(
        SpawnCommand(
            r.dest_host,
            gen,
            deadline,
            server.last_request_id,
            attempt=1,
            disk_format=r.dest_disk_format,
            vmware_disktype=r.dest_vmware_disktype,
            image_id=r.transfer_image_id,
            powered_off=not r.was_running,
        )
    )


def _destroy(server: m.Server, r: ResizeState, gen: int, deadline: datetime | None) -> Send:
    reason = f"moved to {r.dest_host} ({r.new_hypervisor_type})"
    return Send(Destroy(r.source_host, gen, deadline, server.last_request_id, reason=reason))


def _snapshotted(server: m.Server, r: ResizeState, now: datetime, d: Deadlines) -> Outcome:
    """The image holds the disk: the destination becomes the server's host and spawns it."""
    deadline = d.after(now, d.build_s)
    nxt = replace(r, step=SPAWN)
    change = Change(
        task=Task.RESIZE_FINISH,
        task_deadline=deadline,
        command_attempts=1,
        host=r.dest_host,
        hypervisor_type=r.new_hypervisor_type,
        esxi_host="",
        instance_name="",
        console=None,
        power_state=Power.SHUTDOWN,
        resize=nxt,
    )
    return Outcome(change, (_spawn(server, nxt, server.generation, deadline),))


def _spawned(
    server: m.Server, r: ResizeState, ev: AgentEvent, now: datetime, d: Deadlines
) -> Outcome:
    """The destination runs the server: the source's copy goes."""
    deadline = d.after(now, d.power_s)
    nxt = replace(r, step=CLEANUP)
    power = ev.power_state or (Power.RUNNING if r.was_running else Power.SHUTDOWN)
    change = Change(
        task=Task.RESIZE_CONFIRMING,
        task_deadline=deadline,
        command_attempts=1,
        power_state=power,
        resize=nxt,
        console=ev.console if ev.console is not None else UNSET,
        instance_name=ev.instance_name or UNSET,
        esxi_host=ev.esxi_host or UNSET,
        launch_time=server.launch_time or now,
    )
    work: tuple[OutboxWork, ...] = (_destroy(server, nxt, server.generation, deadline),)
    if not r.was_running and power == Power.RUNNING:
        # Told to leave it off (`powered_off`), the host started it anyway (an agent that
        # does not know the flag): stopped, as it was before the move.
        work += (Send(PowerOff(r.dest_host, server.generation, deadline, server.last_request_id)),)
    return Outcome(change, work)


def _done(server: m.Server, r: ResizeState, fault: m.Fault | None) -> Outcome:
    """On the destination for good: the move's claim becomes the server's."""
    change = Change(
        state=_state(r.was_running),
        task=Task.NONE,
        task_deadline=None,
        resize=None,
        fault=fault,
    )
    return Outcome(change, (ReplaceClaim(), DeleteTransferImage(r.transfer_image_id)))


def _back(
    server: m.Server,
    r: ResizeState,
    fault: m.Fault,
    *,
    ports_moved: bool,
    state: State | None = None,
    generation: int | None = None,
) -> Outcome:
    """The server stays on (or comes back to) the source, as it was: its ports bound there
    again when they had moved, started again when it ran and was stopped for the move.

    The move ends here (its action settles with the fault); the server is SHUTOFF, as its
    guest is, until the PowerOn sent after it is answered and makes it ACTIVE: never ACTIVE
    with a guest that is not running yet (nor, when that start fails, at all)."""
    change = Change(
        state=state or State.SHUTOFF,
        task=Task.NONE,
        task_deadline=None,
        host=r.source_host,
        hypervisor_type=r.old_hypervisor_type or UNSET,
        resize=None,
        fault=fault,
        power_state=Power.SHUTDOWN if r.was_running else UNSET,
    )
    if ports_moved:
        change = change.then(Change(esxi_host="", instance_name="", console=None))
    work: list[OutboxWork] = [ReleaseClaim(move=True, detail="move to another type given up")]
    if ports_moved:
        work.append(BindPorts(r.source_host))
    if r.step == SNAPSHOT:
        # Never filled, or filled: either way of no use now.
        work.append(FailImage(r.transfer_image_id, fault.message))
    work.append(DeleteTransferImage(r.transfer_image_id))
    if r.was_running and state is None:
        gen = server.generation if generation is None else generation
        work.append(Send(PowerOn(r.source_host, gen, None, server.last_request_id)))
    return Outcome(change, tuple(work))


def _fault(code: str, ev: AgentEvent, host: str, now: datetime, what: str) -> m.Fault:
    f = ev.fault or m.Fault(code, f"the host could not {what}")
    return m.Fault(code, f"{what}: {f.message}", host, f.details, now)


# --------------------------------------------------------------------------- events


def on_event(server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines) -> Outcome | None:
    """What an agent's event does during a cross-type move (None: the usual handler)."""
    r = server.resize
    assert r is not None
    step = r.step
    if step not in _TASK_OF or server.task != _TASK_OF[step]:
        return None  # still waiting for the scheduler (RESIZE_PREP): nothing from hosts
    expected = r.dest_host if step == SPAWN else r.source_host
    if ev.host and ev.host != expected:
        if step == CLEANUP and ev.host == r.dest_host and ev.kind in _POWER:
            return Outcome(Change(power_state=ev.power_state or UNSET))
        return ignore(f"{ev.kind} from {ev.host} while the move waits for {expected}")
    if ev.kind == EventKind.SNAPSHOTTED and step == SNAPSHOT:
        return _snapshotted(server, r, now, d)
    if ev.kind == EventKind.SPAWNED and step == SPAWN:
        return _spawned(server, r, ev, now, d)
    if ev.kind in (EventKind.DESTROYED, EventKind.VANISHED) and step == CLEANUP:
        return _done(server, r, None)
    if ev.kind in (EventKind.COMMAND_FAILED, EventKind.SPAWN_FAILED):
        if step == SNAPSHOT:
            fault = _fault(
                "MIGRATION_FAILED", ev, r.source_host, now, "stopping and copying the disk"
            )
            return _back(server, r, fault, ports_moved=False)
        if step == SPAWN:
            fault = _fault("MIGRATION_FAILED", ev, r.dest_host, now, "spawning on the destination")
            return _back(server, r, fault, ports_moved=True)
        fault = _fault(
            "CLEANUP_FAILED", ev, r.source_host, now, f"removing the copy left on {r.source_host}"
        )
        return _done(server, r, fault)
    if ev.kind in _POWER:
        return Outcome(Change(power_state=ev.power_state or UNSET))
    return ignore(f"{ev.kind} during the {step} step of a move")


_POWER: Final = frozenset(
    {EventKind.POWERED_OFF, EventKind.POWERED_ON, EventKind.POWER_STATE_CHANGED}
)


def left_on_source(server: m.Server) -> tuple[OutboxWork, ...]:
    """A server deleted once the destination was its host (spawning, or the source's copy
    not yet destroyed): the delete went to the destination, the source's stopped copy is
    destroyed too."""
    r = server.resize
    if r is None or r.kind != "cross" or r.step not in (SPAWN, CLEANUP):
        return ()
    # One past the delete's generation: its Destroy (to the destination) has the delete's,
    # and a command's id is (server, generation, verb).
    return (_destroy(server, r, server.generation + 1, None),)


# --------------------------------------------------------------------------- deadlines


def plan_timeout(server: m.Server, now: datetime, d: Deadlines) -> Outcome | None:
    """An overdue step: sent again at a new generation, then given up as the failure of that
    step is (ERROR when the source's state is not known)."""
    r = server.resize
    assert r is not None
    if r.step not in _TASK_OF or server.task != _TASK_OF[r.step]:
        return None
    gen = server.generation + 1
    timeout_s = {SNAPSHOT: d.snapshot_s, SPAWN: d.build_s, CLEANUP: d.power_s}[r.step]
    deadline = d.after(now, timeout_s)
    if server.command_attempts < d.max_command_attempts:
        work: tuple[OutboxWork, ...]
        if r.step == SNAPSHOT:
            work = _snapshot_work(server, r, gen, deadline)
        elif r.step == SPAWN:
            work = (_spawn(server, r, gen, deadline),)
        else:
            work = (_destroy(server, r, gen, deadline),)
        change = Change(
            generation=gen, task_deadline=deadline, command_attempts=server.command_attempts + 1
        )
        return Outcome(change, work)
    host = r.dest_host if r.step == SPAWN else r.source_host
    message = (
        f"the {r.step} step of the move to {r.dest_host} did not complete after "
        f"{server.command_attempts} attempt(s) of {timeout_s:g}s"
    )
    fault = m.Fault("TIMEOUT", message, host, "", now)
    if r.step == CLEANUP:
        out = _done(server, r, fault)
    elif r.step == SPAWN:
        # What the destination made is not known: it is told to destroy it.
        out = _back(server, r, fault, ports_moved=True, generation=gen)
        destroy = Send(Destroy(r.dest_host, gen, None, server.last_request_id, reason=message))
        out = replace(out, work=(destroy, *out.work))
    else:
        out = _back(server, r, fault, ports_moved=False, state=State.ERROR)
        out = replace(out, change=out.change.then(Change(power_state=Power.UNKNOWN)))
    return replace(out, change=out.change.then(Change(generation=gen)))
