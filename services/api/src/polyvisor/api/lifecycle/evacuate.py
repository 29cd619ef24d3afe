"""Evacuation: a server whose host is down is built again elsewhere, from its image, as the
same server (id, name, flavor, ports and addresses kept).

It is a build again, as an unshelve is: BUILDING and SCHEDULING at a new generation, the down
host among the hosts tried (the scheduler never picks it), so the build path places it,
spawns it (its ports bound to the new host) and reschedules a failed spawn to an alternate.
A stopped (SHUTOFF) server is built again stopped, as Nova's evacuate keeps it: its desired
power state is SHUTDOWN, so the spawn tells the new host to leave it powered off (never
started) and SPAWNED settles it SHUTOFF; any other comes back ACTIVE.
Its claim on the down host is given back first: the outbox carries one server's entries in
order, so the release is done before the scheduler is asked, and the server never holds two
claims (the scheduler keeps an existing claim of a consumer as it is, so the old one must go
first). Every later answer of the old host is of an older generation, hence stale.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from polyvisor.api import models as m
from polyvisor.api.lifecycle.model import Change, Deadlines, Outcome
from polyvisor.api.lifecycle.work import ReleaseClaim, ReleaseReason, Schedule
from polyvisor.api.models import Power, State, Task
from polyvisor.common.errors import FailedPrecondition

__all__ = ["EVACUABLE", "check_evacuable", "evacuate"]

# Settled states a server may be evacuated from: those that hold a host (a VERIFY_RESIZE
# server is on two hosts: confirm or revert it first).
EVACUABLE: Final = (State.ACTIVE, State.SHUTOFF, State.ERROR, State.PAUSED, State.SUSPENDED)


def check_evacuable(server: m.Server, host: str) -> None:
    """FAILED_PRECONDITION unless `server` is settled on `host` in an evacuable state."""
    if server.host != host:
        raise FailedPrecondition(
            f"server {server.id} is not on host {host} (it is on {server.host or 'no host'})",
            {"server_id": server.id, "host": host},
        )
    if server.task != Task.NONE:
        raise FailedPrecondition(
            f"server {server.id} has {server.task} in flight; evacuate it once that settled "
            "(its deadline ends it)",
            {"server_id": server.id, "state": server.state, "task": server.task},
        )
    if server.state not in EVACUABLE:
        allowed = ", ".join(s.value for s in EVACUABLE)
        raise FailedPrecondition(
            f"server {server.id} is {server.state}; an evacuation moves {allowed} servers",
            {"server_id": server.id, "state": server.state, "allowed_states": allowed},
        )


def evacuate(server: m.Server, now: datetime, request_id: str, d: Deadlines) -> Outcome:
    """Build `server` again on another host than its own (down) one."""
    check_evacuable(server, server.host)
    gen = server.generation + 1
    change = Change(
        state=State.BUILDING,
        task=Task.SCHEDULING,
        generation=gen,
        task_deadline=d.after(now, d.scheduling_s),
        power_state=Power.NOSTATE,
        # A stopped server comes back stopped (built, never started), as Nova's evacuate
        # keeps it; any other comes back running.
        desired_power_state=Power.SHUTDOWN if server.state == State.SHUTOFF else Power.RUNNING,
        command_attempts=1,
        attempts=0,
        tried_hosts=(server.host,),
        alternates=(),
        host="",
        esxi_host="",
        instance_name="",
        console=None,
        last_request_id=request_id,
        fault=None,
    )
    release = ReleaseClaim(ReleaseReason.DELETED, f"evacuated from {server.host}")
    return Outcome(change, (release, Schedule(gen)))
