"""All of the scheduler's NATS: the host reports agents publish on hosts.report.<host>.

Every replica keeps the whole host index in memory, so each one reads every report: an ordered
ephemeral view of the HOSTS stream that starts with the latest report of every host (a
restarted replica knows at once which hosts are alive) and then follows new ones. The time a
report is taken to have arrived is the stream's own timestamp, so a replayed old report does
not make a dead host look alive.
"""

from __future__ import annotations

import asyncio
import time

from polyvisor.agent.v1 import host_report_pb2
from polyvisor.common.bus.client import Bus
from polyvisor.common.bus.watch import StreamMessage
from polyvisor.common.errors import PolyvisorError
from polyvisor.common.logging import get_logger
from polyvisor.common.streams import HOSTS, ensure_streams
from polyvisor.scheduler.convert import report_from_proto
from polyvisor.scheduler.scheduling import Scheduler
from polyvisor.scheduler.scheduling.core import REPORTS_DROPPED

__all__ = ["HOSTS_STREAM", "HOSTS_SUBJECTS", "HostReportFeed"]

log = get_logger(__name__)

HOSTS_STREAM = HOSTS.name
HOSTS_SUBJECTS = HOSTS.subjects


class HostReportFeed:
    def __init__(self, bus: Bus, scheduler: Scheduler, *, retry_s: float = 1.0) -> None:
        self.bus = bus
        self.scheduler = scheduler
        self.retry_s = retry_s
        self.applied = 0
        #: Set once the replay of the latest report per host is done.
        self.caught_up = asyncio.Event()

    async def run(self) -> None:
        """Until cancelled; a broken view is re-opened (the replay is idempotent)."""
        while True:
            try:
                await ensure_streams(self.bus, HOSTS)
                watch = await self.bus.watch(
                    HOSTS_STREAM, HOSTS_SUBJECTS[0], deliver="last_per_subject"
                )
                try:
                    async for msg in watch:
                        await self.handle(msg)
                finally:
                    await watch.close()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("host report feed failed, reopening", error=repr(e))
            await asyncio.sleep(self.retry_s)

    async def handle(self, msg: StreamMessage) -> None:
        if msg.pending == 0:
            self.caught_up.set()
        pb = host_report_pb2.HostReport()
        try:
            pb.ParseFromString(msg.data)
        except Exception as e:  # DecodeError: a foreign or corrupt message
            log.warning("undecodable host report dropped", subject=msg.subject, error=str(e))
            REPORTS_DROPPED.labels("undecodable").inc()
            return
        if not pb.host_id:
            log.warning("host report without host_id dropped", subject=msg.subject)
            REPORTS_DROPPED.labels("no_host_id").inc()
            return
        received_at = min(msg.timestamp, time.time())
        try:
            report = report_from_proto(pb, received_at)
            if await self.scheduler.apply_report(report):
                self.applied += 1
        except PolyvisorError as e:
            # The index took the report; persisting it is retried with the next one.
            log.warning("host report not persisted", host=pb.host_id, error=str(e))
