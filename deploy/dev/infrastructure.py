"""`./dev up`'s infrastructure, started (or found running) before the services: PostgreSQL and
NATS (embedded, each back on the port it had after a crash, unless external URLs are given),
vcsim, libvirtd (or libvirt's test driver), a one-node Ceph when `POLYVISOR_DEV_CEPH=1`, and a
KVM agent data directory QEMU can traverse.
Every step prints one line on the console `stack` shares."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable

from rich.console import Console

from deploy.dev import health
from deploy.dev.layout import Layout
from deploy.dev.services import BIND_HOST
from polyvisor.common.embedded import EmbeddedNats, EmbeddedPostgres
from tests.fixtures import libvirt as libvirt_fixture
from tests.fixtures.ceph import CephCluster, CephError
from tests.fixtures.vcsim import Vcsim, VcsimEndpoint

__all__ = [
    "PORT_RELEASE_S",
    "StackError",
    "ceph",
    "console",
    "libvirt",
    "nats",
    "postgres",
    "qemu_can_reach",
    "vcenter_clusters",
    "vcsim",
]

PORT_RELEASE_S = 5.0  # a process just killed may hold its port a moment (threads exiting)
console = Console(highlight=False, soft_wrap=True)


class StackError(RuntimeError):
    pass


def _embedded(label: str, make: Callable[[int], EmbeddedPostgres | EmbeddedNats]) -> str:
    """Start (or find running) an embedded server; its URL.

    A server that died (killed, crashed) comes back on the port it had, so every service
    started before keeps reaching it at the URL it was given. Only when another process has
    taken that port does it move: the services that use it are then restarted (`_start`).
    `make(port)` builds the server (0: a free port)."""
    server = make(0)
    if server.running():
        url = server.start()
        console.print(f"{label:<10} running   {url}")
        return url
    port = server.recorded_port or 0
    if port and not health.port_free_within(BIND_HOST, port, PORT_RELEASE_S):
        console.print(
            f"[yellow]{label:<10} its port {port} is taken by another process: it starts on "
            "a new port, and the services that use it are restarted[/yellow]"
        )
        port = 0
    url = make(port).start()
    console.print(f"{label:<10} {'restarted' if port else 'started  '} {url}")
    return url


def postgres(layout: Layout) -> tuple[str, bool]:
    """(database URL, embedded?)."""
    external = os.environ.get("POLYVISOR_DATABASE_URL")
    if external:
        console.print(f"postgres   external  {external}")
        return external, False
    return _embedded("postgres", lambda port: EmbeddedPostgres(layout.postgres, port)), True


def nats(layout: Layout) -> tuple[str, bool]:
    external = os.environ.get("POLYVISOR_NATS_URL")
    if external:
        console.print(f"nats       external  {external}")
        return external, False
    return _embedded("nats", lambda port: EmbeddedNats(layout.nats, port)), True


def vcsim(layout: Layout) -> VcsimEndpoint:
    sim = Vcsim(layout.vcsim)
    was = sim.running()
    if not was:
        console.print("vcsim      building (cached after the first time) ...")
    endpoint = sim.start()
    console.print(f"vcsim      {'running ' if was else 'started '}  {endpoint.url}")
    return endpoint


def ceph(layout: Layout) -> CephCluster | None:
    """The one-node Ceph (one mon, one mgr, one OSD, pool `rbd`) when `POLYVISOR_DEV_CEPH=1`,
    started or found running; None when not asked for. Its daemons are recorded by pid under
    `.polyvisor/ceph/run/`, so `./dev down` stops exactly them."""
    if os.environ.get("POLYVISOR_DEV_CEPH") != "1":
        return None
    cluster = CephCluster(layout.ceph)
    if cluster.running():
        console.print(f"ceph       running   {cluster.mon_addr} (conf {cluster.conf})")
        return cluster
    fresh = not (layout.ceph / "bootstrapped").exists()
    if fresh:
        console.print("ceph       bootstrapping one mon, one mgr, one OSD (about 30 s) ...")
    try:
        cluster.start()
    except CephError as e:
        raise StackError(f"ceph: {e}") from e
    console.print(
        f"ceph       {'started  ' if fresh else 'restarted'} {cluster.mon_addr} "
        f"(conf {cluster.conf}, pool {cluster.pool})"
    )
    return cluster


def vcenter_clusters(endpoint: VcsimEndpoint) -> list[str]:
    """The cluster names a vCenter (vcsim) serves, read through pyvmomi."""
    from pyVim.connect import Disconnect, SmartConnect
    from pyVmomi import vim

    si = SmartConnect(
        host=endpoint.host, port=endpoint.port, protocol="http",
        user=endpoint.username, pwd=endpoint.password, disableSslCertValidation=True,
    )  # fmt: skip
    try:
        content = si.RetrieveContent()
        view = content.viewManager.CreateContainerView(
            content.rootFolder, [vim.ClusterComputeResource], True
        )
        try:
            return sorted(c.name for c in view.view)
        finally:
            view.Destroy()
    finally:
        Disconnect(si)


def libvirt(layout: Layout) -> tuple[str, str | None]:
    """(libvirt URI, fallback reason or None). Records whether we started libvirtd.

    POLYVISOR_DEV_LIBVIRT_URI forces a URI (e.g. test:///default) and starts nothing.
    """
    forced = os.environ.get("POLYVISOR_DEV_LIBVIRT_URI")
    if forced:
        console.print(f"libvirt    given     {forced}")
        return forced, None
    before = libvirt_fixture.libvirtd_running()
    uri, reason = libvirt_fixture.libvirt_uri()
    if reason is not None:
        console.print(
            f"[yellow]libvirt    libvirtd unavailable ({reason}): "
            f"the KVM agent uses libvirt's test driver {uri}[/yellow]"
        )
        return uri, reason
    if not before:
        layout.libvirt_record.write_text(json.dumps({"started_by": "dev up"}) + "\n")
        console.print(f"libvirt    started   {uri}")
    else:
        console.print(f"libvirt    running   {uri}")
    return uri, None


def qemu_can_reach(layout: Layout) -> None:
    """QEMU runs as libvirt-qemu: it must traverse down to the KVM agent's disks."""
    data = layout.data("agent_kvm")
    for sub in ("instances", "cache"):
        (data / sub).mkdir(parents=True, exist_ok=True)
    for d in [data / "instances", data / "cache", *data.parents]:
        mode = d.stat().st_mode
        if not mode & stat.S_IXOTH:
            d.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
