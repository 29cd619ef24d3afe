"""One vCenter session, kept alive and re-established after vCenter restarts or drops us.

    session = Session(options, on_change=listener)
    session.start()                       # a supervisor thread logs in, with backoff
    conn = session.current()              # or HypervisorUnavailable while disconnected
    ...                                   # a call fails with a connection error:
    session.broken(gen, exc)              # -> disconnected at once, reconnect begins
    session.close()                       # idempotent

Each successful login starts a new *generation*. Listeners hear ``(connected, generation)``
from the supervisor thread (or from whichever thread reported the break): the driver marks
every VM UNKNOWN on a disconnect, and resyncs everything on a connect.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import NamedTuple

from pyVim.connect import SmartConnect
from pyVmomi import vim

from polyvisor.agent_vmware.faults import fault_text, is_connection_error
from polyvisor.agent_vmware.metrics import VCENTER_CONNECTED, VCENTER_SESSIONS
from polyvisor.agent_vmware.options import VmwareOptions
from polyvisor.agentkit.driver import HypervisorUnavailable
from polyvisor.common.logging import get_logger

__all__ = ["Conn", "Listener", "Session"]

log = get_logger(__name__)

Listener = Callable[[bool, int], None]
POOL_SIZE = 64


class Conn(NamedTuple):
    """A live session: the service instance, its content, and the session's generation."""

    si: vim.ServiceInstance
    content: vim.ServiceInstanceContent
    generation: int


class Session:
    def __init__(self, options: VmwareOptions, on_change: Listener | None = None) -> None:
        self.options = options
        self._listeners: list[Listener] = [on_change] if on_change else []
        self._lock = threading.Lock()
        self._conn: Conn | None = None
        self._generation = 0
        self._connected = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error = ""

    # -- lifecycle

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def start(self) -> None:
        if self._thread is not None or self._stop.is_set():
            return
        self._thread = threading.Thread(target=self._supervise, name="vcenter-session", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the supervisor and log out. Idempotent."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            self._connected.notify_all()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=3.0)  # a login hung on a dead vCenter ends with the process
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            self._logout(conn.si)

    @property
    def closed(self) -> bool:
        return self._stop.is_set()

    # -- state

    @property
    def connected(self) -> bool:
        with self._lock:
            return self._conn is not None

    @property
    def generation(self) -> int:
        with self._lock:
            return self._generation

    def current(self) -> Conn:
        with self._lock:
            if self._conn is None:
                detail = f": {self.last_error}" if self.last_error else ""
                raise HypervisorUnavailable(f"not connected to vCenter{detail}")
            return self._conn

    def wait_connected(self, timeout: float) -> Conn | None:
        with self._lock:
            self._connected.wait_for(lambda: self._conn is not None or self._stop.is_set(), timeout)
            return self._conn

    def broken(self, generation: int, exc: BaseException | None = None) -> None:
        """A call of ``generation`` failed on the wire: drop the session and reconnect."""
        with self._lock:
            if generation != self._generation or self._conn is None:
                return
            si, self._conn = self._conn.si, None
            self.last_error = fault_text(exc) if exc else "connection lost"
        VCENTER_CONNECTED.set(0)
        log.warning("vcenter connection lost", generation=generation, error=self.last_error)
        _drop(si)
        self._notify(False, generation)
        self._wake.set()

    # -- internals

    def _notify(self, connected: bool, generation: int) -> None:
        for listener in list(self._listeners):
            try:
                listener(connected, generation)
            except Exception:
                log.exception("session listener failed", connected=connected)

    def _login(self) -> vim.ServiceInstance:
        o = self.options
        return SmartConnect(
            protocol=o.protocol,
            host=o.host,
            port=o.port,
            path=o.path,
            user=o.username,
            pwd=o.password,
            disableSslCertValidation=o.insecure,
            httpConnectionTimeout=o.call_timeout_s,
        )

    def _logout(self, si: vim.ServiceInstance) -> None:
        try:
            si.content.sessionManager.Logout()
        except Exception as e:  # best effort: vCenter may be gone
            log.debug("vcenter logout failed", error=repr(e))
        _drop(si)

    def _supervise(self) -> None:
        o = self.options
        backoff = o.reconnect_min_s
        while not self._stop.is_set():
            with self._lock:
                conn = self._conn
            if conn is None:
                try:
                    fresh = self._login()
                    content = fresh.RetrieveContent()
                    # Keep a connection per concurrent caller (executor, watcher, keepalive):
                    # pyvmomi's default pool of 5 closes the rest after every call.
                    fresh._stub.poolSize = POOL_SIZE
                except Exception as e:
                    self.last_error = fault_text(e)
                    log.info(
                        "vcenter login failed", url=o.url, error=self.last_error, retry_in=backoff
                    )
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, o.reconnect_max_s)
                    continue
                with self._lock:
                    if self._stop.is_set():
                        self._logout(fresh)
                        return
                    self._generation += 1
                    generation = self._generation
                    self._conn = Conn(fresh, content, generation)
                    self.last_error = ""
                    self._connected.notify_all()
                backoff = o.reconnect_min_s
                VCENTER_CONNECTED.set(1)
                VCENTER_SESSIONS.inc()
                log.info("vcenter connected", url=o.url, generation=generation)
                self._notify(True, generation)
                continue
            self._wake.wait(o.keepalive_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            with self._lock:
                if self._conn is not conn:
                    continue
            try:
                conn.si.CurrentTime()
            except Exception as e:
                if is_connection_error(e):
                    self.broken(conn.generation, e)
                else:
                    log.warning("vcenter keepalive failed", error=fault_text(e))


def _drop(si: vim.ServiceInstance) -> None:
    stub = getattr(si, "_stub", None)
    drop = getattr(stub, "DropConnections", None)
    if drop is not None:
        try:
            drop()
        except Exception as e:
            log.debug("dropping vcenter connections failed", error=repr(e))
