"""Evacuation as a decision: where it may start, and what it does (a build again, elsewhere,
the down host's claim given back before the scheduler is asked)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from polyvisor.api import lifecycle as lc
from polyvisor.api import models as m
from polyvisor.api.lifecycle import evacuate as ev
from polyvisor.api.placement import Placement
from polyvisor.common.errors import FailedPrecondition

NOW = datetime(2026, 1, 1, tzinfo=UTC)
D = lc.Deadlines(scheduling_s=10, build_s=60, power_s=20, reboot_s=30, delete_s=40)


def server(**kw: object) -> m.Server:
    base = m.Server(
        id="s1",
        project_id="p1",
        user_id="u1",
        name="vm",
        image_id="i1",
        flavor=m.ServerFlavor("f1", "small", 1, 512, 1),
        state=m.State.ACTIVE,
        task=m.Task.NONE,
        power_state=m.Power.RUNNING,
        desired_power_state=m.Power.SHUTDOWN,
        generation=3,
        revision=10,
        create_time=NOW,
        update_time=NOW,
        host="h1",
        attempts=1,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def event(kind: str, generation: int, host: str = "h1", **kw: object) -> lc.AgentEvent:
    return lc.AgentEvent(
        event_id="e", server_id="s1", generation=generation, host=host, kind=lc.EventKind(kind),
        **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def apply(s: m.Server, out: lc.Outcome) -> m.Server:
    return out.change.applied_to(s)


@pytest.mark.parametrize("state", ["ACTIVE", "SHUTOFF", "ERROR", "PAUSED", "SUSPENDED"])
def test_a_settled_server_is_built_again_elsewhere_its_old_claim_released_first(
    state: str,
) -> None:
    s = server(state=m.State(state), fault=m.Fault("TIMEOUT", "the host stopped answering"))
    out = ev.evacuate(s, NOW, "evacuate-1", D)
    after = apply(s, out)
    assert (after.state, after.task) == (m.State.BUILDING, m.Task.SCHEDULING)
    assert after.generation == s.generation + 1
    assert after.host == "" and after.tried_hosts == ("h1",)
    assert after.attempts == 0 and after.fault is None
    # A stopped server comes back stopped (as Nova's evacuate keeps it), any other running.
    stopped = state == "SHUTOFF"
    want = m.Power.SHUTDOWN if stopped else m.Power.RUNNING
    assert after.desired_power_state == want
    release, schedule = out.work
    assert isinstance(release, lc.ReleaseClaim) and not release.move
    assert schedule == lc.Schedule(after.generation)
    # The build path takes it from there: placed on another host, spawned there (made powered
    # off when it was stopped: never started), ACTIVE or SHUTOFF as it was.
    placed = lc.on_placement(
        after, after.generation, Placement(host="h2", hostname="h2"), None, NOW, D
    )
    [send] = placed.work
    assert isinstance(send, lc.Send) and isinstance(send.command, lc.Spawn)
    assert send.command.powered_off is stopped
    on_h2 = apply(after, placed)
    assert on_h2.host == "h2" and on_h2.task == m.Task.SPAWNING
    spawned = lc.apply_event(
        on_h2, event("SPAWNED", on_h2.generation, "h2", power_state=want), NOW, D
    )
    settled = apply(on_h2, spawned)
    assert settled.state == (m.State.SHUTOFF if stopped else m.State.ACTIVE)
    assert (settled.power_state, settled.desired_power_state, settled.task) == (
        want,
        want,
        m.Task.NONE,
    )
    # The old host's late answers are of an older generation: stale.
    late = lc.apply_event(on_h2, event("POWERED_OFF", s.generation), NOW, D)
    assert late.ignored


@pytest.mark.parametrize(
    ("kw", "says"),
    [
        ({"task": m.Task.REBOOTING, "state": m.State.REBOOTING}, "in flight"),
        ({"state": m.State.VERIFY_RESIZE}, "is VERIFY_RESIZE"),
        ({"state": m.State.SHELVED_OFFLOADED, "host": ""}, "not on host"),
        ({"host": "h2"}, "not on host h1"),
    ],
)
def test_an_evacuation_refuses_a_server_not_settled_on_the_host(kw: dict, says: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(FailedPrecondition) as refused:
        ev.check_evacuable(server(**kw), "h1")
    assert says in refused.value.message


def test_a_stopped_server_spawned_running_all_the_same_is_active_as_it_is() -> None:
    """An agent that ignored `powered_off` (one older than the field) started it: the server
    is shown as what it is, ACTIVE, and wanted so (nothing powers it off behind the user)."""
    after = apply(
        server(state=m.State.SHUTOFF), ev.evacuate(server(state=m.State.SHUTOFF), NOW, "r", D)
    )
    on_h2 = apply(
        after, lc.on_placement(after, after.generation, Placement(host="h2"), None, NOW, D)
    )
    ran = lc.apply_event(
        on_h2, event("SPAWNED", on_h2.generation, "h2", power_state=m.Power.RUNNING), NOW, D
    )
    settled = apply(on_h2, ran)
    assert (settled.state, settled.desired_power_state) == (m.State.ACTIVE, m.Power.RUNNING)
