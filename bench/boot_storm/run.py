"""A boot storm: server creates through the public API at a fixed concurrency against
simulated hosts, timed until each server is ACTIVE.

    .venv/bin/python bench/boot_storm/run.py [--servers 1000] [--concurrency 50] [--hosts 100]
                                             [--no-vmware] [--quick]

Starts PostgreSQL, NATS, the scheduler, the image service and the api as real processes (the
way tests/api/stack.py does), fake agents answering for `--hosts` hosts (tests/fake_agent:
they speak the agents' NATS contract and spawn at once), vcsim with its two clusters and a
VMware agent per cluster (real spawns on the simulator). One raw image and a small flavor;
a few warm-up creates on each hypervisor type (the VMware agents fetch and convert the image
once), then `--servers` creates (`--vmware-share` of them, 1% by default, asking for VMware: the
vcsim clusters are small), from `--concurrency` clients, each creating a server, waiting for
it to be ACTIVE (one WatchServers stream sees every change; nobody polls) and creating the
next, as Rally's boot scenario does. Then everything is deleted.

Measured: time to ACTIVE (from the CreateServer call to the change that shows it ACTIVE)
p50/p90/p99 overall and per hypervisor type, creates per second, CPU seconds per create of
each process (user + system from /proc/<pid>/stat, children of PostgreSQL included), errors
(refused creates, servers that ended in ERROR, servers not ACTIVE in time), and the machine's
load average. Printed beside the published Nova figure (Rally boot-and-delete, 200 nodes:
median 4.0 s, p90 5.0 s at concurrency 5) and beside this machine's limit: its CPUs over the
CPU a create costs across every process (creates per second the machine could sustain with
nothing else running), with the per-call costs the other benches measure for the same path
(docs/deploy.md, "Sizing"). `POLYVISOR_BENCH_KEEP=1` keeps the state directory (logs).
Profile a run from outside: `py-spy record --pid <api pid>` (the pids are printed first).
The last line printed is one JSON object.
Target: every create ACTIVE, p99 time to ACTIVE under 2 s on a 2-core machine.

One concern: the storm itself (its stack, its clients, its one watch and what it measures);
the fixed figures and the /proc readings are in figures.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import grpc  # noqa: E402

from polyvisor.common.embedded import EmbeddedNats, EmbeddedPostgres  # noqa: E402
from polyvisor.compute.v1 import flavors_pb2, quotas_pb2, servers_pb2  # noqa: E402
from polyvisor.image.v1 import images_pb2  # noqa: E402
from polyvisor.types.v1 import hypervisor_pb2  # noqa: E402
from polyvisor.types.v1 import server_status_pb2 as st  # noqa: E402
from tests.api.stack import Client, FakeAgentProcess, Stack, agent_key, wait_hosts  # noqa: E402
from tests.support.services import ServiceProcess, free_port  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from figures import (  # noqa: E402
    CLUSTERS,
    NOVA,
    PER_CALL_MS,
    TARGET_P99_S,
    pct,
    tree_cpu,
)


class Storm:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.root = Path(tempfile.mkdtemp(prefix="polyvisor-boot-storm-"))
        self.pg = EmbeddedPostgres(self.root / "pg", durable=False, die_with_parent=True)
        self.nats = EmbeddedNats(self.root / "nats", die_with_parent=True)
        self.stack: Stack | None = None
        self.vcsim: Any = None
        self.vmware: list[ServiceProcess] = []
        self.active_at: dict[str, float] = {}
        self.final: dict[str, servers_pb2.Server] = {}
        self.waiters: dict[str, asyncio.Future[None]] = {}

    # ------------------------------------------------------------------ the stack

    async def start(self) -> Client:
        self.pg.start()
        self.nats.start()
        assert self.nats.url is not None
        stack = self.stack = Stack(self.root, self.pg.create_database("boot_storm"), self.nats.url)
        os.environ["POLYVISOR_TEST_LOG_LEVEL"] = "WARNING"
        await stack.start_control_plane(
            {
                "POLYVISOR_BUILD_TIMEOUT_S": "120",
                "POLYVISOR_REAPER_INTERVAL_S": "5",
                "POLYVISOR_OUTBOX_POLL_S": "1",
            }
        )
        hosts = [f"storm-{i:03d}" for i in range(self.args.hosts)]
        per_process = max(
            1, (len(hosts) + self.args.agent_processes - 1) // self.args.agent_processes
        )
        for n, i in enumerate(range(0, len(hosts), per_process)):
            agent = FakeAgentProcess(
                tuple(hosts[i : i + per_process]),
                {
                    "POLYVISOR_NATS_URL": self.nats.url,
                    "FAKE_AGENT_HOSTS": ",".join(hosts[i : i + per_process]),
                    "FAKE_AGENT_REPORT_INTERVAL_S": str(self.args.report_interval),
                },
                self.root / f"fake-agent-{n}.jsonl",  # its stderr goes beside
            )
            await agent.start()
            stack.agents.append(agent)
        admin = await stack.admin()
        if not self.args.no_vmware:
            await self.start_vmware(stack)
        await wait_hosts(
            admin,
            *hosts,
            *([] if self.args.no_vmware else [f"vmware-{c}" for c in CLUSTERS]),
            within=120,
        )
        return admin

    async def start_vmware(self, stack: Stack) -> None:
        from tests.fixtures.vcsim import Vcsim

        self.vcsim = Vcsim(self.root / "vcsim")
        endpoint = await asyncio.to_thread(self.vcsim.start)
        assert stack.imagesvc is not None
        for cluster in CLUSTERS:
            host_id = f"vmware-{cluster}"
            env = {
                "POLYVISOR_NATS_URL": stack.nats_url,
                "POLYVISOR_VCENTER_URL": endpoint.url,
                "POLYVISOR_VCENTER_USER": endpoint.username,
                "POLYVISOR_VCENTER_PASSWORD": endpoint.password,
                "POLYVISOR_CLUSTER_NAME": cluster,
                "POLYVISOR_HOST_ID": host_id,
                "POLYVISOR_SERVER_ID": f"{host_id}-{uuid.uuid4().hex[:6]}",
                "POLYVISOR_AGENT_API_KEY": agent_key(host_id),
                "POLYVISOR_API_ADDRESS": stack.apis[0].address,
                "POLYVISOR_IMAGESVC_ADDRESS": stack.imagesvc.address,
                "POLYVISOR_CACHE_DIR": str(self.root / host_id / "cache"),
                "POLYVISOR_STATE_DIR": str(self.root / host_id / "state"),
                "POLYVISOR_REPORT_INTERVAL_S": str(self.args.report_interval),
                "POLYVISOR_RECONCILE_INTERVAL_S": "0",
                "POLYVISOR_GRPC_HOST": "127.0.0.1",
                "POLYVISOR_GRPC_PORT": str(free_port()),
                "POLYVISOR_METRICS_PORT": "0",
                "POLYVISOR_LOG_LEVEL": "WARNING",
                "POLYVISOR_TOKEN_PUBLIC_KEY": str(stack.public_key),
            }
            proc = ServiceProcess("agent_vmware", env, log_path=self.root / f"{host_id}.log")
            self.vmware.append(await proc.start(120))

    async def stop(self) -> None:
        for proc in self.vmware:
            await proc.stop()
        if self.stack is not None:
            await self.stack.stop()
        if self.vcsim is not None:
            await asyncio.to_thread(self.vcsim.stop)
        self.nats.stop()
        self.pg.stop()
        if not os.environ.get("POLYVISOR_BENCH_KEEP"):
            shutil.rmtree(self.root, ignore_errors=True)

    def pids(self) -> dict[str, list[int]]:
        stack = self.stack
        assert stack is not None
        out: dict[str, list[int]] = {}

        def add(name: str, proc: Any) -> None:
            if proc is not None and proc.proc is not None:
                out.setdefault(name, []).append(proc.proc.pid)

        add("scheduler", stack.scheduler)
        add("imagesvc", stack.imagesvc)
        for api in stack.apis:
            add("api", api)
        for agent in stack.agents:
            add("fake_agents", agent)
        for proc in self.vmware:
            add("agent_vmware", proc)
        if self.pg.pid:
            out["postgres"] = [self.pg.pid]
        if self.nats.pid:
            out["nats"] = [self.nats.pid]
        if self.vcsim is not None and self.vcsim.pid:
            out["vcsim"] = [self.vcsim.pid]
        return out

    def cpu(self) -> dict[str, float]:
        return {name: sum(tree_cpu(p) for p in pids) for name, pids in self.pids().items()}

    # ------------------------------------------------------------------ watching

    async def watch(self, admin: Client, synced: asyncio.Event) -> None:
        call = admin.compute.WatchServers(servers_pb2.WatchServersRequest(), metadata=admin.md)
        loop = asyncio.get_running_loop()
        async for change in call:
            if change.type == servers_pb2.SERVER_CHANGE_TYPE_SYNCED:
                synced.set()
                continue
            s = change.server
            if s.state in (st.SERVER_STATE_ACTIVE, st.SERVER_STATE_ERROR) and (
                s.task == st.SERVER_TASK_NONE
            ):
                if s.id not in self.active_at:
                    self.active_at[s.id] = loop.time()
                    self.final[s.id] = s
                waiter = self.waiters.pop(s.id, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)

    # ------------------------------------------------------------------ the storm

    async def create(
        self,
        admin: Client,
        name: str,
        image_id: str,
        flavor_id: str,
        hints: dict[str, str] | None = None,
    ) -> tuple[str, float]:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        resp = await admin.compute.CreateServer(
            servers_pb2.CreateServerRequest(
                request_id=uuid.uuid4().hex,
                server=servers_pb2.ServerSpec(
                    name=name,
                    image_id=image_id,
                    flavor_id=flavor_id,
                    scheduler_hints=hints or {},
                ),
            ),
            metadata=admin.md,
        )
        sid = resp.servers[0].id
        if sid not in self.active_at:
            fut = self.waiters.setdefault(sid, loop.create_future())
            try:
                await asyncio.wait_for(fut, self.args.wait_s)
            except TimeoutError:
                self.waiters.pop(sid, None)
        return sid, t0

    async def run(self) -> dict[str, Any]:
        args = self.args
        admin = await self.start()
        await admin.compute.CreateFlavor(
            flavors_pb2.CreateFlavorRequest(
                flavor=flavors_pb2.Flavor(
                    id="storm", name="storm", vcpus=1, ram_mb=64, disk_gb=1, is_public=True
                )
            ),
            metadata=admin.md,
        )
        quota = (
            await admin.compute.GetQuota(quotas_pb2.GetQuotaRequest(), metadata=admin.md)
        ).quota
        await admin.compute.UpdateQuota(
            quotas_pb2.UpdateQuotaRequest(
                project_id=quota.project_id,
                limits=quotas_pb2.QuotaLimits(instances=-1, vcpus=-1, ram_mb=-1),
            ),
            metadata=admin.md,
        )
        image = await admin.upload_image("storm", visibility=images_pb2.VISIBILITY_PUBLIC)
        synced = asyncio.Event()
        watcher = asyncio.create_task(self.watch(admin, synced))
        await asyncio.wait_for(synced.wait(), 30)

        # Warm-up (not measured): the image fetched (and for VMware converted) once per type.
        warm = [self.create(admin, f"warm-{i}", image.id, "storm") for i in range(4)]
        if not args.no_vmware:
            warm += [
                self.create(
                    admin, f"warm-vmw-{c}", image.id, "storm", {"hypervisor_type": "vmware"}
                )
                for c in CLUSTERS
            ]
        warm_ids = [sid for sid, _ in await asyncio.gather(*warm)]

        loop = asyncio.get_running_loop()
        started: dict[str, float] = {}
        refused: list[str] = []
        todo = iter(range(args.servers))

        # Every n-th create asks for VMware (the scheduler's spread weighing would otherwise
        # put everything on the roomier fake hosts).
        every = round(1 / args.vmware_share) if args.vmware_share > 0 and not args.no_vmware else 0

        async def client() -> None:
            for i in todo:
                hints = {"hypervisor_type": "vmware"} if every and i % every == every - 1 else None
                try:
                    sid, t0 = await self.create(admin, f"storm-{i}", image.id, "storm", hints)
                except grpc.aio.AioRpcError as e:
                    refused.append(f"{e.code().name}: {e.details()}")
                    continue
                started[sid] = t0

        print(json.dumps({"pids": self.pids()}), flush=True)
        load0 = os.getloadavg()
        cpu0 = self.cpu()
        t_start = loop.time()
        await asyncio.gather(*(client() for _ in range(args.concurrency)))
        elapsed = loop.time() - t_start
        cpu1 = self.cpu()
        load1 = os.getloadavg()

        times: list[float] = []
        by_type: dict[str, list[float]] = {}
        errors: list[str] = list(refused)
        for sid, t0 in started.items():
            s = self.final.get(sid)
            if s is None:
                errors.append(f"{sid}: not ACTIVE within {args.wait_s}s")
                continue
            if s.state != st.SERVER_STATE_ACTIVE:
                errors.append(f"{sid}: {st.ServerState.Name(s.state)} {s.fault.message}")
                continue
            dt = self.active_at[sid] - t0
            times.append(dt)
            by_type.setdefault(hypervisor_pb2.HypervisorType.Name(s.hypervisor_type), []).append(dt)
        n = len(started)
        cpu = {k: round(cpu1.get(k, 0.0) - cpu0.get(k, 0.0), 3) for k in cpu1}
        per_create_ms = {k: round(v / max(n, 1) * 1000, 3) for k, v in cpu.items()}
        total_ms = sum(per_create_ms.values())
        cpus = os.cpu_count() or 1
        result: dict[str, Any] = {
            "bench": "boot_storm",
            "servers": args.servers,
            "concurrency": args.concurrency,
            "fake_hosts": args.hosts,
            "vmware_clusters": 0 if args.no_vmware else len(CLUSTERS),
            "active": len(times),
            "errors": len(errors),
            "error_samples": errors[:5],
            "elapsed_s": round(elapsed, 2),
            "creates_per_s": round(len(times) / elapsed, 1) if elapsed else 0.0,
            "time_to_active_s": {
                "p50": round(pct(times, 50), 3),
                "p90": round(pct(times, 90), 3),
                "p99": round(pct(times, 99), 3),
                "max": round(max(times), 3) if times else 0.0,
            },
            "by_hypervisor_type": {
                k: {"n": len(v), "p50": round(pct(v, 50), 3), "p99": round(pct(v, 99), 3)}
                for k, v in sorted(by_type.items())
            },
            "cpu_ms_per_create": per_create_ms,
            "cpu_ms_per_create_total": round(total_ms, 2),
            "machine_limit_creates_per_s": round(cpus / (total_ms / 1000), 1) if total_ms else 0,
            "other_benches_per_call_ms": {
                **PER_CALL_MS,
                "sum": round(sum(PER_CALL_MS.values()), 3),
                "limit_creates_per_s": round(cpus / (sum(PER_CALL_MS.values()) / 1000), 1),
            },
            "nova": NOVA,
            "target": {
                "p99_s_max": TARGET_P99_S,
                "met": len(times) == args.servers and pct(times, 99) < TARGET_P99_S,
            },
            "load_avg_1m": [round(load0[0], 2), round(load1[0], 2)],
            "cpus": cpus,
        }

        # Boot-and-delete: everything goes (not timed beyond its total).
        t_del = loop.time()
        ids = [*started, *warm_ids]
        sem = asyncio.Semaphore(args.concurrency)

        async def delete(sid: str) -> None:
            async with sem:
                try:
                    await admin.compute.DeleteServer(
                        servers_pb2.DeleteServerRequest(server_id=sid), metadata=admin.md
                    )
                except grpc.aio.AioRpcError:
                    pass

        await asyncio.gather(*(delete(s) for s in ids))
        result["delete_requests_s"] = round(loop.time() - t_del, 2)
        watcher.cancel()
        return result


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--servers", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--hosts", type=int, default=100)
    ap.add_argument("--agent-processes", type=int, default=2)
    ap.add_argument("--report-interval", type=float, default=10.0)
    ap.add_argument("--wait-s", type=float, default=120.0)
    ap.add_argument("--no-vmware", action="store_true")
    ap.add_argument(
        "--vmware-share", type=float, default=0.01, help="the share of creates sent to VMware"
    )
    ap.add_argument("--quick", action="store_true", help="a smoke run (100 creates, 10 hosts)")
    args = ap.parse_args()
    if args.quick:
        args.servers, args.hosts, args.concurrency = 100, 10, 20
    storm = Storm(args)
    try:
        result = await storm.run()
    finally:
        await storm.stop()
    print(json.dumps(result))


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
