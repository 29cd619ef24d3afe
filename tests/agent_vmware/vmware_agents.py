"""Starting VMware agent processes (``python -m polyvisor.agent_vmware``) for tests."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from polyvisor.common.bus import Bus, Subscription
from polyvisor.events.v1 import server_events_pb2
from tests.fixtures.vcsim import VcsimEndpoint
from tests.support.services import ServiceProcess, free_port


def agent_env(
    *,
    endpoint: VcsimEndpoint,
    nats_url: str,
    root: Path,
    server_id: str,
    host_id: str,
    folder: str,
    services_address: str,
    token: str = "test-token",
    lease_bucket: str = "agent_leases",
    lease_ttl_s: float = 3.0,
    cluster: str = "DC0_C0",
) -> dict[str, str]:
    return {
        "POLYVISOR_NATS_URL": nats_url,
        "POLYVISOR_VCENTER_URL": endpoint.url,
        "POLYVISOR_VCENTER_USER": endpoint.username,
        "POLYVISOR_VCENTER_PASSWORD": endpoint.password,
        "POLYVISOR_CLUSTER_NAME": cluster,
        "POLYVISOR_VM_FOLDER": folder,
        "POLYVISOR_HOST_ID": host_id,
        "POLYVISOR_SERVER_ID": server_id,
        "POLYVISOR_LEASE_BUCKET": lease_bucket,
        "POLYVISOR_LEASE_TTL_S": str(lease_ttl_s),
        "POLYVISOR_IMAGESVC_ADDRESS": services_address,
        "POLYVISOR_API_ADDRESS": services_address,
        "POLYVISOR_AGENT_TOKEN": token,
        "POLYVISOR_CACHE_DIR": str(root / server_id / "cache"),
        "POLYVISOR_RECONCILE_INTERVAL_S": "0",
        "POLYVISOR_REPORT_INTERVAL_S": "2",
        "POLYVISOR_VCENTER_KEEPALIVE_S": "2",
        "POLYVISOR_VMWARE_WATCH_WAIT_S": "2",
        "POLYVISOR_GRPC_HOST": "127.0.0.1",
        "POLYVISOR_GRPC_PORT": str(free_port()),
        "POLYVISOR_METRICS_HOST": "127.0.0.1",
        "POLYVISOR_METRICS_PORT": "0",
        "POLYVISOR_LOG_LEVEL": "INFO",
    }


def agent_process(env: dict[str, str], log_path: Path) -> ServiceProcess:
    return ServiceProcess("agent_vmware", env, log_path=log_path)


@dataclass(frozen=True, slots=True)
class Event:
    kind: str
    server_id: str
    agent_id: str
    command_id: str
    power_state: str
    esxi_host: str


@dataclass
class Events:
    """Every server event of one host, with the replica (agent_id) that published it."""

    host: str
    seen: list[Event] = field(default_factory=list)
    _sub: Subscription | None = None
    _task: asyncio.Task[None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    async def start(cls, bus: Bus, host: str) -> Events:
        tap = cls(host)
        tap._sub = await bus.subscribe("events.server.*")
        tap._task = asyncio.get_running_loop().create_task(tap._collect())
        await bus.flush()
        return tap

    async def _collect(self) -> None:
        assert self._sub is not None
        async for m in self._sub:
            ev = server_events_pb2.ServerEvent()
            ev.ParseFromString(m.data)
            if ev.host != self.host:
                continue
            self.seen.append(
                Event(
                    kind=server_events_pb2.ServerEventKind.Name(ev.kind).removeprefix(
                        "SERVER_EVENT_KIND_"
                    ),
                    server_id=ev.server_id,
                    agent_id=ev.agent_id,
                    command_id=ev.command_id,
                    power_state=str(ev.power_state),
                    esxi_host=ev.esxi_host,
                )
            )
            self._changed.set()

    def of(self, kind: str, server_id: str | None = None) -> list[Event]:
        return [e for e in self.seen if e.kind == kind and server_id in (None, e.server_id)]

    async def wait(self, kind: str, server_id: str, within: float = 60.0) -> Event:
        """The first ``kind`` event of ``server_id`` (a bounded wait, not a timing)."""
        async with asyncio.timeout(within):
            while True:
                found = self.of(kind, server_id)
                if found:
                    return found[0]
                self._changed.clear()
                await self._changed.wait()

    async def close(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
