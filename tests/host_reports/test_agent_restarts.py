"""A host stays schedulable across its agent's restarts and VMware lease terms.

Real NATS JetStream and PostgreSQL. The agent side is the agentkit runtime around a FakeDriver
(for the lease flap, run by the VMware agent's own Leadership and RuntimeHolder, as its process
does); the scheduler side is its report feed and index on the HOSTS stream. The agent keeps its
server id across the restart, as in the dev stack or Kubernetes, so its reports carry the same
agent id while the reporter's sequence starts again at 1.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from polyvisor.agent_vmware.app import RuntimeHolder
from polyvisor.agent_vmware.config import VmwareAgentSettings
from polyvisor.agent_vmware.leadership import Leadership
from polyvisor.agent_vmware.lease import Lease
from polyvisor.agent_vmware.options import VmwareOptions
from polyvisor.agentkit.fake import FakeDriver
from polyvisor.agentkit.runtime import AgentRuntime
from polyvisor.agentkit.settings import AgentSettings
from polyvisor.agentkit.testing import AgentTestServers, AssignmentBoard, ImageStore
from polyvisor.common.bus.client import Bus
from polyvisor.common.bus.subjects import subject_token
from polyvisor.common.db import close_pool, create_pool, migrate
from polyvisor.common.lifespan import BackgroundTasks
from polyvisor.scheduler.bus import HostReportFeed
from polyvisor.scheduler.index import HostIndex
from polyvisor.scheduler.model import HostReport
from polyvisor.scheduler.scheduling import Scheduler
from polyvisor.scheduler.store import Store

INTERVAL_S = 60.0  # no periodic report during a test: only the one sent at start counts


async def until(predicate: Callable[[], bool], timeout: float = 15.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)


class CountingScheduler(Scheduler):
    """Counts the reports applied per host (the stream also holds other tests' hosts)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.applied: Counter[str] = Counter()

    async def apply_report(self, report: HostReport) -> bool:
        applied = await super().apply_report(report)
        self.applied[report.host_id] += applied
        return applied


@dataclass
class Cloud:
    scheduler: CountingScheduler
    bus: Bus
    services: AgentTestServers
    nats_url: str
    tmp: Path

    @property
    def index(self) -> HostIndex:
        return self.scheduler.index

    def applied(self, host: str) -> tuple[str, str, int] | None:
        return self.index.last_applied(host)

    def settings(self, host: str, server_id: str, **kw: Any) -> dict[str, Any]:
        return {
            "host_id": host,
            "server_id": server_id,
            "nats_url": self.nats_url,
            "api_address": self.services.address,
            "imagesvc_address": self.services.address,
            "cache_dir": self.tmp / "cache",
            "state_dir": self.tmp / "state",
            "report_interval_s": INTERVAL_S,
            "reconcile_interval_s": 0.0,
            "serve_health": False,
            **kw,
        }


@pytest.fixture
async def cloud(fresh_db: str, nats_url: str, tmp_path: Path) -> AsyncIterator[Cloud]:
    await migrate(fresh_db, "scheduler", "polyvisor.scheduler.migrations")
    pool = await create_pool(fresh_db, "scheduler")
    scheduler = CountingScheduler(HostIndex(60.0), Store(pool))
    await scheduler.load()
    bus = await Bus.connect(nats_url, name="host-reports-test")
    services = await AgentTestServers(ImageStore(), AssignmentBoard()).start()
    tasks = BackgroundTasks("host-reports-test")
    tasks.start("host-reports", HostReportFeed(bus, scheduler).run())
    try:
        yield Cloud(scheduler, bus, services, nats_url, tmp_path)
    finally:
        await tasks.close()
        await services.stop()
        await bus.close()
        await close_pool(pool)


def up_past(cloud: Cloud, host: str, old_deadline: float) -> bool:
    """Whether the host is up at a moment the previous run's last report no longer covers:
    halfway between that report's deadline and the one of the latest applied report."""
    row = cloud.index.row(host)
    assert row is not None
    moment = (old_deadline + float(cloud.index.deadline[row])) / 2
    return moment > old_deadline and cloud.index.is_alive(row, moment)


async def test_restarted_agent_is_up_again_with_its_first_report(cloud: Cloud) -> None:
    host = f"fake:{uuid.uuid4().hex[:8]}"
    settings = AgentSettings(**cloud.settings(host, "dev-fake"))  # stable across restarts
    driver = FakeDriver(host)
    runtime = AgentRuntime(settings, driver)
    await runtime.start()
    try:
        reporter = runtime.reporter
        assert reporter is not None
        await until(lambda: cloud.scheduler.applied[host] == 1)  # the report sent at start
        for _ in range(4):
            await reporter.report_once("test")
        await until(lambda: cloud.scheduler.applied[host] == 5)
        assert reporter.sequence == 5
        row = cloud.index.row(host)
        assert row is not None
        old_last, old_deadline = (
            float(cloud.index.last_report[row]),
            float(cloud.index.deadline[row]),
        )
        await runtime.close()

        # The same server id starts again with a bigger host: its sequence is back at 1.
        driver.close()
        driver = FakeDriver(host, memory_mb=131072)
        runtime = AgentRuntime(settings, driver)
        await runtime.start()
        # The report sent at start, i.e. within one report interval, brings the host back.
        await until(lambda: float(cloud.index.last_report[row]) > old_last)
        assert runtime.reporter is not None
        assert cloud.applied(host) == ("dev-fake", runtime.reporter.incarnation, 1)
        assert cloud.index.inventories[row]["MEMORY_MB"].total == 131072
        assert up_past(cloud, host, old_deadline)
        view = await cloud.scheduler.get_provider(host)
        assert view.up and view.last_report_at > old_last
    finally:
        await runtime.close()
        driver.close()


class ClusterDriver(FakeDriver):
    """The fake as a VMware cluster: RuntimeHolder re-reads vCenter on every term it takes."""

    def __init__(self, host: str) -> None:
        super().__init__(host, hypervisor_type="vmware", disk_format="vmdk")
        self.refreshes = 0
        # What RuntimeHolder reads of the driver's options: no datastore image cache to age.
        self.options = VmwareOptions(
            url="https://vcenter.invalid/sdk", username="user", password="password",
            cluster_name="C1", image_cache_max_age_s=0,
        )  # fmt: skip

    def refresh(self) -> None:
        self.refreshes += 1


async def test_lease_flap_new_term_is_up_again_with_its_first_report(cloud: Cloud) -> None:
    host = f"vc-test:{uuid.uuid4().hex[:8]}"
    # Long enough that a busy machine never lets a renewal lapse by itself (the test makes
    # the one lapse it wants); the flap is seen at the next renewal, ttl/3 later.
    ttl = 9.0
    settings = VmwareAgentSettings(
        **cloud.settings(host, "replica-a", lease_ttl_s=ttl),
        vcenter_url="https://vcenter.invalid/sdk",  # the driver is the fake: never dialled
        vcenter_user="user",
        vcenter_password="password",
        cluster_name="C1",
    )
    driver = ClusterDriver(host)
    kv = await cloud.bus.key_value(f"leases_{uuid.uuid4().hex[:8]}", ttl=ttl)
    key = subject_token(host)
    holder = RuntimeHolder(settings, driver, cloud.bus)
    leadership = Leadership(
        Lease(kv, key, "replica-a"), ttl_s=ttl, start=holder.start, stop=holder.stop
    )
    tasks = BackgroundTasks("lease-test")
    tasks.start("lease", leadership.run())
    try:
        await until(
            lambda: (
                leadership.terms == 1
                and holder.runtime is not None
                and cloud.scheduler.applied[host] == 1
            )
        )
        first = holder.runtime.reporter  # type: ignore[union-attr]
        assert first is not None
        for _ in range(3):
            await first.report_once("test")
        await until(lambda: cloud.scheduler.applied[host] == 4)
        assert first.sequence == 4
        row = cloud.index.row(host)
        assert row is not None
        old_last, old_deadline = (
            float(cloud.index.last_report[row]),
            float(cloud.index.deadline[row]),
        )

        # A NATS hiccup: the lease's renewal fails (its key changed under us), the runtime
        # stops; once the key is free again the same replica takes a second term.
        await kv.put(key, b"someone-else")
        await until(lambda: not leadership.acting)
        await kv.delete(key)
        await until(lambda: leadership.terms == 2 and leadership.acting)
        # Acting starts before the runtime's start (which refreshes the inventory) is done.
        await until(lambda: driver.refreshes >= 2)
        assert driver.refreshes == 2
        # The new term's runtime reports at start with its sequence back at 1.
        await until(lambda: float(cloud.index.last_report[row]) > old_last)
        second = holder.runtime.reporter  # type: ignore[union-attr]
        assert second is not None and second is not first
        assert cloud.applied(host) == ("replica-a", second.incarnation, 1)
        assert up_past(cloud, host, old_deadline)
        assert (await cloud.scheduler.get_provider(host)).up
    finally:
        await leadership.close()
        await tasks.close()
        driver.close()
