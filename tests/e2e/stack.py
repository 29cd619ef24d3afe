"""The whole stack for the end-to-end tests, started exactly as `./dev up` starts it, and the
tools the operator holds: the `polyvisor` CLI and grpcurl, both run as subprocesses.

The stack runs beside any dev stack of the developer: its state lives in a private
directory (`POLYVISOR_DEV_HOME`) and the control plane gets free ports
(`POLYVISOR_DEV_PORTS=ephemeral`). Nothing else differs from `./dev up`: the admin is the
one it bootstraps (its credentials are in endpoints.json, as `./dev up` prints them).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
POLYVISOR = BIN / "polyvisor"
GRPCURL = BIN / "grpcurl"

#: What the stack must run for the story to be told.
REQUIRED = ("api", "imagesvc", "scheduler")


class StackNotReady(AssertionError):
    pass


def _clean_env() -> dict[str, str]:
    keep = ("POLYVISOR_VCSIM_BINARY",)
    return {k: v for k, v in os.environ.items() if not k.startswith("POLYVISOR_") or k in keep}


def dev(
    home: Path, *args: str, extra_env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """`./dev ARGS` (the Python half `./dev` hands over to) on the private state dir."""
    env = {
        **_clean_env(),
        "POLYVISOR_DEV_HOME": str(home),
        "POLYVISOR_DEV_PORTS": "ephemeral",
        "COLUMNS": "200",
        **(extra_env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "deploy.dev", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


@dataclass
class Stack:
    home: Path
    endpoints: dict[str, Any]
    up_output: str
    cli_env: dict[str, str] = field(default_factory=dict)
    #: Every server id a test created, for the teardown's safety net.
    created: set[str] = field(default_factory=set)

    # ------------------------------------------------------------------ where things are

    @property
    def api(self) -> str:
        return str(self.endpoints["api"]["grpc"])

    @property
    def image(self) -> str:
        return str(self.endpoints["imagesvc"]["grpc"])

    @property
    def admin(self) -> dict[str, str]:
        """The admin `./dev up` bootstrapped: username, password, project."""
        admin = self.endpoints.get("admin")
        assert isinstance(admin, dict), f"endpoints.json has no admin: {sorted(self.endpoints)}"
        return {k: str(admin[k]) for k in ("username", "password", "project")}

    @property
    def libvirt_uri(self) -> str:
        return str(self.endpoints.get("libvirt_uri") or "")

    def not_running(self) -> list[str]:
        """Control-plane services and agents that are not running, with their state."""
        bad = []
        for name in REQUIRED:
            entry = self.endpoints.get(name) or {}
            if entry.get("state") != "running":
                bad.append(f"{name}: {entry.get('state', 'absent')}")
        for agent in self.endpoints.get("agents", []):
            if agent.get("state") != "running":
                bad.append(f"{agent['name']}: {agent.get('state')}")
        return bad

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.home / "logs" / f"{name}.log"
        with contextlib.suppress(OSError):
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    # ------------------------------------------------------------------ the CLI

    def cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(POLYVISOR), *args],
            cwd=self.home, env=self.cli_env, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip

    def cli_json(self, *args: str, timeout: float = 600) -> Any:
        r = self.cli(*args, "-f", "json", timeout=timeout)
        assert r.returncode == 0, (
            f"polyvisor {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}"
        )
        return json.loads(r.stdout)

    # ------------------------------------------------------------------ grpcurl

    def grpcurl(
        self,
        address: str,
        method: str,
        body: Any = None,
        *,
        token: str | None = None,
        stdin: str | None = None,
        extra: tuple[str, ...] = (),
        tail: tuple[str, ...] = (),
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """grpcurl with reflection only: no proto file anywhere on its command line."""
        argv = [str(GRPCURL), "-plaintext", *extra]
        if token:
            argv += ["-H", f"authorization: Bearer {token}"]
        if stdin is not None:
            argv += ["-d", "@"]
        elif body is not None:
            argv += ["-d", json.dumps(body)]
        argv += [address, *([method] if method else []), *tail]
        return subprocess.run(
            argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False, cwd=self.home
        )  # fmt: skip

    def grpcurl_json(self, address: str, method: str, body: Any = None, **kw: Any) -> Any:
        r = self.grpcurl(address, method, body, **kw)
        assert r.returncode == 0, f"grpcurl {method} -> {r.returncode}\n{r.stdout}\n{r.stderr}"
        return json.loads(r.stdout) if r.stdout.strip() else {}


def start(home: Path, extra_env: dict[str, str] | None = None) -> Stack:
    """`./dev up` on `home`; returns the Stack even when parts failed (tests report it)."""
    from tests.fixtures.guest_image import CACHE

    # the Linux image `./dev up` registers is built from the tests' cache of Debian packages
    up = dev(home, "up", extra_env={"POLYVISOR_GUEST_CACHE": str(CACHE), **(extra_env or {})})
    try:
        endpoints = json.loads((home / "endpoints.json").read_text())
    except (OSError, ValueError):
        endpoints = {}
    cli_home = home / "cli"
    cli_home.mkdir(parents=True, exist_ok=True)
    cli_env = {
        **_clean_env(),
        "POLYVISOR_CONFIG": str(cli_home / "config.yaml"),
        # The CLI finds the endpoints in the stack's endpoints.json, as after `./dev up`.
        "POLYVISOR_DEV_HOME": str(home),
        "COLUMNS": "200",
    }
    return Stack(home, endpoints, up.stdout + up.stderr, cli_env)


def stop(home: Path) -> subprocess.CompletedProcess[str]:
    return dev(home, "down", timeout=300)


# ---------------------------------------------------------------------- what the hypervisors hold


def libvirt_domains(uri: str) -> set[str] | None:
    """Names of every domain libvirt knows at `uri`; None when another process cannot see
    them (the test driver keeps its state per connection)."""
    if not uri or uri.startswith("test:"):
        return None
    import libvirt

    conn = libvirt.open(uri)
    try:
        return {d.name() for d in conn.listAllDomains()}
    finally:
        conn.close()


def destroy_libvirt_domains(uri: str, server_ids: set[str]) -> None:
    """Best effort: remove domains of these servers (teardown after a failed test)."""
    if not uri or uri.startswith("test:") or not server_ids:
        return
    import libvirt

    conn = libvirt.open(uri)
    try:
        for dom in conn.listAllDomains():
            if any(sid in dom.name() for sid in server_ids):
                with contextlib.suppress(libvirt.libvirtError):
                    if dom.isActive():
                        dom.destroy()
                with contextlib.suppress(libvirt.libvirtError):
                    dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
    finally:
        conn.close()


@dataclass(frozen=True)
class VcsimVm:
    name: str
    instance_uuid: str
    cluster: str
    esxi_host: str


def vcsim_vms(vcsim: dict[str, Any]) -> list[VcsimVm]:
    """Every VM vCenter (vcsim) holds, with its cluster and ESXi host."""
    from pyVim.connect import Disconnect, SmartConnect
    from pyVmomi import vim, vmodl

    si = SmartConnect(
        host=vcsim["host"], port=int(vcsim["port"]), protocol="http",
        user=vcsim["username"], pwd=vcsim["password"], disableSslCertValidation=True,
    )  # fmt: skip
    try:
        content = si.RetrieveContent()
        view = content.viewManager.CreateContainerView(
            content.rootFolder, [vim.VirtualMachine], True
        )
        try:
            out = []
            for vm in view.view:
                try:
                    host = vm.runtime.host
                    cluster = host.parent.name if host is not None and host.parent else ""
                    uuid = vm.config.instanceUuid if vm.config is not None else ""
                    out.append(
                        VcsimVm(vm.name, uuid or "", cluster, host.name if host is not None else "")
                    )
                except vmodl.fault.ManagedObjectNotFound:
                    continue  # destroyed while we read it (a delete finishing): not there
            return out
        finally:
            view.Destroy()
    finally:
        Disconnect(si)


def vm_of(vms: list[VcsimVm], server: dict[str, Any]) -> VcsimVm | None:
    """The vCenter VM of a server (by instance name, server id in the name, or instance UUID)."""
    sid, iname = server["id"], server.get("instance_name") or ""
    for vm in vms:
        if (iname and vm.name == iname) or sid in vm.name or vm.instance_uuid == sid:
            return vm
    return None


def eventually(
    check: Callable[[], Any], *, timeout: float, what: str, interval: float = 2.0
) -> Any:
    """Poll `check` until it returns something truthy. Polling has a deadline so a broken
    service fails the test instead of hanging it; nothing asserts on how long it took."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:g}s (last: {last!r})")
