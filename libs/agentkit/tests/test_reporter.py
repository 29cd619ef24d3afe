"""The host reporter across agent restarts, on real NATS JetStream: a restarted agent (same
server id, its sequence back at 1) is a new incarnation, and the stream's de-duplication never
takes its reports for the previous run's."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

from polyvisor.agent.v1 import host_report_pb2
from polyvisor.agentkit.bus import HOSTS_STREAM, report_subject
from polyvisor.agentkit.fake import FakeDriver
from polyvisor.common.bus.messages import MSG_ID_HEADER
from polyvisor.common.bus.watch import StreamMessage

if TYPE_CHECKING:
    from conftest import Agent


async def until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def] # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)


async def stored_reports(agent: Agent) -> list[tuple[StreamMessage, host_report_pb2.HostReport]]:
    """Every report the HOSTS stream holds for the agent's host, in order."""
    watch = await agent.bus.watch(HOSTS_STREAM, report_subject(agent.host), deliver="all")
    out = []
    try:
        while True:
            msg = await watch.next(timeout=5.0)
            out.append((msg, host_report_pb2.HostReport.FromString(msg.data)))
            if msg.pending == 0:
                return out
    finally:
        await watch.close()


async def test_restarted_agent_reports_are_not_dropped_as_duplicates(agent: Agent) -> None:
    first = agent.runtime.reporter
    assert first is not None
    await until(lambda: first.sequence >= 1)  # the report sent at start
    await first.report_once("test")
    await first.report_once("test")
    before = await stored_reports(agent)
    while len(before) < 3:  # the one sent at start may still be on its way
        await asyncio.sleep(0.05)
        before = await stored_reports(agent)
    assert {r.sequence for _, r in before} == {1, 2, 3}

    # The same server id starts again (another memory size tells its reports apart).
    old_driver = agent.driver
    await agent.restart(driver=FakeDriver(agent.host, memory_mb=32768))
    old_driver.close()
    second = agent.runtime.reporter
    assert second is not None and second is not first
    await second.report_once("test")  # returns once the stream answered

    after = await stored_reports(agent)
    new = [(m, r) for m, r in after if r.inventories[1].total == 32768]
    assert new, "the restarted agent's reports were dropped by the stream"
    # its sequence started again, so it reuses numbers the first run had ...
    assert {r.sequence for _, r in new} & {1, 2, 3}
    # ... under another incarnation, hence another de-duplication id
    assert {r.incarnation for _, r in new} == {second.incarnation} != {first.incarnation}
    old_ids = {m.headers[MSG_ID_HEADER] for m, _ in before}
    new_ids = {m.headers[MSG_ID_HEADER] for m, _ in new}
    assert len(old_ids) == 3 and not old_ids & new_ids
    assert all(second.incarnation in i for i in new_ids)


async def test_a_host_not_reached_at_first_is_reported_up_as_soon_as_it_is(agent: Agent) -> None:
    """The first report found the hypervisor unreachable (a vCenter session still being
    opened when the agent starts): the host is looked at again soon, not a whole reporting
    interval later (the scheduler takes it for down until then)."""
    from polyvisor.agentkit.reporter import HostReporter

    driver = FakeDriver(agent.host)
    driver.connected = False
    bus = agent.runtime.agent_bus
    assert bus is not None
    reporter = HostReporter(
        driver, agent.runtime.calls, bus, host_id=agent.host, agent_id="agent-late",
        interval_s=3600.0, down_retry_s=0.05,
    )  # fmt: skip
    task = asyncio.create_task(reporter.run())
    connected = host_report_pb2.CONNECTION_STATE_CONNECTED

    async def states() -> list[int]:
        mine = [r for _, r in await stored_reports(agent) if r.incarnation == reporter.incarnation]
        return [r.state for r in mine]

    try:
        await until(lambda: reporter.sequence >= 1)
        driver.connected = True
        deadline = time.monotonic() + 10.0
        while connected not in (seen := await states()):
            assert time.monotonic() < deadline, f"still reported down: {seen}"
            await asyncio.sleep(0.05)
        assert seen[0] == host_report_pb2.CONNECTION_STATE_DISCONNECTED
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_reporter_whose_cancellation_was_swallowed_still_stops() -> None:
    """Python 3.11's wait_for swallows a cancellation when what it waits for is done at that
    moment (nats-py waits so for the stream's ack of a report): the reporter must stop all the
    same, or the agent's close waits for it forever."""
    from types import SimpleNamespace

    from polyvisor.agentkit.executor import DriverCalls
    from polyvisor.agentkit.reporter import HostReporter

    publishing = asyncio.Event()

    class AckedAsItWasCancelled:
        async def publish_report(self, report: object) -> SimpleNamespace:
            publishing.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                pass  # the ack had come: its result is returned, the cancellation lost
            return SimpleNamespace(duplicate=False)

    calls = DriverCalls(1)
    reporter = HostReporter(
        FakeDriver("h"), calls, AckedAsItWasCancelled(),  # type: ignore[arg-type]
        host_id="h", agent_id="a", interval_s=3600.0,
    )  # fmt: skip
    task = asyncio.create_task(reporter.run())
    try:
        await asyncio.wait_for(publishing.wait(), 10)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=10)
        assert done and task.cancelled(), "the reporter ran on after it was cancelled"
    finally:
        task.cancel()
        await calls.close()
