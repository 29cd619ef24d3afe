"""`./dev up` and `./dev down`: the whole stack on one machine, state under .polyvisor/.

Up, in order: PostgreSQL and NATS (embedded unless POLYVISOR_DATABASE_URL / _NATS_URL are
set), vcsim, libvirtd (or libvirt's test driver), scheduler, imagesvc, networksvc, api (each
SERVING, its PostgreSQL and NATS answer), the agents, then the demo network and image (demo_*.py).

Nothing supervises the processes: running `up` again is what restarts a part that died,
and it starts only what is not running, each part on the port it had (recorded under
run/, postgres/, nats/, vcsim/), so the parts still running reach it where they did. A
part moves only when another process took its port; the running parts given its old
address are then restarted too. Down stops what up started, in reverse (and forgets the
ports: the next `up` starts afresh).

One concern: the order in which the stack's parts start and stop; what each part is and how
it is configured lives beside it (infrastructure, services, demo_*, kvm, lxc).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from typing import Any

from deploy.dev import baremetal, demo_image, demo_network, health, infrastructure, lxc
from deploy.dev.infrastructure import PORT_RELEASE_S, StackError, console, vcenter_clusters
from deploy.dev.kvm import remove_network_plumbing
from deploy.dev.layout import Layout
from deploy.dev.procs import ManagedProcess, recorded_names
from deploy.dev.services import (
    BIND_HOST,
    CONTROL_PLANE,
    WEB,
    Credentials,
    Infra,
    ServiceSpec,
    implemented,
    nats_users,
    plan,
    process_env,
)
from polyvisor.agent_kvm.net.shell import NetError
from polyvisor.common.embedded import EmbeddedError, EmbeddedNats, EmbeddedPostgres
from tests.fixtures import libvirt as libvirt_fixture
from tests.fixtures.ceph import CephCluster, CephError
from tests.fixtures.vcsim import Vcsim, VcsimEndpoint, VcsimError

SERVING_TIMEOUT_S = 60.0
AGENT_LISTEN_S = 15.0


@dataclass
class UpResult:
    ok: bool = True
    started: list[str] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)  # had died (or had to move): started again
    already: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def state(self, name: str) -> str:
        if name in self.missing:
            return "not implemented"
        return "failed" if name in self.failed else "running"


# --------------------------------------------------------------------------- services


def _recorded_ports(layout: Layout) -> dict[str, dict[str, int]]:
    """The ports of every recorded process, running or not: one that died (a record stays
    until `./dev down`) comes back where the others look for it. A dead process's ports that
    another process has taken since are left out (it gets new ones, and what depends on it
    is restarted)."""
    ports: dict[str, dict[str, int]] = {}
    for name in recorded_names(layout):
        proc = ManagedProcess(layout, name)
        rec = proc.record()
        if not rec or not all(isinstance(rec.get(k), int) for k in ("grpc_port", "metrics_port")):
            continue
        pair = {"grpc_port": rec["grpc_port"], "metrics_port": rec["metrics_port"]}
        if str(rec.get("http_port", "")).isdigit():  # a web service's HTTP port
            pair["http_port"] = int(rec["http_port"])
        if proc.running() or all(
            health.port_free_within(BIND_HOST, p, PORT_RELEASE_S) for p in pair.values()
        ):
            ports[name] = pair
    return ports


def _moved(rec: dict[str, Any], spec: ServiceSpec) -> list[str]:
    """What a running process reaches at an address that is no longer right (empty when it
    was recorded without them: it is left alone)."""
    had = rec.get("dependencies")
    if not isinstance(had, dict):
        return []
    now = spec.dependencies
    return sorted(k for k in set(had) | set(now) if had.get(k) != now.get(k))


def _start(layout: Layout, spec: ServiceSpec, result: UpResult) -> ManagedProcess | None:
    proc = ManagedProcess(layout, spec.name)
    if not implemented(spec.module):
        console.print(f"[yellow]{spec.name:<20} not yet implemented: {spec.module}[/yellow]")
        result.missing.append(spec.name)
        return None
    rec = proc.record()
    if proc.running():
        moved = _moved(rec or {}, spec)
        if not moved:
            result.already.append(spec.name)
            return proc
        console.print(
            f"[yellow]{spec.name:<20} restarting: what it reaches moved "
            f"({', '.join(moved)})[/yellow]"
        )
        proc.stop()
    extra = [int(spec.info["http_port"])] if "http_port" in spec.info else []
    for port in (spec.grpc_port, spec.metrics_port, *extra):
        if not health.port_free(BIND_HOST, port):
            raise StackError(
                f"{spec.name}: port {port} is in use by another process "
                "(POLYVISOR_DEV_PORTS=ephemeral picks free ports)"
            )
    proc.start(
        spec.argv,
        process_env(spec),
        info={"module": spec.module, "grpc_port": spec.grpc_port,
              "metrics_port": spec.metrics_port, "dependencies": spec.dependencies,
              **spec.info},
    )  # fmt: skip
    if rec is not None:  # started before, and gone (died, was killed) or moved
        result.restarted.append(spec.name)
    else:
        result.started.append(spec.name)
    return proc


def _wait(
    layout: Layout, batch: list[tuple[ServiceSpec, ManagedProcess]], result: UpResult
) -> None:
    for spec, proc in batch:
        status = health.wait_serving(
            spec.address,
            timeout=SERVING_TIMEOUT_S,
            alive=lambda p=proc: not p.exited(),
            # an agent may serve no gRPC at all: then being alive is all we can check
            listen_within=None if spec.name in (*CONTROL_PLANE, *WEB) else AGENT_LISTEN_S,
        )
        pid = proc.pid
        if status == health.SERVING:
            how = "restarted" if spec.name in result.restarted else "ready    "
            console.print(f"{spec.name:<20} {how} {spec.address}  (pid {pid}, SERVING, "
                          "its PostgreSQL/NATS answer)")  # fmt: skip
            continue
        if status == health.NOT_LISTENING and pid is not None:
            console.print(f"{spec.name:<20} running   no gRPC health endpoint  (pid {pid})")
            continue
        result.ok = False
        result.failed.append(spec.name)
        console.print(
            f"[red]{spec.name:<20} {status} at {spec.address} "
            f"({'pid ' + str(pid) if pid else 'not running'}); log {proc.log_file}:[/red]"
        )
        console.print(proc.log_tail(), markup=False)


def up(layout: Layout | None = None) -> int:
    layout = layout or Layout.default()
    layout.create()
    result = UpResult()
    try:
        database_url, pg_embedded = infrastructure.postgres(layout)
        nats_url, nats_embedded = infrastructure.nats(layout)
        vcsim = infrastructure.vcsim(layout)
        clusters = vcenter_clusters(vcsim)
        libvirt_uri, libvirt_reason = infrastructure.libvirt(layout)
        ceph = infrastructure.ceph(layout)
    except (EmbeddedError, VcsimError, StackError, OSError) as e:
        console.print(f"[red]dev up failed: {e}[/red]")
        return 1
    infra = Infra(
        database_url=database_url,
        nats_url=nats_url,
        vcenter_url=vcsim.url,
        vcenter_user=vcsim.username,
        vcenter_password=vcsim.password,
        clusters=tuple(clusters),
        libvirt_uri=libvirt_uri,
        nats_managed=nats_embedded,
        ceph_conf=str(ceph.conf) if ceph else "",
        ceph_keyring=str(ceph.keyring) if ceph else "",
        ceph_pool=ceph.pool if ceph else "",
        ceph_monitors=ceph.mon_v1 if ceph else "",
    )
    if libvirt_uri == libvirt_fixture.SYSTEM_URI:
        infrastructure.qemu_can_reach(layout)
    creds = Credentials.ensure(layout)
    if baremetal.enabled():
        if libvirt_uri != libvirt_fixture.SYSTEM_URI:
            console.print("bare-metal pool skipped: its machines need libvirtd (qemu:///system)")
        else:
            try:
                nodes, bmc_secrets = baremetal.up(layout, libvirt_uri, creds.agent_key)
                infra = replace(infra, baremetal=(str(nodes), str(bmc_secrets)))
            except (RuntimeError, OSError) as e:
                console.print(f"[red]dev up failed: the bare-metal pool: {e}[/red]")
                return 1
    specs = plan(layout, infra, creds, _recorded_ports(layout))
    if nats_embedded:  # every process its own NATS identity (docs/security.md)
        EmbeddedNats(layout.nats).configure(nats_users(creds, specs))
    try:
        # Scheduler, imagesvc, networksvc and volumesvc first (api calls them), then api,
        # then what browsers reach (they call the api), then the agents.
        for group in (("scheduler", "imagesvc", "networksvc", "volumesvc"), ("api",), WEB, None):
            batch = []
            for spec in specs:
                in_group = (
                    spec.name in group
                    if group
                    else spec.name not in CONTROL_PLANE and spec.name not in WEB
                )
                if in_group:
                    proc = _start(layout, spec, result)
                    if proc is not None:
                        batch.append((spec, proc))
            _wait(layout, batch, result)
        with_lxc = any(s.name == lxc.AGENT for s in specs)
        steps = (demo_network.up, demo_image.up, *([lxc.up] if with_lxc else []))
        for step in steps if result.ok else ():
            step({s.name: s.grpc_port for s in specs}, creds, console.print)
    except StackError as e:
        console.print(f"[red]dev up failed: {e}[/red]")
        result.ok = False
    endpoints = _endpoints(
        layout, infra, specs, result, creds,
        vcsim=vcsim, pg_embedded=pg_embedded, nats_embedded=nats_embedded,
        libvirt_reason=libvirt_reason,
    )  # fmt: skip
    if ceph is not None:
        endpoints["ceph"] = {
            "conf": str(ceph.conf),
            "keyring": str(ceph.keyring),
            "pool": ceph.pool,
            "mon": ceph.mon_addr,
        }
    tmp = layout.endpoints.with_suffix(".tmp")
    tmp.write_text(json.dumps(endpoints, indent=2) + "\n")
    tmp.replace(layout.endpoints)
    _print_summary(layout, endpoints, result)
    return 0 if result.ok else 1


def _endpoints(
    layout: Layout,
    infra: Infra,
    specs: list[ServiceSpec],
    result: UpResult,
    creds: Credentials,
    *,
    vcsim: VcsimEndpoint,
    pg_embedded: bool,
    nats_embedded: bool,
    libvirt_reason: str | None,
) -> dict[str, Any]:
    services: dict[str, Any] = {}
    agents: list[dict[str, Any]] = []
    for spec in specs:
        entry: dict[str, Any] = {
            "module": f"polyvisor.{spec.module}",
            "grpc": spec.address,
            "metrics": f"http://{BIND_HOST}:{spec.metrics_port}/metrics",
            "grpc_port": spec.grpc_port,
            "metrics_port": spec.metrics_port,
            "state": result.state(spec.name),
            "log": str(layout.log(spec.name)),
            **spec.info,
        }
        if spec.name in CONTROL_PLANE or spec.name in WEB:
            services[spec.name] = entry
        else:
            agents.append({"name": spec.name, **entry})
    return {
        **services,
        "agents": agents,
        "nats_url": infra.nats_url,
        "database_url": infra.database_url,
        "embedded": {"postgres": pg_embedded, "nats": nats_embedded},
        "vcsim": {
            "url": vcsim.url,
            "host": vcsim.host,
            "port": vcsim.port,
            "username": vcsim.username,
            "password": vcsim.password,
            "clusters": list(infra.clusters),
        },
        "libvirt_uri": infra.libvirt_uri,
        "libvirt_fallback_reason": libvirt_reason,
        "admin": {
            "username": creds.admin_user,
            "password": creds.admin_password,
            "project": creds.admin_project,
        },
        "token_public_key": str(creds.token_public_key),
        "state_dir": str(layout.root),
        "logs_dir": str(layout.logs),
        "updated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _print_summary(layout: Layout, endpoints: dict[str, Any], result: UpResult) -> None:
    console.print()
    for name in ("api", "imagesvc", "networksvc", "volumesvc", "scheduler"):
        e = endpoints[name]
        console.print(
            f"  {name:<20} grpc {e['grpc']:<18} metrics {e['metrics']}  [{e['state']}]",
            markup=False,
        )
    for name in WEB:
        e = endpoints.get(name)
        if e:
            console.print(f"  {name:<20} {e['url']:<23} [{e['state']}]", markup=False)
    for a in endpoints["agents"]:
        console.print(
            f"  {a['name']:<20} grpc {a['grpc']:<18} metrics {a['metrics']}  [{a['state']}]",
            markup=False,
        )
    console.print(f"  nats                 {endpoints['nats_url']}")
    console.print(f"  postgres             {endpoints['database_url']}")
    v = endpoints["vcsim"]
    console.print(
        f"  vcsim                {v['url']}  user {v['username']} password {v['password']}"
    )
    console.print(f"  libvirt              {endpoints['libvirt_uri']}")
    if "ceph" in endpoints:
        c = endpoints["ceph"]
        console.print(f"  ceph                 {c['mon']}  pool {c['pool']}  conf {c['conf']}")
    admin = endpoints["admin"]
    console.print(
        f"  admin                {admin['username']} / {admin['password']} "
        f"(project {admin['project']})"
    )
    dash = endpoints.get("dashboard")
    if dash:
        console.print(
            f"[bold]dashboard            {dash['url']}  log in as {admin['username']} / "
            f"{admin['password']}[/bold]"
        )
    console.print(f"  endpoints            {layout.endpoints}")
    console.print(f"  logs                 {layout.logs}/")
    if result.restarted:
        console.print(
            f"restarted (had died, or what they reach had moved): {', '.join(result.restarted)}"
        )
    if result.missing:
        console.print(f"[yellow]not yet implemented: {', '.join(result.missing)}[/yellow]")
    if result.ok:
        console.print("[green]dev stack is up[/green]")
    else:
        console.print(f"[red]dev stack is NOT fully up: {', '.join(result.failed)} failed[/red]")


# --------------------------------------------------------------------------- down


def _stop_order(layout: Layout) -> list[str]:
    names = recorded_names(layout)
    web = [n for n in WEB if n in names]
    agents = [n for n in names if n not in CONTROL_PLANE and n not in WEB]
    rest = [n for n in ("api", "imagesvc", "networksvc", "volumesvc", "scheduler") if n in names]
    return web + agents + rest


def down(layout: Layout | None = None) -> int:
    layout = layout or Layout.default()
    ok = True
    for name in _stop_order(layout):
        proc = ManagedProcess(layout, name)
        if proc.stop():
            console.print(f"stopped    {name}")
    try:
        sim = Vcsim(layout.vcsim)
        if sim.running():
            sim.stop()
            console.print("stopped    vcsim")
    except VcsimError as e:
        ok = False
        console.print(f"[red]vcsim: {e}[/red]")
    ceph = CephCluster(layout.ceph)
    if ceph.pids():
        try:
            ceph.stop()  # its data stays: the next `POLYVISOR_DEV_CEPH=1 ./dev up` restarts it
            console.print("stopped    ceph")
        except CephError as e:
            ok = False
            console.print(f"[red]ceph: {e}[/red]")
    for server in (EmbeddedNats(layout.nats), EmbeddedPostgres(layout.postgres)):
        try:
            if server.running():
                server.stop()
                console.print(f"stopped    {server.name}")
        except EmbeddedError as e:
            ok = False
            console.print(f"[red]{server.name}: {e}[/red]")
    try:
        for network_id in remove_network_plumbing(layout):
            console.print(f"removed    the KVM host's plumbing of network {network_id}")
        for network_id in remove_network_plumbing(layout, lxc.AGENT, lxc.nft_table(layout)):
            console.print(f"removed    the container host's plumbing of network {network_id}")
    except (NetError, OSError) as e:  # a command (ip, nft) failed: say so, go on stopping
        ok = False
        console.print(f"[red]network plumbing: {e}[/red]")
    try:
        if baremetal.down(layout, libvirt_fixture.SYSTEM_URI):
            console.print("removed    the bare-metal pool (Redfish emulator, machines)")
    except Exception as e:  # libvirt errors: say so, go on stopping
        ok = False
        console.print(f"[red]bare-metal pool: {e}[/red]")
    if layout.libvirt_record.exists():
        libvirt_fixture.stop_libvirtd()
        layout.libvirt_record.unlink(missing_ok=True)
        console.print("stopped    libvirtd (started by dev up)")
    layout.endpoints.unlink(missing_ok=True)
    console.print(
        "[green]dev stack is down[/green]"
        if ok
        else "[red]dev stack: some parts did not stop[/red]"
    )
    return 0 if ok else 1
