"""The steps of a move to another hypervisor type (`lifecycle.cross_move`): the source stops the
server and fills the transfer image, the destination spawns the same server from it (its
ports bound there by the spawn), the source's copy goes, the move's claim replaces the
server's and the image is deleted; every failure brings it back to the source as it was, with
the image deleted and the move's claim released; deadlines retry, then give up."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import UTC, datetime

from polyvisor.api import lifecycle as lc
from polyvisor.api import models as m
from polyvisor.api.lifecycle import resize as rz
from polyvisor.api.placement import NoValidHost, Placement
from polyvisor.api.store import outbox

NOW = datetime(2026, 1, 1, tzinfo=UTC)
D = lc.Deadlines(scheduling_s=10, power_s=20, resize_s=50, snapshot_s=60, build_s=70)
TINY = m.ServerFlavor("f1", "tiny", 1, 64, 1)


def server(**kw: object) -> m.Server:
    base = m.Server(
        id="s1",
        project_id="p1",
        user_id="u1",
        name="vm",
        image_id="i1",
        flavor=TINY,
        state=m.State.ACTIVE,
        task=m.Task.NONE,
        power_state=m.Power.RUNNING,
        desired_power_state=m.Power.RUNNING,
        generation=3,
        revision=10,
        create_time=NOW,
        update_time=NOW,
        host="kvm-1",
        hypervisor_type="KVM",
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def event(kind: str, host: str, generation: int = 4, **kw: object) -> lc.AgentEvent:
    return lc.AgentEvent("e", "s1", generation, host, lc.EventKind(kind), **kw)  # type: ignore[arg-type]


def then(s: m.Server, out: lc.Outcome) -> m.Server:
    return out.change.applied_to(s)


def started(s: m.Server | None = None) -> m.Server:
    s = s or server()
    args = {
        "flavor": asdict(s.flavor),
        "kind": "cross",
        "host": "",
        "hypervisor_type": "VMWARE",
        "image_id": "img-t",
    }
    out = lc.plan(lc.Action.RESIZE, s, NOW, D, "req-m", args)
    assert out.work == (lc.ScheduleMove(4),)
    return then(s, out)


def placed(s: m.Server | None = None) -> tuple[m.Server, lc.Outcome]:
    s = s or started()
    result = Placement(host="vc-1", disk_format="VMDK", vmware_disktype="streamOptimized")
    out = rz.on_move_placement(s, s.generation, result, NOW, D)
    return then(s, out), out


def commands(out: lc.Outcome) -> list[tuple[str, str]]:
    return [(w.command.verb.value, w.command.host) for w in out.work if isinstance(w, lc.Send)]


def at_spawn() -> tuple[m.Server, lc.Outcome]:
    s, _ = placed()
    out = lc.apply_event(s, event("SNAPSHOTTED", "kvm-1"), NOW, D)
    return then(s, out), out


def test_the_whole_move_keeps_the_id_and_moves_the_claim_exactly() -> None:
    s, out = placed()
    assert s.task == m.Task.RESIZE_MIGRATING and s.host == "kvm-1"
    # stopped first, then the disk copied (commands to one host run in order)
    assert commands(out) == [("power_off", "kvm-1"), ("snapshot", "kvm-1")]
    snap = out.work[1]
    assert isinstance(snap, lc.Send) and snap.command.image_id == "img-t"  # type: ignore[attr-defined]

    out = lc.apply_event(s, event("POWERED_OFF", "kvm-1", power_state=m.Power.SHUTDOWN), NOW, D)
    s = then(s, out)
    assert s.task == m.Task.RESIZE_MIGRATING and s.power_state == m.Power.SHUTDOWN

    out = lc.apply_event(s, event("SNAPSHOTTED", "kvm-1"), NOW, D)
    s = then(s, out)
    assert (s.host, s.hypervisor_type, s.task) == ("vc-1", "VMWARE", m.Task.RESIZE_FINISH)
    [spawn] = [w.command for w in out.work if isinstance(w, lc.Send)]
    assert isinstance(spawn, lc.Spawn)
    assert (spawn.host, spawn.image_id, spawn.disk_format) == ("vc-1", "img-t", "VMDK")
    # the spawn leaves through the outbox with its image (encoded by its fields)
    kind, payload = outbox.encode(lc.Send(spawn))
    assert outbox.decode(kind, payload) == lc.Send(spawn)

    out = lc.apply_event(s, event("SPAWNED", "vc-1", power_state=m.Power.RUNNING), NOW, D)
    s = then(s, out)
    assert s.task == m.Task.RESIZE_CONFIRMING and s.power_state == m.Power.RUNNING
    assert commands(out) == [("destroy", "kvm-1")]
    assert not any(isinstance(w, lc.ReplaceClaim) for w in out.work)  # not before the cleanup

    out = lc.apply_event(s, event("DESTROYED", "kvm-1"), NOW, D)
    s = then(s, out)
    assert (s.id, s.state, s.task, s.host, s.resize) == (
        "s1",
        m.State.ACTIVE,
        m.Task.NONE,
        "vc-1",
        None,
    )
    assert out.work == (lc.ReplaceClaim(), lc.DeleteTransferImage("img-t"))


def test_a_stopped_server_is_not_stopped_again_and_ends_stopped() -> None:
    s = started(server(state=m.State.SHUTOFF, power_state=m.Power.SHUTDOWN))
    s, out = placed(s)
    assert commands(out) == [("snapshot", "kvm-1")]
    out = lc.apply_event(s, event("SNAPSHOTTED", "kvm-1"), NOW, D)
    [spawn] = [w.command for w in out.work if isinstance(w, lc.Send)]
    assert isinstance(spawn, lc.Spawn) and spawn.powered_off  # never started on the way
    s = then(s, out)
    out = lc.apply_event(s, event("SPAWNED", "vc-1", power_state=m.Power.SHUTDOWN), NOW, D)
    assert commands(out) == [("destroy", "kvm-1")]
    # a host that started it anyway (an agent without the flag) is told to stop it
    anyway = lc.apply_event(s, event("SPAWNED", "vc-1", power_state=m.Power.RUNNING), NOW, D)
    assert commands(anyway) == [("destroy", "kvm-1"), ("power_off", "vc-1")]
    s = then(s, out)
    s = then(s, lc.apply_event(s, event("DESTROYED", "kvm-1"), NOW, D))
    assert (s.state, s.host, s.power_state) == (m.State.SHUTOFF, "vc-1", m.Power.SHUTDOWN)


def test_the_scheduler_asks_for_the_new_type_of_an_unpinned_image() -> None:
    from polyvisor.api import moves, spawnspec

    s = started()
    image = m.ImageInfo(id="i1", name="base", status="ACTIVE", disk_format="QCOW2", owner="p1",
                        hypervisor_type="KVM")  # fmt: skip
    spec = spawnspec.SpawnSpec(image=image, hostname="vm")
    [req] = moves.move_requests(s, spec, (), 4)
    assert req.hypervisor_type == "VMWARE" and req.ignore_hosts == ("kvm-1",)
    assert req.image.hypervisor_type == "" and req.image.disk_format == "QCOW2"


def test_no_host_of_the_type_leaves_it_where_it_was_and_drops_the_image() -> None:
    s = started()
    out = rz.on_move_placement(s, 4, NoValidHost("3 hosts: 3 no network physnet9"), NOW, D)
    after = then(s, out)
    assert (after.state, after.host, after.resize) == (m.State.ACTIVE, "kvm-1", None)
    assert after.fault is not None and "physnet9" in after.fault.message
    assert lc.DeleteTransferImage("img-t") in out.work


def test_a_failed_snapshot_leaves_it_on_the_source_and_starts_it_again() -> None:
    s, _ = placed()
    fault = m.Fault("X", "disk copy failed")
    out = lc.apply_event(s, event("COMMAND_FAILED", "kvm-1", fault=fault), NOW, D)
    after = then(s, out)
    # off, as its guest is, until the start sent now is answered
    assert (after.state, after.host, after.hypervisor_type) == (m.State.SHUTOFF, "kvm-1", "KVM")
    assert (after.task, after.power_state) == (m.Task.NONE, m.Power.SHUTDOWN)
    assert after.fault is not None and "disk copy failed" in after.fault.message
    assert lc.ReleaseClaim(move=True, detail="move to another type given up") in out.work
    assert lc.FailImage("img-t", after.fault.message) in out.work
    assert lc.DeleteTransferImage("img-t") in out.work
    assert commands(out) == [("power_on", "kvm-1")]
    assert not any(isinstance(w, lc.BindPorts) for w in out.work)  # never moved
    started_again = then(after, lc.apply_event(after, event("POWERED_ON", "kvm-1"), NOW, D))
    assert (started_again.state, started_again.power_state) == (m.State.ACTIVE, m.Power.RUNNING)


def test_a_failed_spawn_brings_it_back_with_its_ports() -> None:
    s, _ = at_spawn()
    out = lc.apply_event(s, event("SPAWN_FAILED", "vc-1"), NOW, D)
    after = then(s, out)
    assert (after.host, after.hypervisor_type, after.resize) == ("kvm-1", "KVM", None)
    work = list(out.work)
    # ports bound to the source again before it is started there
    assert work.index(lc.BindPorts("kvm-1")) < next(
        i for i, w in enumerate(work) if isinstance(w, lc.Send)
    )
    assert commands(out) == [("power_on", "kvm-1")]
    assert lc.DeleteTransferImage("img-t") in out.work


def test_events_of_the_wrong_host_change_nothing() -> None:
    s, _ = at_spawn()
    for ev in (event("SPAWNED", "kvm-1"), event("POWERED_ON", "kvm-1"), event("VANISHED", "kvm-1")):
        out = lc.apply_event(s, ev, NOW, D)
        assert out.noop or out.ignored


def test_a_spawn_that_never_answers_is_sent_again_then_given_up() -> None:
    s, _ = at_spawn()
    late = NOW.replace(year=2027)
    out = lc.plan_timeout(s, late, D)
    assert commands(out) == [("spawn", "vc-1")]
    s = then(s, out)
    assert s.generation == 5 and s.command_attempts == 2
    s = replace(s, command_attempts=D.max_command_attempts)
    out = lc.plan_timeout(s, late.replace(year=2028), D)
    after = then(s, out)
    assert (after.host, after.resize) == ("kvm-1", None)
    assert after.fault is not None and after.fault.code == "TIMEOUT"
    assert commands(out)[0] == ("destroy", "vc-1")  # whatever the destination made goes
    assert lc.BindPorts("kvm-1") in out.work


def test_the_new_outbox_entries_survive_the_outbox() -> None:
    for work in (lc.BindPorts("kvm-1"), lc.DeleteTransferImage("img-t")):
        kind, payload = outbox.encode(work)
        assert outbox.decode(kind, payload) == work


def test_no_confirm_or_revert_while_it_moves() -> None:
    s, _ = at_spawn()
    for action in (lc.Action.CONFIRM_RESIZE, lc.Action.REVERT_RESIZE):
        try:
            lc.plan(action, s, NOW, D, "r", {})
        except Exception as e:
            assert "no resize to confirm or revert" in str(e) or "RESIZE" in str(e)
        else:
            raise AssertionError(f"{action} accepted during a move across types")


def test_a_delete_once_the_destination_is_its_host_destroys_the_source_copy_too() -> None:
    s, _ = at_spawn()
    out = lc.plan(lc.Action.DELETE, s, NOW, D, "req-d", {})
    assert commands(out) == [("destroy", "vc-1")]
    s = then(s, out)
    work = rz.on_deleted(s)
    [destroy] = [w.command for w in work if isinstance(w, lc.Send)]
    assert (destroy.verb.value, destroy.host) == ("destroy", "kvm-1")
    # not the delete's command id (server, generation, verb): one generation past it
    assert destroy.generation == s.generation + 1
    assert lc.DeleteTransferImage("img-t") in work
    # before the snapshot is taken the source is the server's host: the delete goes there
    s, _ = placed()
    s = then(s, lc.plan(lc.Action.DELETE, s, NOW, D, "req-d", {}))
    assert not [w for w in rz.on_deleted(s) if isinstance(w, lc.Send)]
