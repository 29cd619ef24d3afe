"""The order in which agents' events are applied: observations of one generation in the order
the agent saw them, whatever the delivery order (lifecycle), and one server's events handed
over one at a time in the order received (keyed_queue)."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from polyvisor.api import lifecycle as lc
from polyvisor.api import models as m
from polyvisor.api.keyed_queue import KeyedQueue

NOW = datetime(2026, 1, 1, tzinfo=UTC)
T0 = datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
D = lc.Deadlines()
AGENT = "agent-vmw-1"


def at(ms: int) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def server(**kw: object) -> m.Server:
    base = m.Server(
        id="s1",
        project_id="p1",
        user_id="u1",
        name="web-vmw",
        image_id="i1",
        flavor=m.ServerFlavor("f1", "small", 1, 512, 1),
        state=m.State.ACTIVE,
        task=m.Task.NONE,
        power_state=m.Power.RUNNING,
        desired_power_state=m.Power.RUNNING,
        generation=4,
        revision=10,
        create_time=NOW,
        update_time=NOW,
        host="vc-1",
        attempts=1,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def event(
    kind: str,
    power: str,
    ms: int,
    generation: int = 4,
    agent: str = AGENT,
    host: str = "vc-1",
    **kw: object,
) -> lc.AgentEvent:
    return lc.AgentEvent(
        event_id=f"{kind}-{ms}",
        server_id="s1",
        generation=generation,
        host=host,
        kind=lc.EventKind(kind),
        power_state=power,
        occurred_at=at(ms),
        agent_id=agent,
        **kw,  # type: ignore[arg-type]
    )


def fold(
    s: m.Server, events: list[lc.AgentEvent], observed: m.Observation | None = None
) -> tuple[m.Server, m.Observation | None]:
    """Apply events as the applier does: the row's changes and its recorded observation."""
    for ev in events:
        out = lc.apply_event(s, ev, NOW, D, observed)
        if out.observed is not None:
            observed = out.observed
        s = out.change.applied_to(s)
    return s, observed


def shown(s: m.Server) -> tuple[str, str, str, str]:
    return (s.state, s.task, s.power_state, s.desired_power_state)


# ------------------------------------------------------------------ the ordering rule


def test_supersedes_orders_by_generation_then_by_the_agents_own_clock() -> None:
    old = m.Observation(4, AGENT, at(10))
    assert lc.supersedes(m.Observation(4, AGENT, at(11)), old)
    assert lc.supersedes(m.Observation(4, AGENT, at(10)), old)  # a redelivery: harmless
    assert not lc.supersedes(m.Observation(4, AGENT, at(9)), old)
    # A newer generation wins even if its host's clock is behind (the server moved).
    assert lc.supersedes(m.Observation(5, "agent-kvm-2", at(-60_000)), old)
    assert not lc.supersedes(m.Observation(3, AGENT, at(99)), old)
    # Another agent process of the same generation (a replica took over the lease): no
    # common clock, the later sender wins.
    assert lc.supersedes(m.Observation(4, "agent-vmw-2", at(-5_000)), old)
    assert lc.supersedes(m.Observation(4, AGENT, at(0)), None)


def test_hard_reboot_flicker_in_publish_order_ends_active() -> None:
    rebooting = server(state=m.State.REBOOTING, task=m.Task.REBOOTING_HARD)
    burst = [
        event("REBOOTED", m.Power.RUNNING, 0),
        event("POWER_STATE_CHANGED", m.Power.SHUTDOWN, 1),
        event("POWER_STATE_CHANGED", m.Power.RUNNING, 2),
    ]
    after, observed = fold(rebooting, burst)
    assert shown(after) == (m.State.ACTIVE, m.Task.NONE, m.Power.RUNNING, m.Power.RUNNING)
    assert observed == m.Observation(4, AGENT, at(2))


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_hard_reboot_flicker_in_any_delivery_order_ends_active(order: tuple[int, ...]) -> None:
    """The README's `server reboot --hard`: the reset's brief power-off is reported late, just
    before the power-on, with the same generation. However the three are delivered, the
    server ends ACTIVE and RUNNING and nobody is asked to power it off."""
    rebooting = server(state=m.State.REBOOTING, task=m.Task.REBOOTING_HARD)
    burst = [
        event("REBOOTED", m.Power.RUNNING, 0),
        event("POWER_STATE_CHANGED", m.Power.SHUTDOWN, 1),
        event("POWER_STATE_CHANGED", m.Power.RUNNING, 2),
    ]
    after, _ = fold(rebooting, [burst[i] for i in order])
    assert shown(after) == (m.State.ACTIVE, m.Task.NONE, m.Power.RUNNING, m.Power.RUNNING)


def test_an_observation_that_changes_nothing_is_still_recorded() -> None:
    """RUNNING confirmed on a running server changes no column, but is what makes the older
    SHUTDOWN delivered after it stale."""
    s = server()
    out = lc.apply_event(s, event("POWER_STATE_CHANGED", m.Power.RUNNING, 2), NOW, D)
    assert not out.change and out.observed == m.Observation(4, AGENT, at(2))
    late = lc.apply_event(
        s, event("POWER_STATE_CHANGED", m.Power.SHUTDOWN, 1), NOW, D, out.observed
    )
    assert late.noop and late.observed is None and "older observation" in late.ignored


def test_a_newer_observation_is_applied_after_an_older_one() -> None:
    s, observed = fold(server(), [event("POWER_STATE_CHANGED", m.Power.RUNNING, 2)])
    off, observed = fold(s, [event("POWER_STATE_CHANGED", m.Power.SHUTDOWN, 3)], observed)
    assert shown(off) == (m.State.SHUTOFF, m.Task.NONE, m.Power.SHUTDOWN, m.Power.SHUTDOWN)
    assert observed == m.Observation(4, AGENT, at(3))


def test_vanished_is_an_observation_too() -> None:
    # Seen gone, then back (a VM re-registered): delivered back to front, it stays ACTIVE.
    s, observed = fold(
        server(),
        [event("POWER_STATE_CHANGED", m.Power.RUNNING, 5), event("VANISHED", m.Power.NOSTATE, 4)],
    )
    assert s.state == m.State.ACTIVE and s.fault is None
    # Gone for good: a power report older than the disappearance does not revive it.
    gone, observed = fold(s, [event("VANISHED", m.Power.NOSTATE, 6)], observed)
    assert gone.state == m.State.ERROR
    late, _ = fold(gone, [event("POWER_STATE_CHANGED", m.Power.RUNNING, 5)], observed)
    assert (late.state, late.power_state) == (m.State.ERROR, m.Power.NOSTATE)


def test_only_the_host_the_server_is_on_reports_what_it_sees() -> None:
    # A move from vc-1 to vc-2 just completed (VERIFY_RESIZE there, at the move's generation).
    # vc-1's agent saw the VM power off on its way out, then gone from its cluster: not news.
    moved = server(state=m.State.VERIFY_RESIZE, host="vc-2")
    s, observed = fold(
        moved,
        [event("POWER_STATE_CHANGED", m.Power.SHUTDOWN, 1), event("VANISHED", m.Power.NOSTATE, 2)],
    )
    assert (s.state, s.power_state, s.fault, observed) == (
        m.State.VERIFY_RESIZE,
        m.Power.RUNNING,
        None,
        None,
    )
    # What vc-2's agent sees is.
    there = event("VANISHED", m.Power.NOSTATE, 3, agent="agent-vmw-2", host="vc-2")
    gone, observed = fold(s, [there])
    assert gone.state == m.State.ERROR and observed == m.Observation(4, "agent-vmw-2", at(3))
    assert gone.fault is not None and gone.fault.host == "vc-2"


def test_command_answers_keep_generation_rules_and_date_what_they_set() -> None:
    # An answer is applied even when an observation newer than it is recorded...
    rebooting = server(state=m.State.REBOOTING, task=m.Task.REBOOTING_HARD)
    newer = m.Observation(4, AGENT, at(9))
    out = lc.apply_event(rebooting, event("REBOOTED", m.Power.RUNNING, 0), NOW, D, newer)
    assert out.change.state == m.State.ACTIVE and out.observed is None
    # ...and when it is the newest, it dates the power state it set.
    out = lc.apply_event(rebooting, event("REBOOTED", m.Power.RUNNING, 10), NOW, D, newer)
    assert out.observed == m.Observation(4, AGENT, at(10))
    # An answer that changes nothing records nothing; a stale generation is still stale.
    assert lc.apply_event(server(), event("REBOOTED", m.Power.RUNNING, 11), NOW, D).observed is None
    stale = lc.apply_event(server(), event("POWER_STATE_CHANGED", m.Power.SHUTDOWN, 99, 3), NOW, D)
    assert stale.noop and stale.observed is None


def test_unstamped_events_are_applied_as_they_come() -> None:
    ev = replace(event("POWER_STATE_CHANGED", m.Power.SHUTDOWN, 0), occurred_at=None)
    out = lc.apply_event(server(), ev, NOW, D, m.Observation(4, AGENT, at(9)))
    assert out.change.state == m.State.SHUTOFF and out.observed is None


# ------------------------------------------------------------------ keyed queue


async def test_keyed_queue_runs_one_key_in_submission_order_and_keys_concurrently() -> None:
    queue = KeyedQueue()
    ran: list[tuple[str, int]] = []
    gates = {k: asyncio.Event() for k in ("a", "b")}

    async def work(key: str, i: int) -> int:
        # Later submissions finish their own work faster: only the queue keeps the order.
        await gates[key].wait()
        await asyncio.sleep(0.001 * (5 - i))
        ran.append((key, i))
        return i

    tasks: dict[str, list[asyncio.Task[int]]] = {"a": [], "b": []}
    for i in range(5):
        for k in ("a", "b"):
            tasks[k].append(asyncio.create_task(queue.run(k, lambda k=k, i=i: work(k, i))))  # type: ignore[misc]
    await asyncio.sleep(0)
    assert len(queue) == 2
    gates["b"].set()  # key b runs to the end while a's first item is still blocked
    assert await asyncio.gather(*tasks["b"]) == [0, 1, 2, 3, 4]
    assert not [r for r in ran if r[0] == "a"]
    gates["a"].set()
    assert await asyncio.gather(*tasks["a"]) == [0, 1, 2, 3, 4]
    assert [i for k, i in ran if k == "a"] == [0, 1, 2, 3, 4]
    assert [i for k, i in ran if k == "b"] == [0, 1, 2, 3, 4]
    assert len(queue) == 0


async def test_keyed_queue_a_failure_or_a_cancelled_waiter_never_lets_the_line_be_jumped() -> None:
    queue = KeyedQueue()
    release = asyncio.Event()
    ran: list[str] = []

    async def first() -> None:
        await release.wait()
        ran.append("first")
        raise RuntimeError("handler failed")

    async def record(name: str) -> None:
        ran.append(name)

    t1 = asyncio.create_task(queue.run("k", first))
    t2 = asyncio.create_task(queue.run("k", lambda: record("cancelled")))
    t3 = asyncio.create_task(queue.run("k", lambda: record("third")))
    await asyncio.sleep(0.01)
    t2.cancel()
    await asyncio.sleep(0.01)
    assert ran == []  # third still waits for first, through the cancelled second
    release.set()
    with pytest.raises(RuntimeError):
        await t1
    with pytest.raises(asyncio.CancelledError):
        await t2
    await t3
    assert ran == ["first", "third"]
    assert len(queue) == 0
