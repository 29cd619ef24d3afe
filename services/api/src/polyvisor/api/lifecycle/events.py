"""Agent events: what an agent's report does to a server, one handler per event kind.

Ordering rules that make late or repeated events harmless:
- every command to an agent is issued at a new generation (`generation + 1`);
- an event older than the server's generation is stale and ignored;
- an event of the current generation only moves the server out of the transitional state it
  answers (a SPAWNED for a server that is no longer BUILDING changes nothing);
- what an agent merely observed (POWER_STATE_CHANGED, VANISHED) is about the server only
  when it comes from the host the server is on (a move's source may still report the VM it
  handed over, at the move's generation);
- within one generation, what an agent merely observed is applied in the order the agent saw
  it, whatever order it is delivered in: the newest observation applied is recorded on the
  server (`Outcome.observed`) and an older one is ignored (`supersedes`). A hard reboot's brief power-off reported late, just before the
  power-on, must never be applied after it.

One concern: what each agent event does to a server; one handler per event kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Final

from polyvisor.api import models as m
from polyvisor.api.lifecycle import resize
from polyvisor.api.lifecycle.actions import ACTIONS
from polyvisor.api.lifecycle.deadlines import SNAPSHOT_TASKS, image_left_unfilled
from polyvisor.api.lifecycle.interfaces import (
    PORT_TASKS,
    on_port_attached,
    on_port_command_failed,
    on_port_detached,
)
from polyvisor.api.lifecycle.model import (
    UNSET,
    AgentEvent,
    Change,
    Deadlines,
    EventKind,
    Outcome,
    ignore,
)
from polyvisor.api.lifecycle.shortcuts import deleted
from polyvisor.api.lifecycle.volumes import (
    VOLUME_TASKS,
    on_volume_attached,
    on_volume_command_failed,
    on_volume_detached,
)
from polyvisor.api.lifecycle.work import ReleaseClaim, ReleaseReason, Reschedule
from polyvisor.api.models import Power, State, Task

__all__ = ["OBSERVATIONS", "apply_event", "observation_of", "supersedes"]

Handler = Callable[[m.Server, AgentEvent, datetime, Deadlines], Outcome]

# What an agent saw on its own, answering no command: applied in the order it was seen.
OBSERVATIONS: Final = frozenset({EventKind.POWER_STATE_CHANGED, EventKind.VANISHED})
# Answers to commands that report the power state they left: they keep the generation rules
# (never ignored for their time), and when applied they date the power state they set.
_POWER_ANSWERS: Final = frozenset(
    {
        EventKind.SPAWNED,
        EventKind.POWERED_ON,
        EventKind.POWERED_OFF,
        EventKind.REBOOTED,
        EventKind.COMMAND_FAILED,
        EventKind.DESTROYED,
        EventKind.SNAPSHOTTED,
        EventKind.REBUILT,
    }
)


def observation_of(ev: AgentEvent) -> m.Observation | None:
    """The observation an event dates, or None (not about power, or not stamped)."""
    if ev.occurred_at is None or ev.kind not in OBSERVATIONS | _POWER_ANSWERS:
        return None
    return m.Observation(ev.generation, ev.agent_id, ev.occurred_at)


def supersedes(new: m.Observation, old: m.Observation | None) -> bool:
    """True when `new` is not older than `old`, the newest observation applied.

    A newer generation always wins (commands order generations). Within one generation the
    agent's timestamps decide: all events of a server come from the agent of the one host it
    is on, so comparing two times of the same agent's clock is sound, whatever its skew to
    ours. Two different agent processes (a restarted agent, or a VMware agent replica that
    took over the lease) do not share a clock: the later sender wins, since the one before it
    has stopped acting. Equal times are not older (a redelivery of the same event is
    harmless)."""
    if old is None:
        return True
    if new.generation != old.generation:
        return new.generation > old.generation
    if new.agent_id != old.agent_id:
        return True
    return new.at >= old.at


def apply_event(
    server: m.Server,
    ev: AgentEvent,
    now: datetime,
    d: Deadlines,
    observed: m.Observation | None = None,
) -> Outcome:
    """What an agent's event does to a server (read under a row lock); `observed` is the
    newest observation already applied to it (see `supersedes`)."""
    if server.state == State.DELETED:
        return ignore("server deleted")
    if ev.generation < server.generation:
        return ignore(f"stale: event generation {ev.generation} < {server.generation}")
    handler = EVENTS.get(ev.kind)
    moved = None
    if server.resize is not None and server.task in resize.TASKS:
        moved = resize.on_event(server, ev, now, d)
    if moved is not None:
        handler = _decided(moved)
    elif ev.kind in OBSERVATIONS and not _from_current_host(server, ev):
        # Seen by the agent of a host the server has left (the source of a move that just
        # completed: the VM powered off on its way out, then gone from its listing).
        return ignore(f"{ev.kind} from {ev.host}: the server is on {server.host}")
    if handler is None:
        return ignore(f"unknown event kind {ev.kind.value!r}")
    seen = observation_of(ev)
    newer = seen is not None and supersedes(seen, observed)
    if ev.kind in OBSERVATIONS and seen is not None and observed is not None and not newer:
        return ignore(
            f"older observation: seen at {seen.at.isoformat()}, "
            f"{observed.at.isoformat()} already applied"
        )
    out = handler(server, ev, now, d)
    if newer and (ev.kind in OBSERVATIONS or not out.noop):
        out = replace(out, observed=seen)
    return out


def _decided(out: Outcome) -> Handler:
    """A handler that answers what was already decided (a resize's step)."""

    def handle(server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines) -> Outcome:
        return out

    return handle


def _from_current_host(server: m.Server, ev: AgentEvent) -> bool:
    return not ev.host or not server.host or ev.host == server.host


def _facts(ev: AgentEvent) -> Change:
    """Facts about the VM an event may carry along."""
    return Change(
        instance_name=ev.instance_name or UNSET,
        esxi_host=ev.esxi_host or UNSET,
        console=ev.console if ev.console is not None else UNSET,
        addresses=ev.addresses if ev.addresses is not None else UNSET,
    )


def _settled(state: State, power: Power) -> Change:
    """The task in flight is done: the server is `state`, its hypervisor says `power`."""
    return Change(state=state, task=Task.NONE, task_deadline=None, power_state=power, fault=None)


def _fault(code: str, fault: m.Fault, host: str, now: datetime) -> m.Fault:
    return m.Fault(code, fault.message, host, fault.details, now)


# --------------------------------------------------------------------------- builds


def _on_progress(server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines) -> Outcome:
    steps = (Task.FETCHING_IMAGE, Task.SPAWNING)
    if server.state != State.BUILDING or server.task not in steps:
        return ignore("progress outside a build")
    if ev.task is None or ev.task not in steps or ev.task == server.task:
        return ignore("no new build step")
    if not _from_current_host(server, ev):
        return ignore("progress from another host")
    return Outcome(Change(task=ev.task))


def _on_spawned(server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines) -> Outcome:
    if server.state != State.BUILDING or server.task == Task.SCHEDULING:
        return ignore(f"spawned but server is {server.state}/{server.task}")
    if not _from_current_host(server, ev):
        return ignore("spawned on another host")
    power = ev.power_state or Power.RUNNING
    change = _settled(State.ACTIVE, power)
    if server.desired_power_state == Power.SHUTDOWN:
        # A build asked to end off (a stopped server evacuated): SHUTOFF when its host left
        # it off; one that runs all the same (an agent that ignored it) is ACTIVE, as it is.
        off = power in (Power.SHUTDOWN, Power.CRASHED)
        change = change.then(
            Change(state=State.SHUTOFF, desired_power_state=Power.SHUTDOWN)
            if off
            else Change(desired_power_state=Power.RUNNING)
        )
    change = change.then(Change(launch_time=server.launch_time or now)).then(_facts(ev))
    return Outcome(change)


def _on_spawn_failed(server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines) -> Outcome:
    if server.state != State.BUILDING or server.task == Task.SCHEDULING:
        return ignore(f"spawn failure but server is {server.state}/{server.task}")
    if not _from_current_host(server, ev):
        return ignore("spawn failure from another host")
    failed_host = server.host or ev.host
    fault = ev.fault or m.Fault("SPAWN_FAILED", "the host could not spawn the server")
    fault = m.Fault(
        fault.code or "SPAWN_FAILED", fault.message, failed_host, fault.details, fault.time or now
    )
    tried = (*server.tried_hosts, failed_host) if failed_host else server.tried_hosts
    if server.attempts >= d.max_build_attempts:
        limit = m.Fault(
            "RESCHEDULE_LIMIT",
            f"build failed on {server.attempts} host(s); last: {fault.message}",
            failed_host,
            fault.details,
            now,
        )
        change = _settled(State.ERROR, Power.NOSTATE)
        change = change.then(Change(host="", tried_hosts=tried, fault=limit))
        return Outcome(change, (ReleaseClaim(ReleaseReason.BUILD_FAILED, fault.message),))
    # The agent cleaned up (SPAWN_FAILED says so): the claim moves on to an alternate.
    gen = server.generation + 1
    change = Change(
        task=Task.SCHEDULING,
        generation=gen,
        task_deadline=d.after(now, d.scheduling_s),
        host="",
        tried_hosts=tried,
        fault=fault,
    )
    return Outcome(change, (Reschedule(gen),))


# --------------------------------------------------------------------------- power


def _sync_power(server: m.Server, power: Power) -> Outcome:
    """The hypervisor says the power state is `power`; nothing of ours is in flight."""
    if server.task == Task.NONE and server.state in (State.PAUSED, State.SUSPENDED):
        # Let run again outside us (virsh resume, the vSphere client): it is ACTIVE.
        if power == Power.RUNNING:
            return Outcome(
                Change(state=State.ACTIVE, power_state=power, desired_power_state=Power.RUNNING)
            )
        if power != server.power_state:
            return Outcome(Change(power_state=power))
        return ignore("power state unchanged")
    if server.task != Task.NONE or server.state not in (State.ACTIVE, State.SHUTOFF):
        if power != server.power_state and server.state != State.BUILDING:
            return Outcome(Change(power_state=power))
        return ignore("power state change during a task")
    change = Change()
    if power != server.power_state:
        change = Change(power_state=power)
    if power == Power.RUNNING and server.state == State.SHUTOFF:
        change = change.then(Change(state=State.ACTIVE, desired_power_state=Power.RUNNING))
    elif power in (Power.SHUTDOWN, Power.CRASHED) and server.state == State.ACTIVE:
        change = change.then(Change(state=State.SHUTOFF, desired_power_state=Power.SHUTDOWN))
    return Outcome(change) if change else ignore("power state unchanged")


def _answer(task: Task, state: State, power: Power) -> Handler:
    """The event that answers `task`: the server settles as `state` (the power state the
    event reports, `power` if none). Outside that task it only reports the power state."""

    def handle(server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines) -> Outcome:
        if server.task == task:
            return Outcome(_settled(state, ev.power_state or power))
        return _sync_power(server, ev.power_state or power)

    return handle


def _on_rebooted(server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines) -> Outcome:
    if server.state != State.REBOOTING:
        return _sync_power(server, ev.power_state or Power.RUNNING)
    power = ev.power_state or Power.RUNNING
    change = _settled(State.ACTIVE, power)
    if power in (Power.SHUTDOWN, Power.CRASHED):
        # The reboot ran but the hypervisor says the server is not running: say so, never
        # show an ACTIVE server that is off.
        change = change.then(
            Change(
                state=State.SHUTOFF,
                desired_power_state=Power.SHUTDOWN,
                fault=m.Fault(
                    "POWER_FAILED",
                    f"rebooted, but the hypervisor reports the server {power.lower()}",
                    server.host,
                    "",
                    now,
                ),
            )
        )
    return Outcome(change.then(_facts(ev)))


def _on_destroyed(server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines) -> Outcome:
    if server.state != State.DELETING:
        return ignore(f"destroyed while {server.state} (a clean-up)")
    return Outcome(deleted(now), (ReleaseClaim(),), release_quota=True)


def _on_power_state_changed(
    server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines
) -> Outcome:
    if ev.power_state is None:
        return ignore("no power state")
    return _sync_power(server, ev.power_state)


# Tasks whose failure leaves the server in the state it was in, with the fault.
_LEAVES_STATE: Final = frozenset(
    {
        Task.POWERING_ON,
        Task.POWERING_OFF,
        Task.PAUSING,
        Task.UNPAUSING,
        Task.SUSPENDING,
        Task.RESUMING,
    }
)


def _on_command_failed(server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines) -> Outcome:
    fault = ev.fault or m.Fault("POWER_FAILED", "the host could not carry out the command")
    if server.task in SNAPSHOT_TASKS:
        # Nothing changed on the host: the server is where it was, with the fault. The agent
        # killed the half image; the api kills it too (the agent's call may have failed).
        power = ev.power_state or server.power_state
        change = _settled(_state_of(power, server.state), power)
        return Outcome(
            change.then(Change(fault=_fault("SNAPSHOT_FAILED", fault, server.host, now))),
            image_left_unfilled(server, fault.message),
        )
    if server.task == Task.REBUILDING:
        # The old disk may be gone: the server needs a new rebuild (or a delete).
        change = _settled(State.ERROR, ev.power_state or Power.NOSTATE)
        return Outcome(change.then(Change(fault=_fault("REBUILD_FAILED", fault, server.host, now))))
    if server.task in PORT_TASKS:
        return on_port_command_failed(server, ev, now)
    if server.task in VOLUME_TASKS:
        return on_volume_command_failed(server, ev, now)
    if server.task in _LEAVES_STATE:
        change = Change(
            task=Task.NONE,
            task_deadline=None,
            fault=_fault("POWER_FAILED", fault, server.host, now),
            power_state=ev.power_state or UNSET,
        )
        return Outcome(change)
    if server.state == State.REBOOTING:
        power = ev.power_state or server.power_state
        change = _settled(State.ACTIVE if power == Power.RUNNING else State.ERROR, power)
        return Outcome(change.then(Change(fault=_fault("POWER_FAILED", fault, server.host, now))))
    if server.state == State.DELETING:
        change = Change(
            state=State.ERROR,
            task=Task.NONE,
            task_deadline=None,
            fault=_fault("DESTROY_FAILED", fault, server.host, now),
        )
        return Outcome(change)
    return ignore(f"command failure while {server.state}/{server.task}")


# --------------------------------------------------------------------------- day 2


def _state_of(power: Power, was: State) -> State:
    """Where a server that was ACTIVE or SHUTOFF settles after an action on its disk."""
    if power == Power.RUNNING:
        return State.ACTIVE
    if power in (Power.SHUTDOWN, Power.CRASHED, Power.NOSTATE):
        return State.SHUTOFF
    return was if was in (State.ACTIVE, State.SHUTOFF) else State.ACTIVE


def _on_snapshotted(server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines) -> Outcome:
    if not _from_current_host(server, ev):
        return ignore("snapshot from another host")
    if server.task == Task.IMAGE_SNAPSHOT:
        power = ev.power_state or server.power_state
        return Outcome(_settled(_state_of(power, server.state), power))
    if server.task == Task.SHELVING:
        # The image holds the disk and the VM is gone: no host holds the server any more.
        change = _settled(State.SHELVED_OFFLOADED, Power.NOSTATE).then(
            Change(host="", esxi_host="", console=None, instance_name="")
        )
        return Outcome(change, (ReleaseClaim(ReleaseReason.DELETED, "shelved"),))
    return ignore(f"snapshotted while {server.state}/{server.task}")


def _on_rebuilt(server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines) -> Outcome:
    if server.task != Task.REBUILDING:
        return _sync_power(server, ev.power_state or Power.RUNNING)
    if not _from_current_host(server, ev):
        return ignore("rebuilt on another host")
    image_id = str(server.action_args.get("image_id") or server.image_id)
    # Running, or off when it was stopped (the command said `powered_off`): REBUILT says which.
    change = _settled(State.ACTIVE, ev.power_state or Power.RUNNING).then(
        Change(image_id=image_id).then(_facts(ev))
    )
    if change.power_state in (Power.SHUTDOWN, Power.CRASHED):
        change = change.then(Change(state=State.SHUTOFF, desired_power_state=Power.SHUTDOWN))
    else:  # running (if it was to stay off, its agent ignored that: it is ACTIVE, as it is)
        change = change.then(Change(desired_power_state=Power.RUNNING))
    return Outcome(change)


# --------------------------------------------------------------------------- observations


def _on_vanished(server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines) -> Outcome:
    if server.state == State.DELETING:
        return Outcome(deleted(now), (ReleaseClaim(),), release_quota=True)
    if server.state == State.BUILDING or not server.host:
        return ignore(f"vanished while {server.state}")
    fault = ev.fault or m.Fault("VANISHED", "the server is no longer on its hypervisor")
    change = _settled(State.ERROR, Power.NOSTATE).then(
        Change(console=None, fault=_fault("VANISHED", fault, server.host, now))
    )
    return Outcome(change)


def _on_console_updated(server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines) -> Outcome:
    if ev.console is None or server.state in (State.DELETING, State.BUILDING):
        return ignore("no console to record")
    return Outcome(Change(console=ev.console))


def _on_migrated(server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines) -> Outcome:
    if not ev.esxi_host or ev.esxi_host == server.esxi_host:
        return ignore("esxi host unchanged")
    return Outcome(Change(esxi_host=ev.esxi_host))


def _on_addresses_changed(server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines) -> Outcome:
    if ev.addresses is None or tuple(ev.addresses) == server.addresses:
        return ignore("addresses unchanged")
    return Outcome(Change(addresses=tuple(ev.addresses)))


def _answers() -> dict[EventKind, Handler]:
    """The handlers of the answers the transition table names."""
    out: dict[EventKind, Handler] = {}
    for t in ACTIONS.values():
        if t.answer is not None:
            if t.answer.kind in out:
                raise ValueError(f"two actions answered by {t.answer.kind}")
            out[t.answer.kind] = _answer(t.task, t.answer.state, t.answer.power)
    return out


# Every event kind the api acts on (UNWANTED is the agent's own business: ignored).
EVENTS: Final[dict[EventKind, Handler]] = {
    **_answers(),
    EventKind.PROGRESS: _on_progress,
    EventKind.SPAWNED: _on_spawned,
    EventKind.SPAWN_FAILED: _on_spawn_failed,
    EventKind.REBOOTED: _on_rebooted,
    EventKind.DESTROYED: _on_destroyed,
    EventKind.POWER_STATE_CHANGED: _on_power_state_changed,
    EventKind.VANISHED: _on_vanished,
    EventKind.CONSOLE_UPDATED: _on_console_updated,
    EventKind.COMMAND_FAILED: _on_command_failed,
    EventKind.MIGRATED: _on_migrated,
    EventKind.ADDRESSES_CHANGED: _on_addresses_changed,
    EventKind.SNAPSHOTTED: _on_snapshotted,
    EventKind.REBUILT: _on_rebuilt,
    EventKind.PORT_ATTACHED: on_port_attached,
    EventKind.PORT_DETACHED: on_port_detached,
    EventKind.VOLUME_ATTACHED: on_volume_attached,
    EventKind.VOLUME_DETACHED: on_volume_detached,
}
