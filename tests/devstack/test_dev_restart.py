"""`./dev up` run again after a part of the stack was killed (kill -9, as a crash would):
exactly that part is started again, on the port it had, and the stack is declared up only
once every service reaches its PostgreSQL and NATS again; then a create works.

The stack runs on a private state dir with ephemeral ports and libvirt's test driver, as
in test_dev_stack.py. The tests run in order on one stack and each leaves it up.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from deploy.dev.procs import proc_starttime
from deploy.dev.services import CONTROL_PLANE
from tests.e2e.bootdisk import make_disk
from tests.e2e.stack import Stack, dev, eventually

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

WAIT = ("--wait", "--wait-timeout", "120")
ENV = {
    "POLYVISOR_DEV_LIBVIRT_URI": "test:///default",
    # agents list their assigned servers through the api at each pass: often, so a test
    # sees an agent reach the api again soon after the api came back
    "POLYVISOR_RECONCILE_INTERVAL_S": "3",
    # hosts report every second: their report sequence grows fast
    "POLYVISOR_REPORT_INTERVAL_S": "1",
}


def up(home: Path, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    r = dev(home, "up", extra_env={**ENV, **(extra or {})})
    assert r.returncode == 0 and "dev stack is up" in r.stdout, r.stdout + r.stderr
    return r


def endpoints(home: Path) -> dict[str, Any]:
    return dict(json.loads((home / "endpoints.json").read_text()))


def pids(home: Path) -> dict[str, int]:
    """pid of every part with a record: services, agents, PostgreSQL, NATS, vcsim."""
    out: dict[str, int] = {}
    for f in [*home.glob("run/*.json"), home / "vcsim" / "vcsim.pid",
              home / "postgres" / "postgres.pid", home / "nats" / "nats.pid"]:  # fmt: skip
        if f.exists():
            out[f.stem] = int(json.loads(f.read_text())["pid"])
    return out


def alive(pid: int) -> bool:
    return proc_starttime(pid) is not None


def kill9(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    eventually(lambda: not alive(pid), timeout=30, interval=0.1, what=f"pid {pid} gone")


def services(e: dict[str, Any]) -> dict[str, str]:
    """name -> gRPC address of every service and agent."""
    out = {name: e[name]["grpc"] for name in CONTROL_PLANE if e.get(name, {}).get("grpc")}
    out.update({a["name"]: a["grpc"] for a in e["agents"]})
    return out


def health_of(address: str, service: str) -> str:
    with grpc.insecure_channel(address) as channel:
        try:
            resp = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=10
            )
        except grpc.RpcError as e:
            return str(e.code().name) if isinstance(e, grpc.Call) else "unreachable"
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status))


def not_ready(e: dict[str, Any]) -> dict[str, str]:
    """Services and agents whose gRPC health under "readiness" (up, and their PostgreSQL
    and NATS answer) is not SERVING, with what it is."""
    out = {}
    for name, address in services(e).items():
        status = health_of(address, "readiness")
        if status != "SERVING":
            out[name] = status
    return out


def reconcile_ok(agent: dict[str, Any]) -> float:
    """How many reconcile passes the agent completed: each one listed its servers through
    the api."""
    with urllib.request.urlopen(agent["metrics"], timeout=5) as r:
        text = r.read().decode()
    m = re.search(r'^polyvisor_agent_reconcile_runs_total\{outcome="ok"\} (\S+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


def login(s: Stack) -> None:
    """A fresh CLI config: the stack's endpoints as endpoints.json has them now."""
    Path(s.cli_env["POLYVISOR_CONFIG"]).unlink(missing_ok=True)
    admin = s.admin
    # --password=...: a generated password may begin with "-"
    r = s.cli("login", "--username", admin["username"], f"--password={admin['password']}",
              "--project", admin["project"], "-f", "json")  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr


def create(s: Stack, name: str, hypervisor_type: str) -> dict[str, Any]:
    """`server create --wait` on the KVM host: it must end ACTIVE."""
    r = s.cli("server", "create", name, "--image", "restart-boot", "--flavor", "restart.tiny",
              "--hint", f"hypervisor_type={hypervisor_type}", *WAIT, "-f", "json")  # fmt: skip
    assert r.returncode == 0, f"create {name}: {r.stdout}\n{r.stderr}"
    server = json.loads(r.stdout)
    assert server["state"] == "ACTIVE", server
    s.created.add(server["id"])
    return dict(server)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # Not pytest's tmp_path: PostgreSQL runs as an unprivileged user and must traverse it.
    home = Path(tempfile.mkdtemp(prefix="polyvisor-devrestart-"))
    home.chmod(0o755)
    try:
        r = up(home)
        (home / "cli").mkdir()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("POLYVISOR_")},
            "POLYVISOR_CONFIG": str(home / "cli" / "config.yaml"),
            "POLYVISOR_DEV_HOME": str(home),
            "COLUMNS": "200",
        }
        s = Stack(home, endpoints(home), r.stdout, env)
        login(s)
        disk = make_disk(home / "work", "boot", "qcow2")
        assert s.cli("flavor", "create", "restart.tiny", "--vcpus", "1", "--ram", "64",
                     "--disk", "1").returncode == 0  # fmt: skip
        image = s.cli("image", "create", "restart-boot", "--file", str(disk), "--disk-format",
                      "qcow2")  # fmt: skip
        assert image.returncode == 0, image.stderr
        yield s
    finally:
        dev(home, "down", extra_env=ENV)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def kvm_type(stack: Stack) -> str:
    def kvm() -> str | None:
        hyps = stack.cli_json("hypervisor", "list")
        up_ = [h for h in hyps if h["hypervisor_type"] in ("kvm", "qemu") and h["state"] == "up"]
        return str(up_[0]["hypervisor_type"]) if up_ else None

    found: str = eventually(kvm, timeout=120, what="the KVM host up")
    create(stack, "restart-first", found)
    return found


@pytest.mark.parametrize("part", ["nats", "postgres"])
def test_killed_infrastructure_comes_back_on_its_port(
    stack: Stack, kvm_type: str, part: str
) -> None:
    home = stack.home
    before = endpoints(home)
    url = before["nats_url" if part == "nats" else "database_url"]
    pids_before = pids(home)
    kill9(pids_before[part])
    users = {"api", "scheduler", "imagesvc"} | (
        {a["name"] for a in before["agents"]} if part == "nats" else set()
    )
    assert users <= set(not_ready(before))  # what holds a connection to it says so

    up(home)

    after = endpoints(home)
    assert after["nats_url" if part == "nats" else "database_url"] == url
    pids_after = pids(home)
    # exactly the killed part was started again, once; nothing else was restarted
    assert set(pids_after) == set(pids_before)
    assert {n for n in pids_after if pids_after[n] != pids_before[n]} == {part}
    assert all(alive(p) for p in pids_after.values())
    assert services(after) == services(before)
    # `up` said "up": every service reaches its PostgreSQL and NATS now
    assert not_ready(after) == {}
    create(stack, f"after-{part}-restart", kvm_type)


def test_killed_api_comes_back_on_its_port_and_agents_reach_it(stack: Stack, kvm_type: str) -> None:
    home = stack.home
    before = endpoints(home)
    pids_before = pids(home)
    kill9(pids_before["api"])

    up(home)

    after = endpoints(home)
    assert after["api"]["grpc"] == before["api"]["grpc"]
    assert after["api"]["metrics"] == before["api"]["metrics"]
    pids_after = pids(home)
    assert {n for n in pids_after if pids_after[n] != pids_before[n]} == {"api"}
    # the agents (not restarted) list their servers through the api again
    passes = {a["name"]: reconcile_ok(a) for a in after["agents"]}
    for agent in after["agents"]:
        eventually(
            lambda a=agent: reconcile_ok(a) > passes[a["name"]],
            timeout=60,
            interval=1,
            what=f"{agent['name']} reaches the restarted api",
        )
    create(stack, "after-api-restart", kvm_type)


def test_part_whose_port_was_taken_moves_and_what_reaches_it_restarts(
    stack: Stack, kvm_type: str
) -> None:
    """NATS dies and another process takes its port: it must move, and every process given
    its old address is restarted with the new one (PostgreSQL and vcsim are not)."""
    home = stack.home
    before = endpoints(home)
    pids_before = pids(home)
    port = int(before["nats_url"].rsplit(":", 1)[1])
    kill9(pids_before["nats"])
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

        def bound() -> bool:  # the killed server's last threads may still hold it a moment
            try:
                squatter.bind(("127.0.0.1", port))
            except OSError:
                return False
            return True

        eventually(bound, timeout=30, interval=0.1, what=f"port {port} free to take")
        squatter.listen()
        up(home)

    after = endpoints(home)
    assert after["nats_url"] != before["nats_url"]
    pids_after = pids(home)
    assert {n for n in pids_after if pids_after[n] != pids_before[n]} == {
        "nats",
        *services(before),
    }
    assert services(after) == services(before)  # their own ports stay
    assert not_ready(after) == {}
    create(stack, "after-nats-moved", kvm_type)


def test_down_then_up_then_a_create_succeeds_at_once(stack: Stack, kvm_type: str) -> None:
    home = stack.home
    pids_before = pids(home)
    down = dev(home, "down", extra_env=ENV)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not any(alive(p) for p in pids_before.values())

    # A host counts as down 10 s after its last report taken: the restarted agents' reports
    # (their sequence starting again below the one their previous run reached) must be
    # taken, or the create finds every host down.
    up(home, {"POLYVISOR_HOST_TIMEOUT_S": "10"})

    login(stack)
    create(stack, "after-down-up", kvm_type)
    with contextlib.suppress(Exception):
        stack.cli("server", "delete", *sorted(stack.created), *WAIT)
