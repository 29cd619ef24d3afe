"""The chaos harness: the whole stack as `./dev up` starts it (its own state directory,
ephemeral ports, libvirt's test driver), a batch of concurrent creates and deletes across
the KVM host and both vCenter clusters, one part killed with SIGKILL in the middle and
started again the way an operator does (`./dev up` once more), then the invariants:

- stuck: no server in a transitional state once the system settled (each such state has a
  deadline; the settle wait outlasts it);
- orphans: every VM on vCenter carrying our tag (named after a server id) belongs to a live
  server, every ACTIVE VMware server has its VM, and each KVM agent's reconciler counts no
  domain tagged as ours that no server there has (libvirt's test driver lives inside the KVM
  agent: its domains are seen through the agent's metrics);
- overcommit: each provider's allocations equal the flavors of the live servers placed
  there, one allocation per server, and never exceed its capacity;
- quota drift: each project's usage equals its live servers.

Used by tests/faults/test_faults.py (a CI-sized subset) and bench/chaos (the full matrix).

One concern: the stack under chaos, what is done to it and what is true of it after; the
faults themselves are in faults.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deploy.dev.procs import proc_starttime
from tests.e2e.bootdisk import make_disk
from tests.e2e.stack import Stack, dev, vcsim_vms

#: What the stack runs with: libvirt's test driver (fast), frequent reports and passes, and
#: deadlines a settle wait can outlast (a build 300 s, which a build in flight while NATS
#: restarts on a loaded machine needs; a delete or power action 90 s, tried 3 times), so that
#: "nothing transitional once settled" means "nothing past its deadline".
ENV = {
    "POLYVISOR_DEV_LIBVIRT_URI": "test:///default",
    "POLYVISOR_RECONCILE_INTERVAL_S": "3",
    "POLYVISOR_REPORT_INTERVAL_S": "1",
    "POLYVISOR_SCHEDULING_TIMEOUT_S": "120",
    "POLYVISOR_BUILD_TIMEOUT_S": "300",
    "POLYVISOR_POWER_TIMEOUT_S": "90",
    "POLYVISOR_REBOOT_TIMEOUT_S": "90",
    "POLYVISOR_DELETE_TIMEOUT_S": "90",
}
#: The longest a server may stay transitional under ENV (a build; a delete tried 3 times),
#: plus the reaper's pass: a settle wait must outlast it.
LONGEST_DEADLINE_S = 300.0
STABLE = {"ACTIVE", "SHUTOFF", "ERROR", "DELETED"}
IMAGE, FLAVOR = "chaos-boot", "chaos.tiny"


def alive(pid: int) -> bool:
    return proc_starttime(pid) is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tap(port_id: str) -> str:
    """A port's tap on a KVM host (agent_kvm.net.names.tap_name)."""
    return "pvt" + port_id.replace("-", "").lower()[:11]


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


@dataclass
class Chaos:
    home: Path
    stack: Stack
    kvm_type: str = ""
    #: Standby replicas started beside `./dev up`'s agents: name -> process.
    replicas: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    #: Why creates were refused (the CLI's error), newest last.
    refused: list[str] = field(default_factory=list)
    #: The tap of every server port seen (the KVM agent's names): none may outlive its port.
    taps: set[str] = field(default_factory=set)

    # ------------------------------------------------------------------ the stack

    @classmethod
    @contextlib.contextmanager
    def running(cls) -> Iterator[Chaos]:
        # Not pytest's tmp_path: PostgreSQL runs as an unprivileged user and must traverse it.
        home = Path(tempfile.mkdtemp(prefix="polyvisor-chaos-"))
        home.chmod(0o755)
        chaos: Chaos | None = None
        try:
            r = cls._up(home)
            (home / "cli").mkdir()
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("POLYVISOR_")},
                "POLYVISOR_CONFIG": str(home / "cli" / "config.yaml"),
                "POLYVISOR_DEV_HOME": str(home),
                "COLUMNS": "200",
            }
            stack = Stack(home, json.loads((home / "endpoints.json").read_text()), r.stdout, env)
            chaos = cls(home, stack)
            chaos.prepare()
            yield chaos
        finally:
            if chaos is not None:
                chaos.stop_replicas()
            dev(home, "down", extra_env=ENV)
            keep = os.environ.get("POLYVISOR_CHAOS_KEEP_LOGS")
            if keep:  # the services' logs outlive the stack, to tell why a row failed
                shutil.copytree(home / "logs", Path(keep) / home.name, dirs_exist_ok=True)
            shutil.rmtree(home, ignore_errors=True)

    @staticmethod
    def _up(home: Path, tries: int = 3) -> subprocess.CompletedProcess[str]:
        """`./dev up`, run again (as an operator would) while a part fails to start: on a
        shared machine another process may take a port between its choice and its bind."""
        for _ in range(tries):
            r = dev(home, "up", extra_env=ENV)
            if r.returncode == 0 and "dev stack is up" in r.stdout:
                return r
        raise AssertionError(f"./dev up failed {tries} times, the last:\n{r.stdout}\n{r.stderr}")

    def up(self) -> None:
        """What an operator does after a crash: `./dev up` again."""
        self._up(self.home)
        self.stack.endpoints = json.loads((self.home / "endpoints.json").read_text())

    def login(self) -> None:
        Path(self.stack.cli_env["POLYVISOR_CONFIG"]).unlink(missing_ok=True)
        a = self.stack.admin
        r = self.stack.cli("login", "--username", a["username"], f"--password={a['password']}",
                           "--project", a["project"], "-f", "json")  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr

    def prepare(self) -> None:
        self.login()
        disk = make_disk(self.home / "work", "boot", "qcow2")
        r = self.stack.cli("flavor", "create", FLAVOR, "--vcpus", "1", "--ram", "64", "--disk", "1")
        assert r.returncode == 0, r.stdout + r.stderr
        # finite (usage is still counted and checked), but no burst is refused for quota
        r = self.stack.cli("quota", "set", "--instances", "500", "--vcpus", "1000",
                           "--ram", "1000000")  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
        r = self.stack.cli("image", "create", IMAGE, "--file", str(disk), "--disk-format", "qcow2")
        assert r.returncode == 0, r.stdout + r.stderr
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            hyps = self.stack.cli_json("hypervisor", "list")
            up_ = [h for h in hyps if h["state"] == "up"]
            kvm = [h for h in up_ if h["hypervisor_type"] in ("kvm", "qemu")]
            if kvm and sum(h["hypervisor_type"] == "vmware" for h in up_) >= 2:
                self.kvm_type = str(kvm[0]["hypervisor_type"])
                return
            time.sleep(2)
        raise AssertionError(f"hypervisors not up: {hyps}")

    def pids(self) -> dict[str, int]:
        out: dict[str, int] = {}
        home = self.home
        for f in [*home.glob("run/*.json"), home / "vcsim" / "vcsim.pid",
                  home / "postgres" / "postgres.pid", home / "nats" / "nats.pid"]:  # fmt: skip
            if f.exists():
                out[f.stem] = int(json.loads(f.read_text())["pid"])
        return out

    def vmware_agents(self) -> list[str]:
        return sorted(n for n in self.pids() if n.startswith("agent_vmware"))

    def kill9(self, name: str) -> int:
        pid = self.pids()[name] if name in self.pids() else self.replicas[name].pid
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        return pid

    # ------------------------------------------------------------------ a standby replica

    def start_replica(self, agent: str) -> str:
        """A second replica of a VMware agent (same cluster, same identity, its own ports):
        it stands by while `agent` holds the cluster's lease."""
        pid = self.pids()[agent]
        raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        env = dict(e.decode().split("=", 1) for e in raw if b"=" in e)
        env.update({
            "POLYVISOR_GRPC_PORT": str(_free_port()),
            "POLYVISOR_METRICS_PORT": str(_free_port()),
            "POLYVISOR_SERVER_ID": f"{env.get('POLYVISOR_SERVER_ID', agent)}-standby",
        })  # fmt: skip
        name = f"{agent}-standby"
        log = (self.home / "logs" / f"{name}.log").open("ab")
        self.replicas[name] = subprocess.Popen(
            [sys.executable, "-m", "polyvisor.agent_vmware"], env=env, stdout=log, stderr=log
        )
        env_file = self.home / f"{name}.metrics"
        env_file.write_text(f"http://127.0.0.1:{env['POLYVISOR_METRICS_PORT']}/metrics")
        return name

    def stop_replicas(self) -> None:
        for proc in self.replicas.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.replicas.clear()

    def _metrics_url(self, name: str) -> str:
        f = self.home / f"{name}.metrics"
        if f.exists():
            return f.read_text()
        for a in self.stack.endpoints.get("agents", []):
            if a["name"] == name:
                return str(a["metrics"])
        raise KeyError(name)

    def metric(self, name: str, metric: str) -> float | None:
        """A process's metric: one series (`name{label="value"}`) or the sum of a metric's
        series; None when it cannot be read."""
        try:
            with urllib.request.urlopen(self._metrics_url(name), timeout=5) as r:
                text = r.read().decode()
        except OSError:
            return None
        series = [ln.rsplit(" ", 1) for ln in text.splitlines() if ln and not ln.startswith("#")]
        return sum(float(v) for k, v in series if metric in (k, k.split("{")[0]))

    def lease_held(self, name: str) -> bool:
        return self.metric(name, "polyvisor_vmware_lease_held") == 1

    def active_replica(self, agent: str) -> str | None:
        for name in (agent, f"{agent}-standby"):
            if self.lease_held(name):
                return name
        return None

    # ------------------------------------------------------------------ vcsim

    def vcsim_signal(self, sig: signal.Signals) -> None:
        os.kill(self.pids()["vcsim"], sig)

    # ------------------------------------------------------------------ the workload

    def create(self, name: str, hypervisor_type: str) -> str | None:
        r = self.stack.cli("server", "create", name, "--image", IMAGE, "--flavor", FLAVOR,
                           "--hint", f"hypervisor_type={hypervisor_type}", "-f", "json",
                           timeout=120)  # fmt: skip
        if r.returncode != 0:  # refused (a part is down): nothing to check for it
            self.refused.append(" ".join(r.stderr.split())[-200:])
            return None
        sid = str(json.loads(r.stdout)["id"])
        self.stack.created.add(sid)
        return sid

    def delete(self, sid: str) -> bool:
        return self.stack.cli("server", "delete", sid, timeout=120).returncode == 0

    def burst(self, n: int, prefix: str, *, delete_every: int = 3) -> dict[str, Any]:
        """n creates at once, KVM and VMware alternately; every `delete_every`-th created
        server is deleted at once, while the others still build."""
        kinds = [self.kvm_type, "vmware"]
        names = [(f"{prefix}-{i}", kinds[i % 2]) for i in range(n)]
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(lambda nt: self.create(*nt), names))
            created = [s for s in ids if s]
            doomed = created[::delete_every]
            deleted = sum(pool.map(self.delete, doomed))
        return {"asked": n, "created": len(created), "deleted": deleted,
                "refused": len(ids) - len(created)}  # fmt: skip

    def works(self, settle_s: float) -> list[str]:
        """A create on the KVM host and one on vCenter, each must end ACTIVE: the stack is
        usable again (not merely quiet). What did not, with its state and fault."""
        ids = [
            self.create(f"probe-{k}-{uuid.uuid4().hex[:6]}", k) for k in (self.kvm_type, "vmware")
        ]
        t0 = time.monotonic()
        bad: list[str] = []
        while time.monotonic() - t0 < settle_s:
            by_id = {s["id"]: s for s in self.servers()}
            if all(i and by_id[i]["state"] in STABLE for i in ids):
                break
            time.sleep(1)
        by_id = {s["id"]: s for s in self.servers()}
        for i in ids:
            if not i:
                bad.append(f"create refused: {self.refused[-1]}")
            elif by_id[i]["state"] != "ACTIVE":
                bad.append(f"{i} {by_id[i]['state']}/{by_id[i]['task']} {by_id[i]['fault']}")
        return bad

    def delete_all(self) -> None:
        live = [s["id"] for s in self.servers() if s["state"] not in ("DELETED", "DELETING")]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(self.delete, live))

    # ------------------------------------------------------------------ what is true

    def _sql(self, query: str) -> list[dict[str, Any]]:
        import asyncpg

        async def run() -> list[dict[str, Any]]:
            conn = await asyncpg.connect(self.stack.endpoints["database_url"], timeout=10)
            try:
                return [dict(r) for r in await conn.fetch(query)]
            finally:
                await conn.close()

        return asyncio.run(run())

    def servers(self) -> list[dict[str, Any]]:
        return self._sql(
            "SELECT id, name, project_id, state, task, task_deadline, power_state, host, "
            "hypervisor_type, vcpus, ram_mb, flavor, fault FROM api.servers"
        )

    def allocations_of(self, server_id: str) -> list[dict[str, Any]]:
        """The scheduler's allocations of a server and of its move (`<id>/move`)."""
        return [
            a
            for a in self._sql("SELECT consumer_id, provider_id FROM scheduler.allocations")
            if a["consumer_id"] in (server_id, f"{server_id}/move")
        ]

    def settle(self, timeout: float) -> float:
        """Wait until no server is in a transitional state; how long it took."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            with contextlib.suppress(Exception):
                if all(s["state"] in STABLE for s in self.servers()):
                    return time.monotonic() - t0
            time.sleep(2)
        return time.monotonic() - t0

    def _port_orphans(self, live_ids: set[str]) -> list[str]:
        """Every server's port (network service) belongs to a live server, and no tap of a
        port that is gone remains on the KVM host (names as agent_kvm's net.names)."""
        ports = self._sql(
            "SELECT id::text AS id, device_id, binding_host FROM network.ports "
            "WHERE device_owner = 'compute:polyvisor'"
        )
        out = [
            f"port {p['id']} of gone server {p['device_id']} (bound to {p['binding_host']})"
            for p in ports
            if p["device_id"] not in live_ids
        ]
        kept = {_tap(p["id"]) for p in ports if p["device_id"] in live_ids}
        self.taps.update(_tap(p["id"]) for p in ports)
        links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True)
        present = {line.split(":")[1].strip().split("@")[0] for line in
                   links.stdout.splitlines() if line.count(":") >= 2}  # fmt: skip
        out += [f"tap {t} of a gone port on the KVM host" for t in sorted(self.taps - kept)
                if t in present]  # fmt: skip
        return out

    def _kvm_orphans(self) -> list[str]:
        """Domains on a KVM host that no server of that host accounts for, as its agent's
        reconciler counts them on a pass that began after this call (libvirt's test driver
        lives inside the agent: nobody else sees its domains)."""
        out: list[str] = []
        runs = 'polyvisor_agent_reconcile_runs_total{outcome="ok"}'
        for name in [a["name"] for a in self.stack.endpoints["agents"]
                     if a["name"].startswith("agent_kvm")]:  # fmt: skip
            before = self.metric(name, runs)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                now = self.metric(name, runs)
                # two more passes: the first may have begun before this call
                if before is not None and now is not None and now >= before + 2:
                    break
                before = now if before is None else before
                time.sleep(0.5)
            else:
                out.append(f"{name}: no reconcile pass in 60s (metrics {before})")
                continue
            unwanted = int(self.metric(name, "polyvisor_agent_unwanted_instances") or 0)
            if unwanted:
                out.append(f"{name}: {unwanted} domains tagged as ours that no server there has")
        return out

    def check(self) -> dict[str, Any]:
        """The invariants, each as the list of what breaks it."""
        servers = self.servers()
        live = [s for s in servers if s["state"] != "DELETED"]
        live_ids = {s["id"] for s in live}
        now = datetime.now(UTC)
        stuck = [
            f"{s['id']} {s['state']}/{s['task']} on {s['host'] or 'no host'}, deadline "
            + (f"passed {(now - s['task_deadline']).total_seconds():.0f}s ago"
               if s["task_deadline"] is not None and s["task_deadline"] < now
               else f"{s['task_deadline']}")
            for s in live
            if s["state"] not in STABLE
        ]  # fmt: skip

        vms = vcsim_vms(self.stack.endpoints["vcsim"])
        ours = {vm.name: vm for vm in vms if _is_uuid(vm.name)}
        orphans = [f"vcenter VM {n} ({vm.cluster})" for n, vm in ours.items() if n not in live_ids]
        missing = [
            f"{s['id']} ACTIVE on {s['host']} has no VM"
            for s in live
            if s["state"] == "ACTIVE" and s["hypervisor_type"] == "vmware" and s["id"] not in ours
        ]
        orphans += self._kvm_orphans()
        orphans += self._port_orphans(live_ids)

        allocations = self._sql(
            "SELECT consumer_id, provider_id, vcpus, memory_mb FROM scheduler.allocations"
        )
        inventories = self._sql(
            "SELECT provider_id, resource_class, total, reserved, allocation_ratio "
            "FROM scheduler.inventories"
        )
        overcommit: list[str] = []
        by_consumer = {a["consumer_id"]: a for a in allocations}
        placed = [s for s in live if s["host"]]
        for s in placed:
            a = by_consumer.get(s["id"])
            if a is None:
                overcommit.append(f"{s['id']} on {s['host']} holds no allocation")
            elif (a["provider_id"], a["vcpus"], a["memory_mb"]) != (
                s["host"],
                s["vcpus"],
                s["ram_mb"],
            ):
                overcommit.append(f"{s['id']} allocation {dict(a)} != its flavor on {s['host']}")
        for a in allocations:
            if a["consumer_id"] not in live_ids:
                overcommit.append(f"allocation of gone server {a['consumer_id']}")
        used: dict[tuple[str, int], int] = {}
        for a in allocations:
            used[(a["provider_id"], 1)] = used.get((a["provider_id"], 1), 0) + a["vcpus"]
            used[(a["provider_id"], 2)] = used.get((a["provider_id"], 2), 0) + a["memory_mb"]
        for inv in inventories:
            key = (inv["provider_id"], inv["resource_class"])
            cap = (inv["total"] - inv["reserved"]) * inv["allocation_ratio"]
            if used.get(key, 0) > cap:
                overcommit.append(f"{key}: {used[key]} used > capacity {cap:g}")

        quotas = self._sql(
            "SELECT project_id, used_instances, used_vcpus, used_ram_mb FROM api.quotas"
        )
        drift: list[str] = []
        for q in quotas:
            mine = [s for s in live if s["project_id"] == q["project_id"]]
            want = (len(mine), sum(s["vcpus"] for s in mine), sum(s["ram_mb"] for s in mine))
            got = (q["used_instances"], q["used_vcpus"], q["used_ram_mb"])
            if got != want:
                drift.append(f"project {q['project_id']}: usage {got} != live servers {want}")
        return {
            "stuck": stuck,
            "orphans": orphans + missing,
            "overcommit": overcommit,
            "quota_drift": drift,
            "states": _count(s["state"] for s in live),
        }


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in items:
        out[i] = out.get(i, 0) + 1
    return out
