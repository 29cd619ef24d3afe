"""What the embedded servers (`embedded`) share: a server process kept under a root directory
(pid file, log, the port it got), spawned detached or dying with its parent, started on a free
port and waited for until it answers, stopped by its signal."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "START_TIMEOUT_S",
    "STOP_TIMEOUT_S",
    "EmbeddedError",
    "EmbeddedServer",
    "PortTaken",
    "free_port",
    "proc_alive",
    "wait_port",
]

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


class EmbeddedError(RuntimeError):
    """An embedded server could not be started or stopped."""


def free_port(host: str = "127.0.0.1") -> int:
    """A currently free TCP port on `host` (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


#: How long a start on a given port waits for it: a killed multi-threaded server (nats-server,
#: PostgreSQL's postmaster) can hold its listening socket a moment after it counts as gone
#: (its main thread a zombie while the others exit), and a restart comes back on that port.
PORT_RELEASE_S = 5.0


def _wait_port_free(port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not _port_free(port) and time.monotonic() < deadline:
        time.sleep(0.05)


# --------------------------------------------------------------------------- processes


def proc_alive(pid: int, comm: str) -> bool:
    """True when `pid` is a live (non-zombie) process whose executable name is `comm`."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as f:
            raw = f.read()
    except OSError:
        return False
    # /proc/<pid>/stat: "pid (comm) state ..." ; comm may hold spaces or parentheses.
    name = raw[raw.find("(") + 1 : raw.rfind(")")]
    state = raw[raw.rfind(")") + 2 : raw.rfind(")") + 3]
    return state not in ("Z", "X") and name == comm[:15]


def _parent_death_signal(sig: int) -> Callable[[], None]:
    def set_pdeathsig() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, int(sig), 0, 0, 0)

    return set_pdeathsig


def wait_port(host: str, port: int, check: Callable[[socket.socket], bool] | None) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0) as s:
            return check(s) if check else True
    except OSError:
        return False


class EmbeddedServer:
    """Shared bookkeeping: pid file, detached spawn, stop by pid from any process."""

    name = ""  # log and pid file stem
    comm = ""  # executable name as seen in /proc/<pid>/stat
    stop_signal = signal.SIGTERM

    def __init__(self, root: Path | str, port: int = 0, *, die_with_parent: bool = False):
        self.root = Path(root).absolute()
        self.requested_port = port
        self.die_with_parent = die_with_parent
        self._proc: subprocess.Popen[bytes] | None = None
        self._url: str | None = None

    # -- pid file
    @property
    def pid_file(self) -> Path:
        return self.root / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.root / f"{self.name}.log"

    def _read_pid_file(self) -> dict[str, object] | None:
        try:
            data = json.loads(self.pid_file.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _write_pid_file(self, pid: int, port: int, url: str) -> None:
        tmp = self.pid_file.with_suffix(".pid.tmp")
        tmp.write_text(json.dumps({"pid": pid, "port": port, "url": url}) + "\n")
        tmp.replace(self.pid_file)

    def _pid(self) -> int | None:
        data = self._read_pid_file()
        pid = data.get("pid") if data else None
        return pid if isinstance(pid, int) else None

    # -- public
    @property
    def pid(self) -> int | None:
        pid = self._pid()
        return pid if pid is not None and proc_alive(pid, self.comm) else None

    @property
    def url(self) -> str | None:
        """The URL of the running server (also from another process), else None."""
        if not self.running():
            self._url = None
            return None
        if self._url is None:
            data = self._read_pid_file() or {}
            url = data.get("url")
            self._url = url if isinstance(url, str) else None
        return self._url

    @property
    def port(self) -> int | None:
        data = self._read_pid_file()
        port = data.get("port") if data and self.running() else None
        return port if isinstance(port, int) else None

    @property
    def recorded_port(self) -> int | None:
        """The port of the last start, also when the server has died since (killed): a
        restart can come back where its clients look for it. None once stopped."""
        data = self._read_pid_file()
        port = data.get("port") if data else None
        return port if isinstance(port, int) else None

    def running(self) -> bool:
        if self._proc is not None and self._proc.poll() is not None:
            self._proc = None
        return self.pid is not None

    def start(self) -> str:
        url = self.url
        if url is not None:
            return url
        self.root.mkdir(parents=True, exist_ok=True)
        self.pid_file.unlink(missing_ok=True)
        attempts = 3 if self.requested_port == 0 else 1
        last: Exception | None = None
        for _ in range(attempts):
            port = self.requested_port or free_port()
            if self.requested_port and not _port_free(port):
                _wait_port_free(port, PORT_RELEASE_S)
            if not _port_free(port):
                # checked up front: a readiness probe would otherwise find the other server
                last = PortTaken(f"127.0.0.1:{port} is already in use")
                continue
            try:
                url = self._start_on(port)
            except PortTaken as e:  # lost a race for the ephemeral port: pick another
                last = e
                continue
            self._url = url
            return url
        raise EmbeddedError(f"{self.name}: could not start: {last}")

    def stop(self) -> None:
        """Stop the server (if running) and wait for it to exit. Idempotent."""
        pid = self.pid
        if pid is None and self._proc is not None and self._proc.poll() is None:
            pid = self._proc.pid  # started but never recorded (start failed midway)
        if pid is not None:
            self._signal_and_wait(pid)
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=1.0)
            self._proc = None
        self.pid_file.unlink(missing_ok=True)
        self._url = None

    # -- helpers for subclasses
    def _spawn(self, argv: list[str], *, user: int | None = None, group: int | None = None) -> int:
        with open(self.log_file, "ab") as log:
            kwargs: dict[str, object] = {}
            if user is not None:
                kwargs.update(user=user, group=group, extra_groups=[])
            if self.die_with_parent:
                kwargs["preexec_fn"] = _parent_death_signal(self.stop_signal)
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd="/",
                start_new_session=True,
                close_fds=True,
                **kwargs,  # type: ignore[call-overload]
            )
        return self._proc.pid

    def _wait_ready(self, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                tail = self._log_tail()
                self._proc = None
                if "address already in use" in tail.lower():
                    raise PortTaken(tail)
                raise EmbeddedError(f"{self.name} exited at start; log {self.log_file}:\n{tail}")
            if ready():
                return
            time.sleep(0.05)
        tail = self._log_tail()
        if self._proc is not None:
            self._signal_and_wait(self._proc.pid)
            self._proc = None
        raise EmbeddedError(f"{self.name} not ready after {START_TIMEOUT_S}s:\n{tail}")

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _signal_and_wait(self, pid: int) -> None:
        for sig, budget in ((self.stop_signal, STOP_TIMEOUT_S), (signal.SIGKILL, 5.0)):
            try:
                if sig == signal.SIGKILL:
                    os.killpg(pid, sig)  # the whole session: postgres backends too
                else:
                    os.kill(pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + budget
            while time.monotonic() < deadline:
                if self._proc is not None:
                    self._proc.poll()  # reap our own child so it does not linger as a zombie
                if not proc_alive(pid, self.comm):
                    return
                time.sleep(0.05)
        raise EmbeddedError(f"{self.name} (pid {pid}) did not stop")

    def _start_on(self, port: int) -> str:
        raise NotImplementedError


class PortTaken(EmbeddedError):
    pass
