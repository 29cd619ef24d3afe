"""The host reporter: what this host offers, on ``hosts.report.<host>``.

    reporter = HostReporter(driver, calls, agent_bus, host_id=..., agent_id=..., interval_s=30)
    tasks.start("host-report", reporter.run())
    reporter.poke()          # something changed (a spawn, a destroy): report soon

A report goes out at start, whenever ``poke`` is called (coalesced), and every
``interval_s`` seconds. The sequence number increases strictly within one agent process, so
the scheduler can drop a report older than one it has applied. When the hypervisor cannot be
reached the last known figures go out marked DISCONNECTED.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

from polyvisor.agentkit.bus import AgentBus
from polyvisor.agentkit.convert import host_report_to_proto
from polyvisor.agentkit.driver import Driver, DriverError, HostInfo
from polyvisor.agentkit.executor import DriverCalls
from polyvisor.agentkit.metrics import HOST_REPORTS
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
        self.sequence = 0
        self.last: HostInfo | None = None
        self._poke = asyncio.Event()

    def poke(self) -> None:
        self._poke.set()

    async def run(self) -> None:
        reason = "start"
        while True:
            await self.report_once(reason)
            try:
                await asyncio.wait_for(self._poke.wait(), self.interval_s)
                reason = "change"
                await asyncio.sleep(self.min_gap_s)  # coalesce a burst of changes
            except TimeoutError:
                reason = "periodic"
            self._poke.clear()

    async def report_once(self, reason: str = "periodic") -> None:
        try:
            info = await self.calls.run("host_info", self.driver.host_info)
            count = len(await self.calls.run("list_instances", self.driver.list_instances))
        except DriverError as exc:
            log.warning("host info unavailable", error=str(exc))
            if self.last is None:
                return
            info = dataclasses.replace(self.last, connected=False)
            count = 0
        else:
            self.last = info
        self.sequence += 1
        report = host_report_to_proto(
            info,
            host_id=self.host_id,
            agent_id=self.agent_id,
            sequence=self.sequence,
            interval_s=self.interval_s,
            server_count=count,
            host_ip=self.host_ip,
            availability_zone=self.availability_zone,
        )
        with contextlib.suppress(PolyvisorError):
            try:
                await self.bus.publish_report(report)
            except PolyvisorError as exc:
                log.warning("host report not published", error=str(exc))
                raise
            HOST_REPORTS.labels(reason).inc()
