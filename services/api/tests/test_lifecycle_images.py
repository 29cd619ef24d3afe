"""Snapshot to image, shelve/unshelve and rebuild in the state machine: where each may start,
what its command carries, what its answer and its failure do, what a timeout does."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from polyvisor.api import lifecycle as lc
from polyvisor.api import models as m
from polyvisor.api.lifecycle.actions import allowed_states
from polyvisor.common.errors import FailedPrecondition

NOW = datetime(2026, 1, 1, tzinfo=UTC)
D = lc.Deadlines(scheduling_s=10, build_s=60, power_s=20, reboot_s=30, delete_s=40, snapshot_s=50)


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
        hypervisor_type="KVM",
        attempts=1,
        addresses=(m.Address("net", "10.0.0.5", 4, "fa:16:3e:00:00:01", "fixed"),),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def event(kind: str, generation: int, **kw: object) -> lc.AgentEvent:
    return lc.AgentEvent("e", "s1", generation, "h1", lc.EventKind(kind), **kw)  # type: ignore[arg-type]


def run(s: m.Server, out: lc.Outcome) -> m.Server:
    return out.change.applied_to(s)


@pytest.mark.parametrize("state", [m.State.ACTIVE, m.State.SHUTOFF])
def test_create_image_sends_the_image_id_and_settles_where_it_was(state: m.State) -> None:
    power = m.Power.RUNNING if state == m.State.ACTIVE else m.Power.SHUTDOWN
    s = server(state=state, power_state=power)
    out = lc.plan(lc.Action.CREATE_IMAGE, s, NOW, D, "r1", {"image_id": "img-1"})
    assert out.commands == (lc.Snapshot("h1", 4, NOW + timedelta(seconds=50), "r1", "img-1"),)
    during = run(s, out)
    assert (during.state, during.task, during.action_args) == (
        state,
        m.Task.IMAGE_SNAPSHOT,
        {"image_id": "img-1"},
    )
    done = lc.apply_event(during, event("SNAPSHOTTED", 4, power_state=power), NOW, D)
    after = run(during, done)
    assert (after.state, after.task, after.host, after.fault) == (state, m.Task.NONE, "h1", None)
    assert not done.work  # nothing to give back: the server stays on its host


@pytest.mark.parametrize(
    "s",
    [
        server(state=m.State.ERROR),
        server(state=m.State.SHELVED_OFFLOADED, host=""),
        server(state=m.State.BUILDING, task=m.Task.SPAWNING),
        server(task=m.Task.POWERING_OFF),
    ],
    ids=["error", "shelved", "building", "busy"],
)
def test_create_image_in_the_wrong_state_names_the_state_and_the_allowed_ones(
    s: m.Server,
) -> None:
    with pytest.raises(FailedPrecondition) as e:
        lc.plan(lc.Action.CREATE_IMAGE, s, NOW, D, "", {"image_id": "i"})
    assert str(s.state) in str(e.value)
    if s.task == m.Task.NONE:
        assert e.value.details["allowed_states"] == "ACTIVE, SHUTOFF"
    assert lc.ACTIONS[lc.Action.CREATE_IMAGE].allowed == (m.State.ACTIVE, m.State.SHUTOFF)


def test_a_failed_snapshot_puts_the_server_back_with_the_fault() -> None:
    s = run(server(), lc.plan(lc.Action.CREATE_IMAGE, server(), NOW, D, "", {"image_id": "i"}))
    fault = m.Fault("IMAGE_UNAVAILABLE", "upload refused")
    out = lc.apply_event(s, event("COMMAND_FAILED", 4, fault=fault), NOW, D)
    after = run(s, out)
    assert (after.state, after.task, after.power_state) == (
        m.State.ACTIVE,
        m.Task.NONE,
        m.Power.RUNNING,
    )
    assert after.fault is not None and after.fault.code == "SNAPSHOT_FAILED"
    assert after.fault.message == "upload refused"


def test_a_snapshot_timeout_retries_with_the_same_image_then_gives_up() -> None:
    s = run(server(), lc.plan(lc.Action.CREATE_IMAGE, server(), NOW, D, "r", {"image_id": "i9"}))
    later = NOW + timedelta(seconds=51)
    retry = lc.plan_timeout(s, later, D)
    assert [(c.verb, c.image_id, c.generation) for c in retry.commands] == [  # type: ignore[attr-defined]
        (lc.Verb.SNAPSHOT, "i9", 5)
    ]
    s = replace(run(s, retry), command_attempts=D.max_command_attempts)
    gave_up = run(s, lc.plan_timeout(s, later + timedelta(seconds=51), D))
    assert (gave_up.state, gave_up.task) == (m.State.ACTIVE, m.Task.NONE)
    assert gave_up.fault is not None and gave_up.fault.code == "TIMEOUT"


def test_a_late_snapshot_answer_of_an_older_attempt_changes_nothing() -> None:
    s = run(server(), lc.plan(lc.Action.CREATE_IMAGE, server(), NOW, D, "", {"image_id": "i"}))
    s = run(s, lc.plan_timeout(s, NOW + timedelta(seconds=51), D))  # generation 5
    assert lc.apply_event(s, event("SNAPSHOTTED", 4), NOW, D).noop


def test_shelve_offloads_and_gives_the_claim_back_keeping_addresses() -> None:
    s = server()
    out = lc.plan(lc.Action.SHELVE, s, NOW, D, "r", {"image_id": "img-s"})
    assert out.commands == (
        lc.Snapshot("h1", 4, NOW + timedelta(seconds=50), "r", "img-s", then_destroy=True),
    )
    s = run(s, out)
    assert s.task == m.Task.SHELVING
    done = lc.apply_event(s, event("SNAPSHOTTED", 4, power_state=m.Power.NOSTATE), NOW, D)
    after = run(s, done)
    assert (after.state, after.task, after.host, after.power_state) == (
        m.State.SHELVED_OFFLOADED,
        m.Task.NONE,
        "",
        m.Power.NOSTATE,
    )
    assert done.release_claim is not None and not done.release_quota
    assert after.addresses == server().addresses and after.action_args == {"image_id": "img-s"}


def test_a_failed_shelve_leaves_the_server_on_its_host() -> None:
    s = run(server(), lc.plan(lc.Action.SHELVE, server(), NOW, D, "", {"image_id": "i"}))
    out = lc.apply_event(s, event("COMMAND_FAILED", 4, fault=m.Fault("X", "no room")), NOW, D)
    after = run(s, out)
    assert (after.state, after.host) == (m.State.ACTIVE, "h1") and out.release_claim is None


def test_unshelve_schedules_a_build_and_keeps_the_addresses() -> None:
    shelved = server(
        state=m.State.SHELVED_OFFLOADED,
        host="",
        power_state=m.Power.NOSTATE,
        tried_hosts=("h0",),
        action_args={"image_id": "img-s"},
    )
    out = lc.plan(lc.Action.UNSHELVE, shelved, NOW, D, "r2", {"image_id": "img-s"})
    after = run(shelved, out)
    assert out.work == (lc.Schedule(4),)
    assert (after.state, after.task, after.attempts, after.tried_hosts) == (
        m.State.BUILDING,
        m.Task.SCHEDULING,
        0,
        (),
    )
    assert after.task_deadline == NOW + timedelta(seconds=D.scheduling_s)
    assert after.addresses == shelved.addresses
    with pytest.raises(FailedPrecondition, match="unshelve needs SHELVED_OFFLOADED"):
        lc.plan(lc.Action.UNSHELVE, server(), NOW, D)


@pytest.mark.parametrize("stopped", [False, True], ids=["active", "shutoff"])
def test_rebuild_keeps_the_power_state_on_the_new_image(stopped: bool) -> None:
    """As Nova's: a running server is rebuilt running, a stopped one is rebuilt stopped (the
    host is told to leave it off, a retry after a timeout too)."""
    state, power = (
        (m.State.SHUTOFF, m.Power.SHUTDOWN) if stopped else (m.State.ACTIVE, m.Power.RUNNING)
    )
    s = server(state=state, power_state=power, desired_power_state=power)
    out = lc.plan(lc.Action.REBUILD, s, NOW, D, "r", {"image_id": "i2", "image": {"id": "i2"}})
    [cmd] = out.commands
    assert isinstance(cmd, lc.Rebuild) and (cmd.image_id, cmd.powered_off) == ("i2", stopped)
    s = run(s, out)
    assert (s.state, s.task, s.image_id, s.desired_power_state) == (
        state,
        m.Task.REBUILDING,
        "i1",
        power,
    )
    [retry] = lc.plan_timeout(s, NOW + timedelta(seconds=D.build_s + 1), D).commands
    assert isinstance(retry, lc.Rebuild) and retry.powered_off is stopped
    after = run(s, lc.apply_event(s, event("REBUILT", 4, power_state=power), NOW, D))
    assert (after.state, after.task, after.image_id, after.host, after.power_state) == (
        state,
        m.Task.NONE,
        "i2",
        "h1",
        power,
    )


def test_a_stopped_server_its_host_rebuilt_running_all_the_same_is_active() -> None:
    """An agent that ignored `powered_off` (one older than the field): shown as it is."""
    s = server(state=m.State.SHUTOFF, power_state=m.Power.SHUTDOWN)
    s = run(s, lc.plan(lc.Action.REBUILD, s, NOW, D, "r", {"image_id": "i2"}))
    after = run(s, lc.apply_event(s, event("REBUILT", 4, power_state=m.Power.RUNNING), NOW, D))
    assert (after.state, after.desired_power_state) == (m.State.ACTIVE, m.Power.RUNNING)


def test_a_failed_rebuild_is_an_error_with_its_fault() -> None:
    s = run(server(), lc.plan(lc.Action.REBUILD, server(), NOW, D, "", {"image_id": "i2"}))
    after = run(s, lc.apply_event(s, event("COMMAND_FAILED", 4), NOW, D))
    assert after.state == m.State.ERROR and after.fault is not None
    assert after.fault.code == "REBUILD_FAILED" and after.image_id == "i1"


def test_an_error_server_on_its_host_is_rebuilt_and_comes_back_active() -> None:
    """As Nova's: the way out of a failed rebuild (or reboot) other than a delete, running
    on the new image."""
    s = run(server(), lc.plan(lc.Action.REBUILD, server(), NOW, D, "", {"image_id": "i2"}))
    failed = run(s, lc.apply_event(s, event("COMMAND_FAILED", 4), NOW, D))
    assert (failed.state, failed.host) == (m.State.ERROR, "h1")
    out = lc.plan(lc.Action.REBUILD, failed, NOW, D, "r2", {"image_id": "i3"})
    [cmd] = out.commands
    assert isinstance(cmd, lc.Rebuild) and (cmd.host, cmd.image_id) == ("h1", "i3")
    assert cmd.powered_off is False
    during = run(failed, out)
    assert (during.state, during.task, during.desired_power_state) == (
        m.State.ERROR,
        m.Task.REBUILDING,
        m.Power.RUNNING,
    )
    after = run(during, lc.apply_event(during, event("REBUILT", 6), NOW, D))
    assert (after.state, after.task, after.image_id, after.fault) == (
        m.State.ACTIVE,
        m.Task.NONE,
        "i3",
        None,
    )


def test_an_error_server_on_no_host_is_not_rebuilt() -> None:
    """Its build failed: no host holds a disk or a claim for it."""
    s = server(state=m.State.ERROR, host="", power_state=m.Power.NOSTATE)
    with pytest.raises(FailedPrecondition, match="ERROR on no host"):
        lc.plan(lc.Action.REBUILD, s, NOW, D, "r", {"image_id": "i2"})
    assert m.State.ERROR in allowed_states(lc.Action.REBUILD)


@pytest.mark.parametrize("action", [lc.Action.CREATE_IMAGE, lc.Action.SHELVE])
def test_a_snapshot_that_times_out_for_good_kills_its_image(action: lc.Action) -> None:
    s = run(server(), lc.plan(action, server(), NOW, D, "r", {"image_id": "i7"}))
    s = replace(s, command_attempts=D.max_command_attempts)
    out = lc.plan_timeout(s, NOW + timedelta(seconds=51), D)
    after = run(s, out)
    assert (after.state, after.task, after.host) == (m.State.ACTIVE, m.Task.NONE, "h1")
    assert after.fault is not None and after.fault.code == "TIMEOUT"
    (work,) = out.work
    assert isinstance(work, lc.FailImage) and work.image_id == "i7"
    assert work.reason == after.fault.message
    # A retry before the last attempt still fills the same image: nothing is killed then.
    first = run(server(), lc.plan(action, server(), NOW, D, "r", {"image_id": "i7"}))
    assert not any(
        isinstance(w, lc.FailImage)
        for w in lc.plan_timeout(first, NOW + timedelta(seconds=51), D).work
    )


def test_a_failed_snapshot_kills_its_image_too() -> None:
    s = run(server(), lc.plan(lc.Action.CREATE_IMAGE, server(), NOW, D, "", {"image_id": "i"}))
    fault = m.Fault("IMAGE_UNAVAILABLE", "disk copy failed")
    out = lc.apply_event(s, event("COMMAND_FAILED", 4, fault=fault), NOW, D)
    assert out.work == (lc.FailImage("i", "disk copy failed"),)


def test_other_timeouts_kill_no_image() -> None:
    s = run(server(), lc.plan(lc.Action.PAUSE, server(), NOW, D, "r"))
    s = replace(s, command_attempts=D.max_command_attempts, action_args={"image_id": "old"})
    assert lc.plan_timeout(s, NOW + timedelta(seconds=21), D).work == ()


def test_a_fail_image_entry_survives_the_outbox() -> None:
    from polyvisor.api.store import outbox

    work = lc.FailImage("img-1", "timed out")
    assert outbox.decode(*outbox.encode(work)) == work
