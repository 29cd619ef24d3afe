"""Every action's transition converges when its host's agent is killed in the middle of it.

Table-driven over the transition table (`lifecycle.ACTIONS`): a killed agent answers nothing,
so each action in flight must have a deadline; past it the command is sent again (same verb,
same arguments: the same image is filled, never a second one) at a new generation, which the
restarted agent answers; a late answer of the killed attempt changes nothing; and when no agent
ever answers, the server leaves its task with a TIMEOUT fault in a settled state (a snapshot's
image is killed). The agent side (the reconciler's rules for the states these actions settle
in) is in libs/agentkit/tests/test_reconcile_plan.py."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from polyvisor.api import lifecycle as lc
from polyvisor.api import models as m

NOW = datetime(2026, 1, 1, tzinfo=UTC)
D = lc.Deadlines(scheduling_s=10, build_s=60, power_s=20, reboot_s=30, delete_s=40, snapshot_s=50)
State, Task, Power, Kind = m.State, m.Task, m.Power, lc.EventKind
SETTLED = {State.ACTIVE, State.SHUTOFF, State.PAUSED, State.SUSPENDED, State.ERROR}


@dataclass(frozen=True)
class Case:
    action: lc.Action
    start: State
    power: Power
    args: dict[str, object]
    answer: Kind
    settles: State
    answer_power: Power


CASES = [
    Case(lc.Action.START, State.SHUTOFF, Power.SHUTDOWN, {}, Kind.POWERED_ON, State.ACTIVE, Power.RUNNING),
    Case(lc.Action.STOP, State.ACTIVE, Power.RUNNING, {}, Kind.POWERED_OFF, State.SHUTOFF, Power.SHUTDOWN),
    Case(lc.Action.REBOOT, State.ACTIVE, Power.RUNNING, {}, Kind.REBOOTED, State.ACTIVE, Power.RUNNING),
    Case(lc.Action.REBOOT_HARD, State.ACTIVE, Power.RUNNING, {}, Kind.REBOOTED, State.ACTIVE, Power.RUNNING),
    Case(lc.Action.DELETE, State.ACTIVE, Power.RUNNING, {}, Kind.DESTROYED, State.DELETED, Power.NOSTATE),
    Case(lc.Action.CREATE_IMAGE, State.ACTIVE, Power.RUNNING, {"image_id": "snap-1"}, Kind.SNAPSHOTTED, State.ACTIVE, Power.RUNNING),
    Case(lc.Action.SHELVE, State.ACTIVE, Power.RUNNING, {"image_id": "shelf-1"}, Kind.SNAPSHOTTED, State.SHELVED_OFFLOADED, Power.NOSTATE),
    Case(lc.Action.REBUILD, State.ACTIVE, Power.RUNNING, {"image_id": "img-new"}, Kind.REBUILT, State.ACTIVE, Power.RUNNING),
    Case(lc.Action.PAUSE, State.ACTIVE, Power.RUNNING, {}, Kind.PAUSED, State.PAUSED, Power.PAUSED),
    Case(lc.Action.UNPAUSE, State.PAUSED, Power.PAUSED, {}, Kind.UNPAUSED, State.ACTIVE, Power.RUNNING),
    Case(lc.Action.SUSPEND, State.ACTIVE, Power.RUNNING, {}, Kind.SUSPENDED, State.SUSPENDED, Power.SUSPENDED),
    Case(lc.Action.RESUME, State.SUSPENDED, Power.SUSPENDED, {}, Kind.RESUMED, State.ACTIVE, Power.RUNNING),
    Case(lc.Action.ADD_PORT, State.ACTIVE, Power.RUNNING, {"port_id": "port-1", "made": True, "nic_index": 1}, Kind.PORT_ATTACHED, State.ACTIVE, Power.RUNNING),
    Case(lc.Action.REMOVE_PORT, State.SHUTOFF, Power.SHUTDOWN, {"port_id": "port-1", "made": False, "nic_index": 0}, Kind.PORT_DETACHED, State.SHUTOFF, Power.SHUTDOWN),
    Case(lc.Action.ATTACH_VOLUME, State.ACTIVE, Power.RUNNING, {"volume_id": "vol-1", "connection_kind": "file", "connection_attrs": {"path": "/v/vol-1.qcow2"}}, Kind.VOLUME_ATTACHED, State.ACTIVE, Power.RUNNING),
    Case(lc.Action.DETACH_VOLUME, State.SHUTOFF, Power.SHUTDOWN, {"volume_id": "vol-1", "connection_kind": "file", "connection_attrs": {"path": "/v/vol-1.qcow2"}}, Kind.VOLUME_DETACHED, State.SHUTOFF, Power.SHUTDOWN),
]  # fmt: skip


def server(state: State, power: Power) -> m.Server:
    return m.Server(
        id="s1",
        project_id="p1",
        user_id="u1",
        name="vm",
        image_id="img-old",
        flavor=m.ServerFlavor("f1", "small", 1, 512, 1),
        state=state,
        task=Task.NONE,
        power_state=power,
        desired_power_state=Power.RUNNING if power == Power.RUNNING else Power.SHUTDOWN,
        generation=3,
        revision=10,
        create_time=NOW,
        update_time=NOW,
        host="h1",
        hypervisor_type="KVM",
        attempts=1,
    )


def event(kind: Kind, generation: int, power: Power) -> lc.AgentEvent:
    return lc.AgentEvent("e", "s1", generation, "h1", kind, power_state=power)


def apply(s: m.Server, out: lc.Outcome) -> m.Server:
    return out.change.applied_to(s)


def in_flight(case: Case) -> tuple[m.Server, lc.Outcome]:
    s = server(case.start, case.power)
    out = lc.plan(case.action, s, NOW, D, "req-1", case.args)
    return apply(s, out), out


def test_the_table_covers_every_action() -> None:
    # A resize takes several steps (the scheduler, then its host): its convergence is tested
    # step by step in test_lifecycle_resize.py.
    resize = {lc.Action.RESIZE, lc.Action.CONFIRM_RESIZE, lc.Action.REVERT_RESIZE}
    assert {c.action for c in CASES} | {lc.Action.UNSHELVE} | resize == set(lc.ACTIONS)


def test_every_task_in_flight_has_a_deadline_rule() -> None:
    """A task nobody answers is found by its deadline: builds by the build rules, every other
    task by the entry of its action."""
    builds = {Task.SCHEDULING, Task.FETCHING_IMAGE, Task.SPAWNING}
    assert set(Task) - {Task.NONE} - builds <= set(lc.actions.BY_TASK) | lc.resize.TASKS


@pytest.mark.parametrize("case", CASES, ids=[c.action.value for c in CASES])
def test_an_action_whose_agent_was_killed_converges_once_it_is_back(case: Case) -> None:
    s, first = in_flight(case)
    t = lc.ACTIONS[case.action]
    assert s.task == t.task and s.task_deadline == NOW + timedelta(seconds=t.timeout(D))
    (sent,) = first.commands
    # The agent died: nothing comes back. Before the deadline nothing happens.
    assert lc.plan_timeout(s, NOW + timedelta(seconds=t.timeout(D) - 1), D).noop
    later = NOW + timedelta(seconds=t.timeout(D) + 1)
    retry = lc.plan_timeout(s, later, D)
    (again,) = retry.commands
    assert again.verb == sent.verb and again.generation == sent.generation + 1
    # The same command otherwise (a destroy says why it is sent again).
    same = {"generation": 0, "deadline": None}
    if isinstance(sent, lc.Destroy):
        same["reason"] = ""
    assert replace(again, **same) == replace(sent, **same)
    s = apply(s, retry)
    assert s.task == t.task and s.task_deadline == later + timedelta(seconds=t.timeout(D))
    # The killed attempt's late answer is stale; the restarted agent's answer settles it.
    assert lc.apply_event(s, event(case.answer, sent.generation, case.answer_power), later, D).noop
    done = apply(
        s, lc.apply_event(s, event(case.answer, again.generation, case.answer_power), later, D)
    )
    assert (done.state, done.task, done.task_deadline) == (case.settles, Task.NONE, None)


@pytest.mark.parametrize("case", CASES, ids=[c.action.value for c in CASES])
def test_an_action_no_agent_ever_answers_ends_settled_with_a_timeout(case: Case) -> None:
    s, _ = in_flight(case)
    t = lc.ACTIONS[case.action]
    when = NOW
    out = lc.Outcome()
    for _ in range(D.max_command_attempts + 1):
        when += timedelta(seconds=t.timeout(D) + 1)
        out = lc.plan_timeout(s, when, D)
        s = apply(s, out)
        if s.task == Task.NONE:
            break
    assert s.task == Task.NONE and s.task_deadline is None
    assert s.state in SETTLED
    assert s.fault is not None and s.fault.code == "TIMEOUT"
    assert s.command_attempts == D.max_command_attempts
    killed = [w for w in out.work if isinstance(w, lc.FailImage)]
    assert killed == ([lc.FailImage(str(case.args["image_id"]), s.fault.message)]
                      if case.action in (lc.Action.CREATE_IMAGE, lc.Action.SHELVE) else [])  # fmt: skip


def test_an_unshelve_whose_scheduling_never_answers_fails_and_gives_the_claim_back() -> None:
    s = replace(server(State.SHELVED_OFFLOADED, Power.NOSTATE), host="")
    s = apply(s, lc.plan(lc.Action.UNSHELVE, s, NOW, D, "r", {"image_id": "shelf-1"}))
    assert (s.state, s.task) == (State.BUILDING, Task.SCHEDULING)
    out = lc.plan_timeout(s, NOW + timedelta(seconds=D.scheduling_s + 1), D)
    after = apply(s, out)
    assert (after.state, after.task) == (State.ERROR, Task.NONE)
    assert out.release_claim is not None
