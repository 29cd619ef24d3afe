"""Deadlines: what happens when a transitional state outlives its deadline.

A build that overran fails (and its host is told to clean up); an action's command is sent
again at a new generation until it has been tried `max_command_attempts` times, then the
action fails visibly (its `Transition` says how: `on_timeout`).
"""

from __future__ import annotations

from datetime import datetime

from polyvisor.api import models as m
from polyvisor.api.lifecycle import resize
from polyvisor.api.lifecycle.actions import BY_TASK, command_for
from polyvisor.api.lifecycle.commands import Destroy
from polyvisor.api.lifecycle.model import UNSET, Change, Deadlines, Outcome, ignore
from polyvisor.api.lifecycle.work import FailImage, OutboxWork, ReleaseClaim, ReleaseReason, Send
from polyvisor.api.models import Power, State, Task

__all__ = ["SNAPSHOT_TASKS", "image_left_unfilled", "plan_timeout"]

# The tasks that fill an image (`action_args["image_id"]`) the api made before it asked.
SNAPSHOT_TASKS = frozenset({Task.IMAGE_SNAPSHOT, Task.SHELVING})


def image_left_unfilled(server: m.Server, reason: str) -> tuple[OutboxWork, ...]:
    """A snapshot that ends without its answer leaves no QUEUED (or half) image behind: the
    image service kills the one it was filling, with the reason."""
    image_id = str(server.action_args.get("image_id") or "")
    if server.task not in SNAPSHOT_TASKS or not image_id:
        return ()
    return (FailImage(image_id, reason),)


def plan_timeout(server: m.Server, now: datetime, d: Deadlines) -> Outcome:
    """A transitional state passed its deadline: fail the build, or retry the command, or
    fail it visibly once it has been tried `max_command_attempts` times."""
    if server.state != State.DELETED:
        moved = resize.plan_timeout(server, now, d)
        if moved is not None:
            return moved
    if server.task == Task.NONE or server.state == State.DELETED:
        return ignore("nothing in flight")
    if server.task_deadline is None or server.task_deadline > now:
        return ignore("not overdue")
    if server.state == State.BUILDING:
        return _build_timeout(server, now, d)
    t = BY_TASK.get(server.task)
    if t is None:
        return ignore(f"no deadline rule for task {server.task}")
    timeout_s = t.timeout(d)
    gen = server.generation + 1
    deadline = d.after(now, timeout_s)
    retry = command_for(
        t.retry or t.command,
        server.host,
        gen,
        deadline,
        server.last_request_id,
        server.action_args,
    )
    if server.command_attempts < d.max_command_attempts and server.host:
        change = Change(
            generation=gen, task_deadline=deadline, command_attempts=server.command_attempts + 1
        )
        return Outcome(change, (Send(retry),))
    message = (
        f"{retry.verb.replace('_', ' ')} did not complete after {server.command_attempts} "
        f"attempt(s) of {timeout_s:g}s"
    )
    # The power state is no longer known; the failure is on the server for all to see (a
    # power action leaves the server where it was: `on_timeout` None).
    return Outcome(
        Change(
            state=t.on_timeout or UNSET,
            task=Task.NONE,
            task_deadline=None,
            power_state=Power.UNKNOWN,
            fault=m.Fault("TIMEOUT", message, server.host, "", now),
        ),
        image_left_unfilled(server, message),
    )


def _build_timeout(server: m.Server, now: datetime, d: Deadlines) -> Outcome:
    gen = server.generation + 1
    failed = Change(
        state=State.ERROR,
        task=Task.NONE,
        task_deadline=None,
        generation=gen,
        power_state=Power.NOSTATE,
    )
    if server.task == Task.SCHEDULING or not server.host:
        message = f"scheduling did not finish within {d.scheduling_s:g}s"
        fault = m.Fault("TIMEOUT", message, "", "", now)
        return Outcome(failed.then(Change(fault=fault)), (ReleaseClaim(),))
    message = f"the host did not finish the build within {d.build_s:g}s"
    fault = m.Fault("TIMEOUT", message, server.host, "", now)
    return Outcome(
        failed.then(Change(host="", console=None, fault=fault)),
        (
            # Tell the host to remove whatever it created (its reconciler would too: the
            # server is no longer assigned to it).
            Send(Destroy(server.host, gen, None, reason="build timed out")),
            ReleaseClaim(ReleaseReason.BUILD_FAILED, message),
        ),
    )
