"""The server state machine, as pure functions.

Every decision about a server's state is made here, from the server as it is (read under a
row lock) and what happened (a user action, an agent event, a deadline passing). The result is
an `Outcome`: the columns to change, the commands to send to the host, and the follow-ups
(reschedule, release the scheduler's claim, give back quota). The store applies it in one
transaction; nothing here touches the database, the bus or the clock.

Ordering rules that make late or repeated events harmless:
- every command to an agent is issued at a new generation (`generation + 1`);
- an event older than the server's generation is stale and ignored;
- an event of the current generation only moves the server out of the transitional state it
  answers (a SPAWNED for a server that is no longer BUILDING changes nothing);
- within one generation, what an agent merely observed (POWER_STATE_CHANGED, VANISHED) is
  applied in the order the agent saw it, whatever order it is delivered in: the newest
  observation applied is recorded on the server (`Outcome.observed`) and an older one is
  ignored (`supersedes`). A hard reboot's brief power-off reported late, just before the
  power-on, must never be applied after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from polyvisor.api import models as m
from polyvisor.common.errors import FailedPrecondition


@dataclass(frozen=True, slots=True)
class Deadlines:
    """How long each transitional state may last, and how often commands are retried."""

    scheduling_s: float = 120.0
    build_s: float = 900.0
    power_s: float = 180.0
    reboot_s: float = 300.0
    delete_s: float = 180.0
    # Tries of a power, reboot or destroy command before failing visibly.
    max_command_attempts: int = 3
    # Hosts tried for one build (1 + reschedules).
    max_build_attempts: int = 3

    def after(self, now: datetime, seconds: float) -> datetime:
        return now + timedelta(seconds=seconds)


@dataclass(frozen=True, slots=True)
class Command:
    """A command to send to the agent of `host` at `generation`."""

    verb: str  # spawn, destroy, power_on, power_off, reboot
    host: str
    generation: int
    deadline: datetime | None = None
    hard: bool = False
    reason: str = ""
    request_id: str = ""

    @property
    def message_id(self) -> str:
        """The JetStream de-duplication id: one command per (server, generation, verb)."""
        return f"{self.generation}:{self.verb}"


@dataclass(frozen=True, slots=True)
class AgentEvent:
    """An agent's event about one server (the domain view of events.v1.ServerEvent)."""

    event_id: str
    server_id: str
    generation: int
    host: str
    kind: str  # ServerEventKind without prefix: SPAWNED, SPAWN_FAILED, ...
    power_state: str = ""
    fault: m.Fault | None = None
    esxi_host: str = ""
    console: m.Console | None = None
    task: str = ""
    instance_name: str = ""
    addresses: tuple[m.Address, ...] | None = None
    command_id: str = ""
    # Stamped by the agent (its own clock) when it made the event, and which agent process.
    occurred_at: datetime | None = None
    agent_id: str = ""


@dataclass(slots=True)
class Outcome:
    """What to do to one server. Empty `changes` and no follow-ups: nothing happens."""

    changes: dict[str, Any] = field(default_factory=dict)
    commands: list[Command] = field(default_factory=list)
    reschedule: bool = False
    release_claim: bool = False
    release_quota: bool = False
    # Why the claim is released: DELETED, or BUILD_FAILED (counted against the host).
    release_reason: str = "DELETED"
    release_detail: str = ""
    ignored: str = ""
    # The agent's observation to record on the server (recorded even when nothing else
    # changes: a power state confirmed is what makes an older contrary report stale).
    observed: m.Observation | None = None

    @property
    def noop(self) -> bool:
        return not (
            self.changes
            or self.commands
            or self.reschedule
            or self.release_claim
            or self.release_quota
        )

    @property
    def change_type(self) -> str:
        return "DELETED" if self.changes.get("state") == m.DELETED else "UPDATED"


def _ignore(reason: str) -> Outcome:
    return Outcome(ignored=reason)


def _deleted(now: datetime) -> dict[str, Any]:
    return {
        "state": m.DELETED,
        "task": m.TASK_NONE,
        "task_deadline": None,
        "power_state": m.NOSTATE,
        "delete_time": now,
        "console": None,
    }


# --------------------------------------------------------------------------- user actions


def plan_start(server: m.Server, now: datetime, d: Deadlines, request_id: str = "") -> Outcome:
    _require_settled(server, "start")
    if server.state != m.SHUTOFF:
        raise FailedPrecondition(
            f"server {server.id} is {server.state}; start needs SHUTOFF",
            {"server_id": server.id, "state": server.state},
        )
    return _power_command(
        server, now, d, "power_on", m.POWERING_ON, m.RUNNING, d.power_s, request_id
    )


def plan_stop(server: m.Server, now: datetime, d: Deadlines, request_id: str = "") -> Outcome:
    _require_settled(server, "stop")
    if server.state != m.ACTIVE:
        raise FailedPrecondition(
            f"server {server.id} is {server.state}; stop needs ACTIVE",
            {"server_id": server.id, "state": server.state},
        )
    return _power_command(
        server, now, d, "power_off", m.POWERING_OFF, m.SHUTDOWN, d.power_s, request_id
    )


def plan_reboot(
    server: m.Server, now: datetime, d: Deadlines, hard: bool, request_id: str = ""
) -> Outcome:
    if hard:
        # A hard reboot may interrupt a soft one, and recovers SHUTOFF or ERROR servers that
        # still have a host.
        busy = server.task not in (m.TASK_NONE, m.TASK_REBOOTING)
        allowed = server.state in (m.ACTIVE, m.SHUTOFF, m.REBOOTING) or (
            server.state == m.ERROR and server.host
        )
        if busy or not allowed:
            raise FailedPrecondition(
                f"server {server.id} is {server.state} ({server.task}); a hard reboot needs "
                "ACTIVE, SHUTOFF or a placed ERROR server with nothing in flight",
                {"server_id": server.id, "state": server.state, "task": server.task},
            )
        task = m.REBOOTING_HARD
    else:
        _require_settled(server, "reboot")
        if server.state != m.ACTIVE:
            raise FailedPrecondition(
                f"server {server.id} is {server.state}; a soft reboot needs ACTIVE",
                {"server_id": server.id, "state": server.state},
            )
        task = m.TASK_REBOOTING
    gen = server.generation + 1
    return Outcome(
        changes={
            "state": m.REBOOTING,
            "task": task,
            "generation": gen,
            "task_deadline": d.after(now, d.reboot_s),
            "desired_power_state": m.RUNNING,
            "command_attempts": 1,
            "last_request_id": request_id,
            "fault": None,
        },
        commands=[
            Command(
                "reboot",
                server.host,
                gen,
                d.after(now, d.reboot_s),
                hard=hard,
                request_id=request_id,
            )
        ],
    )


def plan_delete(server: m.Server, now: datetime, d: Deadlines, request_id: str = "") -> Outcome:
    """Delete works in every state. A server with no host is gone at once; otherwise its host
    is told to destroy it (after whatever command it is working on: commands are ordered)."""
    if server.state in (m.DELETED, m.DELETING):
        return _ignore(f"already {server.state}")
    gen = server.generation + 1
    if not server.host:
        # Never placed (or its build failed and the host cleaned up): nothing on any host. A
        # scheduling attempt in flight sees the generation moved and gives its claim back.
        return Outcome(
            changes={**_deleted(now), "generation": gen, "last_request_id": request_id},
            release_claim=True,
            release_quota=True,
        )
    return Outcome(
        changes={
            "state": m.DELETING,
            "task": m.TASK_DELETING,
            "generation": gen,
            "task_deadline": d.after(now, d.delete_s),
            "command_attempts": 1,
            "last_request_id": request_id,
        },
        commands=[
            Command(
                "destroy",
                server.host,
                gen,
                d.after(now, d.delete_s),
                reason="deleted by the user",
                request_id=request_id,
            )
        ],
    )


def _require_settled(server: m.Server, action: str) -> None:
    if server.task != m.TASK_NONE:
        raise FailedPrecondition(
            f"server {server.id} is busy ({server.state}, {server.task}); cannot {action} now",
            {"server_id": server.id, "state": server.state, "task": server.task},
        )


def _power_command(
    server: m.Server,
    now: datetime,
    d: Deadlines,
    verb: str,
    task: str,
    desired: str,
    timeout_s: float,
    request_id: str,
) -> Outcome:
    gen = server.generation + 1
    deadline = d.after(now, timeout_s)
    return Outcome(
        changes={
            "task": task,
            "generation": gen,
            "task_deadline": deadline,
            "desired_power_state": desired,
            "command_attempts": 1,
            "last_request_id": request_id,
            "fault": None,
        },
        commands=[Command(verb, server.host, gen, deadline, request_id=request_id)],
    )


# --------------------------------------------------------------------------- agent events


# What an agent saw on its own, answering no command: applied in the order it was seen.
OBSERVATIONS = frozenset({"POWER_STATE_CHANGED", "VANISHED"})
# Answers to commands that report the power state they left: they keep the generation rules
# (never ignored for their time), and when applied they date the power state they set.
_POWER_ANSWERS = frozenset(
    {"SPAWNED", "POWERED_ON", "POWERED_OFF", "REBOOTED", "COMMAND_FAILED", "DESTROYED"}
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
    if server.state == m.DELETED:
        return _ignore("server deleted")
    if ev.generation < server.generation:
        return _ignore(f"stale: event generation {ev.generation} < {server.generation}")
    handler = _EVENT_HANDLERS.get(ev.kind)
    if handler is None:
        return _ignore(f"unknown event kind {ev.kind!r}")
    seen = observation_of(ev)
    newer = seen is not None and supersedes(seen, observed)
    if ev.kind in OBSERVATIONS and seen is not None and observed is not None and not newer:
        return _ignore(
            f"older observation: seen at {seen.at.isoformat()}, "
            f"{observed.at.isoformat()} already applied"
        )
    out = handler(server, ev, now, d)
    if newer and (ev.kind in OBSERVATIONS or not out.noop):
        out.observed = seen
    return out


def _from_current_host(server: m.Server, ev: AgentEvent) -> bool:
    return not ev.host or not server.host or ev.host == server.host


def _on_progress(server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines) -> Outcome:
    if server.state != m.BUILDING or server.task not in (m.FETCHING_IMAGE, m.SPAWNING):
        return _ignore("progress outside a build")
    if ev.task not in (m.FETCHING_IMAGE, m.SPAWNING) or ev.task == server.task:
        return _ignore("no new build step")
    if not _from_current_host(server, ev):
        return _ignore("progress from another host")
    return Outcome(changes={"task": ev.task})


def _on_spawned(server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines) -> Outcome:
    if server.state != m.BUILDING or server.task == m.SCHEDULING:
        return _ignore(f"spawned but server is {server.state}/{server.task}")
    if not _from_current_host(server, ev):
        return _ignore("spawned on another host")
    changes: dict[str, Any] = {
        "state": m.ACTIVE,
        "task": m.TASK_NONE,
        "task_deadline": None,
        "power_state": ev.power_state or m.RUNNING,
        "fault": None,
        "launch_time": server.launch_time or now,
    }
    _observed(changes, ev)
    return Outcome(changes=changes)


def _observed(changes: dict[str, Any], ev: AgentEvent) -> None:
    """Facts about the VM an event may carry along."""
    if ev.instance_name:
        changes["instance_name"] = ev.instance_name
    if ev.esxi_host:
        changes["esxi_host"] = ev.esxi_host
    if ev.console is not None:
        changes["console"] = ev.console
    if ev.addresses is not None:
        changes["addresses"] = tuple(ev.addresses)


def _on_spawn_failed(server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines) -> Outcome:
    if server.state != m.BUILDING or server.task == m.SCHEDULING:
        return _ignore(f"spawn failure but server is {server.state}/{server.task}")
    if not _from_current_host(server, ev):
        return _ignore("spawn failure from another host")
    failed_host = server.host or ev.host
    fault = ev.fault or m.Fault("SPAWN_FAILED", "the host could not spawn the server")
    fault = m.Fault(
        fault.code or "SPAWN_FAILED", fault.message, failed_host, fault.details, fault.time or now
    )
    tried = (*server.tried_hosts, failed_host) if failed_host else server.tried_hosts
    if server.attempts >= d.max_build_attempts:
        return Outcome(
            changes={
                "state": m.ERROR,
                "task": m.TASK_NONE,
                "task_deadline": None,
                "power_state": m.NOSTATE,
                "host": "",
                "tried_hosts": tried,
                "fault": m.Fault(
                    "RESCHEDULE_LIMIT",
                    f"build failed on {server.attempts} host(s); last: {fault.message}",
                    failed_host,
                    fault.details,
                    now,
                ),
            },
            release_claim=True,
            release_reason="BUILD_FAILED",
            release_detail=fault.message,
        )
    # The agent cleaned up (SPAWN_FAILED says so): the claim moves on to an alternate.
    return Outcome(
        changes={
            "task": m.SCHEDULING,
            "generation": server.generation + 1,
            "task_deadline": d.after(now, d.scheduling_s),
            "host": "",
            "tried_hosts": tried,
            "fault": fault,
        },
        reschedule=True,
    )


def _on_powered_on(server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines) -> Outcome:
    if server.task == m.POWERING_ON:
        return Outcome(
            changes={
                "state": m.ACTIVE,
                "task": m.TASK_NONE,
                "task_deadline": None,
                "power_state": ev.power_state or m.RUNNING,
                "fault": None,
            }
        )
    return _sync_power(server, ev.power_state or m.RUNNING)


def _on_powered_off(server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines) -> Outcome:
    if server.task == m.POWERING_OFF:
        return Outcome(
            changes={
                "state": m.SHUTOFF,
                "task": m.TASK_NONE,
                "task_deadline": None,
                "power_state": ev.power_state or m.SHUTDOWN,
                "fault": None,
            }
        )
    return _sync_power(server, ev.power_state or m.SHUTDOWN)


def _on_rebooted(server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines) -> Outcome:
    if server.state != m.REBOOTING:
        return _sync_power(server, ev.power_state or m.RUNNING)
    power = ev.power_state or m.RUNNING
    changes: dict[str, Any] = {
        "state": m.ACTIVE,
        "task": m.TASK_NONE,
        "task_deadline": None,
        "power_state": power,
        "fault": None,
    }
    if power in (m.SHUTDOWN, m.CRASHED):
        # The reboot ran but the hypervisor says the server is not running: say so, never
        # show an ACTIVE server that is off.
        changes["state"] = m.SHUTOFF
        changes["desired_power_state"] = m.SHUTDOWN
        changes["fault"] = m.Fault(
            "POWER_FAILED",
            f"rebooted, but the hypervisor reports the server {power.lower()}",
            server.host,
            "",
            now,
        )
    _observed(changes, ev)
    return Outcome(changes=changes)


def _on_destroyed(server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines) -> Outcome:
    if server.state != m.DELETING:
        return _ignore(f"destroyed while {server.state} (a clean-up)")
    return Outcome(changes=_deleted(now), release_claim=True, release_quota=True)


def _sync_power(server: m.Server, power: str) -> Outcome:
    """The hypervisor says the power state is `power`; nothing of ours is in flight."""
    if server.task != m.TASK_NONE or server.state not in (m.ACTIVE, m.SHUTOFF):
        if power and power != server.power_state and server.state != m.BUILDING:
            return Outcome(changes={"power_state": power})
        return _ignore("power state change during a task")
    changes: dict[str, Any] = {}
    if power != server.power_state:
        changes["power_state"] = power
    if power == m.RUNNING and server.state == m.SHUTOFF:
        changes["state"] = m.ACTIVE
        changes["desired_power_state"] = m.RUNNING
    elif power in (m.SHUTDOWN, m.CRASHED) and server.state == m.ACTIVE:
        changes["state"] = m.SHUTOFF
        changes["desired_power_state"] = m.SHUTDOWN
    return Outcome(changes=changes) if changes else _ignore("power state unchanged")


def _on_power_state_changed(
    server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines
) -> Outcome:
    if not ev.power_state:
        return _ignore("no power state")
    return _sync_power(server, ev.power_state)


def _on_vanished(server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines) -> Outcome:
    if server.state == m.DELETING:
        return Outcome(changes=_deleted(now), release_claim=True, release_quota=True)
    if server.state == m.BUILDING or not server.host:
        return _ignore(f"vanished while {server.state}")
    fault = ev.fault or m.Fault("VANISHED", "the server is no longer on its hypervisor")
    return Outcome(
        changes={
            "state": m.ERROR,
            "task": m.TASK_NONE,
            "task_deadline": None,
            "power_state": m.NOSTATE,
            "console": None,
            "fault": m.Fault("VANISHED", fault.message, server.host, fault.details, now),
        }
    )


def _on_console_updated(server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines) -> Outcome:
    if ev.console is None or server.state in (m.DELETING, m.BUILDING):
        return _ignore("no console to record")
    return Outcome(changes={"console": ev.console})


def _on_command_failed(server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines) -> Outcome:
    fault = ev.fault or m.Fault("POWER_FAILED", "the host could not carry out the command")
    if server.task in (m.POWERING_ON, m.POWERING_OFF):
        changes: dict[str, Any] = {
            "task": m.TASK_NONE,
            "task_deadline": None,
            "fault": m.Fault("POWER_FAILED", fault.message, server.host, fault.details, now),
        }
        if ev.power_state:
            changes["power_state"] = ev.power_state
        return Outcome(changes=changes)
    if server.state == m.REBOOTING:
        power = ev.power_state or server.power_state
        return Outcome(
            changes={
                "state": m.ACTIVE if power == m.RUNNING else m.ERROR,
                "task": m.TASK_NONE,
                "task_deadline": None,
                "power_state": power,
                "fault": m.Fault("POWER_FAILED", fault.message, server.host, fault.details, now),
            }
        )
    if server.state == m.DELETING:
        return Outcome(
            changes={
                "state": m.ERROR,
                "task": m.TASK_NONE,
                "task_deadline": None,
                "fault": m.Fault("DESTROY_FAILED", fault.message, server.host, fault.details, now),
            }
        )
    return _ignore(f"command failure while {server.state}/{server.task}")


def _on_migrated(server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines) -> Outcome:
    if not ev.esxi_host or ev.esxi_host == server.esxi_host:
        return _ignore("esxi host unchanged")
    return Outcome(changes={"esxi_host": ev.esxi_host})


def _on_addresses_changed(server: m.Server, ev: AgentEvent, now: datetime, d: Deadlines) -> Outcome:
    if ev.addresses is None or tuple(ev.addresses) == server.addresses:
        return _ignore("addresses unchanged")
    return Outcome(changes={"addresses": tuple(ev.addresses)})


_EVENT_HANDLERS = {
    "PROGRESS": _on_progress,
    "SPAWNED": _on_spawned,
    "SPAWN_FAILED": _on_spawn_failed,
    "POWERED_ON": _on_powered_on,
    "POWERED_OFF": _on_powered_off,
    "REBOOTED": _on_rebooted,
    "DESTROYED": _on_destroyed,
    "POWER_STATE_CHANGED": _on_power_state_changed,
    "VANISHED": _on_vanished,
    "CONSOLE_UPDATED": _on_console_updated,
    "COMMAND_FAILED": _on_command_failed,
    "MIGRATED": _on_migrated,
    "ADDRESSES_CHANGED": _on_addresses_changed,
}


# --------------------------------------------------------------------------- deadlines


def plan_timeout(server: m.Server, now: datetime, d: Deadlines) -> Outcome:
    """A transitional state passed its deadline: fail the build, or retry the command, or
    fail it visibly once it has been tried `max_command_attempts` times."""
    if server.task == m.TASK_NONE or server.state == m.DELETED:
        return _ignore("nothing in flight")
    if server.task_deadline is None or server.task_deadline > now:
        return _ignore("not overdue")
    if server.state == m.BUILDING:
        return _build_timeout(server, now, d)
    verb, timeout_s, hard = {
        m.POWERING_ON: ("power_on", d.power_s, False),
        m.POWERING_OFF: ("power_off", d.power_s, False),
        m.TASK_REBOOTING: ("reboot", d.reboot_s, False),
        m.REBOOTING_HARD: ("reboot", d.reboot_s, True),
        m.TASK_DELETING: ("destroy", d.delete_s, False),
    }.get(server.task, ("", 0.0, False))
    if not verb:
        return _ignore(f"no deadline rule for task {server.task}")
    if server.command_attempts < d.max_command_attempts and server.host:
        gen = server.generation + 1
        deadline = d.after(now, timeout_s)
        return Outcome(
            changes={
                "generation": gen,
                "task_deadline": deadline,
                "command_attempts": server.command_attempts + 1,
            },
            commands=[
                Command(
                    verb,
                    server.host,
                    gen,
                    deadline,
                    hard=hard,
                    reason="retry after timeout" if verb == "destroy" else "",
                    request_id=server.last_request_id,
                )
            ],
        )
    message = (
        f"{verb.replace('_', ' ')} did not complete after {server.command_attempts} "
        f"attempt(s) of {timeout_s:g}s"
    )
    fault = m.Fault("TIMEOUT", message, server.host, "", now)
    if server.task in (m.POWERING_ON, m.POWERING_OFF):
        # The server stays where it was; the failure is on the server for all to see, and the
        # power state is no longer known.
        return Outcome(
            changes={
                "task": m.TASK_NONE,
                "task_deadline": None,
                "power_state": m.UNKNOWN,
                "fault": fault,
            }
        )
    return Outcome(
        changes={
            "state": m.ERROR,
            "task": m.TASK_NONE,
            "task_deadline": None,
            "power_state": m.UNKNOWN,
            "fault": fault,
        }
    )


def _build_timeout(server: m.Server, now: datetime, d: Deadlines) -> Outcome:
    gen = server.generation + 1
    if server.task == m.SCHEDULING or not server.host:
        message = f"scheduling did not finish within {d.scheduling_s:g}s"
        return Outcome(
            changes={
                "state": m.ERROR,
                "task": m.TASK_NONE,
                "task_deadline": None,
                "generation": gen,
                "power_state": m.NOSTATE,
                "fault": m.Fault("TIMEOUT", message, "", "", now),
            },
            release_claim=True,
        )
    message = f"the host did not finish the build within {d.build_s:g}s"
    return Outcome(
        changes={
            "state": m.ERROR,
            "task": m.TASK_NONE,
            "task_deadline": None,
            "generation": gen,
            "power_state": m.NOSTATE,
            "host": "",
            "console": None,
            "fault": m.Fault("TIMEOUT", message, server.host, "", now),
        },
        # Tell the host to remove whatever it created (its reconciler would too: the server
        # is no longer assigned to it).
        commands=[Command("destroy", server.host, gen, None, reason="build timed out")],
        release_claim=True,
        release_reason="BUILD_FAILED",
        release_detail=message,
    )
