"""Placement decisions: what the scheduler is asked for a build, and what its answer (a host,
or none that fits) does to the server. The orchestrator asks and carries these out."""

from __future__ import annotations

from datetime import datetime

from polyvisor.api import models as m
from polyvisor.api.lifecycle.commands import Spawn
from polyvisor.api.lifecycle.model import UNSET, Change, Deadlines, Outcome, ignore
from polyvisor.api.lifecycle.work import ReleaseClaim, Send
from polyvisor.api.models import Power, State, Task
from polyvisor.api.placement import NoValidHost, Placement, PlacementRequest, request_from_spawn
from polyvisor.api.spawnspec import SpawnSpec

__all__ = ["alternates_left", "awaits_scheduling", "on_placement", "placement_request"]


def awaits_scheduling(server: m.Server | None, generation: int) -> bool:
    """The build at `generation` still waits for a host (not deleted, failed or moved on)."""
    return (
        server is not None
        and server.state == State.BUILDING
        and server.task == Task.SCHEDULING
        and server.generation == generation
    )


def placement_request(
    server: m.Server, spec: SpawnSpec, members: tuple[str, ...], generation: int, d: Deadlines
) -> PlacementRequest:
    """What to ask the scheduler (idempotent on "<server>:<generation>"): without the hosts
    that failed, with as many alternates as attempts are left."""
    return request_from_spawn(
        server,
        spec,
        request_id=f"{server.id}:{generation}",
        members=members,
        max_alternates=max(d.max_build_attempts - server.attempts - 1, 0),
    )


def alternates_left(server: m.Server) -> tuple[m.Alternate, ...]:
    """The alternates of the last placement not tried yet, in the scheduler's order."""
    tried = set(server.tried_hosts)
    return tuple(a for a in server.alternates if a.host not in tried)


def on_placement(
    server: m.Server | None,
    generation: int,
    result: Placement | NoValidHost,
    retry_of: m.Fault | None,
    now: datetime,
    d: Deadlines,
) -> Outcome:
    """The scheduler's answer for the build at `generation` (`retry_of`: the fault of the
    failed attempt when this is a reschedule)."""
    if not awaits_scheduling(server, generation):
        # Deleted or timed out meanwhile: whatever was claimed goes back.
        if isinstance(result, Placement):
            return Outcome(work=(ReleaseClaim(),), ignored="no longer waits for a host")
        return ignore("no longer waits for a host")
    assert server is not None
    if isinstance(result, NoValidHost):
        return _no_valid_host(result, retry_of, server.attempts, now)
    deadline = d.after(now, d.build_s)
    attempt = server.attempts + 1
    change = Change(
        host=result.host,
        hypervisor_type=result.hypervisor_type,
        alternates=result.alternates,
        task=Task.SPAWNING,
        task_deadline=deadline,
        attempts=attempt,
        command_attempts=1,
        availability_zone=(
            result.availability_zone
            if result.availability_zone and not server.availability_zone
            else UNSET
        ),
    )
    spawn = Spawn(
        result.host,
        generation,
        deadline,
        server.request_id,
        attempt=attempt,
        disk_format=result.disk_format,
        vmware_disktype=result.vmware_disktype,
        # A build asked to end off (a stopped server evacuated) is never started.
        powered_off=server.desired_power_state == Power.SHUTDOWN,
    )
    return Outcome(change, (Send(spawn),))


def _no_valid_host(
    result: NoValidHost, retry_of: m.Fault | None, attempts: int, now: datetime
) -> Outcome:
    if retry_of is not None:
        message = (
            f"no other host fits after {attempts} failed attempt(s) "
            f"(last: {retry_of.message}): {result.summary}"
        )
    else:
        message = f"no valid host: {result.summary}"
    fault = m.Fault(
        "NO_VALID_HOST",
        message,
        retry_of.host if retry_of else "",
        retry_of.details if retry_of else "",
        now,
        no_valid_host=result.explanation or None,
    )
    return Outcome(
        Change(
            state=State.ERROR,
            task=Task.NONE,
            task_deadline=None,
            power_state=Power.NOSTATE,
            host="",
            fault=fault,
        )
    )
