"""The host reporter: what this host offers, on ``hosts.report.<host>``.

    reporter = HostReporter(driver, calls, agent_bus, host_id=..., agent_id=..., interval_s=30)
    tasks.start("host-report", reporter.run())
    reporter.poke()          # something changed (a spawn, a destroy): report soon

A report goes out at start, whenever ``poke`` is called (coalesced), and every
``interval_s`` seconds. When the hypervisor cannot be reached the last known figures go out
marked DISCONNECTED, and it is looked at again sooner: after ``down_retry_s``, doubling up to
``interval_s`` while it stays unreachable. An agent whose hypervisor session opens just after
its first report (a vCenter login under way at start) is up a moment later, not a whole
interval later (the scheduler takes its host for down until then).

Ordering: each reporter is one *incarnation* (a random id drawn when it is made: an agent
process start, or a VMware lease term, since the runtime and its reporter are rebuilt then),
and its sequence increases strictly from 1 within it. The scheduler orders reports by
(incarnation, sequence) per agent: within an incarnation it drops one not newer than the last
applied, and a report of another incarnation is always taken (the agent restarted). The
stream's de-duplication id carries the incarnation too, so a restarted agent's sequence 1 is
never mistaken for the previous run's. A random id rather than a start time: a clock stepped
back across a restart cannot make the new run look older than the one before.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid

from polyvisor.agentkit.bus import AgentBus
from polyvisor.agentkit.convert import host_report_to_proto
from polyvisor.agentkit.driver import Driver, DriverError, HostInfo
from polyvisor.agentkit.executor import DriverCalls
from polyvisor.agentkit.metrics import HOST_REPORTS, HOST_REPORTS_DROPPED
from polyvisor.common.errors import PolyvisorError
from polyvisor.common.logging import get_logger

__all__ = ["HostReporter"]

log = get_logger(__name__)


class HostReporter:
    def __init__(
        self,
        driver: Driver,
        calls: DriverCalls,
        bus: AgentBus,
        *,
        host_id: str,
        agent_id: str,
        interval_s: float,
        host_ip: str = "",
        availability_zone: str = "",
        min_gap_s: float = 0.5,
        down_retry_s: float = 1.0,
    ) -> None:
        self.driver = driver
        self.calls = calls
        self.bus = bus
        self.host_id = host_id
        self.agent_id = agent_id
        self.interval_s = interval_s
        self.host_ip = host_ip
        self.availability_zone = availability_zone
        self.min_gap_s = min_gap_s
        self.down_retry_s = down_retry_s
        #: This reporter's run; sequence restarts at 1 in each.
        self.incarnation = uuid.uuid4().hex
        self.sequence = 0
        self.last: HostInfo | None = None
        self._poke = asyncio.Event()

    def poke(self) -> None:
        self._poke.set()

    async def run(self) -> None:
        log.info(
            "host reports start",
            host=self.host_id,
            agent_id=self.agent_id,
            incarnation=self.incarnation,
        )
        reason = "start"
        retry = self.down_retry_s
        while True:
            up = await self.report_once(reason)
            _stop_if_cancelled()
            if up:
                wait, retry = self.interval_s, self.down_retry_s
            else:  # not reached: look again soon, backing off
                wait, retry = min(retry, self.interval_s), min(retry * 2, self.interval_s)
            try:
                await asyncio.wait_for(self._poke.wait(), wait)
                reason = "change"
                await asyncio.sleep(self.min_gap_s)  # coalesce a burst of changes
            except TimeoutError:
                reason = "periodic"
            _stop_if_cancelled()
            self._poke.clear()

    async def report_once(self, reason: str = "periodic") -> bool:
        """Report once; whether the hypervisor was reached (connected)."""
        try:
            info = await self.calls.run("host_info", self.driver.host_info)
            count = len(await self.calls.run("list_instances", self.driver.list_instances))
        except DriverError as exc:
            log.warning("host info unavailable", error=str(exc))
            if self.last is None:
                return False
            info = dataclasses.replace(self.last, connected=False)
            count = 0
        else:
            self.last = info
        self.sequence += 1
        report = host_report_to_proto(
            info,
            host_id=self.host_id,
            agent_id=self.agent_id,
            incarnation=self.incarnation,
            sequence=self.sequence,
            interval_s=self.interval_s,
            server_count=count,
            host_ip=self.host_ip,
            availability_zone=self.availability_zone,
        )
        with contextlib.suppress(PolyvisorError):
            try:
                ack = await self.bus.publish_report(report)
            except PolyvisorError as exc:
                log.warning("host report not published", error=str(exc))
                HOST_REPORTS_DROPPED.labels("unpublished").inc()
                raise
            if ack.duplicate:  # the stream already holds this (agent, incarnation, sequence)
                log.warning(
                    "host report dropped by the stream as a duplicate",
                    host=self.host_id,
                    agent_id=self.agent_id,
                    incarnation=self.incarnation,
                    sequence=self.sequence,
                )
                HOST_REPORTS_DROPPED.labels("duplicate").inc()
                return info.connected
            HOST_REPORTS.labels(reason).inc()
        return info.connected


def _stop_if_cancelled() -> None:
    """Stop a reporter whose cancellation was swallowed on the way: Python 3.11's wait_for
    returns the result of what it waited for when that is done at the moment it is cancelled
    (the bus's publish waits for the stream's ack so, inside nats-py). The loop would run on,
    and the agent's close, which waits for it, would never end (an agent restarted just after
    it started, as the runtime tests do, hung about once in a hundred)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
