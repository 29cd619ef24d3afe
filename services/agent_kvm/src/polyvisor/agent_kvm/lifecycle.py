"""Libvirt lifecycle events turned into the driver's InstanceChange.

    watcher = LifecycleWatcher(server_id_of_name)
    watcher.attach(conn)          # domainEventRegisterAny(LIFECYCLE) on this connection
    stop = watcher.add(emit)      # emit(InstanceChange) for each change of one of our VMs
    watcher.close()

The event loop thread only queues (name, event); a worker thread then reads the domain's
tag and its *current* state before calling ``emit``. Reading the current state (rather than
trusting the event) means a late event never reports a state the VM has already left, and
libvirt is never called from inside its own event callback.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

import libvirt

from polyvisor.agentkit.driver import InstanceChange, PowerState, Unsubscribe
from polyvisor.common.logging import get_logger

__all__ = ["LifecycleWatcher", "power_of", "power_state_of"]

log = get_logger(__name__)

_STOP = object()
_IGNORED = {
    libvirt.VIR_DOMAIN_EVENT_DEFINED,
    libvirt.VIR_DOMAIN_EVENT_SHUTDOWN,  # a guest shutdown began; STOPPED follows
}

_STATES = {
    libvirt.VIR_DOMAIN_NOSTATE: PowerState.NOSTATE,
    libvirt.VIR_DOMAIN_RUNNING: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_PAUSED: PowerState.PAUSED,
    libvirt.VIR_DOMAIN_SHUTDOWN: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_SHUTOFF: PowerState.SHUTDOWN,
    libvirt.VIR_DOMAIN_CRASHED: PowerState.CRASHED,
    libvirt.VIR_DOMAIN_PMSUSPENDED: PowerState.PAUSED,
}


def power_state_of(state: int) -> PowerState:
    """Our power state for a libvirt domain state."""
    return _STATES.get(state, PowerState.NOSTATE)


def power_of(dom: libvirt.virDomain, state: int) -> PowerState:
    """Our power state for a domain in libvirt state ``state``: a shut off domain with a
    managed save image is SUSPENDED (starting it restores the saved memory)."""
    power = power_state_of(state)
    if power == PowerState.SHUTDOWN and dom.hasManagedSaveImage(0):
        return PowerState.SUSPENDED
    return power


ServerIdOf = Callable[[str, libvirt.virDomain], str]


class LifecycleWatcher:
    def __init__(self, server_id_of: ServerIdOf) -> None:
        self._server_id_of = server_id_of
        self._emitters: list[Callable[[InstanceChange], None]] = []
        self._known: dict[str, str] = {}  # domain name -> server id (UNDEFINED loses the tag)
        self._callbacks: dict[int, int] = {}  # id(conn) -> callback id
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._closed = False

    def attach(self, conn: libvirt.virConnect) -> None:
        try:
            cb_id = conn.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._on_event, None
            )
        except libvirt.libvirtError as exc:
            log.warning("libvirt lifecycle events unavailable", error=str(exc))
            return
        with self._lock:
            self._callbacks[id(conn)] = cb_id
            if self._worker is None and not self._closed:
                self._worker = threading.Thread(
                    target=self._run, name="libvirt-lifecycle", daemon=True
                )
                self._worker.start()

    def detach(self, conn: libvirt.virConnect) -> None:
        with self._lock:
            cb_id = self._callbacks.pop(id(conn), None)
        if cb_id is not None:
            try:
                conn.domainEventDeregisterAny(cb_id)
            except libvirt.libvirtError:
                pass

    def add(self, emit: Callable[[InstanceChange], None]) -> Unsubscribe:
        with self._lock:
            self._emitters.append(emit)

        def stop() -> None:
            with self._lock:
                if emit in self._emitters:
                    self._emitters.remove(emit)

        return stop

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            worker, self._worker = self._worker, None
            self._emitters.clear()
        self._queue.put(_STOP)
        if worker is not None:
            worker.join(timeout=5.0)

    # ------------------------------------------------------------------ internals

    def _on_event(
        self, conn: libvirt.virConnect, dom: libvirt.virDomain, event: int, detail: int, _: object
    ) -> None:
        if event in _IGNORED:
            return
        self._queue.put((dom, event, detail))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            assert isinstance(item, tuple)
            dom, event, detail = item
            try:
                change = self._resolve(dom, event, detail)
            except Exception:
                log.exception("lifecycle event could not be read")
                continue
            if change is None:
                continue
            with self._lock:
                emitters = list(self._emitters)
            for emit in emitters:
                try:
                    emit(change)
                except Exception:
                    log.exception("lifecycle event consumer failed")

    def _resolve(self, dom: libvirt.virDomain, event: int, detail: int) -> InstanceChange | None:
        name = dom.name()
        if event == libvirt.VIR_DOMAIN_EVENT_UNDEFINED:
            with self._lock:
                sid = self._known.pop(name, "")
            if not sid:
                return None
            return InstanceChange(server_id=sid, power_state=PowerState.NOSTATE, vanished=True)
        with self._lock:
            sid = self._known.get(name, "")
        if not sid:
            try:
                sid = self._server_id_of(name, dom)
            except libvirt.libvirtError:
                return None
            if not sid:
                return None
            with self._lock:
                self._known[name] = sid
        try:
            state, _ = dom.state(0)
            power = power_of(dom, state)
        except libvirt.libvirtError:
            return None  # gone meanwhile: its UNDEFINED event follows
        return InstanceChange(server_id=sid, power_state=power)

    def remember(self, name: str, server_id: str) -> None:
        """Record a domain we made (so its UNDEFINED event can still be attributed)."""
        with self._lock:
            self._known[name] = server_id
