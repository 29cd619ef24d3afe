"""An admin's reset of a server's state (Nova's os-resetState) in the state machine: ACTIVE or
ERROR, what was in flight forgotten (a new generation), refused where resources are held."""

from __future__ import annotations

import pytest

from polyvisor.api import lifecycle as lc
from polyvisor.api import models as m
from polyvisor.common.errors import FailedPrecondition, InvalidArgument
from services.api.tests.test_lifecycle import NOW, D, server
from services.api.tests.test_lifecycle import apply as run


@pytest.mark.parametrize("want", [m.State.ERROR, m.State.ACTIVE])
def test_a_reset_sets_the_state_and_forgets_what_was_in_flight(want: m.State) -> None:
    rebuilding = run(
        server(), lc.plan(lc.Action.REBUILD, server(), NOW, D, "r", {"image_id": "i2"})
    )
    out = lc.reset_state(rebuilding, want, "reset-1")
    assert out.commands == () and out.work == ()
    after = run(rebuilding, out)
    assert (after.state, after.task, after.task_deadline, after.host) == (
        want,
        m.Task.NONE,
        None,
        "h1",
    )
    assert after.generation == rebuilding.generation + 1
    # The rebuild's late answer is stale now.
    late = lc.apply_event(
        after, lc.AgentEvent("e", "s1", rebuilding.generation, "h1", lc.EventKind.REBUILT), NOW, D
    )
    assert late.noop


def test_error_keeps_the_fault_active_clears_it() -> None:
    fault = m.Fault("REBUILD_FAILED", "disk gone", "h1")
    failed = server(state=m.State.ERROR, fault=fault)
    assert run(failed, lc.reset_state(failed, m.State.ERROR, "r")).fault == fault
    assert run(failed, lc.reset_state(failed, m.State.ACTIVE, "r")).fault is None


def test_a_reset_is_refused_where_it_would_strand_something() -> None:
    with pytest.raises(InvalidArgument, match="ACTIVE or ERROR"):
        lc.reset_state(server(), m.State.SHUTOFF, "r")
    with pytest.raises(FailedPrecondition, match="on no host"):
        lc.reset_state(server(state=m.State.ERROR, host=""), m.State.ACTIVE, "r")
    # ... but ERROR on no host is fine (a build stuck in scheduling).
    building = server(state=m.State.BUILDING, task=m.Task.SCHEDULING, host="")
    assert run(building, lc.reset_state(building, m.State.ERROR, "r")).state == m.State.ERROR
    for task in (m.Task.RESIZE_MIGRATING, m.Task.MIGRATING, m.Task.IMAGE_SNAPSHOT,
                 m.Task.ATTACHING_PORT, m.Task.DETACHING_VOLUME):  # fmt: skip
        with pytest.raises(FailedPrecondition, match="held"):
            lc.reset_state(server(task=task), m.State.ERROR, "r")
    with pytest.raises(FailedPrecondition, match="confirm or revert"):
        lc.reset_state(server(state=m.State.VERIFY_RESIZE), m.State.ACTIVE, "r")
