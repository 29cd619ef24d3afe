"""The server state machine: every transition, and what late or repeated events do."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from polyvisor.api import lifecycle as lc
from polyvisor.api import models as m
from polyvisor.api.placement import NoValidHost, Placement
from polyvisor.api.spawnspec import SpawnSpec
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
        desired_power_state=m.Power.RUNNING,
        generation=3,
        revision=10,
        create_time=NOW,
        update_time=NOW,
        host="h1",
        attempts=1,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def event(kind: str, generation: int = 3, **kw: object) -> lc.AgentEvent:
    return lc.AgentEvent(
        event_id="e",
        server_id="s1",
        generation=generation,
        host="h1",
        kind=lc.EventKind(kind),
        **kw,
    )  # type: ignore[arg-type]


def apply(s: m.Server, out: lc.Outcome) -> m.Server:
    return out.change.applied_to(s)


def building() -> m.Server:
    return server(
        state=m.State.BUILDING, task=m.Task.SPAWNING, power_state=m.Power.NOSTATE, generation=1
    )


# ---------------------------------------------------------------- build


def test_spawned_makes_the_build_active() -> None:
    s = building()
    out = lc.apply_event(
        s, event("SPAWNED", 1, power_state=m.Power.RUNNING, instance_name="pv-s1"), NOW, D
    )
    after = apply(s, out)
    assert (after.state, after.task, after.power_state) == (
        m.State.ACTIVE,
        m.Task.NONE,
        m.Power.RUNNING,
    )
    assert after.launch_time == NOW and after.instance_name == "pv-s1"
    assert after.task_deadline is None


def test_progress_moves_the_build_task_but_never_back_to_a_finished_build() -> None:
    s = building()
    out = lc.apply_event(s, event("PROGRESS", 1, task=m.Task.FETCHING_IMAGE), NOW, D)
    assert out.change == lc.Change(task=m.Task.FETCHING_IMAGE)
    active = apply(s, lc.apply_event(s, event("SPAWNED", 1), NOW, D))
    late = lc.apply_event(active, event("PROGRESS", 1, task=m.Task.SPAWNING), NOW, D)
    assert late.noop


def test_repeated_spawned_changes_nothing() -> None:
    s = building()
    active = apply(s, lc.apply_event(s, event("SPAWNED", 1), NOW, D))
    again = lc.apply_event(active, event("SPAWNED", 1), NOW, D)
    assert again.noop


def test_spawn_failure_reschedules_while_attempts_remain() -> None:
    s = building()
    fault = m.Fault("SPAWN_FAILED", "disk full")
    out = lc.apply_event(s, event("SPAWN_FAILED", 1, fault=fault), NOW, D)
    assert out.reschedule and not out.release_claim
    after = apply(s, out)
    assert after.state == m.State.BUILDING and after.task == m.Task.SCHEDULING
    assert after.generation == 2 and after.host == "" and after.tried_hosts == ("h1",)
    assert after.fault is not None and after.fault.message == "disk full"
    # The same failure delivered again is now stale.
    assert lc.apply_event(after, event("SPAWN_FAILED", 1, fault=fault), NOW, D).noop


def test_spawn_failure_past_the_limit_is_error_and_releases_the_claim() -> None:
    s = replace(building(), attempts=3, tried_hosts=("h0", "h2"))
    out = lc.apply_event(s, event("SPAWN_FAILED", 1, fault=m.Fault("SPAWN_FAILED", "boom")), NOW, D)
    after = apply(s, out)
    assert after.state == m.State.ERROR and out.release_claim and not out.reschedule
    assert after.fault is not None and after.fault.code == "RESCHEDULE_LIMIT"
    assert "boom" in after.fault.message


def test_build_deadline_fails_the_build_and_tells_the_host_to_clean_up() -> None:
    s = replace(building(), task_deadline=NOW - timedelta(seconds=1))
    out = lc.plan_timeout(s, NOW, D)
    after = apply(s, out)
    assert (
        after.state == m.State.ERROR and after.fault is not None and after.fault.code == "TIMEOUT"
    )
    assert after.host == "" and out.release_claim
    assert [(c.verb, c.host, c.generation) for c in out.commands] == [("destroy", "h1", 2)]
    # A SPAWNED that arrives after the deadline is stale.
    assert lc.apply_event(after, event("SPAWNED", 1), NOW, D).noop


def test_scheduling_deadline_fails_without_a_host() -> None:
    s = replace(building(), task=m.Task.SCHEDULING, host="", task_deadline=NOW)
    out = lc.plan_timeout(s, NOW + timedelta(seconds=1), D)
    assert apply(s, out).state == m.State.ERROR and out.release_claim and not out.commands


def test_not_overdue_is_left_alone() -> None:
    s = replace(building(), task_deadline=NOW + timedelta(seconds=5))
    assert lc.plan_timeout(s, NOW, D).noop


# ---------------------------------------------------------------- power


def test_stop_then_powered_off() -> None:
    s = server()
    out = lc.plan(lc.Action.STOP, s, NOW, D)
    assert [(c.verb, c.generation) for c in out.commands] == [("power_off", 4)]
    stopping = apply(s, out)
    assert stopping.task == m.Task.POWERING_OFF and stopping.task_deadline == NOW + timedelta(
        seconds=20
    )
    off = apply(stopping, lc.apply_event(stopping, event("POWERED_OFF", 4), NOW, D))
    assert (off.state, off.task, off.power_state) == (
        m.State.SHUTOFF,
        m.Task.NONE,
        m.Power.SHUTDOWN,
    )


def test_start_then_powered_on() -> None:
    s = server(state=m.State.SHUTOFF, power_state=m.Power.SHUTDOWN)
    starting = apply(s, lc.plan(lc.Action.START, s, NOW, D))
    on = apply(starting, lc.apply_event(starting, event("POWERED_ON", 4), NOW, D))
    assert (on.state, on.power_state) == (m.State.ACTIVE, m.Power.RUNNING)


def test_late_event_of_an_older_command_never_rolls_back() -> None:
    s = server()
    stopping = apply(s, lc.plan(lc.Action.STOP, s, NOW, D))
    off = apply(stopping, lc.apply_event(stopping, event("POWERED_OFF", 4), NOW, D))
    starting = apply(off, lc.plan(lc.Action.START, off, NOW, D))
    on = apply(starting, lc.apply_event(starting, event("POWERED_ON", 5), NOW, D))
    assert on.state == m.State.ACTIVE
    assert lc.apply_event(on, event("POWERED_OFF", 4), NOW, D).noop


def test_soft_and_hard_reboot() -> None:
    s = server()
    soft = apply(s, lc.plan(lc.Action.REBOOT, s, NOW, D))
    assert (soft.state, soft.task) == (m.State.REBOOTING, m.Task.REBOOTING)
    hard_out = lc.plan(lc.Action.REBOOT_HARD, soft, NOW, D)
    assert hard_out.commands[0].hard
    hard = apply(soft, hard_out)
    done = apply(hard, lc.apply_event(hard, event("REBOOTED", hard.generation), NOW, D))
    assert (done.state, done.task) == (m.State.ACTIVE, m.Task.NONE)


@pytest.mark.parametrize(
    ("plan", "state", "task"),
    [
        (lambda s: lc.plan(lc.Action.START, s, NOW, D), m.State.ACTIVE, m.Task.NONE),
        (lambda s: lc.plan(lc.Action.STOP, s, NOW, D), m.State.SHUTOFF, m.Task.NONE),
        (lambda s: lc.plan(lc.Action.STOP, s, NOW, D), m.State.ACTIVE, m.Task.POWERING_OFF),
        (lambda s: lc.plan(lc.Action.REBOOT, s, NOW, D), m.State.SHUTOFF, m.Task.NONE),
        (lambda s: lc.plan(lc.Action.REBOOT_HARD, s, NOW, D), m.State.BUILDING, m.Task.SPAWNING),
        (lambda s: lc.plan(lc.Action.STOP, s, NOW, D), m.State.ERROR, m.Task.NONE),
    ],
)
def test_actions_refused_in_the_wrong_state(plan, state: str, task: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FailedPrecondition):
        plan(server(state=state, task=task))


def test_power_command_retried_then_failed_visibly() -> None:
    s = apply(server(), lc.plan(lc.Action.STOP, server(), NOW, D))
    late = NOW + timedelta(seconds=21)
    for attempt in (2, 3):
        out = lc.plan_timeout(s, late, D)
        assert out.commands and out.commands[0].verb == "power_off"
        s = apply(s, out)
        assert s.command_attempts == attempt
        late = s.task_deadline + timedelta(seconds=1)  # type: ignore[operator]
    final = apply(s, lc.plan_timeout(s, late, D))
    assert final.task == m.Task.NONE and final.state == m.State.ACTIVE
    assert final.fault is not None and final.fault.code == "TIMEOUT"
    assert final.power_state == m.Power.UNKNOWN


def test_command_failed_reports_a_power_fault() -> None:
    s = apply(server(), lc.plan(lc.Action.STOP, server(), NOW, D))
    out = lc.apply_event(
        s, event("COMMAND_FAILED", s.generation, fault=m.Fault("POWER_FAILED", "no")), NOW, D
    )
    after = apply(s, out)
    assert after.state == m.State.ACTIVE and after.task == m.Task.NONE
    assert after.fault is not None and after.fault.code == "POWER_FAILED"


def test_unsolicited_power_changes_follow_the_hypervisor() -> None:
    s = server()
    off = apply(
        s, lc.apply_event(s, event("POWER_STATE_CHANGED", power_state=m.Power.SHUTDOWN), NOW, D)
    )
    assert (off.state, off.power_state) == (m.State.SHUTOFF, m.Power.SHUTDOWN)
    unknown = apply(
        off, lc.apply_event(off, event("POWER_STATE_CHANGED", power_state=m.Power.UNKNOWN), NOW, D)
    )
    assert (unknown.state, unknown.power_state) == (m.State.SHUTOFF, m.Power.UNKNOWN)


# ---------------------------------------------------------------- delete


def test_delete_of_a_placed_server_destroys_it_on_its_host() -> None:
    s = server()
    out = lc.plan(lc.Action.DELETE, s, NOW, D)
    deleting = apply(s, out)
    assert deleting.state == m.State.DELETING and out.commands[0].verb == "destroy"
    gone_out = lc.apply_event(deleting, event("DESTROYED", deleting.generation), NOW, D)
    gone = apply(deleting, gone_out)
    assert gone.state == m.State.DELETED and gone_out.release_claim and gone_out.release_quota
    assert gone_out.change_type == "DELETED"
    assert lc.apply_event(gone, event("SPAWNED", 99), NOW, D).noop


def test_delete_while_building_is_ordered_after_the_spawn() -> None:
    s = building()
    deleting = apply(s, lc.plan(lc.Action.DELETE, s, NOW, D))
    assert deleting.generation == 2
    # The spawn (generation 1) answers late: ignored; the destroy finishes the delete.
    assert lc.apply_event(deleting, event("SPAWNED", 1), NOW, D).noop
    gone = apply(deleting, lc.apply_event(deleting, event("DESTROYED", 2), NOW, D))
    assert gone.state == m.State.DELETED


def test_delete_without_a_host_is_immediate() -> None:
    s = replace(building(), task=m.Task.SCHEDULING, host="")
    out = lc.plan(lc.Action.DELETE, s, NOW, D)
    assert out.change.state == m.State.DELETED and out.release_claim and out.release_quota
    assert not out.commands


def test_vanished_server_goes_to_error() -> None:
    s = server()
    after = apply(s, lc.apply_event(s, event("VANISHED"), NOW, D))
    assert (
        after.state == m.State.ERROR and after.fault is not None and after.fault.code == "VANISHED"
    )


def test_a_reboot_that_leaves_the_server_off_is_shown_as_off() -> None:
    s = apply(server(), lc.plan(lc.Action.REBOOT_HARD, server(), NOW, D))
    after = apply(
        s, lc.apply_event(s, event("REBOOTED", s.generation, power_state=m.Power.SHUTDOWN), NOW, D)
    )
    assert (after.state, after.power_state, after.task) == (
        m.State.SHUTOFF,
        m.Power.SHUTDOWN,
        m.Task.NONE,
    )
    assert after.fault is not None and after.fault.code == "POWER_FAILED"


# ---------------------------------------------------------------- placement


def scheduling() -> m.Server:
    return server(state=m.State.BUILDING, task=m.Task.SCHEDULING, host="", attempts=0, generation=1)


def test_a_placement_starts_the_spawn_on_the_claimed_host() -> None:
    s = scheduling()
    alt = m.Alternate("h2", "two", "KVM", "az1")
    placed = Placement("h1", "one", "KVM", "az1", (alt,))
    out = lc.on_placement(s, 1, placed, None, NOW, D)
    after = out.change.applied_to(s)
    assert (after.task, after.host, after.attempts, after.alternates) == (
        m.Task.SPAWNING,
        "h1",
        1,
        (alt,),
    )
    assert after.availability_zone == "az1" and after.task_deadline == NOW + timedelta(seconds=60)
    assert out.commands == (lc.Spawn("h1", 1, NOW + timedelta(seconds=60), "", attempt=1),)


def test_no_valid_host_is_an_error_that_says_why() -> None:
    s = scheduling()
    out = lc.on_placement(s, 1, NoValidHost("3 hosts: 3 wrong arch", {"x": 1}), None, NOW, D)
    after = out.change.applied_to(s)
    assert (after.state, after.task, after.power_state) == (
        m.State.ERROR,
        m.Task.NONE,
        m.Power.NOSTATE,
    )
    assert after.fault is not None and after.fault.code == "NO_VALID_HOST"
    assert after.fault.message == "no valid host: 3 hosts: 3 wrong arch"
    assert after.fault.no_valid_host == {"x": 1} and not out.work


def test_a_placement_for_a_server_that_moved_on_gives_the_claim_back() -> None:
    deleted = apply(scheduling(), lc.plan(lc.Action.DELETE, scheduling(), NOW, D))
    out = lc.on_placement(deleted, 1, Placement("h1"), None, NOW, D)
    assert not out.change and out.work == (lc.ReleaseClaim(),)
    assert lc.on_placement(deleted, 1, NoValidHost("none"), None, NOW, D).noop


def test_a_reschedule_asks_for_fewer_alternates_and_skips_the_failed_hosts() -> None:
    s = replace(scheduling(), attempts=1, tried_hosts=("h1",))
    s = replace(s, alternates=(m.Alternate("h1"), m.Alternate("h2"), m.Alternate("h3")))
    assert [a.host for a in lc.alternates_left(s)] == ["h2", "h3"]
    spec = SpawnSpec(m.ImageInfo("i1", "img", "ACTIVE", "p1", "RAW"), "vm")
    request = lc.placement_request(s, spec, (), 2, D)
    assert request.request_id == "s1:2" and request.ignore_hosts == ("h1",)
    assert request.max_alternates == D.max_build_attempts - 2


# ---------------------------------------------------------------- pause and suspend


@pytest.mark.parametrize(
    ("there", "task", "answer", "held", "power", "back", "back_task", "back_answer"),
    [
        (
            lc.Action.PAUSE,
            m.Task.PAUSING,
            "PAUSED",
            m.State.PAUSED,
            m.Power.PAUSED,
            lc.Action.UNPAUSE,
            m.Task.UNPAUSING,
            "UNPAUSED",
        ),
        (
            lc.Action.SUSPEND,
            m.Task.SUSPENDING,
            "SUSPENDED",
            m.State.SUSPENDED,
            m.Power.SUSPENDED,
            lc.Action.RESUME,
            m.Task.RESUMING,
            "RESUMED",
        ),
    ],
)
def test_pause_and_suspend_round_trip(  # type: ignore[no-untyped-def]
    there, task, answer, held, power, back, back_task, back_answer
) -> None:
    s = server()
    out = lc.plan(there, s, NOW, D, "req-1")
    assert [(c.verb, c.generation, c.request_id) for c in out.commands] == [
        (there.value, 4, "req-1")
    ]
    going = apply(s, out)
    assert (going.state, going.task) == (m.State.ACTIVE, task)
    # The answer of an older generation changes nothing.
    assert lc.apply_event(going, event(answer, 3, power_state=power), NOW, D).noop
    there_now = apply(going, lc.apply_event(going, event(answer, 4, power_state=power), NOW, D))
    assert (there_now.state, there_now.task, there_now.power_state) == (held, m.Task.NONE, power)
    # Neither may be asked twice, and start/stop/reboot refuse the held server.
    for refused in (there, lc.Action.START, lc.Action.STOP, lc.Action.REBOOT):
        with pytest.raises(FailedPrecondition) as err:
            lc.plan(refused, there_now, NOW, D)
        assert err.value.details["state"] == held
    returning = apply(there_now, lc.plan(back, there_now, NOW, D))
    assert (returning.state, returning.task) == (held, back_task)
    assert returning.desired_power_state == m.Power.RUNNING
    running = apply(
        returning,
        lc.apply_event(returning, event(back_answer, 5, power_state=m.Power.RUNNING), NOW, D),
    )
    assert (running.state, running.task, running.power_state) == (
        m.State.ACTIVE,
        m.Task.NONE,
        m.Power.RUNNING,
    )


@pytest.mark.parametrize(
    ("action", "state", "allowed"),
    [
        (lc.Action.PAUSE, m.State.SHUTOFF, "ACTIVE"),
        (lc.Action.UNPAUSE, m.State.ACTIVE, "PAUSED"),
        (lc.Action.SUSPEND, m.State.PAUSED, "ACTIVE"),
        (lc.Action.RESUME, m.State.SHUTOFF, "SUSPENDED"),
    ],
)
def test_wrong_state_names_the_current_and_the_allowed_states(  # type: ignore[no-untyped-def]
    action, state, allowed
) -> None:
    with pytest.raises(FailedPrecondition) as err:
        lc.plan(action, server(state=state), NOW, D)
    assert err.value.details["state"] == state
    assert err.value.details["allowed_states"] == allowed


def test_a_pause_the_host_cannot_do_leaves_the_server_running_with_the_fault() -> None:
    s = apply(server(), lc.plan(lc.Action.PAUSE, server(), NOW, D))
    fault = m.Fault("POWER_FAILED", "vmware hosts cannot pause a server")
    after = apply(s, lc.apply_event(s, event("COMMAND_FAILED", s.generation, fault=fault), NOW, D))
    assert (after.state, after.task) == (m.State.ACTIVE, m.Task.NONE)
    assert after.fault is not None and "cannot pause" in after.fault.message


def test_a_suspend_that_never_answers_is_retried_then_leaves_the_server_with_a_timeout() -> None:
    s = apply(server(), lc.plan(lc.Action.SUSPEND, server(), NOW, D))
    late = NOW + timedelta(seconds=21)
    for _ in (2, 3):
        out = lc.plan_timeout(s, late, D)
        assert [c.verb for c in out.commands] == ["suspend"]
        s = apply(s, out)
        late = s.task_deadline + timedelta(seconds=1)  # type: ignore[operator]
    final = apply(s, lc.plan_timeout(s, late, D))
    assert (final.state, final.task) == (m.State.ACTIVE, m.Task.NONE)
    assert final.fault is not None and final.fault.code == "TIMEOUT"


def test_a_paused_server_let_run_outside_us_is_active_again() -> None:
    s = server(state=m.State.PAUSED, power_state=m.Power.PAUSED)
    out = lc.apply_event(s, event("POWER_STATE_CHANGED", power_state=m.Power.RUNNING), NOW, D)
    assert (apply(s, out).state, apply(s, out).power_state) == (m.State.ACTIVE, m.Power.RUNNING)


def test_ports_are_freed_when_the_build_fails_for_good_or_the_server_is_deleted() -> None:
    building = server(state=m.State.BUILDING, task=m.Task.SPAWNING, host="h1")
    # No host fits (or the last attempt failed): ERROR frees the ports.
    failed = lc.on_placement(
        replace(building, task=m.Task.SCHEDULING), 3, NoValidHost("0 hosts"), None, NOW, D
    )
    assert failed.change.state == m.State.ERROR
    assert lc.frees_ports(replace(building, task=m.Task.SCHEDULING), failed)
    # A reschedule keeps them (the next host's spawn rebinds them).
    again = lc.apply_event(building, event("SPAWN_FAILED", fault=m.Fault("X", "boom")), NOW, D)
    assert again.change.state is lc.UNSET or again.change.state == m.State.BUILDING
    assert not lc.frees_ports(building, again)
    # A delete of a server without a host is at once; with one, when the host says DESTROYED.
    at_once = lc.plan(lc.Action.DELETE, replace(building, host=""), NOW, D)
    assert lc.frees_ports(replace(building, host=""), at_once)
    deleting = server(state=m.State.DELETING, task=m.Task.DELETING, generation=4)
    gone = lc.apply_event(deleting, event("DESTROYED", generation=4), NOW, D)
    assert gone.change.state == m.State.DELETED and lc.frees_ports(deleting, gone)
    # Other changes keep them.
    stop = lc.plan(lc.Action.STOP, server(), NOW, D)
    assert not lc.frees_ports(server(), stop)
