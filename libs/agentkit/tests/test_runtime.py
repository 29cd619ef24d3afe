"""The agent runtime on real NATS with a FakeDriver: answers, ordering, bounds, idempotency,
redelivery, the watcher, the reconciler and the host reporter."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest
from prometheus_client import REGISTRY

from polyvisor.agent.v1 import host_report_pb2
from polyvisor.agentkit.bus import command_subject, report_subject
from polyvisor.agentkit.commands import EventKind
from polyvisor.agentkit.driver import (
    DriverError,
    HypervisorUnavailable,
    Instance,
    InstanceSpec,
    LocalImage,
    PowerState,
    RenditionWanted,
    SpawnFailed,
)
from polyvisor.agentkit.fake import FakeDriver
from polyvisor.agentkit.image_cache import cache_key
from polyvisor.agentkit.reconcile_plan import Assigned
from polyvisor.agentkit.runtime import AgentRuntime
from polyvisor.agentkit.testing import agent_command
from polyvisor.agentkit.transient import Transient, backoff
from polyvisor.types.v1 import resources_pb2

if TYPE_CHECKING:
    from conftest import Agent

SPAWNED, DESTROYED = EventKind.SPAWNED, EventKind.DESTROYED


def is_(kind: EventKind, sid: str):  # type: ignore[no-untyped-def]
    return lambda e: e.kind == kind and e.server_id == sid


async def until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def] # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)


async def test_spawn_is_answered_with_progress_then_spawned(agent: Agent) -> None:
    cid = await agent.send("s1", 1, "spawn", sha256=agent.image_sha, public_keys=("ssh-ed25519 K",))
    ev = await agent.tap.wait_for(is_(SPAWNED, "s1"))
    assert [(e.kind.value, e.task) for e in agent.tap.of("s1")] == [
        ("PROGRESS", "FETCHING_IMAGE"),
        ("PROGRESS", "SPAWNING"),
        ("SPAWNED", "UNSPECIFIED"),
    ]
    assert ev.command_id == cid and ev.generation == 1
    assert ev.power_state == "RUNNING" and ev.console_port == 5900
    assert ev.instance_name == "polyvisor-s1"
    vm = agent.driver.snapshot("s1")
    assert vm is not None and vm.public_keys == ("ssh-ed25519 K",)
    assert vm.image_path.endswith(".img")
    assert agent.runtime.cache is not None
    assert agent.runtime.cache.users_of(cache_key("img", RenditionWanted("qcow2"))) == ["s1"]


async def test_commands_of_one_server_apply_in_order(agent: Agent) -> None:
    agent.driver.block("spawn")
    await agent.send("s1", 1, "spawn")
    for gen, verb in ((2, "power_off"), (3, "power_on"), (4, "reboot"), (5, "destroy")):
        await agent.send("s1", gen, verb)
    await until(lambda: agent.driver.waiting("spawn") == 1)
    await until(lambda: agent.runtime.dispatcher.pending == 5)
    assert agent.driver.calls_for("s1") == ["spawn"]  # the rest waits behind it
    agent.driver.release("spawn")
    await agent.tap.wait_for(is_(DESTROYED, "s1"))
    assert agent.driver.calls_for("s1") == ["spawn", "power_off", "power_on", "reboot", "destroy"]
    answers = [e.kind.value for e in agent.tap.of("s1") if e.kind != EventKind.PROGRESS]
    assert answers == ["SPAWNED", "POWERED_OFF", "POWERED_ON", "REBOOTED", "DESTROYED"]
    assert agent.driver.snapshot("s1") is None
    # the server's image is no longer pinned once it is gone
    assert all(not e.users for e in agent.runtime.cache.entries.values())  # type: ignore[union-attr]


async def test_concurrency_is_bounded_across_servers(agent: Agent) -> None:
    assert agent.settings.command_concurrency == 4
    agent.driver.block("spawn")
    for n in range(7):
        await agent.send(f"c{n}", 1, "spawn")
    await until(lambda: agent.driver.waiting("spawn") == 4)
    await until(lambda: agent.runtime.dispatcher.pending == 7)
    await asyncio.sleep(0.2)
    assert agent.driver.waiting("spawn") == 4  # never a fifth
    agent.driver.release("spawn")
    for n in range(7):
        await agent.tap.wait_for(is_(SPAWNED, f"c{n}"))
    assert len(agent.driver.vms) == 7


async def test_a_console_session_sets_the_password_and_leaves_the_server_alone(
    agent: Agent,
) -> None:
    await agent.send("s1", 1, "spawn")
    await agent.tap.wait_for(is_(SPAWNED, "s1"))
    before = time.time()
    cid = await agent.send("s1", 1, "open_console", password="s3ss10n!", valid_for_s=30)
    ev = await agent.tap.wait_for(lambda e: e.command_id == cid)
    assert ev.kind == EventKind.CONSOLE_UPDATED and ev.console_port == 5900
    vm = agent.driver.snapshot("s1")
    assert vm is not None and vm.console_password is not None
    assert vm.console_password[0] == "s3ss10n!"
    assert before + 29 <= vm.console_password[1] <= time.time() + 31
    assert vm.power_state == PowerState.RUNNING
    # A second session at the same generation is applied too (its own command id).
    cid2 = await agent.send("s1", 1, "open_console", password="an0ther!", valid_for_s=30)
    await agent.tap.wait_for(lambda e: e.command_id == cid2)
    assert agent.driver.snapshot("s1").console_password[0] == "an0ther!"  # type: ignore[union-attr]
    # A session for a server that is not here fails quietly: no COMMAND_FAILED, which the
    # api would take for its power command's failure.
    await agent.send("ghost", 1, "open_console", password="x", valid_for_s=30)
    await agent.send("s1", 2, "power_off")
    await agent.tap.wait_for(is_(EventKind.POWERED_OFF, "s1"))
    assert not [e for e in agent.tap.of("ghost")]


async def test_stale_and_duplicate_commands_are_skipped(agent: Agent) -> None:
    await agent.send("s1", 1, "spawn")
    await agent.tap.wait_for(is_(SPAWNED, "s1"))
    await agent.send("s1", 3, "power_off")
    await agent.tap.wait_for(is_(EventKind.POWERED_OFF, "s1"))
    stale = await agent.send("s1", 2, "power_on")  # overtaken by generation 3
    # the same command twice (another message id, so JetStream does not drop it)
    dup = await agent.send("s1", 4, "reboot", command_id="reboot-once")
    again = agent_command(agent.host, "s1", 4, "reboot", command_id="reboot-once")
    await agent.bus.publish(command_subject(agent.host), again, msg_id="another-message")
    await agent.send("s1", 5, "power_off")
    await agent.tap.wait_for(lambda e: e.server_id == "s1" and e.generation == 5)
    assert agent.driver.calls_for("s1") == ["spawn", "power_off", "reboot", "power_off"]
    assert not [e for e in agent.tap.of("s1") if e.command_id == stale]
    assert len([e for e in agent.tap.of("s1") if e.command_id == dup]) == 1
    assert agent.driver.snapshot("s1").power_state == PowerState.SHUTDOWN  # type: ignore[union-attr]


async def test_expired_and_unparsable_commands_do_not_block_the_queue(agent: Agent) -> None:
    await agent.bus.publish(command_subject(agent.host), b"\xff not a command", msg_id="junk")
    await agent.send("s1", 1, "spawn", deadline=time.time() - 5)
    await agent.send("s2", 1, "spawn")
    await agent.tap.wait_for(is_(SPAWNED, "s2"))
    assert agent.driver.calls_for("s1") == []
    assert agent.tap.of("s1") == []


async def test_transient_failures_are_retried_in_place(agent: Agent) -> None:
    agent.driver.fail_next("spawn", HypervisorUnavailable("libvirtd restarting"), times=2)
    await agent.send("s1", 1, "spawn")
    await agent.send("s1", 2, "power_off")
    await agent.tap.wait_for(is_(EventKind.POWERED_OFF, "s1"))
    assert agent.driver.calls_for("s1") == ["spawn", "spawn", "spawn", "power_off"]
    kinds = agent.tap.kinds("s1")
    assert "SPAWN_FAILED" not in kinds and kinds.count("SPAWNED") == 1


async def test_a_retryable_driver_error_is_retried_in_place_past_the_fixed_budget(
    agent: Agent,
) -> None:
    # the network service UNAVAILABLE while its database restarts: more failures than the
    # fixed budget has delays, well within the build's deadline
    agent.runtime.handler.retry_delays = (0.01, 0.02)
    down = DriverError("network service: ports: UNAVAILABLE", retryable=True)
    agent.driver.fail_next("spawn", down, times=4)
    await agent.send("s1", 1, "spawn", deadline=time.time() + 600)
    await agent.tap.wait_for(is_(SPAWNED, "s1"))
    assert agent.driver.calls_for("s1") == ["spawn"] * 5
    assert "SPAWN_FAILED" not in agent.tap.kinds("s1")


async def test_a_down_hypervisor_and_a_retryable_spawn_failure_keep_their_answers(
    agent: Agent,
) -> None:
    agent.runtime.handler.retry_delays = (0.01, 0.02)
    # a hypervisor that stays down: the fixed budget, then the answer (the api reschedules)
    agent.driver.fail_next("spawn", HypervisorUnavailable("libvirtd down"), times=3)
    await agent.send("s1", 1, "spawn", deadline=time.time() + 600)
    ev = await agent.tap.wait_for(is_(EventKind.SPAWN_FAILED, "s1"))
    assert ev.fault_code == "HOST_UNREACHABLE" and agent.driver.calls_for("s1") == ["spawn"] * 3
    # a retryable SpawnFailed (no free VNC port here): answered at once, an alternate host
    # is the better next try
    agent.driver.fail_next("spawn", SpawnFailed("no free VNC port", retryable=True))
    await agent.send("s2", 1, "spawn", deadline=time.time() + 600)
    ev = await agent.tap.wait_for(is_(EventKind.SPAWN_FAILED, "s2"))
    assert ev.fault_code == "SPAWN_FAILED" and agent.driver.calls_for("s2") == ["spawn"]


def test_retries_of_a_retryable_error_stop_at_the_deadline() -> None:
    until = Transient("UNAVAILABLE", until_deadline=True)
    down = Transient("libvirtd down")
    delays = (0.5, 4.0)
    now = time.time()
    assert backoff(delays, now + 600, until, 7) == 4.0  # past the budget, before the deadline
    assert backoff(delays, now + 2, until, 1) is None  # the next try would start too late
    assert backoff(delays, now - 1, until, 0) is None  # a task that used the deadline up
    assert backoff(delays, None, until, 2) is None  # no deadline: the fixed budget
    assert backoff(delays, now + 600, down, 1) == 4.0
    assert backoff(delays, now + 600, down, 2) is None  # a down hypervisor: the budget only


async def test_final_failures_are_answered_with_a_fault(agent: Agent) -> None:
    agent.driver.fail_next("spawn", SpawnFailed("no room for the disk"))
    await agent.send("s1", 1, "spawn")
    ev = await agent.tap.wait_for(is_(EventKind.SPAWN_FAILED, "s1"))
    assert ev.fault_code == "SPAWN_FAILED" and "no room" in ev.fault_message
    assert agent.driver.snapshot("s1") is None
    assert all(not e.users for e in agent.runtime.cache.entries.values())  # type: ignore[union-attr]

    await agent.send("s2", 1, "spawn", image_id="no-such-image")
    ev = await agent.tap.wait_for(is_(EventKind.SPAWN_FAILED, "s2"))
    assert ev.fault_code == "IMAGE_UNAVAILABLE"
    assert agent.driver.calls_for("s2") == []

    await agent.send("s3", 1, "power_on")
    ev = await agent.tap.wait_for(is_(EventKind.COMMAND_FAILED, "s3"))
    assert ev.fault_code == "VANISHED" and ev.power_state == "NOSTATE"

    # destroying what is not there succeeds
    await agent.send("s4", 1, "destroy")
    await agent.tap.wait_for(is_(DESTROYED, "s4"))


async def test_a_stopped_agent_hands_its_commands_to_the_next_one(agent: Agent) -> None:
    await agent.send("s1", 1, "spawn")
    await agent.tap.wait_for(is_(SPAWNED, "s1"))
    agent.driver.block("power_off")
    await agent.send("s1", 2, "power_off")
    await agent.send("s1", 3, "power_on")
    await agent.send("s1", 4, "reboot")
    await until(lambda: agent.driver.waiting("power_off") == 1)
    loop = agent.runtime.command_loop
    assert loop is not None
    await until(lambda: loop.held == 3)
    closing = asyncio.get_running_loop().create_task(agent.runtime.close(grace_s=0))
    await until(lambda: loop.held == 0)  # every held message given back
    agent.driver.release("power_off")  # the driver call in flight finishes on the host
    await closing
    assert agent.tap.kinds("s1") == ["PROGRESS", "PROGRESS", "SPAWNED"]  # none answered
    before = len(agent.tap.of("s1"))

    # The next agent on this host (same hypervisor) gets them again. JetStream does not
    # promise their order; generations do: nothing older than what was applied runs.
    agent.runtime = AgentRuntime(agent.settings, agent.driver)
    await agent.runtime.start()
    await agent.tap.wait_for(is_(EventKind.REBOOTED, "s1"))
    new_loop = agent.runtime.command_loop
    assert new_loop is not None
    await until(lambda: new_loop.held == 0)
    answered = [e.generation for e in agent.tap.of("s1")[before:]]
    assert answered == sorted(set(answered)) and answered[-1] == 4
    assert agent.driver.snapshot("s1").power_state == PowerState.RUNNING  # type: ignore[union-attr]
    assert len(agent.driver.vms) == 1
    assert agent.runtime.book.applied("s1") == 4


async def test_a_draining_agent_never_burns_the_deliveries_of_commands_queued_behind(
    agent: Agent,
) -> None:
    """An agent that stops taking commands (its lease lost, a shutdown) while it finishes
    the ones it holds must not fetch the others only to give them back: each one given back
    is delivered again at once, and after max_deliver deliveries JetStream drops it, so the
    next agent would never get the commands queued behind."""
    loop = agent.runtime.command_loop
    assert loop is not None
    await agent.send("s0", 1, "spawn")
    await agent.tap.wait_for(is_(SPAWNED, "s0"))
    agent.driver.block("power_off")  # keeps the agent draining for its whole grace
    await agent.send("s0", 2, "power_off")
    await until(lambda: agent.driver.waiting("power_off") == 1)
    agent.driver.block("spawn")
    queued = [f"q{i}" for i in range(loop.max_pending + 14)]
    for sid in queued:
        await agent.send(sid, 1, "spawn")
    await until(lambda: loop.held == loop.max_pending)
    closing = asyncio.get_running_loop().create_task(agent.runtime.close(grace_s=2.0))
    await asyncio.sleep(0.2)  # paused
    agent.driver.release("spawn")  # what it holds ends: room for more while it drains
    await asyncio.sleep(2.0)  # its grace is over
    agent.driver.release("power_off")  # the driver call in flight finishes on the host
    await closing

    agent.runtime = AgentRuntime(agent.settings, agent.driver)
    await agent.runtime.start()
    await until(lambda: all(agent.tap.kinds(sid)[-1:] == ["SPAWNED"] for sid in queued), 30)
    assert sorted(agent.driver.vms) == sorted(["s0", *queued])


async def test_hypervisor_changes_become_events(agent: Agent) -> None:
    await agent.send("s1", 7, "spawn")
    await agent.tap.wait_for(is_(SPAWNED, "s1"))
    agent.driver.set_power("s1", PowerState.SHUTDOWN)
    ev = await agent.tap.wait_for(is_(EventKind.POWER_STATE_CHANGED, "s1"))
    assert ev.power_state == "SHUTDOWN" and ev.generation == 7 and ev.command_id == ""
    agent.driver.set_power("s1", PowerState.SHUTDOWN)  # no change: no event
    agent.driver.vanish("s1")
    ev = await agent.tap.wait_for(is_(EventKind.VANISHED, "s1"))
    assert ev.fault_code == "VANISHED"
    assert agent.tap.kinds("s1").count("POWER_STATE_CHANGED") == 1


async def test_a_change_during_a_command_is_looked_at_again_after_it(agent: Agent) -> None:
    await agent.send("s1", 1, "spawn")
    await agent.tap.wait_for(is_(SPAWNED, "s1"))
    driver = agent.driver
    real_reboot = driver.reboot

    def reboot_then_shut_down_from_outside(server_id: str, *, hard: bool) -> Instance:
        inst = real_reboot(server_id, hard=hard)  # answers RUNNING...
        driver.set_power(server_id, PowerState.SHUTDOWN)  # ...but someone powers it off
        return inst

    driver.reboot = reboot_then_shut_down_from_outside  # type: ignore[method-assign]
    await agent.send("s1", 2, "reboot")
    await agent.tap.wait_for(is_(EventKind.REBOOTED, "s1"))
    # The change came while the reboot was busy; it is not lost: looked at again after it.
    ev = await agent.tap.wait_for(is_(EventKind.POWER_STATE_CHANGED, "s1"))
    assert ev.power_state == "SHUTDOWN" and ev.generation == 2

    # A blip inside a command that ends with the VM running raises no event at all.
    driver.reboot = real_reboot  # type: ignore[method-assign]
    await agent.send("s1", 3, "power_on")
    await agent.tap.wait_for(lambda e: e.server_id == "s1" and e.generation == 3)
    driver.block("reboot")
    await agent.send("s1", 4, "reboot")
    await until(lambda: driver.waiting("reboot") == 1)
    driver.set_power("s1", PowerState.SHUTDOWN)
    driver.release("reboot")
    await agent.tap.wait_for(lambda e: e.server_id == "s1" and e.generation == 4)
    await until(lambda: not agent.runtime.dispatcher.busy("s1"))
    kinds = [e.kind for e in agent.tap.of("s1") if e.generation == 4]
    assert kinds == [EventKind.REBOOTED]
    assert driver.snapshot("s1").power_state == PowerState.RUNNING  # type: ignore[union-attr]


def api_view(agent: Agent, sid: str) -> Assigned:
    """The server as the api makes it of what the agent published (its power rules): SPAWNED
    makes it ACTIVE, desired RUNNING; an observed SHUTDOWN of an ACTIVE server makes it
    SHUTOFF with desired SHUTDOWN (stopped from outside: the reconciler keeps it off)."""
    state, desired, generation = "BUILDING", PowerState.RUNNING, 0
    for e in agent.tap.of(sid):
        generation = max(generation, e.generation)
        if e.kind == SPAWNED:
            state, desired = "ACTIVE", PowerState.RUNNING
        elif e.kind == EventKind.POWER_STATE_CHANGED and state in ("ACTIVE", "SHUTOFF"):
            if e.power_state == "SHUTDOWN" and state == "ACTIVE":
                state, desired = "SHUTOFF", PowerState.SHUTDOWN
            elif e.power_state == "RUNNING" and state == "SHUTOFF":
                state, desired = "ACTIVE", PowerState.RUNNING
    return Assigned(sid, generation, desired, state)


async def watch_drained(agent: Agent, marker: str) -> None:
    """Every change reported so far has been handled: changes are handled in order, so once
    the marker server's own change is published, the ones before it are done."""
    before = len(agent.tap.of(marker))
    vm = agent.driver.snapshot(marker)
    assert vm is not None
    off = vm.power_state == PowerState.SHUTDOWN
    agent.driver.set_power(marker, PowerState.PAUSED if off else PowerState.SHUTDOWN)
    await agent.tap.wait_for(lambda e: e.server_id == marker and len(agent.tap.of(marker)) > before)
    await agent.runtime.dispatcher.wait_idle()


async def assert_ends_active_running(agent: Agent, sid: str) -> None:
    """As the api sees it, and after a reconcile pass against that view: no power off."""
    view = api_view(agent, sid)
    assert (view.state, view.desired_power_state) == ("ACTIVE", PowerState.RUNNING), (
        agent.tap.kinds(sid),
        [e.power_state for e in agent.tap.of(sid)],
    )
    agent.board.assign(agent.host, view)
    reconciler = agent.runtime.reconciler
    assert reconciler is not None
    await reconciler.reconcile_once()
    await agent.runtime.dispatcher.wait_idle()
    assert "power_off" not in agent.driver.calls_for(sid)
    assert agent.driver.snapshot(sid).power_state == PowerState.RUNNING  # type: ignore[union-attr]


async def test_a_change_queued_during_a_spawn_never_overrides_it(agent: Agent) -> None:
    """The VM is seen powered off while it is being created; the runtime is still busy with
    an earlier change when the spawn ends, and takes that observation off its queue after
    SPAWNED: it must not be published as the server's state."""
    for sid in ("busy", "marker"):
        await agent.send(sid, 1, "spawn")
        await agent.tap.wait_for(is_(SPAWNED, sid))
    bus = agent.runtime.agent_bus
    assert bus is not None
    real_publish = bus.publish_event
    gate = asyncio.Event()

    async def slow_publish(event):  # type: ignore[no-untyped-def]
        if event.server_id == "busy":  # a slow bus, while the watch publishes this one
            await gate.wait()
        return await real_publish(event)

    bus.publish_event = slow_publish  # type: ignore[method-assign]
    agent.driver.spawn_reports_power_off()
    agent.driver.set_power("busy", PowerState.SHUTDOWN)  # the watch is stuck on it
    await agent.send("s1", 1, "spawn")
    await agent.tap.wait_for(is_(SPAWNED, "s1"))
    await until(lambda: not agent.runtime.dispatcher.busy("s1"))
    gate.set()  # now the watch takes s1's "powered off" from its queue
    await watch_drained(agent, "marker")
    assert [e.power_state for e in agent.tap.of_kind(EventKind.POWER_STATE_CHANGED, "s1")] == []
    await assert_ends_active_running(agent, "s1")


async def test_a_late_observation_from_before_a_spawn_ended_never_overrides_it(
    agent: Agent,
) -> None:
    """The driver hands over its observation of the VM, powered off while being created,
    only after the spawn answered (a late watch answer): it is older than the spawn's end."""
    await agent.send("marker", 1, "spawn")
    await agent.tap.wait_for(is_(SPAWNED, "marker"))
    agent.driver.spawn_reports_power_off()
    agent.driver.hold_changes()
    await agent.send("s1", 1, "spawn")
    await agent.tap.wait_for(is_(SPAWNED, "s1"))
    await until(lambda: not agent.runtime.dispatcher.busy("s1"))
    assert agent.driver.deliver_held() == 1
    await watch_drained(agent, "marker")
    assert [e.power_state for e in agent.tap.of_kind(EventKind.POWER_STATE_CHANGED, "s1")] == []
    await assert_ends_active_running(agent, "s1")

    # A real change seen after the spawn ended is still news.
    agent.driver.set_power("s1", PowerState.SHUTDOWN)
    ev = await agent.tap.wait_for(is_(EventKind.POWER_STATE_CHANGED, "s1"))
    assert ev.power_state == "SHUTDOWN"


async def test_reconciler_fixes_drift_reports_vanished_and_flags_orphans(agent: Agent) -> None:
    for sid in ("on", "off", "orphan"):
        await agent.send(sid, 1, "spawn")
        await agent.tap.wait_for(is_(SPAWNED, sid))
    board, host = agent.board, agent.host
    board.assign(host, Assigned("on", 2, PowerState.RUNNING, "ACTIVE"))
    board.assign(host, Assigned("off", 3, PowerState.SHUTDOWN, "SHUTOFF"))
    board.assign(host, Assigned("gone", 4, PowerState.RUNNING, "ACTIVE"))
    board.assign(host, Assigned("new", 1, PowerState.RUNNING, "BUILDING", "SPAWNING"))
    agent.driver.set_power("on", PowerState.SHUTDOWN)  # stopped behind our back
    await agent.tap.wait_for(lambda e: e.server_id == "on" and e.power_state == "SHUTDOWN")
    reconciler = agent.runtime.reconciler
    assert reconciler is not None
    await reconciler.reconcile_once()
    await reconciler.reconcile_once()  # a power drift is fixed once seen on two passes
    await agent.runtime.dispatcher.wait_idle()
    fixed = await agent.tap.wait_for(
        lambda e: e.server_id == "on" and e.kind == EventKind.POWER_STATE_CHANGED
        and e.power_state == "RUNNING"
    )  # fmt: skip
    assert fixed.generation == 2
    await agent.tap.wait_for(
        lambda e: e.server_id == "off" and e.kind == EventKind.POWER_STATE_CHANGED
        and e.power_state == "SHUTDOWN"
    )  # fmt: skip
    gone = await agent.tap.wait_for(is_(EventKind.VANISHED, "gone"))
    assert gone.fault_code == "VANISHED" and gone.generation == 4
    await agent.tap.wait_for(is_(EventKind.UNWANTED, "orphan"))
    assert agent.driver.snapshot("on").power_state == PowerState.RUNNING  # type: ignore[union-attr]
    assert agent.driver.snapshot("off").power_state == PowerState.SHUTDOWN  # type: ignore[union-attr]
    assert agent.tap.of("new") == []
    # a second pass reports nothing new and, by default, deletes nothing
    await reconciler.reconcile_once()
    await agent.runtime.dispatcher.wait_idle()
    assert agent.tap.kinds("gone").count("VANISHED") == 1
    assert agent.tap.kinds("orphan").count("UNWANTED") == 1
    assert agent.driver.snapshot("orphan") is not None
    # what the fault harness reads as the host's orphans
    assert REGISTRY.get_sample_value("polyvisor_agent_unwanted_instances") == 1

    await agent.restart(delete_unwanted=True)
    reconciler = agent.runtime.reconciler
    assert reconciler is not None
    await reconciler.reconcile_once()  # flags it
    await agent.runtime.dispatcher.wait_idle()
    assert agent.driver.snapshot("orphan") is not None
    await reconciler.reconcile_once()  # still unwanted: deleted
    await agent.runtime.dispatcher.wait_idle()
    assert agent.driver.snapshot("orphan") is None
    assert agent.driver.snapshot("on") is not None


async def test_a_power_off_outside_is_left_for_the_api_to_adopt_never_undone(
    agent: Agent,
) -> None:
    """Someone powers a VM off outside Polyvisor; the agent reports it, but a pass reads the
    api's view before the api applied that report (desired RUNNING): the pass must not power
    the VM on again (the api adopts the power-off: SHUTOFF, desired SHUTDOWN). A drift still
    there on the next pass, at the same generation, is fixed."""
    await agent.send("out", 1, "spawn")
    await agent.tap.wait_for(is_(SPAWNED, "out"))
    board, host = agent.board, agent.host
    board.assign(host, Assigned("out", 1, PowerState.RUNNING, "ACTIVE"))
    agent.driver.set_power("out", PowerState.SHUTDOWN)  # powered off outside
    reconciler = agent.runtime.reconciler
    assert reconciler is not None
    first = await reconciler.reconcile_once()
    await agent.runtime.dispatcher.wait_idle()
    assert [a.kind for a in first] == []
    assert agent.driver.snapshot("out").power_state == PowerState.SHUTDOWN  # type: ignore[union-attr]
    # the api applied the report: the power-off is the server's state now
    board.assign(host, Assigned("out", 1, PowerState.SHUTDOWN, "SHUTOFF"))
    assert await reconciler.reconcile_once() == []
    await agent.runtime.dispatcher.wait_idle()
    assert agent.driver.snapshot("out").power_state == PowerState.SHUTDOWN  # type: ignore[union-attr]
    # the api wants it running (as when its report was lost): fixed once seen on two passes
    board.assign(host, Assigned("out", 2, PowerState.RUNNING, "ACTIVE"))
    assert await reconciler.reconcile_once() == []
    fixed = await reconciler.reconcile_once()
    await agent.runtime.dispatcher.wait_idle()
    assert [a.kind.value for a in fixed] == ["power_on"]
    assert agent.driver.snapshot("out").power_state == PowerState.RUNNING  # type: ignore[union-attr]


async def test_the_copy_of_a_server_evacuated_from_here_is_destroyed_on_the_first_pass(
    agent: Agent,
) -> None:
    """ListEvacuatedServers names it: destroyed at once, with delete_unwanted off; another
    unassigned VM is only flagged."""
    for sid in ("stale", "orphan"):
        await agent.send(sid, 1, "spawn")
        await agent.tap.wait_for(is_(SPAWNED, sid))
    # SPAWNED goes out before the spawn gives its server's queue back: a pass leaves a server
    # with a command in flight alone.
    await agent.runtime.dispatcher.wait_idle()
    agent.board.evacuated[agent.host].add("stale")
    reconciler = agent.runtime.reconciler
    assert reconciler is not None
    actions = await reconciler.reconcile_once()
    await agent.runtime.dispatcher.wait_idle()
    assert {a.server_id: a.kind.value for a in actions} == {
        "stale": "evacuated",
        "orphan": "unwanted",
    }
    assert agent.driver.snapshot("stale") is None
    assert agent.driver.snapshot("orphan") is not None
    assert "UNWANTED" not in agent.tap.kinds("stale")  # a stale copy, not an orphan


async def test_the_stale_copies_are_looked_for_first_when_the_agent_starts(agent: Agent) -> None:
    """`drop_evacuated` (what `run` does before waiting for its first pass) destroys the
    copies the api names and nothing else."""
    for sid in ("stale", "orphan"):
        await agent.send(sid, 1, "spawn")
        await agent.tap.wait_for(is_(SPAWNED, sid))
    # SPAWNED goes out before the spawn gives its server's queue back: a pass leaves a server
    # with a command in flight alone.
    await agent.runtime.dispatcher.wait_idle()
    agent.board.evacuated[agent.host].update({"stale", "elsewhere-only"})
    reconciler = agent.runtime.reconciler
    assert reconciler is not None
    assert await reconciler.drop_evacuated() == ["stale"]
    await agent.runtime.dispatcher.wait_idle()
    assert agent.driver.snapshot("stale") is None
    assert agent.driver.snapshot("orphan") is not None
    assert await reconciler.drop_evacuated() == []


async def test_a_server_moved_here_while_the_reconciler_looks_is_not_taken_for_vanished(
    agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A move lands (the api assigns the server here) after the driver was listed: the
    listing predates it, so its absence there says nothing."""
    board, host, driver = agent.board, agent.host, agent.driver
    listed = driver.list_instances
    reconciler = agent.runtime.reconciler
    assert reconciler is not None
    asked = 0
    ask = reconciler.list_assigned

    async def counted(on: str) -> list[Assigned]:
        nonlocal asked
        answer = await ask(on)
        asked += 1
        return answer

    def listed_then_moved_in() -> list[Instance]:
        out = listed()
        # Only between the pass's two questions to the api (the host reporter lists the
        # instances too, at times of its own).
        if asked == 1:
            board.assign(host, Assigned("arrived", 7, PowerState.RUNNING, "VERIFY_RESIZE"))
        return out

    monkeypatch.setattr(reconciler, "list_assigned", counted)
    monkeypatch.setattr(driver, "list_instances", listed_then_moved_in)
    await reconciler.reconcile_once()
    assert board.hosts[host]["arrived"].generation == 7  # it moved in while the pass looked
    monkeypatch.setattr(driver, "list_instances", listed)
    # assigned here before and after a listing that lacks it: that one has vanished
    board.assign(host, Assigned("arrived", 8, PowerState.RUNNING, "VERIFY_RESIZE"))
    await reconciler.reconcile_once()
    await agent.tap.wait_for(is_(EventKind.VANISHED, "arrived"))
    assert [e.generation for e in agent.tap.of("arrived") if e.kind == EventKind.VANISHED] == [8]


async def test_reconciler_skips_a_pass_when_the_api_is_down(agent: Agent) -> None:
    agent.board.fail_next = 1
    reconciler = agent.runtime.reconciler
    assert reconciler is not None
    assert await reconciler.reconcile_once() == []
    assert reconciler.passes == 0


async def test_host_reports_on_change_and_when_disconnected(agent: Agent) -> None:
    reporter = agent.runtime.reporter
    assert reporter is not None
    sub = await agent.bus.subscribe(report_subject(agent.host))
    await agent.bus.flush()

    async def report_after(seq: int) -> host_report_pb2.HostReport:
        while True:
            r = host_report_pb2.HostReport()
            r.ParseFromString((await sub.next(10)).data)
            if r.sequence > seq:
                return r

    await until(lambda: reporter.sequence >= 1)  # the report sent at start
    await reporter.report_once("test")
    first = await report_after(reporter.sequence - 1)
    assert first.host_id == agent.host and first.agent_id == f"agent-{agent.host}"
    inv = {i.resource_class: i for i in first.inventories}
    assert inv[resources_pb2.RESOURCE_CLASS_VCPU].total == 16
    assert inv[resources_pb2.RESOURCE_CLASS_MEMORY_MB].used == 0
    assert first.state == host_report_pb2.CONNECTION_STATE_CONNECTED
    assert first.report_interval.seconds == 60

    await agent.send("s1", 1, "spawn", memory_mb=2048)  # a change: reported soon
    await agent.tap.wait_for(is_(SPAWNED, "s1"))
    second = await report_after(first.sequence)
    assert second.server_count == 1
    inv = {i.resource_class: i for i in second.inventories}
    assert inv[resources_pb2.RESOURCE_CLASS_MEMORY_MB].used == 2048

    # the hypervisor goes away: the last figures, marked disconnected
    agent.driver.fail_next("host_info", HypervisorUnavailable("libvirtd down"))
    await reporter.report_once("test")
    third = await report_after(second.sequence)
    assert third.state == host_report_pb2.CONNECTION_STATE_DISCONNECTED
    inv = {i.resource_class: i for i in third.inventories}
    assert inv[resources_pb2.RESOURCE_CLASS_VCPU].total == 16
    await sub.unsubscribe()


async def test_pause_and_suspend_are_answered_and_a_driver_without_them_says_so(
    agent: Agent,
) -> None:
    await agent.send("s1", 1, "spawn")
    await agent.tap.wait_for(is_(SPAWNED, "s1"))
    for gen, verb, answer, power in (
        (2, "pause", EventKind.PAUSED, "PAUSED"),
        (3, "unpause", EventKind.UNPAUSED, "RUNNING"),
        (4, "suspend", EventKind.SUSPENDED, "SUSPENDED"),
        (5, "resume", EventKind.RESUMED, "RUNNING"),
    ):
        await agent.send("s1", gen, verb)
        ev = await agent.tap.wait_for(is_(answer, "s1"))
        assert (ev.generation, ev.power_state) == (gen, power)
        assert agent.driver.snapshot("s1").power_state == power  # type: ignore[union-attr]

    class NoPause(FakeDriver):
        pause = None  # type: ignore[assignment]

    await agent.restart(NoPause(agent.host))
    await agent.send("s2", 1, "spawn")
    await agent.tap.wait_for(is_(SPAWNED, "s2"))
    await agent.send("s2", 2, "pause")
    failed = await agent.tap.wait_for(is_(EventKind.COMMAND_FAILED, "s2"))
    assert "no pause capability" in failed.fault_message
    assert "pause" not in agent.driver.host_info().capabilities
    assert agent.driver.snapshot("s2").power_state == "RUNNING"  # type: ignore[union-attr]


async def test_the_reconciler_brings_the_guests_metadata_in_step_with_the_api(
    agent: Agent,
) -> None:
    await agent.send("m1", 1, "spawn")
    await agent.tap.wait_for(is_(SPAWNED, "m1"))
    await agent.runtime.dispatcher.wait_idle()  # a server with a command running is skipped
    board, host, driver = agent.board, agent.host, agent.driver
    reconciler = agent.runtime.reconciler
    assert reconciler is not None

    board.assign(host, Assigned("m1", 1, PowerState.RUNNING, "ACTIVE", metadata={"role": "web"}))
    await reconciler.reconcile_once()
    assert driver.snapshot("m1").metadata == {"role": "web"}  # type: ignore[union-attr]
    # Unchanged at the api: the host is not asked again.
    await reconciler.reconcile_once()
    assert driver.calls_for("m1").count("set_metadata") == 1
    # Changed (UpdateServer): the next pass gives the guest the new metadata.
    board.assign(host, Assigned("m1", 1, PowerState.RUNNING, "ACTIVE", metadata={"role": "db"}))
    await reconciler.reconcile_once()
    assert driver.snapshot("m1").metadata == {"role": "db"}  # type: ignore[union-attr]
    assert driver.calls_for("m1").count("set_metadata") == 2


async def test_ports_are_plugged_by_a_driver_with_the_capability_and_refused_by_others(
    agent: Agent,
) -> None:
    calls: list[tuple[str, str, str]] = []

    class Plugging(FakeDriver):
        def attach_port(self, server_id: str, port_id: str) -> None:
            calls.append(("attach", server_id, port_id))

        def detach_port(self, server_id: str, port_id: str) -> None:
            calls.append(("detach", server_id, port_id))

    await agent.restart(Plugging(agent.host))
    assert "ports" in agent.driver.host_info().capabilities
    await agent.send("p1", 1, "spawn")
    await agent.tap.wait_for(is_(SPAWNED, "p1"))
    await agent.send("p1", 2, "attach_port", port_id="port-a")
    ev = await agent.tap.wait_for(is_(EventKind.PORT_ATTACHED, "p1"))
    assert ev.generation == 2
    await agent.send("p1", 3, "detach_port", port_id="port-a")
    ev = await agent.tap.wait_for(is_(EventKind.PORT_DETACHED, "p1"))
    assert ev.generation == 3
    assert calls == [("attach", "p1", "port-a"), ("detach", "p1", "port-a")]

    await agent.restart(FakeDriver(agent.host))
    assert "ports" not in agent.driver.host_info().capabilities
    await agent.send("p2", 1, "spawn")
    await agent.tap.wait_for(is_(SPAWNED, "p2"))
    await agent.send("p2", 2, "attach_port", port_id="port-b")
    failed = await agent.tap.wait_for(is_(EventKind.COMMAND_FAILED, "p2"))
    assert "no ports capability" in failed.fault_message


async def test_a_live_migration_reports_progress_and_an_abort_reaches_it_while_it_runs(
    agent: Agent,
) -> None:
    import threading

    from polyvisor.agentkit.driver import DriverError
    from polyvisor.agentkit.migrate_capabilities import (
        MigrationProgress,
        MigrationTarget,
        ProgressCallback,
    )

    aborted = threading.Event()
    targets: list[MigrationTarget] = []

    class Migrating(FakeDriver):
        def live_migrate(
            self, server_id: str, dest: MigrationTarget, progress: ProgressCallback
        ) -> Instance:
            targets.append(dest)
            for done in range(0, 101, 5):
                progress(MigrationProgress(done, 100))
                if done == 50 and server_id == "m2":  # holds there until aborted
                    if not aborted.wait(20):
                        raise AssertionError("abort never came")
                    raise DriverError("migration aborted")
            return self._instance(self._vm(server_id))

        def abort_migration(self, server_id: str) -> bool:
            aborted.set()
            return True

    await agent.restart(Migrating(agent.host))
    assert "live_migrate" in agent.driver.host_info().capabilities
    for sid in ("m1", "m2"):
        await agent.send(sid, 1, "spawn")
        await agent.tap.wait_for(is_(SPAWNED, sid))

    await agent.send("m1", 2, "live_migrate", dest_host="other")
    done = await agent.tap.wait_for(is_(EventKind.MIGRATED, "m1"))
    assert (done.generation, done.dest_host, done.power_state) == (2, "other", "RUNNING")
    assert targets == [MigrationTarget(host="other", uri="", block=True)]
    steps = [e.progress for e in agent.tap.of_kind("PROGRESS", "m1") if e.task == "MIGRATING"]
    assert steps == [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]

    await agent.send("m2", 2, "live_migrate", dest_host="other")
    await until(lambda: 50 in [e.progress for e in agent.tap.of_kind("PROGRESS", "m2")])
    await agent.send("m2", 3, "abort_migration")
    failed = await agent.tap.wait_for(is_(EventKind.COMMAND_FAILED, "m2"))
    assert (failed.generation, failed.fault_code) == (2, "MIGRATION_FAILED")
    assert "aborted" in failed.fault_message

    await agent.restart(FakeDriver(agent.host))
    await agent.send("m1", 3, "live_migrate", dest_host="other")
    refused = await agent.tap.wait_for(is_(EventKind.COMMAND_FAILED, "m1"))
    assert "no live_migrate capability" in refused.fault_message


async def test_a_server_our_command_moved_to_another_host_is_not_reported_from_here(
    agent: Agent,
) -> None:
    """A resize to another host hands the VM over (vSphere: tagged for the destination's agent,
    powered off, RelocateVM to its cluster); a live migration too. What this host's watch sees
    of it on its way out (powered off, gone), during the command or late, after a confirm
    that still comes here, is looked at again once the queue is done and found missing from
    the listing: never news of the server, which the api has on the destination (a VANISHED
    at the move's generation put it in ERROR there). Once the api has it here again, a real
    disappearance is reported as ever."""
    from polyvisor.agentkit.migrate_capabilities import MigrationTarget, ProgressCallback
    from polyvisor.agentkit.resize_capabilities import Size

    class HandingOver(FakeDriver):
        def resize(self, server_id: str, size: Size) -> Instance:
            return self._instance(self._vm(server_id))

        def revert_resize(self, server_id: str, size: Size) -> Instance:
            return self._instance(self._vm(server_id))

        def confirm_resize(self, server_id: str) -> Instance:
            return Instance(server_id, PowerState.RUNNING, server_id)  # the destination's VM

        def resize_to(self, server_id: str, size: Size, dest_host: str) -> Instance:
            self.set_power(server_id, PowerState.SHUTDOWN)  # on its way out: the watch sees it
            with self._lock:
                self.vms.pop(server_id)  # the destination's from now on
            return Instance(server_id, PowerState.RUNNING, server_id)

        revert_resize_to = resize_to

        def live_migrate(
            self, server_id: str, dest: MigrationTarget, progress: ProgressCallback
        ) -> Instance:
            self.vanish(server_id)  # the source's copy goes once the destination runs it
            return Instance(server_id, PowerState.RUNNING, server_id)

        def abort_migration(self, server_id: str) -> bool:
            return False

    await agent.restart(HandingOver(agent.host))
    driver, tap = agent.driver, agent.tap
    for sid in ("seen", "late", "live", "marker"):
        await agent.send(sid, 1, "spawn")
        await tap.wait_for(is_(SPAWNED, sid))

    await agent.send("seen", 2, "resize", vcpus=2, dest_host="other")
    await tap.wait_for(is_(EventKind.RESIZED, "seen"))
    await agent.send("live", 2, "live_migrate", dest_host="other")
    await tap.wait_for(is_(EventKind.MIGRATED, "live"))
    driver.hold_changes()  # the power off on its way out is seen after the confirm
    await agent.send("late", 2, "resize", vcpus=2, dest_host="other")
    await tap.wait_for(is_(EventKind.RESIZED, "late"))
    await agent.send("late", 3, "confirm_resize")
    await tap.wait_for(is_(EventKind.RESIZE_CONFIRMED, "late"))
    await until(lambda: not agent.runtime.dispatcher.busy("late"))
    assert driver.deliver_held() == 1
    await watch_drained(agent, "marker")
    observed = ("POWER_STATE_CHANGED", "VANISHED")
    assert {s: [k for k in tap.kinds(s) if k in observed] for s in ("seen", "live", "late")} == {
        "seen": [],
        "live": [],
        "late": [],
    }

    # Back here (the other host migrated it back), and a command for it comes here: news again.
    driver.add_foreign("live")
    await agent.send("live", 3, "power_off")
    await tap.wait_for(is_(EventKind.POWERED_OFF, "live"))
    driver.set_power("live", PowerState.RUNNING)  # started from outside
    started = await tap.wait_for(is_(EventKind.POWER_STATE_CHANGED, "live"))
    assert (started.generation, started.power_state) == (3, "RUNNING")

    # Back here (the destination reverted it): assigned here again, at a newer generation.
    driver.add_foreign("seen")
    for sid in ("seen", "live"):
        agent.board.assign(agent.host, Assigned(sid, 3, PowerState.RUNNING, "ACTIVE"))
    agent.board.assign(agent.host, Assigned("marker", 1, PowerState.SHUTDOWN, "SHUTOFF"))
    reconciler = agent.runtime.reconciler
    assert reconciler is not None
    assert await reconciler.reconcile_once() == []
    driver.vanish("seen")
    gone = await tap.wait_for(is_(EventKind.VANISHED, "seen"))
    assert (gone.generation, gone.fault_code) == (3, "VANISHED")


async def test_a_spawn_to_leave_off_makes_the_server_and_never_starts_it(agent: Agent) -> None:
    await agent.send("off1", 1, "spawn", sha256=agent.image_sha, powered_off=True)
    ev = await agent.tap.wait_for(is_(SPAWNED, "off1"))
    assert ev.power_state == "SHUTDOWN"
    vm = agent.driver.snapshot("off1")
    assert vm is not None and vm.power_state == PowerState.SHUTDOWN and vm.boots == 0
    assert agent.driver.calls_for("off1") == ["spawn"]  # made off: nothing powered it off


class _AlwaysStarts(FakeDriver):
    """A driver that cannot make or rebuild a VM without starting it."""

    def spawn(self, spec: InstanceSpec) -> Instance:
        return super().spawn(replace(spec, powered_off=False))

    def rebuild(
        self, server_id: str, image: LocalImage, disk_gb: int, *, powered_off: bool = False
    ) -> Instance:
        self._enter("rebuild", server_id)
        return self.power_on(server_id)


async def test_a_server_to_leave_off_that_its_driver_started_is_off_before_the_answer(
    agent: Agent,
) -> None:
    driver = _AlwaysStarts(agent.host)
    await agent.restart(driver)
    await agent.send("off2", 1, "spawn", sha256=agent.image_sha, powered_off=True)
    spawned = await agent.tap.wait_for(is_(SPAWNED, "off2"))
    await agent.send("off2", 2, "rebuild", image_id="img", sha256=agent.image_sha, powered_off=True)
    rebuilt = await agent.tap.wait_for(is_(EventKind.REBUILT, "off2"))
    assert (spawned.power_state, rebuilt.power_state) == ("SHUTDOWN", "SHUTDOWN")
    assert driver.calls_for("off2") == ["spawn", "power_off", "rebuild", "power_on", "power_off"]
    vm = driver.snapshot("off2")
    assert vm is not None and vm.power_state == PowerState.SHUTDOWN
