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

Liveness: a vCenter that stops answering (hung, overloaded to a standstill, a network that
drops packets) refuses nothing, so no call fails: it just waits, up to ``call_timeout_s``.
The supervisor therefore probes the session every ``probe_interval_s`` with ``CurrentTime``
on a connection of its own whose every read gives up after ``probe_timeout_s``. Two probes
in a row without an answer mark vCenter not answering: the session is dropped (listeners hear
a disconnect: the cluster is reported down, its VMs UNKNOWN), the calls still waiting on it
are cut off (their sockets shut down, so they fail now with a connection error; those that
still hold the dropped session open no connection), and every call until it answers again
fails at once with ``VcenterNotAnswering``. The supervisor logs
in again as soon as vCenter answers.
"""

from __future__ import annotations

import socket
import threading
import weakref
from collections.abc import Callable
from typing import Any, NamedTuple

from pyVim.connect import SmartConnect
from pyVmomi import SoapStubAdapter, vim, vmodl

from polyvisor.agent_vmware.faults import fault_text, is_connection_error
from polyvisor.agent_vmware.metrics import VCENTER_CONNECTED, VCENTER_SESSIONS
from polyvisor.agent_vmware.options import VmwareOptions
from polyvisor.agentkit.driver import HypervisorUnavailable
from polyvisor.common.logging import get_logger

__all__ = ["Conn", "Listener", "Session", "VcenterNotAnswering"]

log = get_logger(__name__)

Listener = Callable[[bool, int], None]
POOL_SIZE = 64
PROBE_ATTEMPTS = 2  # probes in a row without an answer before vCenter counts as not answering


class VcenterNotAnswering(HypervisorUnavailable):
    """vCenter accepts connections but answers nothing: calls fail fast until it answers."""


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
        self._wire = _Wire()  # this generation's connections
        self._probe_si: vim.ServiceInstance | None = None
        self._not_answering = False
        self.last_error = ""
        self.probes = 0  # probes answered (tests, metrics)

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
        self._drop_probe()
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

    @property
    def answering(self) -> bool:
        """False from a failed liveness probe until vCenter answers a login again."""
        with self._lock:
            return not self._not_answering

    def current(self) -> Conn:
        with self._lock:
            if self._conn is None:
                detail = f": {self.last_error}" if self.last_error else ""
                if self._not_answering:
                    raise VcenterNotAnswering(f"vCenter is not answering{detail}")
                raise HypervisorUnavailable(f"not connected to vCenter{detail}")
            return self._conn

    def wait_connected(self, timeout: float) -> Conn | None:
        with self._lock:
            self._connected.wait_for(lambda: self._conn is not None or self._stop.is_set(), timeout)
            return self._conn

    def broken(self, generation: int, exc: BaseException | None = None) -> None:
        """A call of ``generation`` failed on the wire: drop the session and reconnect."""
        self._drop_session(generation, fault_text(exc) if exc else "connection lost")

    def not_answering(self, generation: int, reason: str) -> None:
        """vCenter stopped answering ``generation``'s calls: drop the session, cut off the
        calls waiting on it, and fail every call fast until it answers again."""
        with self._lock:
            if generation != self._generation or self._conn is None:
                return
            self._not_answering = True
        self._drop_session(generation, reason, cut_off=True)

    def _drop_session(self, generation: int, reason: str, *, cut_off: bool = False) -> None:
        with self._lock:
            if generation != self._generation or self._conn is None:
                return
            si, self._conn = self._conn.si, None
            self.last_error = reason
            wire = self._wire
        VCENTER_CONNECTED.set(0)
        log.warning("vcenter connection lost", generation=generation, error=reason)
        if cut_off:
            wire.cut_off()
        _drop(si)
        self._drop_probe()
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

    def _track(self, si: vim.ServiceInstance) -> None:
        """Remember every HTTP connection the session's stub uses from now on (weakly), so
        that calls waiting on a vCenter that stopped answering can be cut off."""
        stub = si._stub
        scheme = stub.scheme
        wire = _Wire()

        def connection(*args: Any, **kwargs: Any) -> Any:
            return wire.opened(scheme(*args, **kwargs))

        stub.scheme = connection
        # The login's connection waits in the stub's pool, opened before we watched: the
        # next call to take it would wait on a hung vCenter untracked, never cut off. Close
        # it; calls open theirs anew, through ``connection``.
        stub.DropConnections()
        with self._lock:
            self._wire = wire

    # -- liveness

    def side_stub(self, conn: Conn, timeout: float) -> Any:
        """A SOAP stub of its own (one connection, every read bounded by ``timeout``) that
        speaks as ``conn``'s session (its cookie, as it is now). Objects it returns are bound
        to it: rebind them to ``conn.si._stub`` before they outlive the call."""
        o = self.options
        main = conn.si._stub
        stub = SoapStubAdapter(
            host=o.host,
            port=-o.port if o.protocol == "http" else o.port,
            path=o.path,
            version=main.version,
            sslContext=main.schemeArgs.get("context"),
            httpConnectionTimeout=timeout,
            poolSize=1,
        )
        stub.cookie = main.cookie
        return stub

    def _probe_instance(self, conn: Conn) -> vim.ServiceInstance:
        """The probe's ServiceInstance, on a side stub bounded by ``probe_timeout_s``."""
        si = self._probe_si
        if si is None:
            si = vim.ServiceInstance(
                "ServiceInstance", self.side_stub(conn, self.options.probe_timeout_s)
            )
            self._probe_si = si
        si._stub.cookie = conn.si._stub.cookie  # the session's, as it is now
        return si

    def _drop_probe(self) -> None:
        si, self._probe_si = self._probe_si, None
        if si is not None:
            _drop(si)

    def _probe(self, conn: Conn) -> None:
        """CurrentTime, up to PROBE_ATTEMPTS times; vCenter not answering any: say so."""
        last: BaseException | None = None
        for _ in range(PROBE_ATTEMPTS):
            if self._stop.is_set():
                return
            try:
                self._probe_instance(conn).CurrentTime()
            except vmodl.MethodFault as e:  # it answered
                if is_connection_error(e):  # our session is gone (NotAuthenticated)
                    self.broken(conn.generation, e)
                else:
                    log.warning("vcenter liveness probe failed", error=fault_text(e))
                return
            except Exception as e:
                self._drop_probe()  # a fresh connection for the next attempt
                if not is_connection_error(e):
                    log.warning("vcenter liveness probe failed", error=fault_text(e))
                    return
                last = e
                continue
            self.probes += 1
            return
        o = self.options
        reason = (
            f"no answer to {PROBE_ATTEMPTS} liveness probes within "
            f"{o.probe_timeout_s:g}s each ({fault_text(last) if last else 'timeout'})"
        )
        log.error("vcenter is not answering", url=o.url, error=reason)
        self.not_answering(conn.generation, reason)

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
                    # Keep a connection per concurrent caller (executor, watcher): pyvmomi's
                    # default pool of 5 closes the rest after every call.
                    fresh._stub.poolSize = POOL_SIZE
                    self._track(fresh)
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
                    self._not_answering = False
                    self._connected.notify_all()
                backoff = o.reconnect_min_s
                VCENTER_CONNECTED.set(1)
                VCENTER_SESSIONS.inc()
                log.info("vcenter connected", url=o.url, generation=generation)
                self._notify(True, generation)
                continue
            self._wake.wait(o.probe_interval_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            with self._lock:
                if self._conn is not conn:
                    continue
            self._probe(conn)  # also keeps the session from expiring while idle


class _Wire:
    """The HTTP connections of one generation's stub (weakly), to cut them all off at once.
    Once cut off, it opens no more: a call still holding the dropped session fails at once
    instead of waiting on vCenter, whether it was waiting already or starts after."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: weakref.WeakSet[Any] = weakref.WeakSet()
        self._cut = False

    def opened(self, http: Any) -> Any:
        with self._lock:
            if self._cut:
                raise ConnectionAbortedError("vCenter stopped answering this session")
            self._open.add(http)
        return http

    def cut_off(self) -> None:
        with self._lock:
            self._cut = True
            connections = list(self._open)
        for http in connections:
            _cut_off(http)


def _cut_off(http: Any) -> None:
    """Shut the socket of an HTTP connection down, whichever thread waits on it: its read
    ends at once with a connection error. (The plain socket's shutdown, also under TLS: the
    TLS layer of a read in progress is left to fail on its own.) One not open yet (taken
    from the pool closed, or just made) fails its request instead of opening."""
    http.auto_open = 0  # http.client: send() raises NotConnected rather than connect()
    sock = getattr(http, "sock", None)
    if sock is None:
        return
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError as e:  # already closed
        log.debug("cutting a vcenter connection off failed", error=repr(e))


def _drop(si: vim.ServiceInstance) -> None:
    stub = getattr(si, "_stub", None)
    drop = getattr(stub, "DropConnections", None)
    if drop is not None:
        try:
            drop()
        except Exception as e:
            log.debug("dropping vcenter connections failed", error=repr(e))
