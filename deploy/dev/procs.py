"""Service processes started detached, recorded in a file, stopped from any later `./dev`.

A record holds the pid and the process's start time (from /proc), so a recycled pid is
never mistaken for ours and never signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from deploy.dev.layout import REPO, Layout

STOP_TIMEOUT_S = 10.0
KILL_TIMEOUT_S = 5.0


def proc_starttime(pid: int) -> int | None:
    """Start time (clock ticks since boot) of a live, non-zombie process, else None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(errors="replace")
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()
    if not fields or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc_starttime(pid) is None:
            return True
        time.sleep(0.05)
    return proc_starttime(pid) is None


class ManagedProcess:
    """One named process of the dev stack (e.g. `api`, `agent_vmware-DC0_C0`)."""

    def __init__(self, layout: Layout, name: str) -> None:
        self.layout = layout
        self.name = name

    @property
    def record_file(self) -> Path:
        return self.layout.run / f"{self.name}.json"

    @property
    def log_file(self) -> Path:
        return self.layout.log(self.name)

    def record(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.record_file.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    @property
    def pid(self) -> int | None:
        """The pid when the recorded process still runs, else None."""
        rec = self.record()
        if not rec or not isinstance(rec.get("pid"), int):
            return None
        pid, started = int(rec["pid"]), rec.get("starttime")
        if not isinstance(started, int):
            return None  # it had already exited when it was recorded
        return pid if proc_starttime(pid) == started else None

    def running(self) -> bool:
        return self.pid is not None

    def start(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        info: Mapping[str, Any] | None = None,
    ) -> int:
        """Spawn detached (own session), output appended to the log; record it."""
        self.layout.create()
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env),
                cwd=str(REPO),
                start_new_session=True,
                close_fds=True,
            )
        rec = {
            "name": self.name,
            "pid": proc.pid,
            "starttime": proc_starttime(proc.pid),
            "argv": list(argv),
            "log": str(self.log_file),
            "started_at": time.time(),
            **(info or {}),
        }
        tmp = self.record_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(rec, indent=2) + "\n")
        tmp.replace(self.record_file)
        self._child = proc  # reaped in exited()/stop() when we are its parent
        return proc.pid

    def exited(self) -> bool:
        """True when the process is gone (reaps it when this process started it)."""
        child = getattr(self, "_child", None)
        if child is not None:
            child.poll()
        return not self.running()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> bool:
        """SIGTERM, then SIGKILL to its process group after `timeout`. True if it ran."""
        pid = self.pid
        if pid is None:
            self.record_file.unlink(missing_ok=True)
            child = getattr(self, "_child", None)
            if child is not None and proc_starttime(child.pid) is None:
                self._reap(child.pid, KILL_TIMEOUT_S)  # stopped by another `./dev`: no zombie
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not self._wait(pid, timeout):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            self._wait(pid, KILL_TIMEOUT_S)
        self.record_file.unlink(missing_ok=True)
        return True

    def _wait(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc_starttime(pid) is None:  # gone, or a zombie: reap it when it is our child
                self._reap(pid, max(0.1, deadline - time.monotonic()))
                return True
            time.sleep(0.05)
        return False

    def _reap(self, pid: int, timeout: float) -> None:
        """Wait for our own dead child: a killed multi-threaded process is a zombie before
        its last thread is gone, and only then can it be reaped."""
        child = getattr(self, "_child", None)
        if child is not None and child.pid == pid:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=timeout)

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def recorded_names(layout: Layout) -> list[str]:
    """Names of all processes with a record (running or not)."""
    if not layout.run.is_dir():
        return []
    return sorted(p.stem for p in layout.run.glob("*.json") if p.name != "libvirtd.json")
