"""`./dev status`: what runs, with pids, ports and health, as a table.

A service's health is SERVING only when it is up and reaches its PostgreSQL and NATS
(`health.readiness`); NOT_READY when one of them does not answer it."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table

from deploy.dev import health
from deploy.dev.layout import Layout
from deploy.dev.procs import ManagedProcess, recorded_names
from deploy.dev.services import BIND_HOST, CONTROL_PLANE
from polyvisor.common.embedded import EmbeddedNats, EmbeddedPostgres
from tests.fixtures import libvirt as libvirt_fixture
from tests.fixtures.ceph import CephCluster
from tests.fixtures.vcsim import Vcsim


def _endpoints(layout: Layout) -> dict[str, Any]:
    try:
        data = json.loads(layout.endpoints.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _health_style(text: str) -> str:
    if text in ("SERVING", "accepting", "answering"):
        return f"[green]{text}[/green]"
    if text in ("-", ""):
        return text
    return f"[red]{text}[/red]"


def rows(layout: Layout) -> list[tuple[str, str, str, str, str]]:
    """(name, state, pid, endpoint, health) for every part of the stack."""
    out: list[tuple[str, str, str, str, str]] = []
    ep = _endpoints(layout)
    embedded = ep.get("embedded", {})
    for server, key in ((EmbeddedPostgres(layout.postgres), "database_url"),
                        (EmbeddedNats(layout.nats), "nats_url")):  # fmt: skip
        pid = server.pid
        if pid is not None:
            url = server.url or ""
            ok = health.tcp_open("127.0.0.1", server.port or 0)
            out.append((server.name, "running", str(pid), url, "accepting" if ok else "refusing"))
        elif ep and embedded.get(server.name) is False:
            url = str(ep.get(key, ""))
            parts = urlsplit(url)
            ok = bool(parts.hostname and parts.port) and health.tcp_open(
                parts.hostname or "", parts.port or 0
            )
            out.append((server.name, "external", "-", url, "accepting" if ok else "refusing"))
        else:
            out.append((server.name, "stopped", "-", "-", "-"))
    sim = Vcsim(layout.vcsim)
    endpoint = sim.endpoint
    if endpoint is not None:
        ok = health.tcp_open(endpoint.host, endpoint.port)
        out.append(
            ("vcsim", "running", str(sim.pid), endpoint.url, "accepting" if ok else "refusing")
        )
    else:
        out.append(("vcsim", "stopped", "-", "-", "-"))
    uri = str(ep.get("libvirt_uri", libvirt_fixture.SYSTEM_URI))
    if uri == libvirt_fixture.TEST_URI:
        out.append(("libvirt", "test driver", "-", uri, "-"))
    else:
        running = libvirt_fixture.libvirtd_running(uri)
        pid = libvirt_fixture._pid_from(libvirt_fixture.LIBVIRTD_PID)
        out.append(("libvirtd", "running" if running else "stopped",
                    str(pid) if pid else "-", uri, "answering" if running else "-"))  # fmt: skip
    if (layout.ceph / "bootstrapped").exists():  # POLYVISOR_DEV_CEPH=1 made one
        ceph = CephCluster(layout.ceph)
        pids = ceph.pids()
        for daemon in ("mon.a", "mgr.x", "osd.0"):
            pid = pids.get(daemon)
            out.append((f"ceph {daemon}", "running" if pid else "stopped",
                        str(pid) if pid else "-", ceph.mon_addr, "-"))  # fmt: skip
    names = recorded_names(layout)
    order = [n for n in CONTROL_PLANE[::-1] if n in names] + [
        n for n in names if n not in CONTROL_PLANE
    ]
    seen = set(order)
    for name in order:
        proc = ManagedProcess(layout, name)
        rec = proc.record() or {}
        pid = proc.pid
        address = f"{BIND_HOST}:{rec.get('grpc_port')}"
        metrics = rec.get("metrics_port")
        endpoint_text = f"{address} (metrics :{metrics})"
        if pid is None:
            out.append((name, "exited", "-", endpoint_text, "-"))
        else:
            out.append((name, "running", str(pid), endpoint_text, health.readiness(address)))
    for name in ("api", "imagesvc", "networksvc", "volumesvc", "scheduler"):
        entry = ep.get(name)
        if name not in seen and isinstance(entry, dict) and entry.get("state") == "not implemented":
            out.append((name, "not implemented", "-", "-", "-"))
    return out


def status(layout: Layout | None = None) -> int:
    layout = layout or Layout.default()
    table = Table(title=f"Polyvisor dev stack ({layout.root})")
    for col in ("name", "state", "pid", "endpoint", "health"):
        table.add_column(col, overflow="fold")
    for name, state, pid, endpoint, text in rows(layout):
        table.add_row(name, state, pid, endpoint, _health_style(text))
    Console().print(table)
    return 0
