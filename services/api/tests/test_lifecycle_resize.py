"""The resize transitions of the state machine: where a resize may start, what the
scheduler's answer does, the answers of the host, stale answers, deadlines (retry, then fail on
the old flavor and host) and the confirm window (auto-confirm); and the claims each decision
queues: the move's claim is released on every way back, replaced into the server's on confirm."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta

import pytest

from polyvisor.api import lifecycle as lc
from polyvisor.api import models as m
from polyvisor.api.lifecycle import resize as rz
from polyvisor.api.placement import NoValidHost, Placement
from polyvisor.common.errors import FailedPrecondition

NOW = datetime(2026, 1, 1, tzinfo=UTC)
D = lc.Deadlines(scheduling_s=10, power_s=20, resize_s=50, resize_confirm_s=600)
SMALL = m.ServerFlavor("f1", "small", 1, 512, 10)
BIG = m.ServerFlavor("f2", "big", 4, 4096, 40)


def server(**kw: object) -> m.Server:
    base = m.Server(
        id="s1",
        project_id="p1",
        user_id="u1",
        name="vm",
        image_id="i1",
        flavor=SMALL,
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
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def event(kind: str, generation: int, host: str = "h1", **kw: object) -> lc.AgentEvent:
    return lc.AgentEvent("e", "s1", generation, host, lc.EventKind(kind), **kw)  # type: ignore[arg-type]


def then(s: m.Server, out: lc.Outcome) -> m.Server:
    return out.change.applied_to(s)


def started(s: m.Server | None = None) -> m.Server:
    s = s or server()
    out = lc.plan(lc.Action.RESIZE, s, NOW, D, "req-r", {"flavor": asdict(BIG)})
    assert out.work == (lc.ScheduleMove(4),)
    return then(s, out)


def placed(host: str, s: m.Server | None = None) -> tuple[m.Server, lc.Outcome]:
    s = s or started()
    out = rz.on_move_placement(s, s.generation, Placement(host=host), NOW, D)
    return then(s, out), out


def test_resize_takes_the_new_flavor_and_waits_for_its_claim() -> None:
    s = started()
    assert (s.state, s.task, s.generation) == (m.State.ACTIVE, m.Task.RESIZE_PREP, 4)
    assert s.flavor == BIG and s.resize is not None
    assert (s.resize.old_flavor, s.resize.source_host, s.resize.was_running) == (SMALL, "h1", True)
    assert s.task_deadline == NOW + timedelta(seconds=10)


@pytest.mark.parametrize(
    "state", [m.State.PAUSED, m.State.SUSPENDED, m.State.BUILDING, m.State.VERIFY_RESIZE]
)
def test_resize_needs_active_or_shutoff_and_says_so(state: m.State) -> None:
    with pytest.raises(FailedPrecondition) as exc:
        lc.plan(lc.Action.RESIZE, server(state=state), NOW, D, "r", {"flavor": asdict(BIG)})
    assert exc.value.details["state"] == state
    assert exc.value.details["allowed_states"] == "ACTIVE, SHUTOFF"
    for action in (lc.Action.CONFIRM_RESIZE, lc.Action.REVERT_RESIZE):
        with pytest.raises(FailedPrecondition) as exc:
            lc.plan(action, server(), NOW, D, "r")
        assert exc.value.details["allowed_states"] == "VERIFY_RESIZE"


def test_same_host_resize_sends_the_new_size_to_its_host() -> None:
    s, out = placed("h1")
    assert s.task == m.Task.RESIZE_MIGRATING and s.resize is not None
    assert s.resize.dest_host == "h1" and not s.resize.moves
    [cmd] = out.commands
    assert cmd == lc.Resize("h1", 4, s.task_deadline, "req-r", 4, 4096, 40, dest_host="")


def test_a_move_is_one_command_to_the_source_naming_the_destination() -> None:
    s, out = placed("h2")
    [cmd] = out.commands
    assert (cmd.host, cmd.dest_host) == ("h1", "h2")  # type: ignore[attr-defined]
    assert s.host == "h1"  # until the host says it is done
    done = then(s, lc.apply_event(s, event("RESIZED", 4, power_state=m.Power.RUNNING), NOW, D))
    assert (done.state, done.task, done.host) == (m.State.VERIFY_RESIZE, m.Task.NONE, "h2")
    assert done.task_deadline == NOW + timedelta(seconds=600)
    assert done.resize is not None and done.resize.auto_confirm_time == done.task_deadline


def test_no_valid_host_leaves_the_server_as_it_was_with_the_explanation() -> None:
    s = started()
    nvh = NoValidHost("2 hosts: 2 not enough VCPU", {"filters": [{"filter": "Resources"}]})
    out = rz.on_move_placement(s, 4, nvh, NOW, D)
    after = then(s, out)
    assert (after.state, after.task, after.flavor, after.resize) == (
        m.State.ACTIVE,
        m.Task.NONE,
        SMALL,
        None,
    )
    assert after.fault is not None and after.fault.code == "NO_VALID_HOST"
    assert "2 not enough VCPU" in after.fault.message and after.fault.no_valid_host
    assert out.work == (lc.ReleaseClaim(detail="resize reverted", move=True),)
    assert out.quota_back == (3, 3584)


def test_a_placement_for_an_older_resize_gives_its_claim_back() -> None:
    s = started()
    out = rz.on_move_placement(s, 3, Placement(host="h1"), NOW, D)
    assert out.ignored and out.work == (lc.ReleaseClaim(move=True),)


def verifying(host: str = "h1") -> m.Server:
    s, _ = placed(host)
    return then(s, lc.apply_event(s, event("RESIZED", 4), NOW, D))


def test_confirm_replaces_the_servers_claim_by_the_moves() -> None:
    s = verifying("h2")
    out = lc.plan(lc.Action.CONFIRM_RESIZE, s, NOW, D, "req-c")
    s = then(s, out)
    [cmd] = out.commands
    assert cmd == lc.ConfirmResize("h1", 5, s.task_deadline, "req-c")  # the source drops it
    done_out = lc.apply_event(s, event("RESIZE_CONFIRMED", 5, host="h1"), NOW, D)
    done = then(s, done_out)
    assert (done.state, done.task, done.host, done.flavor) == (
        m.State.ACTIVE,
        m.Task.NONE,
        "h2",
        BIG,
    )
    assert done.resize is None and done.task_deadline is None
    assert done_out.work == (lc.ReplaceClaim(),) and done_out.quota_back == (0, 0)


def test_revert_goes_back_to_the_old_flavor_and_host_and_releases_the_move() -> None:
    s = verifying("h2")
    out = lc.plan(lc.Action.REVERT_RESIZE, s, NOW, D, "req-v")
    s = then(s, out)
    [cmd] = out.commands
    assert (cmd.host, cmd.dest_host, cmd.vcpus) == ("h2", "h1", 1)  # type: ignore[attr-defined]
    # an answer from the wrong host changes nothing
    assert lc.apply_event(s, event("RESIZE_REVERTED", 5, host="h1"), NOW, D).noop
    back_out = lc.apply_event(s, event("RESIZE_REVERTED", 5, host="h2"), NOW, D)
    back = then(s, back_out)
    assert (back.state, back.host, back.flavor, back.resize) == (m.State.ACTIVE, "h1", SMALL, None)
    assert back_out.work == (lc.ReleaseClaim(detail="resize reverted", move=True),)
    assert back_out.quota_back == (3, 3584)


def test_a_refused_resize_puts_the_server_back() -> None:
    s, _ = placed("h2")
    fault = m.Fault("RESIZE_FAILED", "no resize_move capability")
    out = lc.apply_event(s, event("COMMAND_FAILED", 4, fault=fault), NOW, D)
    back = then(s, out)
    assert (back.state, back.task, back.host, back.flavor) == (
        m.State.ACTIVE,
        m.Task.NONE,
        "h1",
        SMALL,
    )
    assert back.fault is not None and back.fault.code == "RESIZE_FAILED"
    assert out.work == (lc.ReleaseClaim(detail="resize reverted", move=True),)


def test_a_stale_resized_changes_nothing() -> None:
    s, _ = placed("h1")
    s = replace(s, generation=6)  # retried meanwhile
    assert lc.apply_event(s, event("RESIZED", 4), NOW, D).noop


def test_overdue_steps_are_retried_then_fail_on_the_old_flavor_and_host() -> None:
    s, _ = placed("h2")
    late = NOW + timedelta(seconds=51)
    out = lc.plan_timeout(s, late, D)
    [cmd] = out.commands
    assert isinstance(cmd, lc.Resize) and cmd.generation == 5 and cmd.dest_host == "h2"
    s = replace(then(s, out), command_attempts=D.max_command_attempts)
    out = lc.plan_timeout(s, late + timedelta(seconds=51), D)
    failed = then(s, out)
    assert (failed.state, failed.host, failed.flavor, failed.resize) == (
        m.State.ERROR,
        "h1",
        SMALL,
        None,
    )
    assert failed.fault is not None and failed.fault.code == "TIMEOUT"
    assert out.work == (lc.ReleaseClaim(detail="resize reverted", move=True),)


def test_the_confirm_window_confirms_on_its_own() -> None:
    s = verifying("h2")
    assert lc.plan_timeout(s, NOW + timedelta(seconds=599), D).noop
    out = lc.plan_timeout(s, NOW + timedelta(seconds=601), D)
    after = then(s, out)
    assert after.task == m.Task.RESIZE_CONFIRMING
    assert out.commands == (lc.ConfirmResize("h1", 5, after.task_deadline, after.last_request_id),)
    never = lc.Deadlines(resize_confirm_s=0)
    s2, _ = placed("h1")
    assert then(s2, lc.apply_event(s2, event("RESIZED", 4), NOW, never)).task_deadline is None


def test_a_delete_during_a_resize_releases_the_moves_claim_too() -> None:
    assert rz.on_deleted(verifying("h2")) == (
        lc.ReleaseClaim(detail="server deleted during a resize", move=True),
    )
    assert rz.on_deleted(server()) == ()


def test_a_resize_whose_agent_was_killed_converges_once_it_is_back() -> None:
    """Killed mid-resize: the same resize is sent again at a new generation; the killed
    attempt's late answer is stale, the restarted agent's answer settles it."""
    s, first = placed("h1")
    (sent,) = first.commands
    late = NOW + timedelta(seconds=D.resize_s + 1)
    retry = lc.plan_timeout(s, late, D)
    (again,) = retry.commands
    assert again.generation == sent.generation + 1
    assert replace(again, generation=0, deadline=None) == replace(sent, generation=0, deadline=None)
    s = then(s, retry)
    assert lc.apply_event(s, event("RESIZED", sent.generation), late, D).noop
    done = then(s, lc.apply_event(s, event("RESIZED", again.generation), late, D))
    assert (done.state, done.task) == (m.State.VERIFY_RESIZE, m.Task.NONE)
    for step in (lc.Action.CONFIRM_RESIZE, lc.Action.REVERT_RESIZE):
        busy = then(done, lc.plan(step, done, late, D, "r"))
        overdue = busy.task_deadline + timedelta(seconds=1)  # type: ignore[operator]
        (resent,) = lc.plan_timeout(busy, overdue, D).commands
        assert resent.verb == (
            "confirm_resize" if step == lc.Action.CONFIRM_RESIZE else "revert_resize"
        )


def test_a_cold_migration_is_a_resize_to_the_same_flavor_that_must_leave_its_host() -> None:
    from polyvisor.api.moves import move_requests
    from polyvisor.api.resize_state import Resize
    from polyvisor.api.spawnspec import SpawnSpec

    spec = SpawnSpec(m.ImageInfo("i1", "img", "ACTIVE", "p1", "RAW"), "vm")
    for host, forced in (("", ""), ("h3", "h3")):
        args = {"flavor": asdict(SMALL), "kind": "migrate", "host": host}
        s = then(server(), lc.plan(lc.Action.RESIZE, server(), NOW, D, "req-m", args))
        assert s.flavor == SMALL and s.resize is not None
        assert (s.resize.kind, s.resize.requested_host) == ("migrate", host)
        assert Resize.from_json(s.resize.to_json()) == s.resize  # kept as the column holds it
        [req] = move_requests(s, spec, (), s.generation)
        assert req.ignore_hosts == ("h1",) and req.force_host == forced
        assert req.flavor == SMALL and req.server_id == lc.move_consumer("s1")
    # A resize still tries its own host first.
    here, anywhere = move_requests(started(), spec, (), 4)
    assert (here.force_host, anywhere.ignore_hosts) == ("h1", ())
    # Then it is a move like any other: one command to the source, confirm or revert.
    s, out = placed("h3", then(server(), lc.plan(lc.Action.RESIZE, server(), NOW, D, "r", args)))
    [cmd] = out.commands
    assert (cmd.host, cmd.dest_host, cmd.vcpus) == ("h1", "h3", 1)  # type: ignore[attr-defined]


def test_a_live_migration_moves_the_claim_when_the_source_says_it_is_there() -> None:
    args = {"flavor": asdict(SMALL), "kind": "live", "host": ""}
    s = then(server(), lc.plan(lc.Action.RESIZE, server(), NOW, D, "req-l", args))
    s, out = placed("h2", s)
    assert (s.state, s.task, s.host) == (m.State.ACTIVE, m.Task.MIGRATING, "h1")
    [cmd] = out.commands
    assert cmd == lc.LiveMigrate("h1", 4, s.task_deadline, "req-l", dest_host="h2")
    # Progress changes nothing; MIGRATED from the source: ACTIVE on h2, the move's claim its own.
    assert lc.apply_event(s, event("PROGRESS", 4, task=m.Task.MIGRATING), NOW, D).noop
    out = lc.apply_event(s, event("MIGRATED", 4, power_state=m.Power.RUNNING), NOW, D)
    done = then(s, out)
    assert (done.state, done.task, done.host, done.resize) == (
        m.State.ACTIVE,
        m.Task.NONE,
        "h2",
        None,
    )
    assert out.work == (lc.ReplaceClaim(),)


def test_an_aborted_live_migration_leaves_the_server_where_it_was() -> None:
    args = {"flavor": asdict(SMALL), "kind": "live", "host": "h2"}
    s, _ = placed("h2", then(server(), lc.plan(lc.Action.RESIZE, server(), NOW, D, "r", args)))
    [abort] = rz.abort_live(s).commands
    assert (abort.verb, abort.host, abort.generation) == (lc.Verb.ABORT_MIGRATION, "h1", 4)
    failed = event("COMMAND_FAILED", 4, fault=m.Fault("MIGRATION_FAILED", "aborted"))
    out = lc.apply_event(s, failed, NOW, D)
    back = then(s, out)
    assert (back.state, back.task, back.host, back.resize) == (
        m.State.ACTIVE,
        m.Task.NONE,
        "h1",
        None,
    )
    assert back.fault is not None and back.fault.code == "MIGRATION_FAILED"
    assert out.work == (lc.ReleaseClaim(move=True, detail="resize reverted"),)
    with pytest.raises(FailedPrecondition):
        rz.abort_live(back)
