"""``NetworkPlane``: the ports bound to this host, plugged and unplugged, and their groups.

    plane = NetworkPlane(mappings={"physnet1": "eth1"}, state_dir=..., instance_meta=...)
    vif = await plane.plug(binding)        # bridge, DHCP, firewall, metadata; idempotent
    await plane.apply_group(group_id, revision, rules=..., members=...)   # live, from events
    await plane.unplug(port_id)            # the network's last port takes the bridge with it
    await plane.close()                    # stops serving; leaves guests' plumbing in place

Every change of a network happens under that network's lock; every firewall change re-renders
and replaces the host's nftables tables in one transaction. A binding or group state older than
the one applied (by revision) is ignored: events may come late, twice, or out of order.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from polyvisor.agent_kvm.net import bridges, firewall
from polyvisor.agent_kvm.net.dhcp import DhcpServer
from polyvisor.agent_kvm.net.metadata import InstanceMeta, MetadataService
from polyvisor.agent_kvm.net.model import PortBinding, RemoteGroup, Rule
from polyvisor.agent_kvm.net.names import bridge_name, tap_name
from polyvisor.agent_kvm.net.network_data import network_data
from polyvisor.agent_kvm.net.shell import NetError
from polyvisor.common.logging import get_logger

__all__ = ["NetworkPlane", "Vif"]

log = get_logger(__name__)

InstanceLookup = Callable[[str], Awaitable[InstanceMeta | None]]


@dataclass(frozen=True, slots=True)
class Vif:
    """What the domain XML needs of a plugged port."""

    port_id: str
    mac_address: str
    bridge: str
    tap: str
    mtu: int


@dataclass(slots=True)
class _Network:
    network_id: str
    bridge: str
    mtu: int
    interface: str
    network_type: str
    vlan: int
    dhcp: DhcpServer
    ports: dict[str, PortBinding] = field(default_factory=dict)


class NetworkPlane:
    def __init__(
        self,
        *,
        mappings: Mapping[str, str],
        state_dir: Path,
        instance_meta: InstanceLookup | None = None,
        metadata_port: int = 80,
        table: str = firewall.TABLE,
    ) -> None:
        self.mappings = dict(mappings)
        self.state_dir = Path(state_dir)
        self._instance_meta = instance_meta
        self.metadata = MetadataService(self._resolve, port=metadata_port)
        self._networks: dict[str, _Network] = {}
        self._ports: dict[str, PortBinding] = {}
        self._numbers: dict[str, int] = {}
        self._groups: dict[str, tuple[int, tuple[Rule, ...]]] = {}
        self._members: dict[str, tuple[int, tuple[str, ...]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._fw_lock = asyncio.Lock()
        self._bridge_nf = False
        #: The nftables tables' name (one data plane per host: the default).
        self.table = table

    # ------------------------------------------------------------------ queries

    def port(self, port_id: str) -> PortBinding | None:
        return self._ports.get(port_id)

    def port_ids(self) -> list[str]:
        return list(self._ports)

    def ports_of_device(self, device_id: str) -> list[PortBinding]:
        return [b for b in self._ports.values() if b.device_id == device_id]

    def networks(self) -> list[str]:
        return sorted(self._networks)

    def uses_group(self, group_id: str) -> bool:
        """A port here is in the group, or one of its rules names it as remote group."""
        return any(
            group_id in b.security_group_ids
            or any(r.remote_group_id == group_id for r in self.effective_rules(b))
            for b in self._ports.values()
        )

    def missing_remote_groups(self) -> dict[str, str]:
        """Remote groups a rule names whose members are unknown here: group -> a port whose
        binding spec carries them."""
        out: dict[str, str] = {}
        for b in self._ports.values():
            for r in self.effective_rules(b):
                if r.remote_group_id and r.remote_group_id not in self._members:
                    out.setdefault(r.remote_group_id, b.port_id)
        return out

    async def learn_remote(self, groups: Iterable[RemoteGroup]) -> None:
        """Members of remote groups (from a binding spec), where newer than what is known."""
        changed = False
        for g in groups:
            have = self._members.get(g.security_group_id)
            if have is None or g.revision > have[0]:
                self._members[g.security_group_id] = (g.revision, tuple(g.addresses))
                changed = True
        if changed and self._ports:
            await self._sync_firewall()

    # ------------------------------------------------------------------ plug / unplug

    def _lock(self, network_id: str) -> asyncio.Lock:
        return self._locks.setdefault(network_id, asyncio.Lock())

    async def plug(self, b: PortBinding) -> Vif:
        """Plumb the port on this host (idempotent; an older revision changes nothing)."""
        if b.physical_network not in self.mappings:
            raise NetError(
                f"physical network {b.physical_network!r} is not mapped on this host "
                f"(POLYVISOR_PHYSICAL_INTERFACE_MAPPINGS)"
            )
        async with self._lock(b.network_id):
            old = self._ports.get(b.port_id)
            if old is not None and old.revision > b.revision:
                b = old
            net = await self._ensure_network(b)
            self._remember(b)
            net.ports[b.port_id] = b
            try:
                await net.dhcp.sync(net.ports.values(), net.mtu)
                await self.metadata.serve(net.network_id, net.dhcp.namespace)
                await self._sync_firewall()
            except BaseException:
                if old is None:
                    await self._forget(net, b.port_id)
                raise
            log.info("port plugged", port_id=b.port_id, network_id=b.network_id, bridge=net.bridge)
            return Vif(b.port_id, b.mac_address, net.bridge, tap_name(b.port_id), net.mtu)

    async def unplug(self, port_id: str) -> None:
        """Remove the port; the last port of a network takes bridge, DHCP and metadata along."""
        b = self._ports.get(port_id)
        if b is None:
            return
        async with self._lock(b.network_id):
            net = self._networks.get(b.network_id)
            self._ports.pop(port_id, None)
            self._numbers.pop(port_id, None)
            if net is not None:
                net.ports.pop(port_id, None)
            await self._sync_firewall()
            if net is None:
                return
            await bridges.run_quiet_del(tap_name(port_id))
            if net.ports:
                await net.dhcp.sync(net.ports.values(), net.mtu)
            else:
                await self._remove_network(net)
            log.info("port unplugged", port_id=port_id, network_id=b.network_id)

    async def _forget(self, net: _Network, port_id: str) -> None:
        self._ports.pop(port_id, None)
        self._numbers.pop(port_id, None)
        net.ports.pop(port_id, None)
        if not net.ports:
            await self._remove_network(net)
        await self._sync_firewall()

    async def _ensure_network(self, b: PortBinding) -> _Network:
        net = self._networks.get(b.network_id)
        if net is not None:
            return net
        interface = self.mappings[b.physical_network]
        br = await bridges.ensure_bridge(
            b.network_id,
            mtu=b.mtu,
            interface=interface,
            network_type=b.network_type,
            vlan=b.segmentation_id,
        )
        net = _Network(
            network_id=b.network_id,
            bridge=br,
            mtu=b.mtu,
            interface=interface,
            network_type=b.network_type,
            vlan=b.segmentation_id,
            dhcp=DhcpServer(b.network_id, br, self.state_dir),
        )
        self._networks[b.network_id] = net
        return net

    async def _remove_network(self, net: _Network) -> None:
        self._networks.pop(net.network_id, None)
        await self.metadata.stop(net.network_id)
        await net.dhcp.remove()
        await bridges.remove_bridge(
            net.network_id, interface=net.interface, network_type=net.network_type, vlan=net.vlan
        )

    def _remember(self, b: PortBinding) -> None:
        self._ports[b.port_id] = b
        if b.port_id not in self._numbers:
            used = set(self._numbers.values())
            self._numbers[b.port_id] = next(n for n in range(1, 0xFFFF) if n not in used)
        for gid in b.security_group_ids:
            # a group's rules come with the spec until an event brings them at a revision
            if gid not in self._groups or self._groups[gid][0] == 0:
                self._groups[gid] = (0, tuple(r for r in b.rules if r.security_group_id == gid))
        for rg in b.remote_groups:
            have_m = self._members.get(rg.security_group_id)
            if have_m is None or have_m[0] < rg.revision:
                self._members[rg.security_group_id] = (rg.revision, tuple(rg.addresses))

    # ------------------------------------------------------------------ groups

    async def apply_group(
        self,
        group_id: str,
        revision: int,
        *,
        rules: tuple[Rule, ...] | None = None,
        members: tuple[str, ...] | None = None,
    ) -> bool:
        """A group's whole rule set and/or member set at ``revision``; True if applied."""
        changed = False
        if rules is not None:
            have = self._groups.get(group_id)
            if have is None or revision > have[0]:
                self._groups[group_id] = (revision, rules)
                changed = True
        if members is not None:
            have_m = self._members.get(group_id)
            if have_m is None or revision > have_m[0]:
                self._members[group_id] = (revision, members)
                changed = True
        if changed and self._ports:
            await self._sync_firewall()
        return changed

    def effective_rules(self, b: PortBinding) -> tuple[Rule, ...]:
        if not b.port_security_enabled:
            return ()
        out: list[Rule] = []
        for gid in b.security_group_ids:
            have = self._groups.get(gid)
            rules = have[1] if have is not None else ()
            out.extend(replace(r, security_group_id=gid) for r in rules)
        return tuple(out)

    async def _sync_firewall(self) -> None:
        async with self._fw_lock:
            if self._ports and not self._bridge_nf:
                await firewall.enable_bridge_netfilter()
                self._bridge_nf = True
            ports = [
                firewall.FirewallPort(b, self._numbers[pid], self.effective_rules(b))
                for pid, b in self._ports.items()
            ]
            wanted = {r.remote_group_id for p in ports for r in p.rules if r.remote_group_id}
            remote = {g: self._members[g][1] if g in self._members else () for g in wanted}
            await firewall.apply(firewall.render(ports, remote, self.table))

    # ------------------------------------------------------------------ metadata

    async def _resolve(self, network_id: str, address: str) -> InstanceMeta | None:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        net = self._networks.get(network_id)
        if net is None:
            return None
        port = next(
            (
                b
                for b in net.ports.values()
                if any(ipaddress.ip_address(i.ip_address) == ip for i in b.ips)
            ),
            None,
        )
        if port is None or not port.device_id or self._instance_meta is None:
            return None
        meta = await self._instance_meta(port.device_id)
        if meta is None:
            return None
        return replace(meta, network_data=network_data(self.ports_of_device(port.device_id)))

    # ------------------------------------------------------------------ orphans

    async def remove_orphans(self) -> list[str]:
        """Remove the DHCP namespace, dnsmasq and bridge of every network this agent made
        (its state directory remembers them) and has no port on any more, left by a run
        that stopped before their last port went; and the nftables tables if no port is
        left. Called once the ports bound to the host are plugged; the networks removed."""
        removed: list[str] = []
        dhcp_dir = self.state_dir / "dhcp"
        known = await asyncio.to_thread(
            lambda: sorted(p.name for p in dhcp_dir.iterdir()) if dhcp_dir.is_dir() else []
        )
        for network_id in known:
            async with self._lock(network_id):
                if network_id in self._networks:
                    continue
                await self.metadata.stop(network_id)
                await DhcpServer(network_id, bridge_name(network_id), self.state_dir).remove()
                await bridges.remove_orphan_bridge(bridge_name(network_id))
                removed.append(network_id)
        async with self._fw_lock:
            if not self._ports:
                await firewall.remove(self.table)
        if removed:
            log.info("removed what no port uses any more", removed=removed)
        return removed

    # ------------------------------------------------------------------ close

    async def close(self) -> None:
        """Stop serving metadata; bridges, DHCP and rules stay (the guests keep running)."""
        await self.metadata.close()

    async def teardown(self) -> None:
        """Remove everything this plane made on the host (tests; a host leaving service)."""
        for pid in list(self._ports):
            await self.unplug(pid)
        await self.metadata.close()
        await firewall.remove(self.table)
