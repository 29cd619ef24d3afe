"""DHCP for one network: dnsmasq with static host entries only, in its own namespace.

As Neutron's DHCP agent does: a network namespace ``pvdhcp-<network id>`` attached to the
network's bridge by a veth, and in it one dnsmasq (``--dhcp-range=<subnet>,static``: only the
ports' MAC/IP pairs get a lease, never a dynamic address). dnsmasq runs without
``--bind-interfaces`` (it fails on some hosts: "error binding DHCP socket to device"); alone
in its namespace it needs none.

The namespace end of the veth holds, per IPv4 subnet with DHCP, the subnet's *network
address* (``10.0.0.0/24``): IPAM never hands it out, so it collides with no port and needs no
port of its own, and dnsmasq sees the subnet as directly connected. It also holds
169.254.169.254, where the metadata service answers; every lease carries a classless static
route (option 121) to it, on-link, and to the subnet's host routes and gateway.

Host entries and options live in files dnsmasq re-reads on SIGHUP: a new port is a file
rewrite and a signal, not a restart. dnsmasq is stopped by its own pid (from its pid file,
checked against /proc), never by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import signal
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from polyvisor.agent_kvm.net.bridges import no_host_address
from polyvisor.agent_kvm.net.model import BoundIp, PortBinding
from polyvisor.agent_kvm.net.names import NS_DEVICE, dhcp_namespace, dhcp_veth, short
from polyvisor.agent_kvm.net.shell import NetError, run

__all__ = ["LEASE_SECONDS", "METADATA_IP", "DhcpServer", "host_lines", "option_lines"]

METADATA_IP = "169.254.169.254"
LEASE_SECONDS = 86400


def _subnets(ports: Iterable[PortBinding]) -> dict[str, BoundIp]:
    """One BoundIp per IPv4 subnet with DHCP (it carries the subnet's settings)."""
    out: dict[str, BoundIp] = {}
    for b in ports:
        for ip in b.ips:
            if ip.ip_version == 4 and ip.enable_dhcp:
                out.setdefault(ip.subnet_id, ip)
    return dict(sorted(out.items()))


def _tag(subnet_id: str) -> str:
    return f"s{short(subnet_id, 12)}"


def host_lines(ports: Iterable[PortBinding]) -> list[str]:
    lines = []
    for b in sorted(ports, key=lambda b: b.port_id):
        for ip in b.ips:
            if ip.ip_version == 4 and ip.enable_dhcp:
                lines.append(f"{b.mac_address.lower()},set:{_tag(ip.subnet_id)},{ip.ip_address}")
    return lines


def option_lines(ports: Iterable[PortBinding], mtu: int) -> list[str]:
    lines = []
    for sid, ip in _subnets(ports).items():
        tag = f"tag:{_tag(sid)}"
        routes = [f"{METADATA_IP}/32,0.0.0.0"]
        routes += [
            f"{r.destination},{r.nexthop}" for r in ip.host_routes if ":" not in r.destination
        ]
        if ip.gateway_ip:
            lines.append(f"{tag},option:router,{ip.gateway_ip}")
            routes.append(f"0.0.0.0/0,{ip.gateway_ip}")
        else:
            lines.append(f"{tag},option:router")  # no router: the option is not sent
        lines.append(f"{tag},option:classless-static-route,{','.join(routes)}")
        dns = [d for d in ip.dns_nameservers if ":" not in d]
        if dns:
            lines.append(f"{tag},option:dns-server,{','.join(dns)}")
        lines.append(f"{tag},option:mtu,{mtu}")
    return lines


@dataclass(frozen=True, slots=True)
class _Files:
    root: Path

    @property
    def hosts(self) -> Path:
        return self.root / "hosts"

    @property
    def opts(self) -> Path:
        return self.root / "opts"

    @property
    def pid(self) -> Path:
        return self.root / "dnsmasq.pid"

    @property
    def log(self) -> Path:
        return self.root / "dnsmasq.log"


class DhcpServer:
    """The DHCP namespace and dnsmasq of one network on this host."""

    def __init__(self, network_id: str, bridge: str, state_dir: Path) -> None:
        self.network_id = network_id
        self.bridge = bridge
        self.namespace = dhcp_namespace(network_id)
        self.veth = dhcp_veth(network_id)
        self.files = _Files(state_dir / "dhcp" / network_id)
        self._ranges: tuple[str, ...] = ()

    async def sync(self, ports: Iterable[PortBinding], mtu: int) -> None:
        """Make the namespace, addresses and dnsmasq serve exactly ``ports``."""
        ports = list(ports)
        await self._ensure_namespace(mtu)
        subnets = _subnets(ports)
        await self._ensure_addresses(subnets)
        await asyncio.to_thread(self._write, host_lines(ports), option_lines(ports, mtu))
        ranges = tuple(
            f"set:{_tag(sid)},{ipaddress.ip_network(ip.cidr).network_address},static,"
            f"{ipaddress.ip_network(ip.cidr).netmask},{LEASE_SECONDS}"
            for sid, ip in subnets.items()
        )
        pid = self.pid()
        if pid is not None and ranges == self._ranges:
            os.kill(pid, signal.SIGHUP)
            return
        if pid is not None:
            await self._stop_dnsmasq(pid)
        if ranges:
            await self._start_dnsmasq(ranges)
        self._ranges = ranges

    def _write(self, hosts: list[str], opts: list[str]) -> None:
        # dnsmasq drops to nobody and re-reads these files on SIGHUP: they are world
        # readable (they hold MACs and addresses, nothing secret), and so must be the
        # directories above them (the agent's state directory).
        self.files.root.mkdir(parents=True, exist_ok=True)
        self.files.root.chmod(0o755)
        self.files.root.parent.chmod(0o755)
        for path, lines in ((self.files.hosts, hosts), (self.files.opts, opts)):
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text("".join(f"{line}\n" for line in lines))
            tmp.chmod(0o644)
            os.replace(tmp, path)

    async def _ensure_namespace(self, mtu: int) -> None:
        code, _ = await run("ip", "netns", "exec", self.namespace, "true", check=False)
        if code != 0:
            await run("ip", "netns", "add", self.namespace)
        code, _ = await run("ip", "link", "show", "dev", self.veth, check=False)
        if code != 0:
            await run(
                "ip", "link", "add", self.veth, "type", "veth",
                "peer", "name", NS_DEVICE, "netns", self.namespace,
            )  # fmt: skip
        no_host_address(self.veth)
        await run(
            "ip", "link", "set", "dev", self.veth, "master", self.bridge, "mtu", str(mtu), "up"
        )
        await run("ip", "-n", self.namespace, "link", "set", "dev", "lo", "up")
        await run(
            "ip", "-n", self.namespace, "link", "set", "dev", NS_DEVICE, "mtu", str(mtu), "up"
        )

    async def _ensure_addresses(self, subnets: dict[str, BoundIp]) -> None:
        want = {f"{METADATA_IP}/32"}
        for ip in subnets.values():
            net = ipaddress.ip_network(ip.cidr)
            want.add(f"{net.network_address}/{net.prefixlen}")
        _, out = await run("ip", "-n", self.namespace, "-o", "-4", "addr", "show", "dev", NS_DEVICE)
        have = {line.split()[3] for line in out.splitlines() if len(line.split()) > 3}
        for addr in sorted(want - have):
            await run("ip", "-n", self.namespace, "addr", "add", addr, "dev", NS_DEVICE)
        for addr in sorted(have - want):
            await run(
                "ip", "-n", self.namespace, "addr", "del", addr, "dev", NS_DEVICE, check=False
            )

    async def _start_dnsmasq(self, ranges: tuple[str, ...]) -> None:
        f = self.files
        with contextlib.suppress(FileNotFoundError):
            f.pid.unlink()
        argv = [
            "ip", "netns", "exec", self.namespace, "dnsmasq",
            "--conf-file=/dev/null", "--no-hosts", "--no-resolv", "--port=0",
            "--except-interface=lo", "--dhcp-authoritative", "--leasefile-ro",
            f"--pid-file={f.pid}", f"--dhcp-hostsfile={f.hosts}", f"--dhcp-optsfile={f.opts}",
            f"--log-facility={f.log}", "--log-dhcp",
            *(f"--dhcp-range={r}" for r in ranges),
        ]  # fmt: skip
        await run(*argv)
        if self.pid() is None:
            raise NetError(f"dnsmasq for network {self.network_id} did not start (see {f.log})")

    def pid(self) -> int | None:
        """dnsmasq's pid, if the process in our pid file is our dnsmasq and alive."""
        try:
            pid = int(self.files.pid.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        if b"dnsmasq" not in cmdline or str(self.files.pid).encode() not in cmdline:
            return None
        return pid

    async def _stop_dnsmasq(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if _gone(pid):
                break
            await asyncio.sleep(0.05)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(FileNotFoundError):
            self.files.pid.unlink()

    async def remove(self) -> None:
        """Stop dnsmasq, delete the veth and the namespace and our files. Idempotent."""
        pid = self.pid()
        if pid is not None:
            await self._stop_dnsmasq(pid)
        await run("ip", "link", "del", "dev", self.veth, check=False)
        code, _ = await run("ip", "netns", "exec", self.namespace, "true", check=False)
        if code == 0:
            await run("ip", "netns", "del", self.namespace)
        self._ranges = ()
        await asyncio.to_thread(_rmtree, self.files.root)


def _gone(pid: int) -> bool:
    """Exited (a zombie waiting for its reaper counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X")


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
