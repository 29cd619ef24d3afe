"""Stand-in guests for the data plane tests: a network namespace behind a veth named like the
port's tap (the host end on the port's bridge), running busybox's udhcpc, wget and ping.

    g = await NsGuest.create(busybox, port_id, bridge, mac)
    ip = await g.dhcp()                      # the leased address, configured (option 121 too)
    await g.sh("wget -qO- http://169.254.169.254/openstack/latest/meta_data.json")
    await g.remove()
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from polyvisor.agent_kvm.net.names import short, tap_name

__all__ = ["UDHCPC_SCRIPT", "NsGuest", "run"]

#: udhcpc's hook: configure the lease, the classless routes (0.0.0.0 gateway: on-link).
UDHCPC_SCRIPT = """\
case "$1" in bound|renew)
  ip addr flush dev $interface
  ip addr add $ip/$mask dev $interface
  ip link set $interface up
  set -- $staticroutes
  while [ $# -ge 2 ]; do
    if [ "$2" = 0.0.0.0 ]; then ip route add $1 dev $interface; else ip route add $1 via $2 dev $interface; fi
    shift 2
  done
  echo "LEASE $ip";;
esac
"""


async def run(*argv: str, check: bool = True) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    text = out.decode(errors="replace")
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {text}")
    return proc.returncode or 0, text


@dataclass
class NsGuest:
    busybox: Path
    namespace: str
    tap: str
    script: Path

    @classmethod
    async def create(
        cls, busybox: Path, port_id: str, bridge: str, mac: str, workdir: Path
    ) -> NsGuest:
        ns = f"pvtest-{short(port_id, 8)}"
        tap = tap_name(port_id)
        script = workdir / f"udhcpc-{short(port_id, 8)}.sh"
        script.write_text(f"#!{busybox} sh\n{UDHCPC_SCRIPT}")
        script.chmod(0o755)
        await run("ip", "netns", "add", ns)
        await run("ip", "link", "add", tap, "type", "veth", "peer", "name", "eth0", "netns", ns)
        await run("ip", "-n", ns, "link", "set", "eth0", "address", mac, "up")
        await run("ip", "-n", ns, "link", "set", "lo", "up")
        await run("ip", "link", "set", tap, "master", bridge, "up")
        return cls(busybox, ns, tap, script)

    async def sh(self, command: str, check: bool = True) -> tuple[int, str]:
        return await run(
            "ip", "netns", "exec", self.namespace, str(self.busybox), "sh", "-c",
            f"export PATH=/usr/sbin:/usr/bin:/sbin:/bin; {command}", check=check,
        )  # fmt: skip

    async def dhcp(self) -> str:
        _, out = await self.sh(
            f"{self.busybox} udhcpc -i eth0 -n -q -f -t 5 -T 1 -O staticroutes -s {self.script}"
        )
        lease = [line.split()[1] for line in out.splitlines() if line.startswith("LEASE ")]
        assert lease, out
        return lease[-1]

    async def ping(self, ip: str) -> bool:
        code, _ = await self.sh(f"{self.busybox} ping -c 1 -W 2 {ip}", check=False)
        return code == 0

    async def remove(self) -> None:
        await run("ip", "link", "del", self.tap, check=False)
        await run("ip", "netns", "del", self.namespace, check=False)
