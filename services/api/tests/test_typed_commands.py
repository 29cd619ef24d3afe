"""Typed commands and outbox work from the state machine's decision to the protobuf message:
each command survives the outbox as itself, reaches the wire as its verb's message, and the
transition table and the change record agree with the rest of the api."""

from __future__ import annotations

from dataclasses import asdict, fields, replace
from datetime import UTC, datetime

import pytest

from polyvisor.api import lifecycle as lc
from polyvisor.api import models as m
from polyvisor.api.convert.commands import build_command
from polyvisor.api.convert.images import image_info
from polyvisor.api.lifecycle import events as lc_events
from polyvisor.api.spawnspec import Hints, SpawnSpec, Target
from polyvisor.api.store import outbox, rows
from polyvisor.image.v1 import images_pb2
from polyvisor.types.v1 import disk_pb2

NOW = datetime(2026, 1, 1, tzinfo=UTC)

EVERY_COMMAND = [
    lc.Spawn("h1", 2, NOW, "req-1", attempt=2, powered_off=True),
    lc.Destroy("h1", 3, None, "", reason="build timed out"),
    lc.PowerOn("h1", 4, NOW, "req-2"),
    lc.PowerOff("h1", 5, NOW),
    lc.Reboot("h1", 6, NOW, "req-3", hard=True),
    lc.Snapshot("h1", 7, NOW, "req-4", image_id="img-7", then_destroy=True),
    lc.Rebuild("h1", 8, NOW, "req-5", image_id="i2", powered_off=True),
    lc.OpenConsole("h1", 6, None, "", password="s3ss10n!", valid_for_s=45.0, session="c1"),
    lc.Pause("h1", 9, NOW, "req-6"),
    lc.Unpause("h1", 10, NOW),
    lc.Suspend("h1", 11, NOW, "req-7"),
    lc.Resume("h1", 12, NOW),
    lc.Resize("h1", 13, NOW, "req-8", vcpus=4, memory_mb=8192, disk_gb=40, dest_host="h2"),
    lc.ConfirmResize("h1", 14, NOW, "req-9"),
    lc.RevertResize("h2", 15, NOW, "req-10", vcpus=1, memory_mb=512, disk_gb=1, dest_host="h1"),
    lc.AttachPort("h1", 13, NOW, "req-8", port_id="port-1"),
    lc.DetachPort("h1", 14, NOW, port_id="port-1"),
    lc.LiveMigrate("h1", 16, NOW, "req-11", dest_host="h2"),
    lc.AbortMigration("h1", 16, None, "req-12"),
    lc.AttachVolume(
        "h1", 17, NOW, "req-9", volume_id="v1", connection_kind="file",
        connection_attrs={"path": "/v/v1.qcow2", "format": "qcow2"},
    ),
    lc.DetachVolume("h1", 18, NOW, volume_id="v1", connection_kind="file"),
]  # fmt: skip


def server() -> m.Server:
    return m.Server(
        id="s1",
        project_id="p1",
        user_id="u1",
        name="web 1",
        image_id="i1",
        flavor=m.ServerFlavor("f1", "small", 1, 512, 1),
        state=m.State.BUILDING,
        task=m.Task.SPAWNING,
        power_state=m.Power.NOSTATE,
        desired_power_state=m.Power.RUNNING,
        generation=2,
        revision=1,
        create_time=NOW,
        update_time=NOW,
        host="h1",
        hypervisor_type="KVM",
    )


def test_every_verb_has_one_command_class_and_every_class_is_tested() -> None:
    # Every verb but the operator's console refresh (see `Verb`), which the api never sends.
    assert set(lc.COMMANDS) == set(lc.Verb) - {lc.Verb.REFRESH_CONSOLE}
    assert {type(c) for c in EVERY_COMMAND} == set(lc.COMMANDS.values())
    for verb, cls in lc.COMMANDS.items():
        assert cls.verb == verb and cls is getattr(lc, cls.__name__)


@pytest.mark.parametrize(
    "work",
    [
        lc.Schedule(3),
        lc.Reschedule(4),
        lc.ReleaseClaim(lc.ReleaseReason.BUILD_FAILED, "boom"),
        lc.ReleaseClaim(detail="resize reverted", move=True),
        lc.ScheduleMove(5),
        lc.ReplaceClaim(),
        lc.ReleasePorts(),
        lc.ReleasePort("port-1", delete=True, nic_index=2),
        lc.ReleasePort("port-2", delete=False),
        lc.SettleVolume("v1", attached=True),
        lc.ReleaseVolumes(),
    ]
    + [lc.Send(c) for c in EVERY_COMMAND],
    ids=repr,
)
def test_outbox_work_survives_its_row(work: lc.OutboxWork) -> None:
    kind, payload = outbox.encode(work)
    assert outbox.decode(kind, payload) == work


def test_a_command_row_of_the_untyped_shape_still_reads() -> None:
    """Rows written before commands were typed carry every key for every verb."""
    payload = {
        "verb": "reboot",
        "host": "h1",
        "generation": 7,
        "deadline": NOW.isoformat(),
        "hard": True,
        "reason": "",
        "request_id": "r",
        "attempt": 1,
    }
    assert outbox.decode("command", payload) == lc.Send(lc.Reboot("h1", 7, NOW, "r", hard=True))
    assert outbox.decode("release_claim", {}) == lc.ReleaseClaim()
    with pytest.raises(ValueError):
        outbox.decode("command", {**payload, "verb": "teleport"})


@pytest.mark.parametrize("cmd", EVERY_COMMAND, ids=lambda c: c.verb.value)
def test_every_command_reaches_the_wire_as_its_verb(cmd: lc.AgentCommand) -> None:
    image = m.ImageInfo(
        "i1", "cirros", "ACTIVE", "p1", "QCOW2", renditions=(("QCOW2", "", "ab", 9),)
    )
    spec = SpawnSpec(image, "", ("ssh-ed25519 AAAA",), Hints())
    new = m.ImageInfo("i2", "debian", "ACTIVE", "p1", "RAW", renditions=(("RAW", "", "cd", 7),))
    s = replace(server(), action_args={"image_id": "i2", "image": asdict(new)})
    msg = build_command(cmd, Target(s, spec, b"#cloud-config"))
    assert msg.WhichOneof("command") == cmd.verb.value
    # A console session is not a transition: several at one generation, each its own id.
    session = f":{cmd.session}" if isinstance(cmd, lc.OpenConsole) else ""
    assert msg.command_id == f"s1:{cmd.generation}:{cmd.verb.value}{session}"
    if isinstance(cmd, lc.OpenConsole):
        assert (msg.open_console.password, msg.open_console.valid_for_s) == ("s3ss10n!", 45.0)
    assert (msg.host, msg.generation, msg.request_id) == (cmd.host, cmd.generation, cmd.request_id)
    assert msg.HasField("deadline") == (cmd.deadline is not None)
    if isinstance(cmd, lc.Spawn):
        assert msg.spawn.attempt == 2 and msg.spawn.hostname == "web-1"
        assert list(msg.spawn.public_keys) == ["ssh-ed25519 AAAA"]
        assert msg.spawn.image.sha256 == "ab" and msg.spawn.user_data == b"#cloud-config"
        assert msg.spawn.powered_off  # made, never started (a stopped server evacuated)
    if isinstance(cmd, lc.Destroy):
        assert msg.destroy.reason == "build timed out"
    if isinstance(cmd, lc.Reboot):
        assert msg.reboot.hard
    if isinstance(cmd, lc.Snapshot):
        assert msg.snapshot.image_id == "img-7" and msg.snapshot.then_destroy
    if isinstance(cmd, lc.Rebuild):
        # The image to rebuild from, as the image service described it, in the rendition
        # this host boots.
        assert (
            msg.rebuild.image.image_id == "i2"
            and msg.rebuild.image.disk_format == disk_pb2.DISK_FORMAT_RAW
        )
        assert msg.rebuild.disk_gb == 1 and msg.rebuild.powered_off  # it was stopped
    if isinstance(cmd, lc.Resize):
        r = msg.resize
        assert (r.vcpus, r.memory_mb, r.disk_gb, r.dest_host) == (4, 8192, 40, "h2")
    if isinstance(cmd, lc.RevertResize):
        r = msg.revert_resize
        assert (r.vcpus, r.memory_mb, r.disk_gb, r.dest_host) == (1, 512, 1, "h1")
    if isinstance(cmd, lc.LiveMigrate):
        lm = msg.live_migrate
        assert (lm.dest_host, lm.dest_uri, lm.block_migration) == ("h2", "", True)
    if isinstance(cmd, lc.AbortMigration):
        assert msg.WhichOneof("command") == "abort_migration"


def test_a_spawn_without_its_spec_is_refused() -> None:
    with pytest.raises(ValueError, match="no spawn spec"):
        build_command(EVERY_COMMAND[0], Target(server()))


def test_the_change_record_names_server_columns_only() -> None:
    columns = {c.strip() for c in rows.SERVER_COLUMNS.split(",")}
    assert {f.name for f in fields(lc.Change)} <= columns
    assert not lc.Change() and lc.Change(task_deadline=None)
    assert list(lc.Change(fault=None, task=m.Task.NONE).items()) == [
        ("task", m.Task.NONE),
        ("fault", None),
    ]


def test_every_action_has_its_own_task_and_answers_do_not_collide() -> None:
    tasks = [t.task for t in lc.ACTIONS.values()]
    assert len(set(tasks)) == len(tasks) == len(lc.Action)
    answered = [t.answer.kind for t in lc.ACTIONS.values() if t.answer is not None]
    assert len(set(answered)) == len(answered)
    for kind in answered:  # an answer with a handler of its own would be silently replaced
        assert lc_events.EVENTS[kind].__name__ == "handle"


def test_spawn_spec_keeps_its_stored_shape() -> None:
    image = m.ImageInfo("i1", "cirros", "ACTIVE", "p1", "QCOW2", renditions=(("RAW", "", "x", 1),))
    spec = SpawnSpec(
        image, "web", ("k",), Hints(same_host=("a",), group="g", group_policy="AFFINITY")
    )
    data = spec.to_json()
    assert data["hints"] == {"same_host": ["a"], "group": "g", "group_policy": "AFFINITY"}
    assert SpawnSpec.from_json(data) == spec


def test_the_images_nic_model_reaches_the_spawn_command() -> None:
    pb = images_pb2.Image(id="i1", name="cirros", owner="p1", properties={"hw_vif_model": "e1000"})
    image = image_info(pb)
    assert image.hw_vif_model == "e1000"
    spec = SpawnSpec(image, "", (), Hints())
    msg = build_command(
        next(c for c in EVERY_COMMAND if isinstance(c, lc.Spawn)), Target(server(), spec, b"")
    )
    assert msg.spawn.image.hw_vif_model == "e1000"
    assert SpawnSpec.from_json(spec.to_json()).image.hw_vif_model == "e1000"
