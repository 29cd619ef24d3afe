"""Time from server create to DHCP lease in a real guest, beside QEMU's own DHCP.

    .venv/bin/python bench/network/guest_lease.py [--rounds 3] [--quick]

Starts PostgreSQL, NATS and the network service (a real process), makes a flat network with
a /24 subnet on a physical network the KVM host maps (a bridge without uplink), and per round:
creates a port and binds it to the host as the api does for a server, then times the KVM
agent's spawn (the driver plugs the port through the NetworkAgent: binding spec, bridge,
dnsmasq host entry, nftables chains, binding state ACTIVE; then defines and starts the domain)
until the guest prints its lease on the serial console. The guest is the Linux test guest
(Debian's cloud kernel, busybox udhcpc; QEMU TCG, as these machines need).

Baseline in the same run: the same guest disk booted by ``qemu-system-x86_64`` directly with
user-mode networking (QEMU's built-in DHCP server, no bridge, no dnsmasq, no firewall), timed
to the same line. Medians over the rounds; the guest's own uptime at its lease splits boot
from DHCP. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import grpc  # noqa: E402

from polyvisor.common.auth import API_IDENTITY, TokenSigner, ensure_keypair  # noqa: E402
from polyvisor.common.embedded import EmbeddedNats, EmbeddedPostgres  # noqa: E402
from polyvisor.network.v1 import bindings_pb2 as bpb  # noqa: E402
from polyvisor.network.v1 import network_service_pb2_grpc as svc_grpc  # noqa: E402
from polyvisor.network.v1 import networks_pb2 as pb  # noqa: E402
from tests.fixtures.guest_image import guest_image  # noqa: E402
from tests.fixtures.libvirt import SYSTEM_URI, ensure_libvirtd  # noqa: E402
from tests.network.guests import UDHCPC_SCRIPT, Console, instance_spec, kvm_host  # noqa: E402
from tests.support.services import ServiceProcess, free_port  # noqa: E402

SCRIPT = "\n".join(
    [
        "ip link set lo up; ip link set eth0 up",
        "cat > /udhcpc.sh <<'EOS'\n#!/bin/sh\n" + UDHCPC_SCRIPT + "EOS",
        "chmod +x /udhcpc.sh",
        "echo \"DHCP-START $(cut -d' ' -f1 /proc/uptime)\"",
        "udhcpc -i eth0 -n -q -f -t 60 -T 1 -s /udhcpc.sh",
        "sleep 600",
    ]
)


def uptimes(console: Console) -> tuple[float, float]:
    """The guest's uptime at its lease, and the seconds its DHCP exchange took."""
    lines = console.lines()
    lease = float(next(line for line in lines if line.startswith("LEASE ")).split()[2])
    start = float(next(line for line in lines if line.startswith("DHCP-START ")).split()[1])
    return lease, lease - start


async def direct_qemu(disk: Path, world: Path, n: int) -> tuple[float, float, float]:
    """QEMU with user networking (its built-in DHCP): seconds to the lease, guest uptime at
    the lease, seconds of DHCP."""
    log = world / f"direct-{n}.log"
    overlay = world / f"direct-{n}.qcow2"
    await (
        await asyncio.create_subprocess_exec(
            "qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(disk), str(overlay)
        )
    ).wait()
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        "qemu-system-x86_64", "-machine", "accel=tcg", "-m", "192", "-display", "none",
        "-no-reboot", "-serial", f"file:{log}", "-monitor", "none",
        "-drive", f"file={overlay},format=qcow2,if=virtio",
        "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0,mac=fa:16:3e:00:00:99",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        console = Console(log)
        await console.wait("LEASE ", timeout=300)
        return time.perf_counter() - t0, *uptimes(console)
    finally:
        proc.kill()
        await proc.wait()


def prepare() -> tuple[Path, Path]:
    """A world directory QEMU can traverse, and the guest's disk in it."""
    root = Path(tempfile.mkdtemp(prefix="polyvisor-bench-lease-", dir="/var/tmp"))
    root.chmod(0o755)
    return root, guest_image().boot_disk(SCRIPT, root / "guest.raw")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one round")
    args = ap.parse_args()
    if args.quick:
        args.rounds = 1

    libvirt_uri = ensure_libvirtd(SYSTEM_URI)
    root, disk = await asyncio.to_thread(prepare)
    pg = EmbeddedPostgres(root / "pg", durable=False, die_with_parent=True)
    nats = EmbeddedNats(root / "nats", die_with_parent=True)
    pg.start()
    nats.start()
    private, public = root / "keys" / "token.key", root / "keys" / "token.pub"
    ensure_keypair(private, public)
    signer = TokenSigner.from_file(private)
    admin, _ = signer.issue(user_id="admin", project_id="admin", roles=["admin", "member"])
    api, _ = signer.issue(user_id=API_IDENTITY, project_id="", roles=[], kind="service")
    host = f"bench-kvm-{uuid.uuid4().hex[:6]}"
    agent_token, _ = signer.issue(
        user_id=f"agent-{host}", project_id="", roles=[], kind="agent", host=host
    )
    svc = ServiceProcess(
        "networksvc",
        {
            "POLYVISOR_DATABASE_URL": pg.create_database("bench_lease"),
            "POLYVISOR_NATS_URL": nats.url or "",
            "POLYVISOR_GRPC_HOST": "127.0.0.1",
            "POLYVISOR_GRPC_PORT": str(free_port()),
            "POLYVISOR_METRICS_PORT": "0",
            "POLYVISOR_LOG_LEVEL": "WARNING",
            "POLYVISOR_TOKEN_PUBLIC_KEY": str(public),
        },
        log_path=root / "networksvc.log",
    )
    agent_s: list[float] = []
    agent_up: list[float] = []
    agent_dhcp: list[float] = []
    direct_dhcp: list[float] = []
    direct_s: list[float] = []
    direct_up: list[float] = []
    try:
        await svc.start(60)
        async with (
            grpc.aio.insecure_channel(svc.address) as ch,
            kvm_host(
                network_address=svc.address, agent_token=agent_token, nats_url=nats.url or "",
                libvirt_uri=libvirt_uri, world=root, host=host,
            ) as kvm,
        ):  # fmt: skip
            stub = svc_grpc.NetworkServiceStub(ch)
            md_admin = (("authorization", f"Bearer {admin}"),)
            md_api = (("authorization", f"Bearer {api}"),)
            net = (
                await stub.CreateNetwork(
                    pb.CreateNetworkRequest(
                        network=pb.Network(
                            name="bench", network_type=pb.NETWORK_TYPE_FLAT,
                            physical_network=kvm.physnet, shared=True,
                        )
                    ),
                    metadata=md_admin,
                )
            ).network  # fmt: skip
            await stub.CreateSubnet(
                pb.CreateSubnetRequest(subnet=pb.Subnet(network_id=net.id, cidr="10.79.0.0/24")),
                metadata=md_admin,
            )
            for n in range(args.rounds):
                sid = str(uuid.uuid4())
                port = (
                    await stub.CreatePort(
                        pb.CreatePortRequest(port=pb.Port(network_id=net.id)), metadata=md_admin
                    )
                ).port
                await stub.BindPort(
                    bpb.BindPortRequest(
                        port_id=port.id, host=host, vif_type=pb.VIF_TYPE_BRIDGE, device_id=sid,
                        device_owner="compute:kvm",
                    ),
                    metadata=md_api,
                )  # fmt: skip
                t0 = time.perf_counter()
                await asyncio.to_thread(kvm.driver.spawn, instance_spec(sid, f"bench-{n}", disk))
                console = Console(kvm.driver.instance_dir(sid) / "console.log")
                lines = await console.wait("LEASE ", timeout=300)
                agent_s.append(time.perf_counter() - t0)
                up, dhcp = uptimes(console)
                agent_up.append(up)
                agent_dhcp.append(dhcp)
                assert lines[0].split()[1] == port.fixed_ips[0].ip_address, lines[0]
                await asyncio.to_thread(kvm.driver.destroy, sid)
                await stub.UnbindPort(bpb.UnbindPortRequest(port_id=port.id), metadata=md_api)
                await stub.DeletePort(pb.DeletePortRequest(port_id=port.id), metadata=md_admin)

                secs, up, dhcp = await direct_qemu(disk, root, n)
                direct_s.append(secs)
                direct_up.append(up)
                direct_dhcp.append(dhcp)
                print(
                    f"round {n + 1}: server create to lease {agent_s[-1]:.2f} s (guest uptime "
                    f"{agent_up[-1]:.2f} s, DHCP {agent_dhcp[-1]:.2f} s); qemu user-net "
                    f"{secs:.2f} s (guest uptime {up:.2f} s, DHCP {dhcp:.2f} s)"
                )
    finally:
        await svc.stop()
        nats.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)
    med = statistics.median
    result = {
        "bench": "network_guest_lease",
        "rounds": args.rounds,
        "virt_type": "qemu",
        "server_create_to_lease_s": round(med(agent_s), 2),
        "guest_uptime_at_lease_s": round(med(agent_up), 2),
        "dhcp_exchange_s": round(med(agent_dhcp), 2),
        "direct_qemu_usernet_to_lease_s": round(med(direct_s), 2),
        "direct_guest_uptime_at_lease_s": round(med(direct_up), 2),
        "direct_dhcp_exchange_s": round(med(direct_dhcp), 2),
        "ratio_vs_direct": round(med(agent_s) / med(direct_s), 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
