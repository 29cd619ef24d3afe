"""Server show and list through the OpenStack API gateway, beside the same calls over gRPC,
in the same run.

    .venv/bin/python bench/osapi/run.py [--servers 2000] [--seconds 5] [--quick]

Starts PostgreSQL, NATS, the api and the gateway (`python -m polyvisor.osapi`, given no volume
service: a server show with one asks it for the server's volumes, a second call), real
processes on loopback; seeds the servers of one project with SQL (bench/api's seed); reads
each once (warm caches); then, with 16 concurrent clients each:

- show: gRPC GetServer of a random server, then `GET /compute/v2.1/servers/{id}` of the same
  kind through the gateway (HTTP, JSON, the Nova body of microversion 2.1);
- list: gRPC ListServers pages of 100, then `GET /compute/v2.1/servers/detail?limit=100`.

Requests per second and p99 of each, and `overhead` = gRPC rate / gateway rate (target: at
most 2); beside them the CPU each call costs in each process (the api, the gateway, this
client) and `cpu_overhead` = CPU per gateway call / CPU per gRPC call, which a machine busy
with other work skews far less than the rates. The runs of each comparison take turns of a
second (gRPC, gateway, gateway with the stdlib decoder, again) so that other work coming and
going on the machine weighs on all of them alike.

The client: decoding the body is part of a REST client's work, as decoding the protobuf is
of a gRPC client's, but the target is what the gateway adds. A page of 100 servers is 150 kB
of JSON; the stdlib's json.loads of it, and the cyclic collector's full passes over this
process's whole start-up heap that the decoded pages set off, cost this client more than the
gateway spent making the page (1.1 of the 2.6 ms a gateway call cost, beside 1.1 ms for a
whole gRPC call, at the gateway's first measure). So `gateway`, `overhead` and
`cpu_overhead` are taken with orjson decoding the body (a C decoder, as upb is the gRPC
client's) and the start-up heap frozen (gc.freeze, for both clients: the collector still
runs over what the calls make), as `client` in the JSON says. Beside them, in the same run,
the same calls decoded by aiohttp's `response.json()` (the stdlib's json) with the heap not
frozen, as the client was before: `gateway_stdlib_decoder`, `overhead_stdlib_decoder`,
`cpu_overhead_stdlib_decoder`.

The gateway keeps the list pages it makes and answers one again while the api says no
server changed since (osapi.kept_pages: a GetServersRevision check, shared by the requests of
one token that arrive while another check is in flight). No server changes during the run, so
`list.gateway` is of kept pages, as a cloud's polling clients meet them between changes.
Beside it, `list.gateway_pages_made`: the same calls through a second gateway that keeps no
pages (POLYVISOR_KEPT_PAGES_BYTES=0), so that every page is made again from an api page, as
after every change; and `list.gateway_cold_cpu_ms`: the gateway's CPU per page
of the first pass over all the servers, before it has made any of their bodies (a server's
body is made once per revision and kept). The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
import grpc  # noqa: E402
import orjson  # noqa: E402

from bench.api.run import seed  # noqa: E402
from polyvisor.common.embedded import EmbeddedNats, EmbeddedPostgres  # noqa: E402
from polyvisor.compute.v1 import compute_service_pb2_grpc, servers_pb2  # noqa: E402
from polyvisor.identity.v1 import identity_pb2, identity_requests_pb2, identity_service_pb2_grpc  # noqa: E402
from tests.support.services import ServiceProcess, free_port  # noqa: E402

CONCURRENCY = 16
PAGE = 100
TARGET = 2.0


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU (user + system) each process has used so far; "client" is this process."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for name, pid in pids.items():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        out[name] = (int(fields[11]) + int(fields[12])) / tick
    t = os.times()
    out["client"] = t.user + t.system
    return out


def cpu_ns(pid: int) -> int:
    """CPU (nanoseconds, every thread) a process has used so far: finer than /proc/pid/stat's
    ticks, for a figure taken over a few calls."""
    return sum(int(p.read_text().split()[0]) for p in Path(f"/proc/{pid}/task").glob("*/schedstat"))


class Run:
    """Calls of one kind, driven in slices: their count, time and CPU added up."""

    def __init__(self, call: Callable[[int], Awaitable[None]], frozen: bool = True) -> None:
        self.call, self.frozen = call, frozen
        self.latencies: list[float] = []
        self.elapsed = 0.0
        self.cpu: dict[str, float] = {}

    async def drive(self, seconds: float, pids: dict[str, int] | None = None) -> None:
        if not self.frozen:  # the start-up heap back with the collector's (see the docstring)
            gc.unfreeze()
        before = cpu_seconds(pids or {})
        stop_at = time.perf_counter() + seconds

        async def worker(i: int) -> None:
            while (t0 := time.perf_counter()) < stop_at:
                await self.call(i)
                self.latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(CONCURRENCY)))
        self.elapsed += time.perf_counter() - start
        for k, v in cpu_seconds(pids or {}).items():
            self.cpu[k] = self.cpu.get(k, 0.0) + v - before[k]
        if not self.frozen:
            gc.collect()
            gc.freeze()

    def figures(self) -> dict[str, Any]:
        n, lat = max(len(self.latencies), 1), self.latencies
        p99 = statistics.quantiles(lat, n=100)[98] * 1000 if len(lat) > 100 else 0.0
        return {
            "rps": round(len(lat) / self.elapsed, 1) if self.elapsed else 0.0,
            "p99_ms": round(p99, 2),
            "calls": len(lat),
            # CPU milliseconds per call, per process (what the calls cost, whatever else runs)
            "cpu_ms": {k: round(v * 1000 / n, 3) for k, v in self.cpu.items()},
        }


async def interleaved(runs: list[Run], seconds: float, pids: dict[str, int]) -> None:
    """`seconds` of each run, in turns of a second: a machine whose other work comes and goes
    weighs on every run alike (a run after another would each meet their own load)."""
    turns = max(1, round(seconds))
    for _ in range(turns):
        for run in runs:
            await run.drive(seconds / turns, pids)


def figures(grpc_run: dict[str, Any], gateway_run: dict[str, Any]) -> dict[str, Any]:
    """The gateway's overheads: by rate and by CPU (every process) per call."""
    ratio = round(grpc_run["rps"] / gateway_run["rps"], 2) if gateway_run["rps"] else None
    cpu_g, cpu_w = sum(grpc_run["cpu_ms"].values()), sum(gateway_run["cpu_ms"].values())
    return {
        "overhead": ratio,
        "cpu_overhead": round(cpu_w / cpu_g, 2) if cpu_g else None,
        "within_target": ratio is not None and ratio <= TARGET,
    }


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--servers", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--quick", action="store_true", help="a smoke run (small and short)")
    args = ap.parse_args()
    if args.quick:
        args.servers, args.seconds = 300, 1.0
    root = Path(tempfile.mkdtemp(prefix="polyvisor-bench-osapi-"))
    pg = EmbeddedPostgres(root / "pg", durable=False, die_with_parent=True)
    nats = EmbeddedNats(root / "nats", die_with_parent=True)
    pg.start()
    nats.start()
    dsn = pg.create_database("bench_osapi")
    api_port, http_port = free_port(), free_port()
    api = ServiceProcess("api", {
        "POLYVISOR_DATABASE_URL": dsn, "POLYVISOR_NATS_URL": nats.url or "",
        "POLYVISOR_GRPC_HOST": "127.0.0.1", "POLYVISOR_GRPC_PORT": str(api_port),
        "POLYVISOR_METRICS_PORT": "0", "POLYVISOR_LOG_LEVEL": "WARNING",
        "POLYVISOR_TOKEN_PRIVATE_KEY": str(root / "keys" / "token.key"),
        "POLYVISOR_TOKEN_PUBLIC_KEY": str(root / "keys" / "token.pub"),
        "POLYVISOR_BOOTSTRAP_ADMIN_USER": "admin", "POLYVISOR_BOOTSTRAP_ADMIN_PASSWORD": "admin-password",
        "POLYVISOR_BOOTSTRAP_ADMIN_PROJECT": "admin",
        "POLYVISOR_SCHEDULER_ADDRESS": "127.0.0.1:1", "POLYVISOR_IMAGESVC_ADDRESS": "127.0.0.1:1",
    }, log_path=root / "api.log")  # fmt: skip
    osapi = ServiceProcess("osapi", {
        "POLYVISOR_API_ADDRESS": f"127.0.0.1:{api_port}", "POLYVISOR_GRPC_HOST": "127.0.0.1",
        "POLYVISOR_GRPC_PORT": str(free_port()), "POLYVISOR_METRICS_PORT": "0",
        "POLYVISOR_HTTP_HOST": "127.0.0.1", "POLYVISOR_HTTP_PORT": str(http_port),
        "POLYVISOR_LOG_LEVEL": "WARNING", "POLYVISOR_VOLUMESVC_ADDRESS": "",
    }, log_path=root / "osapi.log")  # fmt: skip
    unkept_port = free_port()
    unkept = ServiceProcess("osapi", {  # keeps no pages: every list page is made
        "POLYVISOR_API_ADDRESS": f"127.0.0.1:{api_port}", "POLYVISOR_GRPC_HOST": "127.0.0.1",
        "POLYVISOR_GRPC_PORT": str(free_port()), "POLYVISOR_METRICS_PORT": "0",
        "POLYVISOR_HTTP_HOST": "127.0.0.1", "POLYVISOR_HTTP_PORT": str(unkept_port),
        "POLYVISOR_LOG_LEVEL": "WARNING", "POLYVISOR_KEPT_PAGES_BYTES": "0",
        "POLYVISOR_VOLUMESVC_ADDRESS": "",
    }, log_path=root / "osapi-unkept.log")  # fmt: skip
    result: dict[str, Any] = {
        "bench": "osapi",
        "servers": args.servers,
        "concurrency": CONCURRENCY,
        "client": {
            "decoder": "orjson",
            "startup_heap": "frozen",
            "stdlib_decoder_runs": "response.json(), heap not frozen",
        },
        "load_average": round(os.getloadavg()[0], 2),
        # A gateway with a volume service also asks it for a shown server's volumes (one
        # ListVolumes, sent beside GetServer): not measured here, the gRPC baseline being
        # GetServer alone.
        "volume_service": "none",
    }
    try:
        await api.start(240)
        await osapi.start(240)
        await unkept.start(240)
        gc.collect()
        gc.freeze()  # see the docstring: the client
        _, ids = await seed(dsn, args.servers)
        base = f"http://127.0.0.1:{http_port}/compute/v2.1"
        base_unkept = f"http://127.0.0.1:{unkept_port}/compute/v2.1"
        rng = random.Random(7)
        assert api.proc is not None and osapi.proc is not None and unkept.proc is not None
        pids = {"api": api.proc.pid, "osapi": osapi.proc.pid}
        pids_unkept = {"api": api.proc.pid, "osapi": unkept.proc.pid}
        async with grpc.aio.insecure_channel(api.address) as ch, aiohttp.ClientSession() as http:
            auth = await identity_service_pb2_grpc.IdentityServiceStub(ch).Authenticate(
                identity_requests_pb2.AuthenticateRequest(password=identity_pb2.PasswordCredentials(
                    project="admin", username="admin", password="admin-password"))
            )  # fmt: skip
            md = (("authorization", f"Bearer {auth.token}"),)
            headers = {"X-Auth-Token": auth.token}
            stub = compute_service_pb2_grpc.ComputeServiceStub(ch)
            token = ""
            while True:  # every server read once: the api's cache is warm for both
                resp = await stub.ListServers(servers_pb2.ListServersRequest(page_size=1000, page_token=token),
                                              metadata=md)  # fmt: skip
                token = resp.next_page_token
                if not token:
                    break

            async def grpc_show(_: int) -> None:
                await stub.GetServer(
                    servers_pb2.GetServerRequest(server_id=rng.choice(ids)), metadata=md
                )

            def rest_show(loads: Callable[[bytes], Any] | None) -> Callable[[int], Awaitable[None]]:
                async def call(_: int) -> None:
                    async with http.get(f"{base}/servers/{rng.choice(ids)}", headers=headers) as r:
                        assert r.status == 200, await r.text()
                        body = loads(await r.read()) if loads else await r.json()
                        assert body["server"]["status"] == "ACTIVE"

                return call

            grpc_tokens = [""] * CONCURRENCY
            markers: list[str | None] = [None] * CONCURRENCY

            async def grpc_list(i: int) -> None:
                resp = await stub.ListServers(
                    servers_pb2.ListServersRequest(page_size=PAGE, page_token=grpc_tokens[i]),
                    metadata=md,
                )
                grpc_tokens[i] = resp.next_page_token

            def rest_list(
                loads: Callable[[bytes], Any] | None, at: str = base
            ) -> Callable[[int], Awaitable[None]]:
                async def call(i: int) -> None:
                    url = f"{at}/servers/detail?limit={PAGE}" + (
                        f"&marker={markers[i]}" if markers[i] else ""
                    )
                    async with http.get(url, headers=headers) as r:
                        assert r.status == 200, await r.text()
                        body = loads(await r.read()) if loads else await r.json()
                    markers[i] = body["servers"][-1]["id"] if body.get("servers_links") else None

                return call

            before, pages = cpu_ns(osapi.proc.pid), 0
            while True:  # the first pass: the gateway makes every server's body
                await rest_list(orjson.loads)(0)
                pages += 1
                if markers[0] is None:
                    break
            cold_ms = (cpu_ns(osapi.proc.pid) - before) / 1e6 / pages

            warm = min(1.0, args.seconds / 2)
            for name, g, make in (("show", grpc_show, rest_show), ("list", grpc_list, rest_list)):
                gr, gw, gs = Run(g), Run(make(orjson.loads)), Run(make(None), frozen=False)
                for run in (gr, gw):
                    await Run(run.call).drive(warm)
                await interleaved([gr, gw, gs], args.seconds, pids)
                g_fig, w_fig, s_fig = gr.figures(), gw.figures(), gs.figures()
                result[name] = {"grpc": g_fig, "gateway": w_fig, **figures(g_fig, w_fig),
                                "gateway_stdlib_decoder": s_fig,
                                **{f"{k}_stdlib_decoder": v for k, v in figures(g_fig, s_fig).items()}}  # fmt: skip
                if name == "list":  # pages made anew (see the docstring), beside the gRPC calls
                    gr_again, gm = Run(g), Run(rest_list(orjson.loads, base_unkept))
                    await Run(gm.call).drive(warm)
                    await interleaved([gr_again, gm], args.seconds, pids_unkept)
                    g2, m_fig = gr_again.figures(), gm.figures()
                    result[name]["gateway_pages_made"] = m_fig
                    result[name].update(
                        {f"{k}_pages_made": v for k, v in figures(g2, m_fig).items()}
                    )
            result["list"]["gateway_cold_cpu_ms"] = round(cold_ms, 3)  # type: ignore[index]
        result["target_overhead"] = TARGET
    finally:
        await unkept.stop()
        await osapi.stop()
        await api.stop()
        nats.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)
    result["load_average_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
