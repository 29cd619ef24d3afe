"""``NetworkAgent``: keeps this host's ``NetworkPlane`` in line with the network service.

    agent = NetworkAgent(host=..., plane=plane, client=NetworkClient(...), bus=bus)
    await agent.start()     # resync now, then follow events.network.> and resync periodically
    nics, network_data = await agent.ports_for(server_id)   # spawn: plug the server's ports
    await agent.release(server_id)                          # destroy: unplug them
    await agent.close()

Sources of truth, in order: the binding spec the network service gives for a port
(``GetPortBindingSpec``), port and security group events (``events.network.port.>`` and
``events.network.security_group.>``, acted on as they come), and a periodic resync of the
ports bound to this host (``ListPorts(host=...)``) that repairs whatever an event lost: an event
applies only when its revision is newer than the state applied, so late or repeated ones are
harmless. After plugging a port the agent reports ``SetPortBindingState`` (ACTIVE, security
groups enforced; FAILED with the reason).

All tasks belong to one ``BackgroundTasks``, stopped by ``close``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from polyvisor.agent_kvm.domain_xml import Interface
from polyvisor.agent_kvm.net.client import NetworkClient
from polyvisor.agent_kvm.net.convert import rule_from_pb
from polyvisor.agent_kvm.net.model import PortBinding
from polyvisor.agent_kvm.net.network_data import network_data
from polyvisor.agent_kvm.net.plane import NetworkPlane
from polyvisor.agent_kvm.net.shell import NetError
from polyvisor.common.bus.client import Bus
from polyvisor.common.bus.core import CoreMessage, Subscription
from polyvisor.common.errors import PolyvisorError
from polyvisor.common.lifespan import BackgroundTasks
from polyvisor.common.logging import get_logger
from polyvisor.network.v1 import network_events_pb2 as ev

__all__ = ["DriverPorts", "NetworkAgent"]

log = get_logger(__name__)

PORT_EVENTS = "events.network.port.>"
GROUP_EVENTS = "events.network.security_group.>"
_GONE = (ev.PORT_EVENT_KIND_UNBOUND, ev.PORT_EVENT_KIND_DELETED)


class NetworkAgent:
    def __init__(
        self,
        *,
        host: str,
        plane: NetworkPlane,
        client: NetworkClient,
        bus: Bus | None,
        resync_interval_s: float = 60.0,
    ) -> None:
        self.host = host
        self.plane = plane
        self.client = client
        self.bus = bus
        self.resync_interval_s = resync_interval_s
        self.tasks = BackgroundTasks(f"network:{host}")
        self._subs: list[Subscription] = []

    async def start(self) -> None:
        if self.bus is not None:
            for subject in (PORT_EVENTS, GROUP_EVENTS):
                sub = await self.bus.subscribe(subject)
                self._subs.append(sub)
                self.tasks.start(f"events:{subject}", self._follow(sub))
        self.tasks.start("resync", self._resync_loop())

    # ------------------------------------------------------------------ spawn / destroy

    async def _plug(self, spec: PortBinding) -> Interface:
        try:
            vif = await self.plane.plug(spec)
        except NetError as exc:
            with contextlib.suppress(NetError):
                await self.client.report(
                    spec.port_id, self.host, ok=False, message=str(exc), revision=spec.revision
                )
            raise
        await self.client.report(spec.port_id, self.host, ok=True, revision=spec.revision)
        return Interface(vif.mac_address, vif.bridge, vif.tap, mtu=vif.mtu)

    async def ports_for(self, server_id: str) -> tuple[tuple[Interface, ...], dict[str, Any]]:
        """Plug every port of ``server_id`` bound to this host; the NICs and network_data."""
        nics: list[Interface] = []
        specs: list[PortBinding] = []
        for port_id, host, _rev in sorted(await self.client.ports(device_id=server_id)):
            if host != self.host:
                continue
            spec = await self.client.spec(port_id)
            if spec is None or spec.host != self.host:
                continue
            nics.append(await self._plug(spec))
            specs.append(spec)
        return tuple(nics), network_data(specs)

    async def port_for(self, server_id: str, port_id: str) -> Interface:
        """Plug one port of ``server_id`` (an interface attach): it must be bound to this
        host for that server."""
        spec = await self.client.spec(port_id)
        if spec is None or spec.host != self.host:
            raise NetError(f"port {port_id} is not bound to host {self.host}")
        if spec.device_id != server_id:
            raise NetError(
                f"port {port_id} belongs to {spec.device_id or 'no server'}, not {server_id}"
            )
        return await self._plug(spec)

    async def release(self, server_id: str) -> None:
        for b in self.plane.ports_of_device(server_id):
            await self.plane.unplug(b.port_id)

    # ------------------------------------------------------------------ events

    async def _follow(self, sub: Subscription) -> None:
        async for msg in sub:
            try:
                await self._on_message(msg)
            except (PolyvisorError, NetError, ValueError) as exc:
                log.warning("network event not applied", subject=msg.subject, error=str(exc))

    async def _on_message(self, msg: CoreMessage) -> None:
        if msg.subject.startswith("events.network.port."):
            e = ev.PortEvent()
            e.ParseFromString(msg.data)
            await self.on_port_event(e)
        elif msg.subject.startswith("events.network.security_group."):
            g = ev.SecurityGroupEvent()
            g.ParseFromString(msg.data)
            await self.on_group_event(g)

    async def on_port_event(self, e: ev.PortEvent) -> None:
        port = e.port
        have = self.plane.port(port.id)
        if e.kind in _GONE or (e.host and e.host != self.host):
            if have is not None:
                await self.plane.unplug(port.id)
            return
        if e.host != self.host or e.kind == ev.PORT_EVENT_KIND_BINDING_STATE:
            return
        if have is not None and port.revision <= have.revision:
            return
        spec = await self.client.spec(port.id)
        if spec is not None and spec.host == self.host:
            await self._plug(spec)

    async def on_group_event(self, g: ev.SecurityGroupEvent) -> None:
        gid = g.security_group_id
        if not self.plane.uses_group(gid):
            return
        if g.kind == ev.SECURITY_GROUP_EVENT_KIND_DELETED:
            rules: tuple[Any, ...] = ()
        else:
            rules = tuple(rule_from_pb(r) for r in g.rules)
        members = tuple(g.members.addresses)
        if await self.plane.apply_group(gid, g.revision, rules=rules, members=members):
            log.info("security group applied", security_group_id=gid, revision=g.revision)
        await self._fill_remote_groups()

    async def _fill_remote_groups(self) -> None:
        """A rule that names a remote group this host knows no members of: a binding spec of
        a port using the rule carries them."""
        for _gid, port_id in self.plane.missing_remote_groups().items():
            spec = await self.client.spec(port_id)
            if spec is not None:
                await self.plane.learn_remote(spec.remote_groups)

    # ------------------------------------------------------------------ resync

    async def resync(self) -> None:
        bound = {pid: rev for pid, host, rev in await self.client.ports(host=self.host)}
        for port_id in [pid for pid in self.plane.port_ids() if pid not in bound]:
            await self.plane.unplug(port_id)
        for port_id, rev in bound.items():
            have = self.plane.port(port_id)
            if have is not None and have.revision >= rev:
                continue
            spec = await self.client.spec(port_id)
            if spec is not None and spec.host == self.host:
                try:
                    await self._plug(spec)
                except NetError as exc:
                    log.warning("port not plugged", port_id=port_id, error=str(exc))

    async def _resync_loop(self) -> None:
        cleaned = False
        while True:
            try:
                await self.resync()
                if not cleaned:  # what an earlier run left for networks without ports here
                    await self.plane.remove_orphans()
                    cleaned = True
            except (PolyvisorError, NetError) as exc:
                log.warning("network resync failed", error=str(exc))
            await asyncio.sleep(self.resync_interval_s)

    async def close(self) -> None:
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        await self.tasks.close()
        await self.plane.close()
        await self.client.close()


class DriverPorts:
    """The libvirt driver's (blocking, worker-thread) view of the agent's ports."""

    def __init__(self, agent: NetworkAgent, loop: asyncio.AbstractEventLoop) -> None:
        self._agent = agent
        self._loop = loop

    def plug_for(self, server_id: str) -> tuple[tuple[Interface, ...], dict[str, Any]]:
        fut = asyncio.run_coroutine_threadsafe(self._agent.ports_for(server_id), self._loop)
        return fut.result(timeout=300)

    def unplug_for(self, server_id: str) -> None:
        fut = asyncio.run_coroutine_threadsafe(self._agent.release(server_id), self._loop)
        fut.result(timeout=300)

    def plug_port(self, server_id: str, port_id: str) -> Interface:
        fut = asyncio.run_coroutine_threadsafe(self._agent.port_for(server_id, port_id), self._loop)
        return fut.result(timeout=300)

    def unplug_port(self, port_id: str) -> None:
        fut = asyncio.run_coroutine_threadsafe(self._agent.plane.unplug(port_id), self._loop)
        fut.result(timeout=300)
