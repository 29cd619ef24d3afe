"""An admin's reset of a server's state (Nova's os-resetState): the state an operator has found
the server in when the recorded one is wrong. It sends no command; what was in flight is
forgotten (a new generation makes its late answer stale, a scheduling attempt gives its claim
back)."""

from __future__ import annotations

from polyvisor.api import models as m
from polyvisor.api.lifecycle import resize
from polyvisor.api.lifecycle.deadlines import SNAPSHOT_TASKS
from polyvisor.api.lifecycle.interfaces import PORT_TASKS
from polyvisor.api.lifecycle.model import Change, Outcome
from polyvisor.api.lifecycle.volumes import VOLUME_TASKS
from polyvisor.api.models import State, Task
from polyvisor.common.errors import FailedPrecondition, InvalidArgument

__all__ = ["RESET_STATES", "reset_state"]

RESET_STATES = (State.ACTIVE, State.ERROR)
# In flight with resources of their own (a move's claim, a half-made image, a port or a
# volume being bound): each ends by its own deadline, which gives them back.
_HOLDING = resize.TASKS | SNAPSHOT_TASKS | PORT_TASKS | VOLUME_TASKS


def reset_state(server: m.Server, want: State, request_id: str) -> Outcome:
    """ACTIVE (on its host) or ERROR, nothing in flight any more. ACTIVE clears the fault,
    ERROR keeps it."""
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
