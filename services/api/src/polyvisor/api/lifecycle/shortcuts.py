"""The actions that may send no command: a delete of a server no host has (gone at once), an
unshelve (a build again, placed by the scheduler). They are the `shortcut`s of their entries
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

__all__ = ["delete_at_once", "deleted", "unshelve_by_scheduling"]


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
