"""Time from server create (ComputeService.CreateServer, the public API) to the DHCP lease in
a real Linux guest, on the whole stack as `./dev up` starts it.

    .venv/bin/python bench/network/api_lease.py [--rounds 3]

Starts a private dev stack (its own state directory and ports; the KVM agent with TCG, as
these machines need for Linux guests), then per round creates a server of the "linux" image
`./dev up` registers on the demo network and polls its console (GetServerConsoleOutput) until
the guest prints its lease: the address must be the one GetServer shows. Each round's server
is deleted before the next. Medians; the guest's own uptime at its lease splits the boot from
the control plane's work. The last line printed is one JSON object. `run.py` runs this too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from polyvisor.client.aio import AsyncClient  # noqa: E402
from tests.e2e import stack as stack_mod  # noqa: E402
from tests.fixtures import guest_image  # noqa: E402


async def _lease_line(cloud: AsyncClient, server_id: str, timeout: float) -> str:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = await cloud.servers.console_output(server_id)
        for line in text.splitlines():
            if line.strip().startswith("LEASE "):
                return line.strip()
        await asyncio.sleep(0.25)
    raise TimeoutError(f"server {server_id}: no lease within {timeout:g} s")


async def rounds(s: stack_mod.Stack, n: int) -> dict[str, float | int]:
    admin = s.admin
    to_lease: list[float] = []
    to_active: list[float] = []
    uptime: list[float] = []
    async with AsyncClient(
        api_url=s.api, image_url=s.image, network_url=str(s.endpoints["networksvc"]["grpc"]),
        username=admin["username"], password=admin["password"], project=admin["project"],
        use_config_file=False, timeout=120, poll_interval=0.25,
    ) as cloud:  # fmt: skip
        [image] = [i for i in await cloud.images.list(name="linux") if i.name == "linux"]
        flavor = await cloud.flavors.create("bench.linux", vcpus=1, ram_mb=256, disk_gb=1)
        [demo] = [n for n in await cloud.networks.list() if n.name == "demo"]
        for i in range(n):
            t0 = time.perf_counter()
            server = await cloud.servers.create(
                f"lease-{i}", image_id=image.id, flavor_id=flavor.id,
                networks=[{"network_id": demo.id}], hints={"hypervisor_type": "qemu"},
            )  # fmt: skip
            s.created.add(server.id)
            try:
                server = await cloud.servers.wait_until_active(server.id, wait_timeout=600)
                to_active.append(time.perf_counter() - t0)
                line = await _lease_line(cloud, server.id, 600)
                to_lease.append(time.perf_counter() - t0)
                _, ip, up = line.split()[:3]
                assert ip == server.addresses[0].address, (line, server.addresses)
                uptime.append(float(up))
                print(
                    f"round {i + 1}: create to ACTIVE {to_active[-1]:.2f} s, to lease "
                    f"{to_lease[-1]:.2f} s (guest uptime at lease {uptime[-1]:.2f} s)"
                )
            finally:
                await cloud.servers.delete(server.id, wait=True, wait_timeout=300)
    med = statistics.median
    return {
        "lease_rounds": n,
        "virt_type": "qemu",
        "server_create_to_active_s": round(med(to_active), 2),
        "server_create_to_lease_s": round(med(to_lease), 2),
        "guest_uptime_at_lease_s": round(med(uptime), 2),
    }


def measure(n: int) -> dict[str, float | int]:
    """A private dev stack, `n` rounds, the stack stopped and its state removed."""
    guest_image.guest_image()
    home = Path(tempfile.mkdtemp(prefix="polyvisor-bench-lease-"))
    home.chmod(0o755)
    env = {"POLYVISOR_DEV_VIRT_TYPE": "qemu"}
    s = stack_mod.start(home, env)
    if s.not_running():  # a free port taken meanwhile: up again restarts what failed
        s = stack_mod.start(home, env)
    try:
        if s.not_running():
            raise RuntimeError(f"the stack did not start: {s.not_running()}\n{s.up_output}")
        return asyncio.run(rounds(s, n))
    finally:
        with contextlib.suppress(Exception):
            stack_mod.destroy_libvirt_domains(s.libvirt_uri, s.created)
        stack_mod.stop(home)
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    print(json.dumps({"bench": "network_api_lease", **measure(args.rounds)}))


if __name__ == "__main__":
    main()
