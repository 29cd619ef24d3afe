"""The actions that may send no command: a delete of a server no host has (gone at once), an
unshelve (a build again, placed by the scheduler), an admin's reset of the state. They are the `shortcut`s of their entries
in `actions.ACTIONS`; `deleted` is also how `events` settles a server whose host destroyed it.
(Resize's shortcuts are `resize`'s.)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from polyvisor.api import models as m
from polyvisor.api.lifecycle.model import Change, Deadlines, Outcome, ignore
from polyvisor.api.lifecycle.work import ReleaseClaim, Schedule
from polyvisor.api.models import Power, State, Task
from polyvisor.common.errors import FailedPrecondition, InvalidArgument

__all__ = ["delete_at_once", "deleted", "reset_state", "unshelve_by_scheduling"]


# --------------------------------------------------------------------------- delete


def deleted(now: datetime) -> Change:
    """The server is gone."""
    return Change(
        state=State.DELETED,
        task=Task.NONE,
        task_deadline=None,
        power_state=Power.NOSTATE,
        delete_time=now,
        console=None,
    )


def delete_at_once(
    server: m.Server, now: datetime, request_id: str, d: Deadlines, args: Mapping[str, Any]
) -> Outcome | None:
    """A server with no host is gone at once; otherwise its host is told to destroy it (after
    whatever command it is working on: commands are ordered)."""
    if server.state in (State.DELETED, State.DELETING):
        return ignore(f"already {server.state}")
    if server.host:
        return None
    # Never placed (or its build failed and the host cleaned up): nothing on any host. A
    # scheduling attempt in flight sees the generation moved and gives its claim back.
    change = deleted(now).then(Change(generation=server.generation + 1, last_request_id=request_id))
    return Outcome(change, (ReleaseClaim(),), release_quota=True)


# --------------------------------------------------------------------------- shelve


def unshelve_by_scheduling(
    server: m.Server, now: datetime, request_id: str, d: Deadlines, args: Mapping[str, Any]
) -> Outcome:
    """An unshelve is a build from the shelved image (the spawn spec names it): the scheduler
    places it again, on any host that fits, and the build path spawns it."""
    gen = server.generation + 1
    change = Change(
        state=State.BUILDING,
        task=Task.SCHEDULING,
        generation=gen,
        task_deadline=d.after(now, d.scheduling_s),
        desired_power_state=Power.RUNNING,
        command_attempts=1,
        attempts=0,
        tried_hosts=(),
        alternates=(),
        host="",
        last_request_id=request_id,
        fault=None,
    )
    return Outcome(change, (Schedule(gen),))


# --------------------------------------------------------------------------- reset


RESET_STATES = (State.ACTIVE, State.ERROR)
# In flight with resources of their own (a move's claim, a half-made image, a port or a
# volume being bound): each ends by its own deadline, which gives them back.
_HOLDING = frozenset(
    {
        Task.RESIZE_PREP,
        Task.RESIZE_MIGRATING,
        Task.RESIZE_FINISH,
        Task.RESIZE_CONFIRMING,
        Task.RESIZE_REVERTING,
        Task.MIGRATING,
        Task.IMAGE_SNAPSHOT,
        Task.SHELVING,
        Task.ATTACHING_PORT,
        Task.DETACHING_PORT,
        Task.ATTACHING_VOLUME,
        Task.DETACHING_VOLUME,
    }
)


def reset_state(server: m.Server, want: State, request_id: str) -> Outcome:
    """An admin says which state the server is in (Nova's os-resetState): ACTIVE (on its
    host) or ERROR. What was in flight is forgotten: a new generation makes its late answer
    stale, a scheduling attempt gives its claim back. ACTIVE clears the fault."""
    if want not in RESET_STATES:
        raise InvalidArgument(
            f"a server's state can be reset to ACTIVE or ERROR, not {want}", {"field": "state"}
        )
    if server.state == State.VERIFY_RESIZE or server.task in _HOLDING:
        raise FailedPrecondition(
            f"server {server.id} is {server.state} ({server.task}): its resources are held "
            "until that ends (confirm or revert a resize; the rest ends by its deadline)",
            {"server_id": server.id, "state": server.state, "task": server.task},
        )
    if want == State.ACTIVE and not server.host:
        raise FailedPrecondition(
            f"server {server.id} is on no host: it cannot be ACTIVE (reset it to ERROR)",
            {"server_id": server.id, "state": server.state},
        )
    change = Change(
        state=want,
        task=Task.NONE,
        task_deadline=None,
        generation=server.generation + 1,
        last_request_id=request_id,
    )
    return Outcome(change.then(Change(fault=None)) if want == State.ACTIVE else change)
