"""`./dev up` / `status` / `down` on a private state dir with ephemeral ports.

The stack is started the way a user starts it (the same Python entry `./dev` hands over
to), beside any running dev stack: POLYVISOR_DEV_HOME moves the state, ephemeral ports
avoid the default ones, and libvirt's test driver keeps the shared libvirtd untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy.dev import health
from deploy.dev.procs import proc_starttime
from deploy.dev.services import implemented

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("api", "imagesvc", "scheduler")


def _dev(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("POLYVISOR_")},
        "POLYVISOR_DEV_HOME": str(home),
        "POLYVISOR_DEV_PORTS": "ephemeral",
        "POLYVISOR_DEV_LIBVIRT_URI": "test:///default",
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "deploy.dev", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def _accepts(url: str) -> bool:
    hostport = url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
    host, port = hostport.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


def _pids(home: Path) -> dict[str, int]:
    pids: dict[str, int] = {}
    for f in [*home.glob("run/*.json"), home / "vcsim" / "vcsim.pid",
              home / "postgres" / "postgres.pid", home / "nats" / "nats.pid"]:  # fmt: skip
        if f.exists():
            pids[f.stem] = int(json.loads(f.read_text())["pid"])
    return pids


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[Path, dict[str, Any], subprocess.CompletedProcess[str]]]:
    # Not pytest's tmp_path: PostgreSQL runs as an unprivileged user and must traverse it.
    home = Path(tempfile.mkdtemp(prefix="polyvisor-devstack-"))
    try:
        up = _dev(home, "up")
        endpoints = json.loads((home / "endpoints.json").read_text())
        yield home, endpoints, up
    finally:
        _dev(home, "down")
        shutil.rmtree(home, ignore_errors=True)


def test_up_starts_infrastructure_and_writes_endpoints(stack) -> None:  # type: ignore[no-untyped-def]
    home, endpoints, up = stack
    assert up.returncode == 0, up.stdout + up.stderr
    assert endpoints["state_dir"] == str(home)
    assert endpoints["embedded"] == {"postgres": True, "nats": True}
    assert endpoints["database_url"].startswith("postgresql://")
    assert endpoints["nats_url"].startswith("nats://")
    assert _accepts(endpoints["database_url"]) and _accepts(endpoints["nats_url"])
    vcsim = endpoints["vcsim"]
    assert vcsim["clusters"] == ["DC0_C0", "DC0_C1"]
    assert _accepts(vcsim["url"]) and vcsim["username"] and vcsim["password"]
    assert endpoints["libvirt_uri"] == "test:///default"
    # one KVM agent and one VMware agent per cluster, each with its cluster
    agents = {a["name"]: a for a in endpoints["agents"]}
    assert set(agents) == {"agent_kvm", "agent_vmware-DC0_C0", "agent_vmware-DC0_C1"}
    assert agents["agent_vmware-DC0_C1"]["cluster_name"] == "DC0_C1"
    assert agents["agent_kvm"]["libvirt_uri"] == "test:///default"


def test_services_are_serving_or_reported_missing(stack) -> None:  # type: ignore[no-untyped-def]
    _home, endpoints, up = stack
    entries = [endpoints[name] | {"name": name} for name in SERVICES] + endpoints["agents"]
    for entry in entries:
        module = entry["module"].removeprefix("polyvisor.")
        if implemented(module):
            assert entry["state"] == "running", entry
            if entry["name"] in SERVICES:
                assert health.grpc_health(entry["grpc"]) == "SERVING", entry
        else:
            assert entry["state"] == "not implemented"
            assert f"not yet implemented: {module}" in up.stdout


def test_up_again_starts_no_duplicates_and_status_lists_everything(stack) -> None:  # type: ignore[no-untyped-def]
    home, endpoints, _ = stack
    before = _pids(home)
    assert {"vcsim", "postgres", "nats"} <= set(before)
    again = _dev(home, "up")
    assert again.returncode == 0, again.stdout + again.stderr
    assert _pids(home) == before
    assert json.loads((home / "endpoints.json").read_text())["vcsim"] == endpoints["vcsim"]
    status = _dev(home, "status")
    assert status.returncode == 0
    for name in ("postgres", "nats", "vcsim", "libvirt"):
        assert name in status.stdout


def test_down_stops_everything_it_started(stack) -> None:  # type: ignore[no-untyped-def]
    """Last in this module: it takes the module's stack down (the fixture's down is a no-op)."""
    home, endpoints, _ = stack
    pids = _pids(home)
    assert pids
    down = _dev(home, "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert all(proc_starttime(pid) is None for pid in pids.values())
    assert not (home / "endpoints.json").exists()
    assert not list(home.glob("run/*.json"))
    assert not _accepts(endpoints["vcsim"]["url"])
    assert not _accepts(endpoints["nats_url"])
    assert not _accepts(endpoints["database_url"])
    for name in SERVICES:
        if endpoints[name]["state"] == "running":
            assert health.grpc_health(endpoints[name]["grpc"]) == health.UNREACHABLE
    again = _dev(home, "down")  # idempotent
    assert again.returncode == 0
    assert "stopped " not in again.stdout
