"""The console log of a container: what its init writes on /dev/console, appended to a file.

libvirt's LXC driver offers a container's console as a pseudo-terminal only (no file console,
no log sub-element as QEMU has through virtlogd). One thread per container (a ``ConsolePump``)
copies it into ``console.log`` in the server's directory, so a container's console log
reads like a VM's serial log: ``console_output`` returns its tail.

    pumps = ConsolePumps(tty_of)             # tty_of(server_id) -> "/dev/pts/7" or None
    pumps.ensure(server_id, log_path)        # after a start; idempotent
    pumps.stop(server_id)                    # before the server's directory is removed

A pump opens the host side of the pty the domain's live XML names, reads until the container
stops (the pty then gives EIO or EOF), and looks for the next one (after a start or a reboot
the pty is a new one). While the container is shut off it polls ``tty_of`` every
``idle_s``. What the container wrote before the pump opened its pty is not lost: libvirt's
controller holds it in the pty until someone reads. Carriage returns the container's own
terminal adds (``\\r\\n``) are dropped: the log has plain lines.
"""

from __future__ import annotations

import errno
import os
import select
import threading
from collections.abc import Callable
from pathlib import Path

from polyvisor.common.logging import get_logger

__all__ = ["ConsolePump", "ConsolePumps"]

log = get_logger(__name__)

TtyOf = Callable[[str], str | None]
_READ = 65536


class ConsolePump:
    """Copies one container's console into its log file until stopped."""

    def __init__(self, server_id: str, log_path: Path, tty_of: TtyOf, idle_s: float) -> None:
        self.server_id = server_id
        self.log_path = log_path
        self._tty_of = tty_of
        self._idle_s = idle_s
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"lxc-console-{server_id[:8]}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                tty = self._tty_of(self.server_id)
            except Exception as exc:  # the driver's lookup failing must not end the log
                log.debug("console pty lookup failed", server_id=self.server_id, error=str(exc))
                tty = None
            if tty:
                try:
                    self._copy(tty)
                except OSError as exc:
                    log.debug("console pty closed", server_id=self.server_id, error=str(exc))
            self._stop.wait(self._idle_s)

    def _copy(self, tty: str) -> None:
        fd = os.open(tty, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            with self.log_path.open("ab") as out:
                while not self._stop.is_set():
                    ready, _, _ = select.select([fd], [], [], 0.5)
                    if not ready:
                        continue
                    try:
                        data = os.read(fd, _READ)
                    except OSError as exc:
                        if exc.errno == errno.EAGAIN:
                            continue
                        if exc.errno == errno.EIO:  # the container stopped: its pty is gone
                            return
                        raise
                    if not data:
                        return
                    out.write(data.replace(b"\r\n", b"\n"))
                    out.flush()
        finally:
            os.close(fd)


class ConsolePumps:
    """A pump per container of this driver."""

    def __init__(self, tty_of: TtyOf, idle_s: float = 0.5) -> None:
        self._tty_of = tty_of
        self._idle_s = idle_s
        self._pumps: dict[str, ConsolePump] = {}
        self._lock = threading.Lock()

    def ensure(self, server_id: str, log_path: Path) -> None:
        with self._lock:
            pump = self._pumps.get(server_id)
            if pump is not None and pump.alive:
                return
            pump = ConsolePump(server_id, log_path, self._tty_of, self._idle_s)
            self._pumps[server_id] = pump
            pump.start()

    def stop(self, server_id: str) -> None:
        with self._lock:
            pump = self._pumps.pop(server_id, None)
        if pump is not None:
            pump.stop()

    def stop_all(self) -> None:
        with self._lock:
            pumps, self._pumps = list(self._pumps.values()), {}
        for pump in pumps:
            pump.stop()
